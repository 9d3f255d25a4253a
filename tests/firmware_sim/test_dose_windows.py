"""Hourly (1-12 h) dose windows and the keep-open fallback.

Reproduction: there were no hourly dose windows and no keep-open fallback when one is reached.
"""
from __future__ import annotations

import dataclasses

from firmware_sim import BolusKind, DenialReason, Pump, Schedule, TherapyState, load_profile

from .helpers import HOUR_MS, MINUTE_MS, DAY_MS, events_of, ready_pump

RATE = 2_400_000  # nL/day: 100 uL (1,000 ug of morphine at 10 mg/mL) per hour


def windowed(limit_ug: int, hours: int = 1):
    prof = load_profile("ip20")
    morphine = dataclasses.replace(prof.drugs["morphine"], window_hours=hours,
                                   window_limit_ug=limit_ug)
    return dataclasses.replace(prof, drugs={**prof.drugs, "morphine": morphine})


def test_window_limit_falls_back_to_keep_open_until_the_window_ends() -> None:
    pump = ready_pump(windowed(600), schedule=Schedule.constant(RATE))
    limit_at = 600 * 1_000_000 // 10_000 * DAY_MS // RATE  # 60,000 nL at 2.4 mL/day: 36 min
    assert pump.next_event_ms() == limit_at
    pump.advance_to(limit_at)
    ev = events_of(pump, "DOSE_WINDOW_LIMIT")
    assert len(ev) == 1 and ev[0].time_ms == limit_at
    assert pump.delivered_nl == 60_000
    keep = pump.profile.keep_open_nl_per_day
    assert pump.status().rate_nl_per_day == keep
    assert pump.request_patient_bolus().reason is DenialReason.NOT_CONFIGURED
    pump.advance_to(HOUR_MS)  # the window is over: the schedule runs again
    assert events_of(pump, "DOSE_WINDOW_END")[-1].time_ms == HOUR_MS
    assert pump.delivered_nl == 60_000 + keep * (HOUR_MS - limit_at) // DAY_MS
    assert pump.status().rate_nl_per_day == RATE
    pump.advance_to(HOUR_MS + limit_at)
    assert events_of(pump, "DOSE_WINDOW_LIMIT")[-1].time_ms == HOUR_MS + limit_at


def test_patient_bolus_in_progress_is_not_completed_and_clinician_bolus_is_not_counted() -> None:
    pump = ready_pump(windowed(300), schedule=Schedule.constant(RATE))
    pump.configure_patient_bolus(dose_ug=500, duration_ms=20 * MINUTE_MS,
                                 lockout_ms=15 * MINUTE_MS, max_per_24h=4)
    assert pump.request_patient_bolus().granted
    pump.advance_to(20 * MINUTE_MS)
    end = events_of(pump, "BOLUS_END")[-1]
    assert end.details["outcome"] == "DOSE_WINDOW_LIMIT"
    assert end.details["delivered_nl"] < 50_000  # not completed
    assert pump.state is TherapyState.INFUSING
    limit = events_of(pump, "DOSE_WINDOW_LIMIT")[-1].time_ms
    assert end.time_ms == limit
    assert pump.request_patient_bolus().reason is DenialReason.HARD_DAILY_LIMIT
    # next window: a clinician bolus runs on top and does not count
    pump.advance_to(HOUR_MS)
    pump.start_clinician_bolus(duration_ms=HOUR_MS, volume_nl=20_000)
    pump.advance_to(HOUR_MS + 18 * MINUTE_MS)  # 300 ug of basal alone: 18 min
    assert events_of(pump, "DOSE_WINDOW_LIMIT")[-1].time_ms == HOUR_MS + 18 * MINUTE_MS
    assert pump.status().bolus is not None and pump.status().bolus.kind is BolusKind.CLINICIAN


def test_drugs_without_a_window_are_unchanged() -> None:
    pump = ready_pump(schedule=Schedule.constant(RATE))
    pump.advance_to(DAY_MS)
    assert pump.delivered_nl == RATE
    assert not events_of(pump, "DOSE_WINDOW_LIMIT")
    assert Pump.from_snapshot(pump.snapshot()).dose_window is None


def _empty_for_a_month(step_ms: int) -> Pump:
    """A windowed pump that runs dry 20 min into its first window (40,000 nL at 2.4 mL/day),
    stays EMPTY for 30 days, crossed in steps of ``step_ms``, and is refilled at 30 d 7 min."""
    pump = ready_pump(windowed(600), schedule=Schedule.constant(RATE), fill_nl=40_000)
    end = 30 * DAY_MS + 7 * MINUTE_MS
    t = pump.time_ms
    while t < end:
        t = min(t + step_ms, end)
        pump.advance_to(t)
    assert pump.state is TherapyState.EMPTY
    pump.refill_begin()
    pump.refill_withdrawn(0)
    pump.refill_complete(10_000_000, 10_000)
    return pump


def test_an_empty_pump_does_not_stop_at_every_window_end_and_keeps_the_window_grid() -> None:
    """Reproduction: a pump with a 1 h window that sat EMPTY for a month still took a segment
    at each of its 720 window ends. Now the window is rolled by arithmetic while nothing flows,
    with the same result as crossing the month hour by hour."""
    jumped = _empty_for_a_month(31 * DAY_MS)
    assert jumped.segments < 20, jumped.segments  # the month in a few segments, not 720
    stepped = _empty_for_a_month(HOUR_MS)
    assert jumped.dose_window == stepped.dose_window == [30 * DAY_MS, 0]  # on the hour grid
    # delivering again, the window's limit comes at the same ms either way
    assert jumped.state is TherapyState.INFUSING and stepped.state is TherapyState.INFUSING
    assert jumped.next_event_ms() == stepped.next_event_ms()
    for pump in (jumped, stepped):
        pump.advance_to(30 * DAY_MS + 3 * HOUR_MS)
    limits = [e.time_ms for e in events_of(jumped, "DOSE_WINDOW_LIMIT")]
    assert limits and limits == [e.time_ms for e in events_of(stepped, "DOSE_WINDOW_LIMIT")]
    assert limits[0] == 30 * DAY_MS + 43 * MINUTE_MS  # refilled at 7 min, 600 ug 36 min later
    assert jumped.delivered_nl == stepped.delivered_nl


def test_years_in_one_jump_leave_the_window_where_day_steps_do() -> None:
    """An EMPTY windowed pump crossing its battery's life (refill due, ERI, end of service: rows
    that act while the window is rolled by arithmetic) in one jump ends with the same window,
    events and state as one crossing it a day at a time."""
    def run(step_ms: int) -> Pump:
        pump = ready_pump(windowed(600), schedule=Schedule.constant(RATE), fill_nl=40_000)
        end = 7 * 365 * DAY_MS + 5 * MINUTE_MS
        t = pump.time_ms
        while t < end:
            t = min(t + step_ms, end)
            pump.advance_to(t)
        return pump
    jumped, stepped = run(8 * 365 * DAY_MS), run(DAY_MS)
    assert jumped.dose_window == stepped.dose_window
    assert jumped.state is stepped.state
    assert [(e.time_ms, e.kind) for e in events_of(jumped)] == \
        [(e.time_ms, e.kind) for e in events_of(stepped)]


def test_a_window_that_ends_while_nothing_flows_rolls_at_its_last_ms() -> None:
    """Run dry 20 min into the first 1 h window: a run that ends exactly at the window's end
    leaves the next window open, counting from that ms, as a run through it does."""
    pump = ready_pump(windowed(600), schedule=Schedule.constant(RATE), fill_nl=40_000)
    pump.advance_to(HOUR_MS - 1)
    assert pump.state is TherapyState.EMPTY and pump.dose_window == [0, 40_000 * 10_000]
    pump.advance_to(HOUR_MS)
    assert pump.dose_window == [HOUR_MS, 0]
