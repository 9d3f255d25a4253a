"""The programmer's own reading of a schedule over wall time (host_tools.plan_clock) agrees with
the pump model's to the nL/day x ms, so pumpctl needs no part of the model to rebuild history."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from firmware_sim.schedule import CompiledSchedule, Plan, Schedule, Step
from host_tools.plan_clock import WeeklyPlans, weekday_of
from protocol.enums import Weekday

DAY_MS = 86_400_000


@st.composite
def plans(draw: st.DrawFn) -> dict[int, list[tuple[int, int]]]:
    out = {}
    for weekday in [0xFF] + draw(st.lists(st.integers(0, 6), max_size=3, unique=True)):
        minutes = sorted(draw(st.sets(st.integers(1, 1439), max_size=5)))
        out[weekday] = [(m, draw(st.integers(48_000, 24_000_000))) for m in [0, *minutes]]
    return out


@settings(max_examples=60, deadline=None)
@given(plans(), st.integers(0, 30 * DAY_MS), st.integers(0, 9 * DAY_MS))
def test_lookup_and_integral_match_the_model(p: dict, start: int, length: int) -> None:
    host = WeeklyPlans(p)
    model = CompiledSchedule(Schedule({Weekday(w): Plan(tuple(Step(m, r) for m, r in steps))
                                       for w, steps in p.items()}))
    assert host.integral_x_day_ms(start, start + length) == \
        model.integral_x_day_ms(start, start + length)
    assert host.lookup(start) == model.lookup(start)
    assert host.integral_x_day_ms(start + length, start) == 0


def test_weekday_of_the_epoch() -> None:
    assert weekday_of(0) == Weekday.THURSDAY and weekday_of(4 * DAY_MS) == Weekday.MONDAY
