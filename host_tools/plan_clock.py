"""A pump's schedule as the programmer reads it (SCHEDULE answers), as a function of wall time.

The rules are those of PROTOCOL.md (sections 1 and 9): a plan is a list of steps (start minute
of the day, rate in nL/day) whose first step starts at minute 0; the plan of a day is that
weekday's own plan, else the every-day plan; the weekday of a wall time ``w`` (ms since
1970-01-01 pump local time) is ``(w div 86,400,000 + 3) mod 7`` with Monday = 0 (1970-01-01 was
a Thursday). Everything is integer: an integral is in nL/day x ms (divide by 86,400,000 for nL).
Host-side code, so a programmer needs no part of the pump model to reason about a schedule.
"""
from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence

from protocol.enums import Weekday

DAY_MS = 86_400_000
MINUTE_MS = 60_000
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


def weekday_of(wall_ms: int) -> int:
    """Weekday (0 = Monday .. 6 = Sunday) of a pump wall time in ms."""
    return (wall_ms // DAY_MS + EPOCH_WEEKDAY) % 7


class _DayPlan:
    """One day's steps with the cumulative integral at each step start (nL/day x ms)."""

    def __init__(self, steps: Sequence[tuple[int, int]]) -> None:
        self.starts = [minute * MINUTE_MS for minute, _ in steps]
        self.rates = [rate for _, rate in steps]
        ends = self.starts[1:] + [DAY_MS]
        self.cum = [0]
        for start, end, rate in zip(self.starts, ends, self.rates):
            self.cum.append(self.cum[-1] + rate * (end - start))

    def index(self, ms_of_day: int) -> int:
        return bisect.bisect_right(self.starts, ms_of_day) - 1

    def integral_to(self, ms_of_day: int) -> int:
        """Integral over [0, ms_of_day) of the day, nL/day x ms."""
        i = self.index(ms_of_day)
        return self.cum[i] + self.rates[i] * (ms_of_day - self.starts[i])


class WeeklyPlans:
    """The plans of a pump (every-day plan plus optional weekday plans) over wall time."""

    def __init__(self, plans: dict[int, Sequence[tuple[int, int]]]) -> None:
        """``plans``: weekday (Weekday value; EVERY_DAY = 0xFF) -> steps as
        (start_minute, rate_nl_per_day), the first at minute 0. ValueError without an every-day
        plan or with a plan that does not start at minute 0."""
        if not plans.get(int(Weekday.EVERY_DAY)):
            raise ValueError("an every-day plan is needed")
        self._days: dict[int, _DayPlan] = {}
        for weekday, steps in plans.items():
            if steps:
                if steps[0][0] != 0:
                    raise ValueError(f"plan {weekday}: the first step must start at minute 0")
                self._days[int(weekday)] = _DayPlan(steps)

    def _plan(self, wall_ms: int) -> _DayPlan:
        return self._days.get(weekday_of(wall_ms)) or self._days[int(Weekday.EVERY_DAY)]

    def lookup(self, wall_ms: int) -> tuple[int, int, int]:
        """(step index, rate nL/day, wall ms of the next step boundary or midnight)."""
        day_start = wall_ms // DAY_MS * DAY_MS
        plan = self._plan(wall_ms)
        i = plan.index(wall_ms - day_start)
        nxt = plan.starts[i + 1] if i + 1 < len(plan.starts) else DAY_MS
        return i, plan.rates[i], day_start + nxt

    def integral_x_day_ms(self, wall_a: int, wall_b: int) -> int:
        """Integral of the rate over wall [a, b) in nL/day x ms (0 when b <= a)."""
        total = 0
        t = wall_a
        while t < wall_b:
            day_start = t // DAY_MS * DAY_MS
            end = min(wall_b, day_start + DAY_MS)
            plan = self._plan(t)
            whole = plan.cum[-1] if end == day_start + DAY_MS else plan.integral_to(end - day_start)
            total += whole - plan.integral_to(t - day_start)
            t = end
        return total


def plans_from(pairs: Iterable[tuple[int, Sequence[tuple[int, int]]]]) -> WeeklyPlans | None:
    """WeeklyPlans from (weekday, steps) pairs; None without an every-day plan."""
    plans = {int(weekday): list(steps) for weekday, steps in pairs if steps}
    if int(Weekday.EVERY_DAY) not in plans:
        return None
    return WeeklyPlans(plans)
