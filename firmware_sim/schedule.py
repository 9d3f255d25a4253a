"""Time-of-day schedules: steps (start minute, rate), plans per weekday, validation, integrals.

Rules (checked by :func:`validate_schedule`, each refusal a :class:`Rejected`):
- a plan has 1..``max_steps_per_day`` steps (TOO_MANY_STEPS / NO_STEPS);
- start minutes are in 0..1439 (MINUTE_OUT_OF_RANGE), the first is 0 and they strictly increase
  (STEP_ORDER);
- every rate is within the profile's hardware range ``[min_rate, max_rate]`` nL/day
  (RATE_OUT_OF_RANGE). A rate of 0 is *not* allowed: the minimum rate keeps the catheter open;
  to pause therapy the pump is stopped instead;
- the schedule has an EVERY_DAY (0xFF) default plan (NO_DEFAULT_PLAN); other weekdays override it.

Weekday of a wall time: the pump's wall epoch (wall ms 0) is a Thursday, as 1970-01-01.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any, Mapping

from .enums import RejectCode, Weekday
from .errors import Rejected
from .profile import DAY_MS, Profile

MINUTE_MS = 60_000
WEEK_MS = 7 * DAY_MS
EPOCH_WEEKDAY = Weekday.THURSDAY


@dataclass(frozen=True)
class Step:
    """From ``start_minute`` (0..1439, minutes after wall midnight) run at ``rate_nl_per_day``."""

    start_minute: int
    rate_nl_per_day: int


@dataclass(frozen=True)
class Plan:
    """One day's steps, ordered by start minute, the first at minute 0."""

    steps: tuple[Step, ...]

    @classmethod
    def constant(cls, rate_nl_per_day: int) -> "Plan":
        """A single-step plan running ``rate_nl_per_day`` all day."""
        return cls((Step(0, rate_nl_per_day),))

    def daily_volume_x_day_ms(self) -> int:
        """Sum of rate x duration over the day, in nL/day x ms (divide by DAY_MS for nL)."""
        total = 0
        steps = self.steps
        for i, s in enumerate(steps):
            end = steps[i + 1].start_minute if i + 1 < len(steps) else 1440
            total += s.rate_nl_per_day * (end - s.start_minute) * MINUTE_MS
        return total

    def daily_volume_nl(self) -> int:
        """Volume delivered over one whole day of this plan (floor, nL)."""
        return self.daily_volume_x_day_ms() // DAY_MS


@dataclass(frozen=True)
class Schedule:
    """Plans keyed by :class:`Weekday`; ``EVERY_DAY`` is the default plan for days without one."""

    plans: Mapping[Weekday, Plan] = field(default_factory=dict)

    @classmethod
    def constant(cls, rate_nl_per_day: int) -> "Schedule":
        """Every day at one rate."""
        return cls({Weekday.EVERY_DAY: Plan.constant(rate_nl_per_day)})

    @classmethod
    def daily(cls, steps: list[tuple[int, int]] | tuple[Step, ...]) -> "Schedule":
        """Every day the same steps, given as Step or (start_minute, rate_nl_per_day) pairs."""
        return cls({Weekday.EVERY_DAY: Plan(tuple(s if isinstance(s, Step) else Step(*s)
                                                  for s in steps))})

    def plan_for(self, weekday: int) -> Plan:
        """The plan in force on ``weekday`` (0=Monday..6=Sunday)."""
        p = self.plans.get(Weekday(weekday))
        return p if p is not None else self.plans[Weekday.EVERY_DAY]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: {"255": [[minute, rate], ...], "0": ...}."""
        return {str(int(wd)): [[s.start_minute, s.rate_nl_per_day] for s in p.steps]
                for wd, p in self.plans.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Schedule":
        """Inverse of :meth:`to_dict`."""
        return cls({Weekday(int(k)): Plan(tuple(Step(int(a), int(b)) for a, b in v))
                    for k, v in d.items()})


def weekday_of(wall_ms: int) -> int:
    """Weekday (0=Monday) of a wall time in ms."""
    return (wall_ms // DAY_MS + EPOCH_WEEKDAY) % 7


def validate_schedule(schedule: Schedule, profile: Profile) -> None:
    """Raise :class:`Rejected` unless ``schedule`` obeys the module rules for ``profile``."""
    if not isinstance(schedule, Schedule):
        raise Rejected(RejectCode.INVALID_ARGUMENT, "schedule", "expected a Schedule")
    if Weekday.EVERY_DAY not in schedule.plans:
        raise Rejected(RejectCode.NO_DEFAULT_PLAN, "schedule.plans",
                       "a default plan for every day (0xFF) is required")
    for wd, plan in schedule.plans.items():
        where = f"schedule.plans[{Weekday(wd).name}]"
        steps = plan.steps
        if not steps:
            raise Rejected(RejectCode.NO_STEPS, where, "a plan needs at least one step")
        if len(steps) > profile.max_steps_per_day:
            raise Rejected(RejectCode.TOO_MANY_STEPS, where,
                           f"{len(steps)} steps, at most {profile.max_steps_per_day}")
        prev = -1
        for i, s in enumerate(steps):
            if not 0 <= s.start_minute <= 1439:
                raise Rejected(RejectCode.MINUTE_OUT_OF_RANGE, f"{where}.steps[{i}].start_minute",
                               f"{s.start_minute} not in 0..1439")
            if (i == 0 and s.start_minute != 0) or s.start_minute <= prev:
                raise Rejected(RejectCode.STEP_ORDER, f"{where}.steps[{i}].start_minute",
                               "the first step starts at minute 0 and start minutes strictly increase")
            prev = s.start_minute
            if not profile.min_rate_nl_per_day <= s.rate_nl_per_day <= profile.max_rate_nl_per_day:
                raise Rejected(RejectCode.RATE_OUT_OF_RANGE, f"{where}.steps[{i}].rate_nl_per_day",
                               f"{s.rate_nl_per_day} nL/day outside [{profile.min_rate_nl_per_day}, "
                               f"{profile.max_rate_nl_per_day}]")


class CompiledSchedule:
    """Fast lookups on a validated schedule: rate at a wall time and the next step boundary."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self._starts: list[list[int]] = []
        self._rates: list[list[int]] = []
        for wd in range(7):
            p = schedule.plan_for(wd)
            self._starts.append([s.start_minute * MINUTE_MS for s in p.steps])
            self._rates.append([s.rate_nl_per_day for s in p.steps])
        self.max_rate_nl_per_day = max(max(r) for r in self._rates)
        # the week as one list of boundaries (wall ms modulo a week) with the cumulative
        # integral at each, so any integral is two bisections
        self._wtimes: list[int] = []
        self._wrates: list[int] = []
        for d in range(7):  # day d of the week starts at wall (week time) d x DAY_MS
            wd = (d + EPOCH_WEEKDAY) % 7
            self._wtimes.extend(d * DAY_MS + s for s in self._starts[wd])
            self._wrates.extend(self._rates[wd])
        self._wcum = [0]
        for i in range(1, len(self._wtimes)):
            self._wcum.append(self._wcum[-1] + self._wrates[i - 1] * (self._wtimes[i]
                                                                        - self._wtimes[i - 1]))
        self._week_total = self._wcum[-1] + self._wrates[-1] * (WEEK_MS - self._wtimes[-1])
        # average volume per day over a week, in nL/day x ms / 7 (kept exact as a numerator)
        self.week_volume_x_day_ms = sum(schedule.plan_for(wd).daily_volume_x_day_ms()
                                        for wd in range(7))
        self.max_window_x_day_ms = self._max_24h_window()

    def lookup(self, wall_ms: int) -> tuple[int, int, int]:
        """(step index, rate nL/day, wall ms of the next step boundary or midnight)."""
        day = wall_ms // DAY_MS
        tod = wall_ms - day * DAY_MS
        wd = (day + EPOCH_WEEKDAY) % 7
        starts = self._starts[wd]
        i = bisect_right(starts, tod) - 1
        nxt = starts[i + 1] if i + 1 < len(starts) else DAY_MS
        return i, self._rates[wd][i], day * DAY_MS + nxt

    def cumulative_x_day_ms(self, wall: int) -> int:
        """Integral of the rate over wall [0, wall) in nL/day x ms (``wall`` >= 0)."""
        weeks, x = divmod(wall, WEEK_MS)
        i = bisect_right(self._wtimes, x) - 1
        return weeks * self._week_total + self._wcum[i] + self._wrates[i] * (x - self._wtimes[i])

    def integral_x_day_ms(self, wall_a: int, wall_b: int) -> int:
        """Integral of the rate over wall [a, b) in nL/day x ms (0 when b <= a)."""
        if wall_b <= wall_a:
            return 0
        return self.cumulative_x_day_ms(wall_b) - self.cumulative_x_day_ms(wall_a)

    def boundaries(self, wall_a: int, wall_b: int) -> list[int]:
        """Wall times of the step boundaries (midnight included) in (a, b]."""
        out = []
        t = wall_a
        while True:
            _, _, nxt = self.lookup(t)
            if nxt > wall_b:
                return out
            out.append(nxt)
            t = nxt

    def _max_24h_window(self) -> int:
        """Largest integral over any 24 h window of the weekly pattern (nL/day x ms).

        The window integral is piecewise linear in its start, so its maximum is reached with the
        start or the end on a step boundary; every such candidate is evaluated exactly.
        """
        best = 0
        for b in self._wtimes:
            for c in (b, b - DAY_MS + WEEK_MS):
                v = self.integral_x_day_ms(c, c + DAY_MS)
                if v > best:
                    best = v
        return best
