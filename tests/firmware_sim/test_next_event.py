"""``Pump.next_event_ms``: the run time of the first event ``advance_to`` would log.

The oracle is a full copy of the pump (``Pump.from_snapshot``) advanced for real: the first
event it logs must be at exactly the instant ``next_event_ms`` predicted, and nothing before.
"""
from __future__ import annotations

from typing import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_sim import DAY_MS, Alarm, Pump, Rejected, Schedule, TherapyState, load_profile

from .helpers import HOUR_MS, MINUTE_MS, ML, ready_pump

FOREVER = 1 << 62


def first_logged(pump: Pump, until_ms: int) -> int | None:
    """The run time of the first event a copy of ``pump`` logs when advanced to ``until_ms``."""
    copy = Pump.from_snapshot(pump.snapshot())
    times: list[int] = []
    copy.subscribe(lambda ev: times.append(ev.time_ms))
    copy.advance_to(until_ms)
    copy.storage.close()
    return min(times) if times else None


@st.composite
def schedules(draw: st.DrawFn, profile_min: int, cap: int) -> Schedule:
    minutes = sorted(draw(st.sets(st.integers(1, 1439), max_size=5)))
    starts = [0, *minutes]
    rates = draw(st.lists(st.integers(profile_min, cap), min_size=len(starts),
                          max_size=len(starts)))
    return Schedule.daily(list(zip(starts, rates)))


Action = Callable[[Pump], object]


@st.composite
def actions(draw: st.DrawFn) -> Action:
    """One command or time step on a pump (it may be refused: refusals change nothing)."""
    kind = draw(st.sampled_from(["advance", "advance", "advance", "clinician", "patient",
                                 "priming", "stop", "start", "refill", "refill_conc", "clock",
                                 "threshold", "stall", "ack", "drain", "schedule"]))
    if kind == "advance":
        ms = draw(st.one_of(st.integers(1, 10 * MINUTE_MS), st.integers(1, 3 * DAY_MS),
                            st.integers(1, 40 * DAY_MS)))
        return lambda p: p.advance_to(p.t_ms + ms)
    if kind == "clinician":
        vol = draw(st.integers(1, 2 * ML))
        dur = draw(st.integers(MINUTE_MS, 2 * HOUR_MS))
        return lambda p: p.start_clinician_bolus(dur, volume_nl=vol)
    if kind == "patient":
        return lambda p: p.request_patient_bolus()
    if kind == "priming":
        return lambda p: p.start_priming_bolus()
    if kind == "stop":
        return lambda p: p.stop()
    if kind == "start":
        return lambda p: p.start()
    if kind in ("refill", "refill_conc"):
        fill = draw(st.integers(1, 20 * ML))
        conc = draw(st.sampled_from([10_000, 5_000, 20_000])) if kind == "refill_conc" else None

        def refill(p: Pump) -> None:
            p.refill_begin()
            p.refill_withdrawn(p.reservoir_nl)
            p.refill_complete(fill, conc if conc is not None else p.concentration_ug_per_ml)
        return refill
    if kind == "clock":
        wall = draw(st.integers(0, 10 * DAY_MS))
        return lambda p: p.set_time(wall)
    if kind == "threshold":
        thr = draw(st.integers(500_000, 5 * ML))
        return lambda p: p.set_low_reservoir_threshold(thr)
    if kind == "stall":
        return lambda p: p.inject_motor_stall()
    if kind == "ack":
        alarm = draw(st.sampled_from(list(Alarm)))
        return lambda p: p.acknowledge_alarm(alarm)
    if kind == "drain":
        eos = draw(st.booleans())
        return lambda p: p.inject_battery_drain(end_of_service=eos)
    sched = draw(schedules(48_000, 3 * ML))
    return lambda p: p.set_schedule(sched)


@st.composite
def pumps(draw: st.DrawFn) -> Pump:
    """A pump brought to a random reachable state through its public commands."""
    profile = load_profile(draw(st.sampled_from(["ip20", "ip40"])))
    pump = ready_pump(profile, fill_nl=draw(st.integers(1, 20 * ML)),
                      schedule=draw(schedules(profile.min_rate_nl_per_day, 3 * ML)),
                      start=draw(st.booleans()))
    pump.advance_to(draw(st.integers(0, DAY_MS)))
    if draw(st.booleans()):
        try:
            pump.configure_patient_bolus(dose_ug=draw(st.integers(10, 500)),
                                         duration_ms=draw(st.integers(MINUTE_MS, HOUR_MS)),
                                         lockout_ms=draw(st.integers(15 * MINUTE_MS, 4 * HOUR_MS)),
                                         max_per_24h=draw(st.integers(1, 6)))
        except Rejected:
            pass
    for act in draw(st.lists(actions(), max_size=8)):
        try:
            act(pump)
        except Rejected:
            pass
    if draw(st.booleans()):  # most interesting pumps deliver
        for act in (Pump.start, Pump.request_patient_bolus):
            try:
                act(pump)
            except Rejected:
                pass
    return pump


HORIZONS = st.sampled_from([10_000, HOUR_MS, DAY_MS, 30 * DAY_MS, 400 * DAY_MS]).flatmap(
    lambda scale: st.integers(scale // 4, scale))
PROPERTY = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPERTY
@given(pump=pumps(), horizon=HORIZONS)
def test_next_event_within_a_horizon_is_the_first_event_logged(pump: Pump, horizon: int) -> None:
    until = pump.t_ms + horizon
    assert pump.next_event_ms(until) == first_logged(pump, until)


@PROPERTY
@given(pump=pumps())
def test_next_event_without_a_horizon_is_exact(pump: Pump) -> None:
    t = pump.next_event_ms()
    if t is None:  # nothing can ever happen: only a pump at end of service stays silent
        assert pump.state is TherapyState.END_OF_SERVICE
        assert first_logged(pump, pump.t_ms + 400 * DAY_MS) is None
        return
    assert t > pump.t_ms
    assert first_logged(pump, t) == t
    if t - 1 > pump.t_ms:
        assert first_logged(pump, t - 1) is None


def test_next_event_changes_nothing() -> None:
    pump = ready_pump(fill_nl=3 * ML)
    before, n = pump.snapshot(), pump.status().event_count
    pump.next_event_ms()
    pump.next_event_ms(pump.t_ms + DAY_MS)
    assert pump.snapshot() == before
    assert pump.status().event_count == n


def test_known_events() -> None:
    """1 mL/day from 3 mL with the 2 mL default threshold: low after exactly one day."""
    pump = ready_pump(fill_nl=3 * ML)
    assert pump.next_event_ms() == DAY_MS
    assert pump.next_event_ms(DAY_MS - 1) is None
    assert pump.next_event_ms(DAY_MS) == DAY_MS
    pump.start_clinician_bolus(HOUR_MS, volume_nl=1_000)
    assert pump.next_event_ms() == HOUR_MS  # the bolus ends first


def test_past_or_present_horizon_is_none() -> None:
    pump = ready_pump()
    pump.advance_to(HOUR_MS)
    assert pump.next_event_ms(HOUR_MS) is None
    assert pump.next_event_ms(0) is None


@pytest.mark.parametrize("start", [False, True])
def test_idle_pump_next_event_is_the_battery(start: bool) -> None:
    """Stopped (or running), the battery's elective replacement indicator comes at last."""
    pump = ready_pump(start=start, fill_nl=20 * ML)
    t = pump.next_event_ms()
    assert t is not None
    assert first_logged(pump, t) == t
