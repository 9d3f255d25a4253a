"""The oracle's building blocks: units, :class:`Violation`, the device numbers it needs
(:class:`Limits`), schedules with closed-form integrals (:class:`DayPlan`, :class:`WeekPlan`),
the validity rule of a plan and a bolus followed exactly. Units: nL, ug, ug/mL, nL/day, ms, pg."""
from __future__ import annotations

import bisect
import dataclasses
from typing import Any

DAY_MS = 86_400_000
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
PG_PER_UG = 1_000_000
NL_PER_ML = 1_000_000
DELIVERING = ("INFUSING", "BOLUS")
# Alarms the oracle predicts (raise time included); the others are checked by rule.
LATCHED_BY_ACK = ("MOTOR_STALL", "MEMORY_ERROR", "REFILL_DISCREPANCY")
MEASURE_WITHDRAWN = 0xFFFF_FFFF  # REFILL_WITHDRAWN: the emulator measures the true volume


class Violation(AssertionError):
    """A safety invariant or a documented rule was broken; the message says which and how."""


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclasses.dataclass
class Limits:
    """The device numbers the oracle needs (copied from a profile)."""

    capacity_nl: int
    min_rate: int
    max_rate: int
    max_steps: int
    low_default_nl: int
    low_min_nl: int
    low_max_nl: int
    dead_volume_nl: int
    discrepancy_min_nl: int
    discrepancy_percent: int
    battery_capacity_uah: int
    battery_idle_uah_per_day: int
    battery_motor_uah_per_ml: int
    battery_eri_days: int
    battery_reduced_uah: int
    clin_min_ms: int
    clin_max_ms: int
    p_min_dose: int
    p_max_dose: int
    p_min_dur: int
    p_max_dur: int
    p_min_lockout: int
    p_max_lockout: int
    p_max_per_day: int
    drugs: dict[str, tuple[int, int, int, int]]  # name -> (cmin, cmax, soft ug, hard ug)
    keep_open_rate: int = 0  # nL/day while a dose window's limit holds
    # name -> (window ms, limit pg per window), for the drugs that have a dose window
    windows: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_profile(cls, p: Any) -> "Limits":
        """From a firmware_sim Profile (its numbers only)."""
        return cls(p.reservoir_capacity_nl, p.min_rate_nl_per_day, p.max_rate_nl_per_day,
                   p.max_steps_per_day, p.low_threshold_default_nl, p.low_threshold_min_nl,
                   p.low_threshold_max_nl, p.dead_volume_nl, p.discrepancy_min_nl,
                   p.discrepancy_percent, p.battery_capacity_uah, p.battery_idle_uah_per_day,
                   p.battery_motor_uah_per_ml, p.battery_eri_days, p.battery_reduced_uah,
                   p.clinician_bolus_min_duration_ms, p.clinician_bolus_max_duration_ms,
                   p.patient_min_dose_ug, p.patient_max_dose_ug, p.patient_min_duration_ms,
                   p.patient_max_duration_ms, p.patient_min_lockout_ms, p.patient_max_lockout_ms,
                   p.patient_max_per_24h,
                   {n: (e.min_concentration_ug_per_ml, e.max_concentration_ug_per_ml,
                        e.soft_daily_limit_ug, e.hard_daily_limit_ug) for n, e in p.drugs.items()},
                   p.keep_open_nl_per_day,
                   {n: (e.window_hours * HOUR_MS, e.window_limit_ug * PG_PER_UG)
                    for n, e in p.drugs.items() if e.window_hours and e.window_limit_ug})


class DayPlan:
    """An every-day schedule: steps (start minute, rate nL/day) and closed-form integrals."""

    def __init__(self, steps: list[tuple[int, int]]) -> None:
        self.steps = [(int(m), int(r)) for m, r in steps]
        self.starts = [m * MINUTE_MS for m, _ in self.steps]
        self.rates = [r for _, r in self.steps]
        self.prefix = [0]  # integral from midnight to each step start (nL/day x ms)
        for i in range(1, len(self.steps)):
            self.prefix.append(self.prefix[-1] + self.rates[i - 1] * (self.starts[i] - self.starts[i - 1]))
        self.daily = self.prefix[-1] + self.rates[-1] * (DAY_MS - self.starts[-1])

    def rate_at(self, wall: int) -> int:
        """Rate in force at wall time ``wall`` (ms)."""
        tod = wall % DAY_MS
        return self.rates[bisect.bisect_right(self.starts, tod) - 1]

    def cumulative(self, wall: int) -> int:
        """Integral of the rate from wall 0 to ``wall`` (nL/day x ms); wall may be negative."""
        day, tod = divmod(wall, DAY_MS)
        i = bisect.bisect_right(self.starts, tod) - 1
        return day * self.daily + self.prefix[i] + self.rates[i] * (tod - self.starts[i])

    def integral(self, wall_a: int, wall_b: int) -> int:
        """Integral of the rate over wall [a, b)."""
        return self.cumulative(wall_b) - self.cumulative(wall_a)

    def within(self, tod: int) -> int:
        """Integral from midnight to time of day ``tod`` (0..DAY_MS)."""
        if tod >= DAY_MS:
            return self.daily
        i = bisect.bisect_right(self.starts, tod) - 1
        return self.prefix[i] + self.rates[i] * (tod - self.starts[i])


EVERY_DAY = 0xFF
EPOCH_WEEKDAY = 3  # wall day 0 (1970-01-01) is a Thursday; Monday is 0


class WeekPlan:
    """A schedule: an every-day plan (0xFF) and optional plans for weekdays 0..6 (Monday..)."""

    def __init__(self, plans: dict[int, list[tuple[int, int]]]) -> None:
        self.plans = {int(wd): list(steps) for wd, steps in plans.items()}
        self.day_plans = {wd: DayPlan(steps) for wd, steps in self.plans.items()}
        default = self.day_plans[EVERY_DAY]
        self.days = [self.day_plans.get(wd, default) for wd in range(7)]
        # integral of the days 0..k of a week that starts on wall day 0 (a Thursday)
        self.week_prefix = [0]
        for k in range(7):
            self.week_prefix.append(self.week_prefix[-1] + self.days[(k + EPOCH_WEEKDAY) % 7].daily)
        self.week = self.week_prefix[-1]
        self.max_rate = max(max(d.rates) for d in self.days)
        self.max_window = self._max_window()

    @property
    def steps(self) -> list[tuple[int, int]]:
        return self.plans[EVERY_DAY]

    def day(self, wall: int) -> DayPlan:
        """The plan in force on the wall day of ``wall``."""
        return self.days[(wall // DAY_MS + EPOCH_WEEKDAY) % 7]

    def rate_at(self, wall: int) -> int:
        return self.day(wall).rate_at(wall)

    def cumulative(self, wall: int) -> int:
        """Integral of the rate from wall 0 to ``wall`` (any integer)."""
        day, tod = divmod(wall, DAY_MS)
        weeks, k = divmod(day, 7)
        return weeks * self.week + self.week_prefix[k] + self.day(wall).within(tod)

    def integral(self, wall_a: int, wall_b: int) -> int:
        return self.cumulative(wall_b) - self.cumulative(wall_a)

    def boundaries(self, wall: int) -> int:
        """The first rate boundary (step start or midnight) after ``wall``."""
        d = self.day(wall)
        tod = wall % DAY_MS
        nxt = [x for x in d.starts if x > tod]
        return wall - tod + (nxt[0] if nxt else DAY_MS)

    def _max_window(self) -> int:
        """Largest integral over any 24 h window (start or end on a boundary is enough)."""
        best = 0
        for day in range(7):
            for start in self.days[(day + EPOCH_WEEKDAY) % 7].starts + [0]:
                b = day * DAY_MS + start
                for a in (b, b - DAY_MS):
                    best = max(best, self.integral(a, a + DAY_MS))
        return best


def schedule_defect(steps: list[tuple[int, int]], lim: Limits) -> str | None:
    """Why ``steps`` is not a valid every-day plan, or None when it is (REQUIREMENTS.md)."""
    if not steps:
        return "no steps"
    if len(steps) > lim.max_steps:
        return "too many steps"
    prev = -1
    for i, (m, r) in enumerate(steps):
        if not 0 <= m <= 1439:
            return f"step {i} minute {m} out of range"
        if (i == 0 and m != 0) or m <= prev:
            return f"step {i} out of order"
        prev = m
        if not lim.min_rate <= r <= lim.max_rate:
            return f"step {i} rate {r} out of range"
    return None


@dataclasses.dataclass
class Bolus:
    """A bolus the oracle follows exactly: V nL over D ms from ``start`` (run ms)."""

    kind: str
    volume: int
    duration: int
    start: int

    def given(self, t: int) -> int:
        """Volume delivered by run time t."""
        e = min(max(t - self.start, 0), self.duration)
        return self.volume * e // self.duration

    @property
    def end(self) -> int:
        return self.start + self.duration
