"""Delivery: the run clock, segment-by-segment integration, and the next-event search.

Volumes are integrated exactly (see :mod:`firmware_sim.pump.pump`): the basal volume of a
segment is ``(rate x ms + remainder) // DAY_MS`` with the remainder carried; a bolus of V nL over
D ms has delivered ``V x elapsed // D``. Threshold crossings are found by bisection on these
integer functions, so every alarm is raised at the first ms its condition holds.
"""
from __future__ import annotations

from typing import Callable

from ..enums import Alarm, BolusKind
from ..profile import DAY_MS
from .core import FOREVER as _FOREVER, PumpCore, first_reaching as _first_reaching
from .reporting import next_midnight_run_ms
from .thresholds import THRESHOLDS, Measure


def _zero(x: int) -> int:
    return 0


class DeliveryMixin(PumpCore):
    """Advances the run clock and integrates delivery event to event."""

    def tick(self, *, commit: bool = True) -> None:
        """Advance to the pump clock's now (no-op if the clock is behind the run time);
        ``commit`` as for :meth:`advance_to`. The run clock drifts against the clock by the
        profile's ``clock_drift_ppm`` (status: ``clock_drift_ppm``, ``clock_drift_ms``), which
        is how drift scenarios are tested."""
        now = self.clock.now_ms()
        now += now * self.profile.clock_drift_ppm // 1_000_000  # the profile's clock drift
        if now > self.t_ms:
            self.advance_to(now, commit=commit)

    def advance_to(self, t_ms: int, *, commit: bool = True) -> None:
        """Run the pump until run time ``t_ms`` (>= current), event to event, then commit.

        With ``commit=False`` a run that logged nothing (only time passed: delivery integrated,
        no alarm, no state change) is kept in memory and stored by the next commit (any
        command, :meth:`checkpoint`, or a run that logs); a run that logs is committed at once.
        A power loss then loses only unlogged run time, never an acknowledged change or a log
        entry (nothing was acknowledged since the last commit)."""
        if t_ms < self.t_ms:
            raise ValueError(f"advance_to({t_ms}) is before the pump's run time {self.t_ms}")
        while self.t_ms < t_ms:
            self._segment(t_ms)
        if commit or self._pending:
            self._commit()

    @property
    def uncommitted_ms(self) -> int:
        """Run time (ms) advanced since the state was last committed (0: all stored)."""
        return self.t_ms - self._committed_t_ms

    def checkpoint(self) -> None:
        """Commit the state now if run time passed since the last commit (logs nothing)."""
        if self.t_ms != self._committed_t_ms or self._pending:
            self._commit()

    def next_event_ms(self, until_ms: int | None = None) -> int | None:
        """Run time (ms) of the first event :meth:`advance_to` would log from now on: the first
        instant after :attr:`time_ms` at which a row of the threshold table
        (:mod:`firmware_sim.pump.thresholds`) holds, so an alarm is raised or the state changes.
        Step boundaries change the rate and log nothing: they are integrated over, exactly as
        :meth:`advance_to` does. None when nothing is logged up to ``until_ms`` (inclusive;
        None: ever). Pure and cheap (no copy, no storage): the same segment planner as
        :meth:`advance_to`, whose crossings are bisections on the exact integer delivery
        functions over the whole horizon."""
        t = self.t_ms
        target = _FOREVER if until_ms is None else until_ms
        res, deliv, rem, path = self.reservoir_nl, self.delivered_nl, self.basal_rem, \
            self.path_old_nl
        counted = self._window_counted_pg()
        conc = self._limit_conc()
        while t < target:
            dt, vol, rem, cnt = self._plan_segment(t, target, res, deliv, rem, path, counted)
            vol = min(vol, res)
            res -= vol
            deliv += vol
            path -= min(vol, path)
            counted += min(cnt, vol) * conc
            t += dt
            if self._would_log(t, res, deliv, path, counted):
                return t
        return None

    def _would_log(self, t: int, reservoir_nl: int, delivered_nl: int, path_old_nl: int,
                   counted_pg: int) -> bool:
        """Whether :meth:`_after_segment` acts at run time ``t`` with these moving quantities
        (the other state as it is now): some threshold row holds."""
        for row in THRESHOLDS:
            d = row.distance(self, t, reservoir_nl, delivered_nl, path_old_nl,  # type: ignore[arg-type]
                             counted_pg)
            if d is not None and d <= 0:
                return True
        return False

    def _segment(self, target: int) -> None:
        t0 = self.t_ms
        st = self.machine.state
        if st == "INFUSING" or st == "BOLUS":
            # the day's delivered counter restarts at midnight: a delivering run stops there
            # (the integration carries its remainder, so the split changes no volume; while
            # nothing flows the counter cannot change, and the look-ahead never stops there)
            target = min(target, next_midnight_run_ms(t0, self.wall_offset_ms))
        dt, vol, rem, counted = self._plan_segment(self.t_ms, target, self.reservoir_nl,
                                                   self.delivered_nl, self.basal_rem,
                                                   self.path_old_nl, self._window_counted_pg())
        if vol:
            self._count_window(min(counted, vol))
            if vol >= self.reservoir_nl:
                vol = self.reservoir_nl
            self.reservoir_nl -= vol
            self.delivered_nl += vol
            old = min(vol, self.path_old_nl)
            if old:
                self.path_old_nl -= old
                self.dose_pg += old * self.path_old_conc
            self.dose_pg += (vol - old) * (self.concentration_ug_per_ml or 0)
        self.basal_rem = rem
        self.t_ms += dt
        self.segments += 1
        self._mark_midnight(t0)  # type: ignore[attr-defined]
        self._after_segment()

    def _volume_function(self, t: int, rem: int, end: int
                         ) -> tuple[Callable[[int], int], int, Callable[[int], int],
                                    Callable[[int], int]]:
        """Delivery from run time ``t`` while delivering: (volume nL in the first x ms, the end
        of the segment it is valid for, basal integral in nL/day x ms over the first x ms,
        volume the dose window counts in the first x ms: basal and patient bolus).

        The basal schedule is integrated in closed form across step boundaries (the remainder
        ``rem`` carried, so the volume is ``floor((integral + rem) / day)`` however the time is
        split); a bridge bolus, whose rate is rounded per step, ends the segment at the next
        step boundary instead."""
        bol = self.bolus
        bridge = bol is not None and bol["kind"] == BolusKind.BRIDGE
        compiled = self.compiled if self.resume_infusing else None
        basal: Callable[[int], int] = _zero
        if compiled is not None and self.safe_mode is not None:
            basal = self.profile.min_rate_nl_per_day.__mul__
        elif compiled is not None and self.keep_open:
            basal = self.profile.keep_open_nl_per_day.__mul__
        elif compiled is not None:
            wall0 = t + self.wall_offset_ms
            if bridge:
                _, rate, nxt = compiled.lookup(wall0)
                rate = self._bridge_rate(rate, bol["num"], bol["den"])  # type: ignore[index]
                end = min(end, nxt - self.wall_offset_ms)
                basal = rate.__mul__
            else:
                cum = compiled.cumulative_x_day_ms
                c0 = cum(wall0)
                basal = lambda x: cum(wall0 + x) - c0  # noqa: E731
        base: Callable[[int], int] = lambda x: (basal(x) + rem) // DAY_MS  # noqa: E731
        if bol is None or bridge:
            return base, end, basal, base
        bV, bD = bol["volume_nl"], bol["duration_ms"]
        e0 = t - bol["start_ms"]
        b0 = bV * e0 // bD
        f: Callable[[int], int] = lambda x: base(x) + bV * (e0 + x) // bD - b0  # noqa: E731
        return f, end, basal, (f if bol["kind"] == BolusKind.PATIENT else base)

    def _plan_segment(self, t: int, target: int, reservoir_nl: int, delivered_nl: int,
                      rem: int, path_old_nl: int, counted_pg: int
                      ) -> tuple[int, int, int, int]:
        """The next segment from run time ``t`` (at most to ``target``) with the given moving
        quantities and the pump's other state: (duration ms >= 1, volume nL before the reservoir
        cap, basal remainder after it, volume the dose window counts). It ends at the first
        crossing of a threshold row or at ``target`` (:meth:`_segment` passes the next
        wall-clock midnight as the target of a delivering run). Pure: changes nothing."""
        st = self.machine.state
        delivering = st == "INFUSING" or st == "BOLUS"
        end = target
        armed: list[tuple[Measure, int]] = []
        for row in THRESHOLDS:
            d = row.distance(self, t, reservoir_nl, delivered_nl, path_old_nl,  # type: ignore[arg-type]
                             counted_pg)
            if d is None or d <= 0:
                continue  # a row that holds already is acted on at the segment's end
            if row.measure is Measure.TIME:
                end = min(end, t + d)
            else:
                armed.append((row.measure, d))
        f: Callable[[int], int] = _zero
        basal: Callable[[int], int] = _zero
        counted: Callable[[int], int] = _zero
        if delivering:
            f, end, basal, counted = self._volume_function(t, rem, end)
        dt = end - t
        vol = f(dt)
        for measure, d in armed:
            if measure is Measure.VOLUME:
                if vol >= d:
                    dt = _first_reaching(f, d, dt)
                    vol = f(dt)
            elif measure is Measure.COUNTED:
                if counted(dt) >= d:
                    dt = _first_reaching(counted, d, dt)
                    vol = f(dt)
            else:
                idle, motor = self._battery_consts()[:2]
                g: Callable[[int], int] = lambda x: idle * x + motor * f(x)  # noqa: E731
                if g(dt) >= d:
                    dt = _first_reaching(g, d, dt)
                    vol = f(dt)
        return dt, vol, ((basal(dt) + rem) % DAY_MS if delivering else rem), counted(dt)

    def _after_segment(self) -> None:
        """Act on every threshold row that holds at the new run time, in table order (a dose
        window left behind while nothing flowed is first brought up to now)."""
        self._roll_window()  # type: ignore[attr-defined]
        for row in THRESHOLDS:
            d = row.distance(self, self.t_ms, self.reservoir_nl, self.delivered_nl,  # type: ignore[arg-type]
                             self.path_old_nl, self._window_counted_pg())
            if d is not None and d <= 0:
                row.fire(self)  # type: ignore[arg-type]

    def _on_empty(self) -> None:
        """The reservoir ran dry while delivering: EMPTY, with both reservoir alarms."""
        self.basal_rem = 0
        if self.bolus is not None:
            # straight to EMPTY: a single bolus from STOPPED must not pass through STOPPED
            self._finish_bolus("EMPTY", transition=False)
        self._raise_alarm(Alarm.LOW_RESERVOIR, reservoir_nl=0)
        self._raise_alarm(Alarm.EMPTY_RESERVOIR)
        self._trigger("run_dry")

    def _bolus_end_ms(self, bol: dict[str, int]) -> int:
        """Run time the bolus ``bol`` ends: start + duration; for a BRIDGE, the first ms at
        which the old drug still in the catheter has been delivered at the rate in force now
        (the carry counted), recomputed whenever the rate changes; now when nothing moves."""
        if bol["kind"] != BolusKind.BRIDGE:
            return bol["start_ms"] + bol["duration_ms"]
        rate = 0
        if self.compiled is not None and self.resume_infusing:
            rate = self._bridge_rate(self.compiled.lookup(self.wall_ms)[1], bol["num"],
                                     bol["den"])
        need = self.path_old_nl * DAY_MS - self.basal_rem
        if rate <= 0 or need <= 0:
            return self.t_ms
        return self.t_ms + -(-need // rate)

    def _bolus_delivered(self, bol: dict[str, int]) -> int:
        if bol["kind"] == BolusKind.BRIDGE:
            return bol["volume_nl"] - self.path_old_nl
        e = min(self.t_ms - bol["start_ms"], bol["duration_ms"])
        return bol["volume_nl"] * e // bol["duration_ms"]

    def _start_bolus(self, kind: BolusKind, volume_nl: int, duration_ms: int) -> None:
        self.bolus = {"kind": int(kind), "volume_nl": volume_nl, "duration_ms": duration_ms,
                      "start_ms": self.t_ms}
        self.bolus_history.append([self.t_ms, self.t_ms + duration_ms,
                                   volume_nl * self._limit_conc(), int(kind)])
        self._trigger("begin_bolus")
        self._event("BOLUS_START", bolus_kind=kind.name, volume_nl=volume_nl,
                    duration_ms=duration_ms, end_ms=self.t_ms + duration_ms)
        if self.reservoir_nl <= self.low_threshold_nl:  # delivering from now on
            self._raise_alarm(Alarm.LOW_RESERVOIR, reservoir_nl=self.reservoir_nl)

    def _finish_bolus(self, outcome: str, transition: bool = True) -> None:
        bol = self.bolus
        assert bol is not None
        delivered = self._bolus_delivered(bol)
        kind = BolusKind(bol["kind"])
        if kind != BolusKind.BRIDGE:
            # the history entry ends now (the window check counts it until 24 h after its end)
            for h in reversed(self.bolus_history):
                if h[0] == bol["start_ms"] and h[3] == bol["kind"]:
                    h[1] = self.t_ms
                    break
        self.bolus = None
        self._event("BOLUS_END", bolus_kind=kind.name, delivered_nl=delivered, outcome=outcome)
        if transition and self.machine.state == "BOLUS":
            self.machine.resume_flag = self.resume_infusing
            self._trigger("end_bolus")

    def _start_bridge(self) -> None:
        assert self.concentration_ug_per_ml
        self.bolus = {"kind": int(BolusKind.BRIDGE), "volume_nl": self.path_old_nl,
                      "num": self.concentration_ug_per_ml, "den": self.path_old_conc,
                      "start_ms": self.t_ms}
        if self.machine.state != "REFILL":  # from REFILL, finish_refill goes to BOLUS itself
            self._trigger("begin_bolus")
        top = self.compiled.max_rate_nl_per_day if self.compiled is not None else 0
        num, den = self.concentration_ug_per_ml, self.path_old_conc
        self._event("BOLUS_START", bolus_kind="BRIDGE", volume_nl=self.path_old_nl,
                    old_concentration_ug_per_ml=den, concentration_ug_per_ml=num,
                    rate_nl_per_day=top * num // den,
                    capped_rate_nl_per_day=self._bridge_rate(top, num, den))
