"""The rolling 24 h dose bound behind the hard daily limit, checked against a brute-force search.

``_window_pg`` bounds the dose of every 24 h window that contains now by evaluating a few
candidate window starts (epoch ends, step boundaries, bolus ends). Here the same bound is found by
trying every window start on a 10-minute grid (and the last ms in which each bolus counts): with
every rate a multiple of 1,440 nL/day and every event on the grid, a window's dose changes
linearly between grid points, so the grid search must find exactly the pump's value, in
scenarios with
reprogramming, clock changes, stops, boluses and a concentration change in the catheter.
"""
from __future__ import annotations

import pytest

from firmware_sim import DAY_MS, Pump, Rejected, Schedule
from firmware_sim.enums import RejectCode
from firmware_sim.schedule import CompiledSchedule, Plan, Step, Weekday

from .helpers import HOUR_MS, ML as ML_, MINUTE_MS, events_of, ready_pump

pytestmark = pytest.mark.requirement("LIM-1", "SAF-4")

PG_PER_UG = 1_000_000
LOW = Schedule.daily([(0, 144_000), (600, 1_440_000), (1020, 288_000)])
HIGH = Schedule.daily([(0, 1_440_000), (360, 144_000)])
FLAT = Schedule.constant(720_000)
GRID_MS = 10 * MINUTE_MS  # every step, epoch, bolus and offset below is on this grid


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def grid_bound(pump: Pump, compiled: CompiledSchedule | None, conc: int, offset_ms: int,
               running: bool, extra_pg: int = 0, boluses: bool = True) -> int:
    """Largest dose (pg) of a 24 h window [s, s + 24 h) with s in [now - 24 h, now]: what ran
    (closed and open epochs), the boluses ending after s and ``compiled`` from now on."""
    t = pump.t_ms
    lo = t - DAY_MS
    ran = [(a, e, off, c, CompiledSchedule(Schedule.from_dict(sd)))
           for a, e, off, c, sd in pump.past_epochs if e > lo]
    if pump.epoch is not None and pump.epoch[0] < t and pump.compiled is not None:
        ran.append((pump.epoch[0], t, pump.epoch[1], pump.epoch[2], pump.compiled))
    history = pump.bolus_history if boluses else []

    def dose(s: int) -> int:
        v = sum(pg for _, end, pg, _ in history if end > s)
        for a, e, off, c, cs in ran:
            if e > max(a, s):
                v += ceil_div(cs.integral_x_day_ms(max(a, s) + off, e + off), DAY_MS) * c
        if running and compiled is not None:
            v += ceil_div(compiled.integral_x_day_ms(t + offset_ms, s + DAY_MS + offset_ms),
                          DAY_MS) * conc
        return v

    # every tenth minute, and the last ms in which a bolus still counts
    starts = set(range(lo - lo % GRID_MS, t + GRID_MS, GRID_MS))
    starts.update(end - 1 for _, end, _, _ in history)
    return max(dose(s) for s in starts if lo <= s <= t) + extra_pg


def check(pump: Pump) -> None:
    """The pump's bound equals the grid search for the running program, for other programs,
    offsets and concentrations, stopped, with and without the boluses."""
    for sched in (None, LOW, HIGH, FLAT):
        compiled = pump.compiled if sched is None else CompiledSchedule(sched)
        for conc, offset in ((pump.concentration_ug_per_ml or 0, pump.wall_offset_ms),
                             (20_000, pump.wall_offset_ms + 5 * HOUR_MS)):
            for running, boluses, extra in ((True, True, 0), (True, False, 7), (False, True, 0)):
                got = pump._window_pg(compiled, conc, offset, running, extra, boluses)
                assert got == grid_bound(pump, compiled, conc, offset, running, extra, boluses), (
                    sched, conc, offset, running, boluses)


def test_bound_after_reprogramming_and_a_clock_change() -> None:
    pump = ready_pump(schedule=LOW)
    pump.advance_to(14 * HOUR_MS)
    check(pump)
    pump.set_schedule(HIGH)
    pump.advance_to(20 * HOUR_MS)
    check(pump)
    pump.set_time(pump.status().wall_ms - 3 * HOUR_MS)
    pump.advance_to(30 * HOUR_MS)
    check(pump)
    pump.advance_to(47 * HOUR_MS)
    check(pump)


def test_bound_with_boluses_and_a_stop() -> None:
    pump = ready_pump(schedule=LOW)
    pump.advance_to(2 * HOUR_MS)
    pump.start_clinician_bolus(duration_ms=30 * MINUTE_MS, volume_nl=50_000)
    pump.advance_to(5 * HOUR_MS)
    pump.start_clinician_bolus(duration_ms=20 * MINUTE_MS, volume_nl=20_000)
    pump.advance_to(5 * HOUR_MS + 10 * MINUTE_MS)  # the second bolus still runs
    check(pump)
    pump.advance_to(11 * HOUR_MS)
    pump.stop()
    pump.advance_to(13 * HOUR_MS)
    check(pump)
    pump.start()
    pump.advance_to(26 * HOUR_MS + 20 * MINUTE_MS)  # the first bolus left the last 24 h
    check(pump)


def test_bound_while_the_catheter_holds_an_older_concentration() -> None:
    pump = ready_pump(schedule=FLAT)
    pump.advance_to(6 * HOUR_MS)
    pump.stop()
    pump.refill_begin()
    pump.refill_withdrawn(pump.status().reservoir_nl)
    pump.refill_complete(10_000_000, 20_000)  # twice as strong; the catheter holds the old one
    pump.start()
    assert pump.path_old_nl > 0 and pump._limit_conc() == 20_000
    pump.advance_to(9 * HOUR_MS)
    check(pump)


def test_one_program_all_day_is_bounded_by_its_own_worst_window() -> None:
    """When one program ran through the whole last 24 h at the same offset and concentration,
    the bound is that program's own worst 24 h window (ceil, nL) x concentration, plus the
    boluses of the last 24 h; any change of offset, concentration or program means the search."""
    pump = ready_pump(schedule=LOW, conc=10_000)
    pump.advance_to(30 * HOUR_MS)
    worst_nl = ceil_div(pump.compiled.max_window_x_day_ms, DAY_MS)
    assert worst_nl == 144_000 * 10 // 24 + 1_440_000 * 7 // 24 + 288_000 * 7 // 24
    off, comp = pump.wall_offset_ms, pump.compiled
    assert pump._window_pg(comp, 10_000, off, True) == worst_nl * 10_000
    assert pump._window_pg(comp, 10_000, off, True, 5) == worst_nl * 10_000 + 5
    assert pump._window_pg(comp, 9_000, off, True) == worst_nl * 9_000
    assert pump._window_pg(comp, 10_000, off, False) == grid_bound(pump, comp, 10_000, off, False)
    assert pump._window_pg(comp, 11_000, off, True) == grid_bound(pump, comp, 11_000, off, True)
    assert pump._window_pg(comp, 10_000, off + MINUTE_MS, True) == grid_bound(
        pump, comp, 10_000, off + MINUTE_MS, True)
    other = CompiledSchedule(LOW)
    assert pump._window_pg(other, 10_000, off, True) == grid_bound(pump, other, 10_000, off, True)
    pump.start_clinician_bolus(duration_ms=HOUR_MS, volume_nl=10_000)
    assert pump._window_pg(comp, 10_000, off, True) == worst_nl * 10_000 + 10_000 * 10_000
    assert pump._window_pg(comp, 10_000, off, True, boluses=False) == worst_nl * 10_000


def test_history_and_epochs_older_than_a_day_are_forgotten() -> None:
    pump = ready_pump(schedule=LOW)
    pump.start_clinician_bolus(duration_ms=HOUR_MS, volume_nl=10_000)
    pump.advance_to(2 * HOUR_MS)
    pump.set_schedule(HIGH)
    pump.advance_to(DAY_MS + HOUR_MS)  # the bolus ended exactly 24 h ago
    check(pump)  # whether or not it is still in the history, it no longer counts
    assert pump._recent_bolus_pg() == 0
    pump._prune_history()
    assert pump.bolus_history == [] and pump.patient_history == []
    pump.set_schedule(LOW)
    assert [e[:4] for e in pump.past_epochs] == [[0, 2 * HOUR_MS, 0, 10_000],
                                                 [2 * HOUR_MS, DAY_MS + HOUR_MS, 0, 10_000]]
    pump.advance_to(DAY_MS + 3 * HOUR_MS)
    pump.set_schedule(HIGH)  # the first epoch ended more than 24 h ago: forgotten
    assert [e[:2] for e in pump.past_epochs] == [[2 * HOUR_MS, DAY_MS + HOUR_MS],
                                                 [DAY_MS + HOUR_MS, DAY_MS + 3 * HOUR_MS]]
    check(pump)


def test_limit_concentration_is_the_strongest_in_the_catheter() -> None:
    pump = Pump(ready_pump().profile)
    assert pump._limit_conc() == 0 and pump._hard_limit_pg() == 0
    pump = ready_pump(conc=10_000)
    assert pump._limit_conc() == 10_000
    assert pump._hard_limit_pg() == pump.profile.drug("morphine").hard_daily_limit_ug * PG_PER_UG


def test_bolus_fits_the_limit_exactly_up_to_it() -> None:
    """Stopped after a flat day, a clinician bolus may bring the last 24 h up to the hard limit
    and not one nL beyond (morphine 10,000 ug/mL, hard limit from the profile)."""
    pump = ready_pump(schedule=Schedule.constant(1_440_000), conc=10_000)
    pump.advance_to(12 * HOUR_MS)
    pump.stop()
    hard_pg = pump._hard_limit_pg()
    ran_pg = grid_bound(pump, None, 10_000, 0, False)
    room_nl = (hard_pg - ran_pg) // 10_000
    assert pump._bolus_fits_limit(room_nl) and not pump._bolus_fits_limit(room_nl + 1)
    with pytest.raises(Rejected) as exc:
        pump.start_clinician_bolus(duration_ms=12 * HOUR_MS, volume_nl=room_nl + 1)
    assert exc.value.code is RejectCode.HARD_DAILY_LIMIT
    pump.start_clinician_bolus(duration_ms=12 * HOUR_MS, volume_nl=room_nl)


def test_a_weaker_refill_is_limited_at_the_stronger_concentration_left_in_the_catheter() -> None:
    pump = ready_pump(schedule=FLAT, conc=20_000)
    pump.advance_to(6 * HOUR_MS)
    pump.stop()
    pump.refill_begin()
    pump.refill_withdrawn(pump.status().reservoir_nl)
    pump.refill_complete(10_000_000, 10_000)  # half as strong
    pump.start()
    assert pump.path_old_nl > 0 and pump.path_old_conc == 20_000
    assert pump._limit_conc() == 20_000
    pump.advance_to(9 * HOUR_MS)
    check(pump)
    pump.advance_to(5 * DAY_MS)  # the catheter holds only the new concentration by now
    assert pump.path_old_nl == 0 and pump._limit_conc() == 10_000


def test_own_worst_window_is_rounded_up_to_whole_nl() -> None:
    pump = ready_pump(schedule=Schedule.constant(1_000_001), conc=10_000, start=False)
    compiled = CompiledSchedule(Schedule.daily([(0, 1_000_001), (1, 48_000)]))
    # 1 min at 1,000,001 nL/day then 48,000: 694.44... + 47,966.66... nL in any 24 h
    worst = ceil_div(compiled.max_window_x_day_ms, DAY_MS)
    assert worst == 48_662 and compiled.max_window_x_day_ms % DAY_MS
    got = pump._basal_window_pg(compiled, 10_000)
    assert got == worst * 10_000 and isinstance(got, int)
    assert pump._basal_window_pg(None, 10_000) == 0
    assert pump._window_pg(None, 10_000, 0, False) == 0  # nothing ran, nothing will
    assert pump._window_pg(compiled, 10_000, 0, True) == worst * 10_000


# every day 500,000 nL/day; Tuesday 1,000,000 until 06:00 then 48,000: the worst 24 h window runs
# Monday 06:00 -> Tuesday 06:00 (625,000 nL), days after a start on a Thursday (wall 0)
TUESDAY_PEAK = Schedule({Weekday.EVERY_DAY: Plan.constant(500_000),
                         Weekday.TUESDAY: Plan((Step(0, 1_000_000), Step(360, 48_000)))})


def test_a_weekly_program_alone_in_the_window_is_bounded_by_its_worst_window_ahead() -> None:
    pump = ready_pump(schedule=TUESDAY_PEAK, conc=10_000)
    comp, off = pump.compiled, pump.wall_offset_ms
    assert pump._window_pg(comp, 10_000, off, True) == 625_000 * 10_000  # just started
    pump.advance_to(DAY_MS)  # the epoch began exactly 24 h ago
    assert pump._window_pg(comp, 10_000, off, True) == 625_000 * 10_000
    pump.advance_to(30 * HOUR_MS)
    assert pump._window_pg(comp, 10_000, off, True) == 625_000 * 10_000


def test_a_program_whose_worst_window_lies_days_ahead_is_refused_after_another_ran() -> None:
    """Morphine 50,000 ug/mL (hard limit 30,000 ug = 600,000 nL): on a Thursday, after an hour of
    another program, the windows holding now stay under the limit, but the program's Monday to
    Tuesday window (625,000 nL) does not."""
    pump = ready_pump(schedule=Schedule.constant(100_000), conc=50_000)
    pump.advance_to(HOUR_MS)
    with pytest.raises(Rejected) as exc:
        pump.set_schedule(TUESDAY_PEAK)
    assert exc.value.code is RejectCode.HARD_DAILY_LIMIT
    assert exc.value.reason == ("up to 31250 ug per 24 h (with the boluses of the last 24 h) "
                                "exceeds the hard limit 30000 ug of morphine")


def test_a_clock_set_days_ahead_keeps_the_running_epoch_in_the_bound() -> None:
    pump = ready_pump(schedule=LOW)
    pump.advance_to(2 * HOUR_MS)
    pump.stop()
    pump.set_time(10 * DAY_MS)  # wall offset far beyond the run time
    pump.start()
    pump.advance_to(5 * HOUR_MS)
    assert pump.wall_offset_ms > pump.t_ms
    check(pump)


def test_epochs_are_opened_and_closed_with_what_they_ran() -> None:
    pump = ready_pump(schedule=LOW, conc=10_000)
    assert pump.epoch == [0, 0, 10_000, 10_000] and pump.past_epochs == []
    pump.advance_to(HOUR_MS)
    pump.set_schedule(LOW)  # the same program again: the epoch goes on
    assert pump.epoch == [0, 0, 10_000, 10_000] and pump.past_epochs == []
    pump.set_schedule(HIGH)
    assert pump.past_epochs == [[0, HOUR_MS, 0, 10_000, LOW.to_dict()]]
    assert pump.epoch == [HOUR_MS, 0, 10_000, 10_000]
    pump.set_schedule(HIGH)  # nothing ran since: no empty epoch is kept
    assert len(pump.past_epochs) == 1 and pump.epoch == [HOUR_MS, 0, 10_000, 10_000]
    pump.set_schedule(LOW)  # a change in the ms the epoch opened: no empty epoch either
    pump.set_schedule(HIGH)
    assert len(pump.past_epochs) == 1 and pump.epoch == [HOUR_MS, 0, 10_000, 10_000]
    pump.advance_to(2 * HOUR_MS)
    pump.stop()
    assert pump.epoch is None
    assert pump.past_epochs[-1] == [HOUR_MS, 2 * HOUR_MS, 0, 10_000, HIGH.to_dict()]
    pump.set_time(pump.status().wall_ms + 3 * HOUR_MS)
    pump.start()
    assert pump.epoch == [2 * HOUR_MS, 3 * HOUR_MS, 10_000, 10_000]
    pump.advance_to(3 * HOUR_MS)
    pump.stop()
    pump.refill_begin()
    pump.refill_withdrawn(pump.status().reservoir_nl)
    pump.refill_complete(10_000_000, 5_000)
    pump.start()  # the catheter still holds 10,000 ug/mL: counted at that
    assert pump.epoch == [3 * HOUR_MS, 3 * HOUR_MS, 10_000, 5_000]
    assert [e[:4] for e in pump.past_epochs] == [[0, HOUR_MS, 0, 10_000],
                                                 [HOUR_MS, 2 * HOUR_MS, 0, 10_000],
                                                 [2 * HOUR_MS, 3 * HOUR_MS, 3 * HOUR_MS, 10_000]]
    pump.advance_to(DAY_MS + HOUR_MS)  # the first epoch ended exactly 24 h ago: forgotten
    pump.stop()
    assert [e[:2] for e in pump.past_epochs][0] == [HOUR_MS, 2 * HOUR_MS]
    assert pump.past_epochs[-1][:4] == [3 * HOUR_MS, DAY_MS + HOUR_MS, 3 * HOUR_MS, 10_000]


def test_a_running_pump_fits_a_bolus_only_on_top_of_its_schedule_ahead() -> None:
    pump = ready_pump(schedule=Schedule.constant(1_440_000), conc=10_000)
    pump.advance_to(2 * HOUR_MS)
    hard_pg = pump._hard_limit_pg()
    room_nl = (hard_pg - grid_bound(pump, pump.compiled, 10_000, 0, True)) // 10_000
    assert pump._bolus_fits_limit(room_nl) and not pump._bolus_fits_limit(room_nl + 1)


def test_patient_allotment_is_checked_against_the_schedule_without_the_clinician_bolus() -> None:
    """10,000 ug a day of schedule, a 10,000 ug clinician bolus and 4 x 2,600 ug of patient
    boluses: schedule + bolus and schedule + allotment are each within the 30,000 ug hard limit,
    so the allotment is accepted although all three together are not."""
    pump = ready_pump(schedule=Schedule.constant(ML_), conc=10_000)
    pump.start_clinician_bolus(duration_ms=2 * HOUR_MS, dose_ug=10_000)
    pump.advance_to(3 * HOUR_MS)
    pump.configure_patient_bolus(dose_ug=2_600, duration_ms=HOUR_MS,
                                 lockout_ms=HOUR_MS, max_per_24h=4)
    with pytest.raises(Rejected) as exc:
        pump.configure_patient_bolus(dose_ug=5_000, duration_ms=HOUR_MS,
                                     lockout_ms=HOUR_MS, max_per_24h=5)
    assert exc.value.code is RejectCode.HARD_DAILY_LIMIT
    assert exc.value.reason == ("schedule plus allotted patient boluses, up to 35000 ug per 24 h, "
                                "exceeds the hard limit 30000 ug of morphine")


def test_soft_limit_warning_logs_the_dose_and_the_limit() -> None:
    pump = ready_pump(schedule=Schedule.constant(1_600_000), conc=10_000)  # 16,000 ug a day
    warnings = events_of(pump, "SOFT_LIMIT_WARNING")  # at programming and at the refill
    assert warnings and all(w.details == {"dose_ug": 16_000, "soft_daily_limit_ug": 15_000}
                            and type(w.details["dose_ug"]) is int for w in warnings)


def test_history_of_the_last_24_h_is_kept_and_older_is_dropped() -> None:
    pump = ready_pump(schedule=Schedule.constant(ML_), conc=10_000)
    pump.configure_patient_bolus(dose_ug=100, duration_ms=HOUR_MS, lockout_ms=HOUR_MS,
                                 max_per_24h=4)
    assert pump.request_patient_bolus().granted
    pump.advance_to(2 * HOUR_MS)
    pump._prune_history()
    assert pump.patient_history == [0] and len(pump.bolus_history) == 1
    pump.advance_to(DAY_MS)  # the request was exactly 24 h ago
    pump._prune_history()
    assert pump.patient_history == [] and len(pump.bolus_history) == 1  # it ended at 1 h
