"""What a pump did over a window of time, rebuilt from its schedule and its event log.

The pump does not report its delivery history as numbers; it reports its schedule plans and an
event log (state changes, boluses). From these, :func:`delivery_history` rebuilds the rate that
was in force (0 while not infusing) and the cumulative delivered volume (nL, floor) over a
window of pump wall-clock time, exactly as the model integrates it: basal volume is the
integral of the schedule's rate over the infusing intervals, a bolus adds ``V * elapsed // D``.
Assumptions, stated: the current schedule applied over the whole window (a PROGRAM event inside
the window is not replayed), and a bridge bolus (which only rescales the basal rate) is not
drawn separately.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from host_tools.plan_clock import WeeklyPlans, plans_from
from host_tools.records import LogEntry
from host_tools.records import Schedule as WireSchedule
from protocol.enums import EventKind

DAY_MS = 86_400_000
KIND_STATE = EventKind.STATE
KIND_BOLUS_START = EventKind.BOLUS_START
KIND_BOLUS_END = EventKind.BOLUS_END
_KV = re.compile(r"(\w+)=(-?\d+)")
_BASAL_STATES = {"INFUSING"}


def compile_plans(plans: Iterable[WireSchedule]) -> WeeklyPlans | None:
    """The plans read from a pump as a function of wall time (None without an every-day plan)."""
    return plans_from((p.weekday, [(s.start_minute, s.rate_nl_per_day) for s in p.steps])
                      for p in plans)


def _values(e: LogEntry) -> dict[str, object]:
    """Named values of an entry: the typed record of a 1.1 pump (enumerations by name), or
    what a 1.0 pump's detail text says (``old->new`` of STATE, ``key=number`` pairs, a leading
    bolus kind)."""
    if e.values:
        return {k: getattr(v, "name", v) for k, v in e.values.items()}
    out: dict[str, object] = {k: int(v) for k, v in _KV.findall(e.detail)}
    words = e.detail.split()
    if e.kind == KIND_STATE and words and "->" in words[0]:
        out["old"], out["new"] = words[0].split("->", 1)
    elif words and "=" not in words[0]:
        out["bolus_kind"] = words[0]
    return out


@dataclass
class _Bolus:
    start_ms: int
    volume_nl: int
    duration_ms: int
    end_ms: int | None = None  # when it ended (completed or cancelled)
    delivered_nl: int | None = None

    def delivered_at(self, t: int) -> int:
        if t <= self.start_ms:
            return 0
        if self.end_ms is not None and t >= self.end_ms and self.delivered_nl is not None:
            return self.delivered_nl
        elapsed = min(t - self.start_ms, self.duration_ms)
        return self.volume_nl * elapsed // self.duration_ms if self.duration_ms else self.volume_nl


@dataclass(frozen=True)
class History:
    """Rate changes ``(wall_ms, nL/day)`` and cumulative delivery samples ``(wall_ms, nL)``."""

    rate_steps: list[tuple[int, int]]
    delivered: list[tuple[int, int]]
    start_ms: int
    end_ms: int

    @property
    def delivered_nl(self) -> int:
        """Volume delivered over the whole window (nL)."""
        return self.delivered[-1][1] - self.delivered[0][1] if self.delivered else 0


def _replay(entries: Sequence[LogEntry], start_ms: int, end_ms: int, initial_state: str
            ) -> tuple[list[tuple[int, int]], list[_Bolus], list[int]]:
    """The log replayed: (wall intervals with basal delivery, the boluses, the times the
    delivery changed)."""
    basal: list[tuple[int, int]] = []
    boluses: list[_Bolus] = []
    on_since: int | None = start_ms if initial_state in _BASAL_STATES else None
    change_times: list[int] = []
    for e in sorted(entries, key=lambda e: e.index):
        n = _values(e)
        if e.kind == KIND_STATE and "new" in n:
            old, new = str(n.get("old")), str(n["new"])
            was_basal = old in _BASAL_STATES or (old == "BOLUS" and on_since is not None)
            now_basal = new in _BASAL_STATES or (new == "BOLUS" and was_basal)
            if now_basal and not was_basal:
                on_since = e.time_ms
            elif was_basal and not now_basal and on_since is not None:
                basal.append((on_since, e.time_ms))
                on_since = None
            change_times.append(e.time_ms)
        elif e.kind == KIND_BOLUS_START and n.get("bolus_kind") != "BRIDGE":
            if "volume_nl" in n:
                boluses.append(_Bolus(e.time_ms, int(n["volume_nl"]),  # type: ignore[call-overload]
                                      int(n.get("duration_ms", 0))))  # type: ignore[call-overload]
                change_times.append(e.time_ms)
        elif e.kind == KIND_BOLUS_END and n.get("bolus_kind") != "BRIDGE":
            for b in reversed(boluses):
                if b.end_ms is None:
                    b.end_ms = e.time_ms
                    b.delivered_nl = n.get("delivered_nl")  # type: ignore[assignment]
                    break
            change_times.append(e.time_ms)
    if on_since is not None:
        basal.append((on_since, end_ms))
    return basal, boluses, change_times


def _rate_points(compiled: WeeklyPlans | None, change_times: list[int], start_ms: int,
                 end_ms: int) -> set[int]:
    """Where the rate may step: the window start, every change inside it and every schedule
    boundary inside it."""
    points = {start_ms, *[t for t in change_times if start_ms < t < end_ms]}
    if compiled is not None:
        t = start_ms
        while t < end_ms:
            t = compiled.lookup(t)[2]
            if t < end_ms:
                points.add(t)
    return points


def delivery_history(compiled: WeeklyPlans | None, entries: Sequence[LogEntry],
                     start_ms: int, end_ms: int, *, initial_state: str = "STOPPED",
                     samples: int = 288) -> History:
    """Rebuild rate and delivery over [start_ms, end_ms] from log ``entries`` (any order; those
    before the window only set the state at its start). Every time here, the entries' included,
    is on the pump's wall clock (the schedule is a function of the time of day)."""
    basal, boluses, change_times = _replay(entries, start_ms, end_ms, initial_state)

    def basal_rate(t: int) -> int:
        if compiled is None or not any(a <= t < b for a, b in basal):
            return 0
        return compiled.lookup(t)[1]

    def delivered(t: int) -> int:
        total = 0
        if compiled is not None:
            for a, b in basal:
                a2, b2 = max(a, start_ms), min(b, t)
                if a2 < b2:
                    total += compiled.integral_x_day_ms(a2, b2)
        total //= DAY_MS
        return total + sum(b.delivered_at(t) - b.delivered_at(start_ms) for b in boluses)

    points = _rate_points(compiled, change_times, start_ms, end_ms)
    rate_steps: list[tuple[int, int]] = []
    for t in sorted(points):
        r = basal_rate(t)
        if not rate_steps or rate_steps[-1][1] != r:
            rate_steps.append((t, r))
    grid = {start_ms + (end_ms - start_ms) * i // samples for i in range(samples + 1)}
    grid |= {t for t in points if start_ms <= t <= end_ms}
    series = [(t, delivered(t)) for t in sorted(grid)]
    return History(rate_steps, series, start_ms, end_ms)


def find_index_at(read_time: Callable[[int], int], total: int, wall_ms: int) -> int:
    """First log index whose time is >= ``wall_ms`` (binary search; ``read_time(i)`` reads the
    time of entry i). Returns ``total`` when every entry is older."""
    lo, hi = 0, total
    while lo < hi:
        mid = (lo + hi) // 2
        if read_time(mid) < wall_ms:
            lo = mid + 1
        else:
            hi = mid
    return lo
