"""Dose windows checked by their exact results: what each window counts, the logged details of
its limit and its end, a stop during the keep-open fallback, and drugs whose window is off."""
from __future__ import annotations

import dataclasses

import pytest

from firmware_sim import Pump, Schedule, load_profile

from .helpers import HOUR_MS, MINUTE_MS, events_of, ready_pump

RATE = 2_400_000  # nL/day: 100 uL (1,000 ug of morphine at 10 mg/mL) per hour
CONC = 10_000


def windowed(limit_ug: int, hours: int = 1):
    prof = load_profile("ip20")
    morphine = dataclasses.replace(prof.drugs["morphine"], window_hours=hours,
                                   window_limit_ug=limit_ug)
    return dataclasses.replace(prof, drugs={**prof.drugs, "morphine": morphine})


def test_the_window_counts_the_dose_delivered_since_it_opened() -> None:
    pump = ready_pump(windowed(900, hours=2), schedule=Schedule.constant(RATE), conc=CONC)
    assert pump._window_ms() == 2 * HOUR_MS
    assert pump._window_limit_pg() == 900 * 1_000_000
    assert pump.dose_window == [0, 0] and pump._window_counted_pg() == 0
    pump.advance_to(10 * MINUTE_MS)
    pump.advance_to(30 * MINUTE_MS)  # two segments: 50,000 nL
    assert pump._window_counted_pg() == 50_000 * CONC == pump.dose_window[1]
    assert pump.dose_window[0] == 0


def test_limit_and_end_are_logged_with_their_details() -> None:
    prof = windowed(600)
    pump = ready_pump(prof, schedule=Schedule.constant(RATE), conc=CONC)
    pump.advance_to(HOUR_MS)
    (limit,) = events_of(pump, "DOSE_WINDOW_LIMIT")
    assert limit.details == {"window_hours": 1, "window_limit_ug": 600,
                             "keep_open_nl_per_day": prof.keep_open_nl_per_day}
    assert pump.keep_open is False and pump.dose_window == [HOUR_MS, 0]
    (end,) = events_of(pump, "DOSE_WINDOW_END")
    assert (end.time_ms, end.details) == (HOUR_MS, {"reason": "window over"})
    # after the end the schedule runs at full rate from the first ms
    pump.advance_to(HOUR_MS + 6 * MINUTE_MS)
    assert pump._window_counted_pg() == 10_000 * CONC


def test_a_stop_during_the_fallback_ends_it_and_closes_the_window() -> None:
    pump = ready_pump(windowed(600), schedule=Schedule.constant(RATE), conc=CONC)
    pump.advance_to(40 * MINUTE_MS)  # the limit was reached at 36 min
    assert pump.keep_open is True
    pump.stop()
    assert pump.dose_window is None and pump.keep_open is False
    ends = events_of(pump, "DOSE_WINDOW_END")
    assert [e.details for e in ends] == [{"reason": "therapy stopped"}]
    assert pump._window_counted_pg() == 0
    pump.start()  # a new window opens at the restart, empty
    assert pump.dose_window == [40 * MINUTE_MS, 0] and pump.keep_open is False
    assert len(events_of(pump, "DOSE_WINDOW_END")) == 1


def test_a_stop_before_the_limit_closes_the_window_silently() -> None:
    pump = ready_pump(windowed(600), schedule=Schedule.constant(RATE), conc=CONC)
    pump.advance_to(10 * MINUTE_MS)
    pump.stop()
    assert pump.dose_window is None and not events_of(pump, "DOSE_WINDOW_END")
    pump.advance_to(20 * MINUTE_MS)
    assert pump.dose_window is None


@pytest.mark.parametrize("hours,limit", [(0, 600), (1, 0)])
def test_a_window_needs_both_hours_and_a_limit(hours: int, limit: int) -> None:
    pump = ready_pump(windowed(limit, hours=hours), schedule=Schedule.constant(RATE), conc=CONC)
    assert pump._window_limit_pg() is None and pump.dose_window is None
    pump.advance_to(2 * HOUR_MS)
    assert pump._window_counted_pg() == 0
    assert not events_of(pump, "DOSE_WINDOW_LIMIT") and pump.keep_open is False


def test_without_a_drug_there_is_no_window() -> None:
    pump = Pump(windowed(600))
    assert pump._window_ms() == 0 and pump._window_limit_pg() is None
    assert pump._window_counted_pg() == 0


def test_reprogramming_mid_window_keeps_the_window_and_its_count() -> None:
    pump = ready_pump(windowed(900, hours=2), schedule=Schedule.constant(RATE), conc=CONC)
    pump.advance_to(10 * MINUTE_MS)
    pump.set_schedule(Schedule.constant(RATE // 2))
    assert pump.dose_window == [0, 16_666 * CONC]  # 10 min at 2.4 mL/day, floor nL
    pump.set_time(pump.status().wall_ms + HOUR_MS)
    assert pump.dose_window[0] == 0
