"""Requests made of two model calls are validated as a whole first (``Pump.validate_limits``,
and at model level ``Pump.validate_refill_complete``): a refusal of the second call never leaves
the first one applied, and validating opens no storage and changes nothing. On the wire a refill
is always three requests: REFILL_COMPLETE before REFILL_WITHDRAWN is WITHDRAW_REQUIRED."""
from __future__ import annotations

from typing import Callable

import pytest

from firmware_sim import Pump, Rejected, RejectCode, Schedule, load_profile
from firmware_sim.device import VirtualPump
from protocol import NakCode
from protocol import MessageType as MT

from .conftest import snapshot
from .host import RawHost, nak, ok, program

pytestmark = pytest.mark.requirement("RFL-3", "LIM-6", "PER-1")

ML = 1_000_000
PATIENT = {"dose_ug": 50, "duration_ms": 600_000, "lockout_ms": 3_600_000, "max_per_24h": 4}


def test_refill_complete_before_the_withdrawal_is_refused_and_changes_nothing(
        vp: VirtualPump, clinician: RawHost) -> None:
    """A real pump takes a new fill only after the old drug was withdrawn and reported:
    REFILL_COMPLETE straight after REFILL_BEGIN is WITHDRAW_REQUIRED, whatever withdrawn_nl
    says, and leaves the refill where it was."""
    program(clinician)
    ok(clinician.request(MT.REFILL_BEGIN))
    before = snapshot(vp)
    for withdrawn in (0, 5 * ML):
        r = nak(clinician.request(MT.REFILL_COMPLETE, {
            "withdrawn_nl": withdrawn, "filled_nl": 20 * ML, "concentration_ug_per_ml": 10_000}))
        assert r["code"] == NakCode.WITHDRAW_REQUIRED
        assert snapshot(vp) == before
        with vp.device.lock:
            assert vp.pump.refill_stage == "begun"  # nothing was taken as withdrawn
    ok(clinician.request(MT.REFILL_WITHDRAWN, {"withdrawn_nl": 5 * ML}))
    r = nak(clinician.request(MT.REFILL_COMPLETE, {"withdrawn_nl": 5 * ML, "filled_nl": 20 * ML,
                                                   "concentration_ug_per_ml": 999_999_999}))
    assert r["code"] == NakCode.CONCENTRATION_OUT_OF_RANGE
    with vp.device.lock:
        assert vp.pump.refill_stage == "withdrawn"  # a refused fill keeps the withdrawal
    ok(clinician.request(MT.REFILL_COMPLETE, {"withdrawn_nl": 5 * ML, "filled_nl": 20 * ML,
                                              "concentration_ug_per_ml": 10_000}),
       MT.REFILL_RESULT)
    with vp.device.lock:
        assert vp.pump.refill_stage is None


def test_disabling_patient_boluses_with_a_bad_threshold_changes_nothing(
        vp: VirtualPump, clinician: RawHost) -> None:
    program(clinician)
    before = snapshot(vp)
    r = nak(clinician.request(MT.SET_LIMITS, {
        "patient_bolus_dose_ug": 0, "patient_bolus_duration_ms": 0, "patient_lockout_ms": 0,
        "patient_max_per_day": 0, "low_reservoir_threshold_nl": 1}))
    assert r["code"] == NakCode.THRESHOLD_OUT_OF_RANGE
    assert snapshot(vp) == before
    with vp.device.lock:
        cfg = vp.pump.patient_bolus_config
    assert cfg is not None and cfg.dose_ug == 50


def programmed_pump() -> Pump:
    pump = Pump(load_profile("ip20"))
    pump.program_therapy("morphine", 10_000, Schedule.constant(ML))
    return pump


def outcome(call: Callable[[], object]) -> tuple[RejectCode, str] | None:
    try:
        call()
    except Rejected as e:
        return e.code, e.field
    return None


LIMIT_CASES = [
    (2 * ML, PATIENT),
    (1, PATIENT),
    (2 * ML, {**PATIENT, "lockout_ms": 1}),
    (2 * ML, {**PATIENT, "dose_ug": 10**9}),
    (2 * ML, {**PATIENT, "max_per_24h": 0}),
    (99 * ML, {**PATIENT, "duration_ms": 0}),  # the patient setting is checked first
]


@pytest.mark.parametrize(("threshold", "patient"), LIMIT_CASES)
def test_validate_limits_refuses_as_the_calls_would(threshold: int, patient: dict) -> None:
    pump = programmed_pump()
    before, n = pump.snapshot(), pump.status().event_count
    predicted = outcome(lambda: pump.validate_limits(threshold_nl=threshold, patient_bolus=patient))
    assert pump.snapshot() == before and pump.status().event_count == n

    def both() -> None:
        pump.configure_patient_bolus(**patient)
        pump.set_low_reservoir_threshold(threshold)
    assert outcome(both) == predicted


REFILL_CASES = [(20 * ML, 10_000, 5 * ML), (0, 10_000, 5 * ML), (21 * ML, 10_000, 0),
                (20 * ML, 1, 0), (20 * ML, 10_000, -1), (20 * ML, 10_000, None)]


@pytest.mark.parametrize(("filled", "conc", "withdrawn"), REFILL_CASES)
def test_validate_refill_complete_refuses_as_the_calls_would(filled: int, conc: int,
                                                             withdrawn: int | None) -> None:
    pump = programmed_pump()
    pump.refill_begin()
    before, n = pump.snapshot(), pump.status().event_count
    predicted = outcome(lambda: pump.validate_refill_complete(filled, conc,
                                                              withdrawn_nl=withdrawn))
    assert pump.snapshot() == before and pump.status().event_count == n

    def both() -> None:
        if withdrawn is not None:
            pump.refill_withdrawn(withdrawn)
        pump.refill_complete(filled, conc)
    assert outcome(both) == predicted


def test_validation_opens_no_storage(monkeypatch: pytest.MonkeyPatch) -> None:
    pump = programmed_pump()
    pump.refill_begin()

    def no_sqlite(*args: object, **kwargs: object) -> None:
        raise AssertionError("a storage was opened")
    monkeypatch.setattr("firmware_sim.storage.sqlite3.connect", no_sqlite)
    pump.validate_limits(threshold_nl=2 * ML, patient_bolus=PATIENT)
    pump.validate_refill_complete(20 * ML, 10_000, withdrawn_nl=0)
    assert pump.next_event_ms() is None or pump.next_event_ms() > pump.time_ms
