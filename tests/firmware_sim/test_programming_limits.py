"""Limits some real pumps put on programming, as profile options (off in the shipped profiles):
the rate-change limit, the clinician bolus that starts the patient lockout, and the resolution
of the patient-bolus duration and lockout."""
from __future__ import annotations

from pathlib import Path

import pytest

from firmware_sim import (DenialReason, ProfileError, Pump, Rejected, RejectCode, Schedule,
                          Storage, load_profile)
from firmware_sim.pump.rate_changes import period_text
from firmware_sim.schedule import Plan, Step
from firmware_sim.enums import Weekday

from .helpers import DAY_MS, HOUR_MS, MINUTE_MS, ML, events_of, ready_pump, write_profile


CONC = 1_000  # morphine ug/mL: a few mL/day stay far below the hard daily limit


def limited_profile(tmp_path: Path, **overrides: str):
    return load_profile(write_profile(tmp_path, **overrides))


def rate(n: int) -> Schedule:
    """A distinct constant schedule per n (n x 0.1 mL/day over 1 mL/day)."""
    return Schedule.constant(ML + n * 100_000)


def assert_refused(pump: Pump, call, code: RejectCode, field: str) -> Rejected:
    before = pump.snapshot()
    events = pump.storage.event_count()
    with pytest.raises(Rejected) as exc:
        call()
    assert exc.value.code is code
    assert exc.value.field == field
    assert pump.snapshot() == before  # nothing changed
    assert pump.storage.event_count() == events
    return exc.value


# --------------------------------------------------------------------- rate-change limit
@pytest.mark.requirement("LIM-7")
def test_shipped_profiles_have_no_rate_change_limit() -> None:
    for name in ("ip20", "ip40", "ipv20"):
        p = load_profile(name)
        assert p.max_rate_changes_per_period == 0
        assert p.rate_changes_period_ms == DAY_MS
    pump = ready_pump(conc=CONC)
    for n in range(30):
        pump.set_schedule(rate(n + 1))
    assert pump.rate_changes_left() is None
    assert pump.rate_changes == []  # nothing is counted without a limit


@pytest.mark.requirement("LIM-7")
def test_the_change_beyond_the_limit_is_refused_until_the_oldest_leaves_the_period(
        tmp_path: Path) -> None:
    pump = ready_pump(limited_profile(tmp_path, max_changes_per_period="12"), conc=CONC)
    for n in range(12):
        pump.advance_to(n * HOUR_MS)
        pump.set_schedule(rate(n + 1))
    assert pump.rate_changes_left() == 0
    pump.advance_to(20 * HOUR_MS)
    exc = assert_refused(pump, lambda: pump.set_schedule(rate(99)),
                         RejectCode.MAX_CHANGES_REACHED, "schedule")
    assert exc.retry_after_ms == 4 * HOUR_MS  # the first change (run 0) leaves at 24 h
    assert "12 rate changes in 24 h" in exc.reason and f"{4 * HOUR_MS} ms" in exc.reason
    # the same schedule again is not a change: accepted, not counted
    pump.set_schedule(rate(12))
    pump.advance_to(DAY_MS - 1)
    with pytest.raises(Rejected) as again:
        pump.set_schedule(rate(99))
    assert again.value.retry_after_ms == 1
    pump.advance_to(DAY_MS)
    pump.set_schedule(rate(99))
    assert pump.rate_changes_left() == 0
    assert pump.schedule == rate(99)


@pytest.mark.requirement("LIM-7")
def test_what_counts_as_a_rate_change(tmp_path: Path) -> None:
    pump = ready_pump(limited_profile(tmp_path, max_changes_per_period="2"), conc=CONC,
                      start=False)
    # programming a stopped pump sets the rate it will start with: not counted
    pump.set_schedule(rate(1))
    pump.set_schedule(rate(2))
    pump.set_schedule(rate(3))
    pump.start()
    assert pump.rate_changes_left() == 2
    pump.program_therapy("morphine", 2 * CONC, pump.schedule)  # same schedule, new strength
    assert pump.rate_changes_left() == 2
    plans = dict(pump.schedule.plans)
    plans[Weekday.MONDAY] = Plan((Step(0, 2 * ML),))
    pump.set_schedule(Schedule(plans))  # a weekday plan replaced while infusing: one change
    assert pump.rate_changes_left() == 1
    pump.refill_begin()
    pump.refill_withdrawn(pump.reservoir_nl)
    pump.refill_complete(10 * ML, 2 * CONC, rate(5))  # a refill bringing a new schedule
    assert pump.rate_changes_left() == 0
    pump.refill_begin()
    pump.refill_withdrawn(pump.reservoir_nl)
    assert_refused(pump, lambda: pump.refill_complete(10 * ML, 2 * CONC, rate(6)),
                   RejectCode.MAX_CHANGES_REACHED, "schedule")
    pump.refill_complete(10 * ML, 2 * CONC)  # the schedule in force: accepted
    pump.stop()
    pump.set_schedule(rate(7))  # stopped: not a change, whatever the count


@pytest.mark.requirement("LIM-7")
def test_the_count_survives_a_restart_and_ignores_the_wall_clock(tmp_path: Path) -> None:
    prof = limited_profile(tmp_path, max_changes_per_period="3", changes_period_ms="3_600_000")
    store = tmp_path / "pump.db"
    pump = ready_pump(prof, storage=Storage(str(store)), conc=CONC)
    for n in range(3):
        pump.advance_to(n * MINUTE_MS)
        pump.set_schedule(rate(n + 1))
    pump.storage.close()
    again = Pump(prof, Storage(str(store)))
    assert again.rate_changes == [0, MINUTE_MS, 2 * MINUTE_MS]
    again.set_time(again.wall_ms + 10 * DAY_MS)  # a wall-clock move frees nothing
    exc = assert_refused(again, lambda: again.set_schedule(rate(9)),
                         RejectCode.MAX_CHANGES_REACHED, "schedule")
    assert exc.retry_after_ms == HOUR_MS - 2 * MINUTE_MS
    assert "in 1 h" in exc.reason
    again.advance_to(HOUR_MS)
    again.set_schedule(rate(9))


@pytest.mark.requirement("LIM-7")
def test_a_stored_count_that_cannot_be_is_a_memory_error(tmp_path: Path) -> None:
    prof = limited_profile(tmp_path, max_changes_per_period="3")
    pump = ready_pump(prof)
    snap = pump.snapshot()
    snap["rate_changes"] = [5, 1]  # not in order
    bad = Pump.from_snapshot(snap)
    assert bad.schedule is None  # a fresh, stopped pump with the memory alarm
    snap["rate_changes"] = [pump.time_ms + 1]  # in the future
    assert Pump.from_snapshot(snap).schedule is None


@pytest.mark.requirement("LIM-7")
def test_profile_keys_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="max_changes_per_period"):
        limited_profile(tmp_path, max_changes_per_period="-1")
    with pytest.raises(ProfileError, match="changes_period_ms"):
        limited_profile(tmp_path, changes_period_ms="0")
    with pytest.raises(ProfileError, match="clinician_bolus_starts_lockout"):
        limited_profile(tmp_path, clinician_bolus_starts_lockout="1")
    with pytest.raises(ProfileError, match="lockout_step_ms"):
        limited_profile(tmp_path, lockout_step_ms="100_000_000")


# --------------------------------------------------------------------- clinician bolus lockout
@pytest.mark.requirement("LIM-8")
def test_a_clinician_bolus_starts_the_lockout_when_the_profile_says_so(tmp_path: Path) -> None:
    pump = ready_pump(limited_profile(tmp_path, clinician_bolus_starts_lockout="true"))
    pump.configure_patient_bolus(100, MINUTE_MS, HOUR_MS, 24)
    pump.advance_to(HOUR_MS)
    pump.start_clinician_bolus(10 * MINUTE_MS, volume_nl=10_000)
    pump.advance_to(HOUR_MS + 10 * MINUTE_MS)  # the clinician bolus has ended
    res = pump.request_patient_bolus()
    assert not res.granted and res.reason is DenialReason.LOCKOUT
    assert res.next_allowed_ms == 2 * HOUR_MS
    denied = events_of(pump, "PATIENT_BOLUS_DENIED")
    assert denied[-1].details["reason"] == "LOCKOUT"
    pump.advance_to(2 * HOUR_MS - 1)
    assert pump.request_patient_bolus().reason is DenialReason.LOCKOUT
    pump.advance_to(2 * HOUR_MS)
    assert pump.request_patient_bolus().granted


@pytest.mark.requirement("LIM-8")
def test_by_default_a_clinician_bolus_does_not_start_the_lockout() -> None:
    pump = ready_pump()
    assert pump.profile.clinician_bolus_starts_lockout is False
    pump.configure_patient_bolus(100, MINUTE_MS, HOUR_MS, 24)
    pump.start_clinician_bolus(10 * MINUTE_MS, volume_nl=10_000)
    pump.advance_to(10 * MINUTE_MS)
    assert pump.request_patient_bolus().granted


@pytest.mark.requirement("LIM-8")
def test_the_clinician_lockout_survives_a_restart(tmp_path: Path) -> None:
    prof = limited_profile(tmp_path, clinician_bolus_starts_lockout="true")
    store = tmp_path / "pump.db"
    pump = ready_pump(prof, storage=Storage(str(store)))
    pump.configure_patient_bolus(100, MINUTE_MS, HOUR_MS, 24)
    pump.start_clinician_bolus(MINUTE_MS, volume_nl=1_000)
    pump.storage.close()
    again = Pump(prof, Storage(str(store)))
    again.advance_to(30 * MINUTE_MS)
    assert again.request_patient_bolus().reason is DenialReason.LOCKOUT


# --------------------------------------------------------------------- resolution of the settings
@pytest.mark.requirement("LIM-9")
def test_duration_and_lockout_between_steps_are_refused(tmp_path: Path) -> None:
    prof = limited_profile(tmp_path, duration_step_ms="60_000", lockout_step_ms="900_000",
                           max_duration_ms="900_000")
    pump = ready_pump(prof)
    exc = assert_refused(pump, lambda: pump.configure_patient_bolus(100, 90_000, HOUR_MS, 24),
                         RejectCode.DURATION_OUT_OF_RANGE, "duration_ms")
    assert "60000 ms step" in exc.reason
    exc = assert_refused(pump, lambda: pump.configure_patient_bolus(100, MINUTE_MS,
                                                                    HOUR_MS + 1, 24),
                         RejectCode.LOCKOUT_OUT_OF_RANGE, "lockout_ms")
    assert "900000 ms step" in exc.reason
    with pytest.raises(Rejected) as wide:
        pump.validate_limits(patient_bolus={"dose_ug": 100, "duration_ms": 16 * MINUTE_MS,
                                            "lockout_ms": HOUR_MS, "max_per_24h": 24})
    assert wide.value.code is RejectCode.DURATION_OUT_OF_RANGE  # 16 min > the 15 min maximum
    pump.configure_patient_bolus(100, 15 * MINUTE_MS, 75 * MINUTE_MS, 24)
    assert pump.patient_bolus_config.lockout_ms == 75 * MINUTE_MS


@pytest.mark.requirement("LIM-9")
def test_shipped_profiles_take_any_whole_ms() -> None:
    pump = ready_pump()
    assert (pump.profile.patient_duration_step_ms, pump.profile.patient_lockout_step_ms) == (1, 1)
    pump.configure_patient_bolus(100, 60_001, 900_001, 24)
    assert pump.patient_bolus_config.duration_ms == 60_001


@pytest.mark.parametrize("period_ms, text", [(86_400_000, "24 h"), (3_600_000, "1 h"),
                                             (5_400_000, "90 min"), (60_000, "1 min"),
                                             (1_500, "1500 ms"), (3_660_000, "61 min"),
                                             (61_000, "61000 ms")])
def test_the_refusal_names_the_period_in_the_largest_whole_unit(period_ms: int, text: str) -> None:
    """MAX_CHANGES_REACHED's reason gives the period in whole hours, else whole minutes, else ms."""
    assert period_text(period_ms) == text
