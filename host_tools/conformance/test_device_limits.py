"""PROTOCOL.md GET_DEVICE_LIMITS / DEVICE_LIMITS: the ranges a pump reports are the ranges it
enforces. At each reported bound the value is accepted and one past it is refused with the
documented code, so a programmer that checks against the report never sends what the pump
refuses, and never refuses what it accepts. A pump that lacks the request (protocol 1.0) is
skipped here (section 16)."""
from __future__ import annotations

from typing import Any

import pytest

from protocol import MessageType as MT, NakCode

from .wire import WireHost, nak, ok

pytestmark = pytest.mark.requirement("PRO-3", "PRO-6")

LIMITS = {"patient_bolus_dose_ug": 50, "patient_bolus_duration_ms": 600_000,
          "patient_lockout_ms": 3_600_000, "patient_max_per_day": 4,
          "low_reservoir_threshold_nl": 2_000_000}


def reported(host: WireHost) -> dict[str, Any]:
    """The pump's DEVICE_LIMITS fields (skips the test for a pump without the request)."""
    answer = host.request(MT.GET_DEVICE_LIMITS)
    if answer.msg_type == MT.NAK and (answer.fields or {}).get("code") == \
            NakCode.UNKNOWN_MESSAGE_TYPE:
        pytest.skip("the pump does not report its ranges (protocol 1.0)")
    return ok(answer, MT.DEVICE_LIMITS)


def test_ranges_are_coherent(programmed: WireHost) -> None:
    d = reported(programmed)
    for low, high in [("min_rate_nl_per_day", "max_rate_nl_per_day"),
                      ("clinician_bolus_min_duration_ms", "clinician_bolus_max_duration_ms"),
                      ("patient_min_dose_ug", "patient_max_dose_ug"),
                      ("patient_min_duration_ms", "patient_max_duration_ms"),
                      ("patient_min_lockout_ms", "patient_max_lockout_ms"),
                      ("low_threshold_min_nl", "low_threshold_max_nl")]:
        assert 0 < d[low] <= d[high], (low, high)
    assert d["low_threshold_min_nl"] <= d["low_threshold_default_nl"] <= d["low_threshold_max_nl"]
    assert 1 <= d["max_steps_per_day"] <= 48 and d["step_resolution_minute"] >= 1
    assert d["reservoir_capacity_nl"] > 0 and d["patient_max_per_day"] >= 1


@pytest.mark.parametrize(("field", "low", "high", "code"), [
    ("low_reservoir_threshold_nl", "low_threshold_min_nl", "low_threshold_max_nl",
     NakCode.THRESHOLD_OUT_OF_RANGE),
    ("patient_lockout_ms", "patient_min_lockout_ms", "patient_max_lockout_ms",
     NakCode.LOCKOUT_OUT_OF_RANGE),
])
def test_limits_at_the_reported_bounds(programmed: WireHost, field: str, low: str, high: str,
                                       code: NakCode) -> None:
    d = reported(programmed)
    try:
        for bound, past in ((d[low], d[low] - 1), (d[high], d[high] + 1)):
            ok(programmed.request(MT.SET_LIMITS, {**LIMITS, field: bound}), MT.ACK)
            nak(programmed.request(MT.SET_LIMITS, {**LIMITS, field: past}), code)
    finally:
        ok(programmed.request(MT.SET_LIMITS, LIMITS), MT.ACK)


def test_schedule_rates_at_the_reported_bounds(programmed: WireHost) -> None:
    d = reported(programmed)
    before = ok(programmed.request(MT.GET_SCHEDULE, {"weekday": 0xFF}), MT.SCHEDULE)
    off = {**LIMITS, "patient_bolus_dose_ug": 0}  # a bolus on top would cap the highest step
    ok(programmed.request(MT.SET_LIMITS, off), MT.ACK)
    try:
        for rate, answer in ((d["min_rate_nl_per_day"] - 1, NakCode.RATE_OUT_OF_RANGE),
                             (d["max_rate_nl_per_day"] + 1, NakCode.RATE_OUT_OF_RANGE)):
            r = programmed.request(MT.SET_SCHEDULE, {"weekday": 0xFF, "steps": [
                {"start_minute": 0, "rate_nl_per_day": rate}]})
            nak(r, answer)
        ok(programmed.request(MT.SET_SCHEDULE, {"weekday": 0xFF, "steps": [
            {"start_minute": 0, "rate_nl_per_day": d["min_rate_nl_per_day"]}]}), MT.ACK)
    finally:
        ok(programmed.request(MT.SET_SCHEDULE, {"weekday": 0xFF, "steps": before["steps"]}),
           MT.ACK)
        ok(programmed.request(MT.SET_LIMITS, LIMITS), MT.ACK)
