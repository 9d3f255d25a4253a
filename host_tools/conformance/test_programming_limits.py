"""PROTOCOL.md SET_SCHEDULE and SET_LIMITS: the programming limits a pump reports in
DEVICE_LIMITS (rate changes per period, resolution of the patient bolus duration and lockout)
are the ones it enforces.

MAX_CHANGES_REACHED is reached only on a pump that reports a rate-change limit (the shipped
profiles report 0 = none; run the kit against ``pumpsim serve --profile FILE`` with
``[rate] max_changes_per_period`` set to see it). That test spends the period's changes, so it
runs last among the tests that change a running schedule (the ``programmed`` fixture programs a
stopped pump, which is not a rate change). A pump that does not report these limits (the first
DEVICE_LIMITS layout) is skipped here."""
from __future__ import annotations

from typing import Any

import pytest

from protocol import MessageType as MT, NakCode

from .test_device_limits import LIMITS, reported
from .wire import WireHost, nak, ok

pytestmark = pytest.mark.requirement("PRO-3", "PRO-6", "LIM-7", "LIM-9")

MANY_CHANGES = 50  # more than this would make the test slow: such a limit is left untested


def programming_limits(host: WireHost) -> dict[str, Any]:
    """The programming limits the pump reports (skips the test when it reports none)."""
    d = reported(host)
    if "max_rate_changes_per_period" not in d:
        pytest.skip("the pump does not report its programming limits (72-byte DEVICE_LIMITS)")
    return d


def test_programming_limits_are_coherent(programmed: WireHost) -> None:
    d = programming_limits(programmed)
    assert d["clinician_bolus_starts_lockout"] in (0, 1)
    assert d["rate_changes_period_ms"] > 0
    for step, low, high in (("patient_duration_step_ms", "patient_min_duration_ms",
                             "patient_max_duration_ms"),
                            ("patient_lockout_step_ms", "patient_min_lockout_ms",
                             "patient_max_lockout_ms")):
        assert d[step] >= 1
        assert -(-d[low] // d[step]) * d[step] <= d[high], f"no {step} multiple in range"


@pytest.mark.parametrize(("field", "step", "low", "high", "code"), [
    ("patient_bolus_duration_ms", "patient_duration_step_ms", "patient_min_duration_ms",
     "patient_max_duration_ms", NakCode.DURATION_OUT_OF_RANGE),
    ("patient_lockout_ms", "patient_lockout_step_ms", "patient_min_lockout_ms",
     "patient_max_lockout_ms", NakCode.LOCKOUT_OUT_OF_RANGE),
])
def test_patient_settings_at_the_reported_resolution(programmed: WireHost, field: str, step: str,
                                                     low: str, high: str, code: NakCode) -> None:
    """A multiple of the step is accepted; with a step above 1 ms, a value between two steps
    is refused with the field's code; with 1 ms, the next ms is accepted too."""
    d = programming_limits(programmed)
    every = d[step]
    on_step = -(-d[low] // every) * every
    between = on_step + 1 if on_step + 1 <= d[high] else on_step - 1
    try:
        ok(programmed.request(MT.SET_LIMITS, {**LIMITS, field: on_step}), MT.ACK)
        if d[low] <= between <= d[high]:
            answer = programmed.request(MT.SET_LIMITS, {**LIMITS, field: between})
            if every == 1:
                ok(answer, MT.ACK)
            else:
                assert nak(answer, code)["detail"] == field
    finally:
        ok(programmed.request(MT.SET_LIMITS, LIMITS), MT.ACK)


def test_zz_schedule_changes_beyond_the_reported_limit_are_refused(programmed: WireHost) -> None:
    d = programming_limits(programmed)
    limit, period = d["max_rate_changes_per_period"], d["rate_changes_period_ms"]
    if limit == 0:
        pytest.skip("the pump reports no rate-change limit: MAX_CHANGES_REACHED is reached only "
                    "on a pump whose profile sets one ([rate] max_changes_per_period)")
    if limit > MANY_CHANGES:
        pytest.skip(f"a limit of {limit} changes per period is too many to spend here")
    accepted: list[list[dict[str, int]]] = []
    for k in range(1, limit + 2):
        steps = [{"start_minute": 0, "rate_nl_per_day": 400_000 + k * 1_000}]
        answer = programmed.request(MT.SET_SCHEDULE, {"weekday": 0xFF, "steps": steps})
        if answer.msg_type != MT.ACK:
            refusal = nak(answer, NakCode.MAX_CHANGES_REACHED)
            assert 0 < refusal["retry_after_ms"] <= period
            break
        accepted.append(steps)
    else:
        pytest.fail(f"{limit + 1} schedule changes were accepted; the pump reports {limit}")
    assert len(accepted) <= limit
    if accepted:  # the refusal changed nothing
        now = ok(programmed.request(MT.GET_SCHEDULE, {"weekday": 0xFF}), MT.SCHEDULE)
        assert now["steps"] == accepted[-1]
