"""PROTOCOL.md sections 6, 7 and 12: roles and every refusal code a pump can be driven to
from the wire. Each refusal must change nothing (status and log unchanged but for the refusal's
own log entry) and name its code.

Codes not exercised here and why: FRAMING and UNSUPPORTED_VERSION are never answered (see
test_framing); BUSY, STORAGE_ERROR and INTERNAL_ERROR need a failing pump; NO_PROGRAM,
RESERVOIR_EMPTY and NO_DEFAULT_PLAN need a pump never programmed or run empty;
WEEKDAY_NOT_SUPPORTED applies only to models without weekday plans; RATE_LIMITED is in
test_zz_backoff (it runs last: it holds the pump's back-off for a few seconds)."""
from __future__ import annotations

import struct
from typing import Any

import pytest

from protocol import Alarm, EventKind, MessageType as MT, NakCode, Role

from .conftest import status
from .wire import WireHost, nak, ok

pytestmark = pytest.mark.requirement("PRO-3", "PRO-5", "SEC-5", "SAF-7", "THR-1", "THR-2",
                                     "THR-8", "LIM-1", "LIM-6", "RFL-3")

LIMITS = {"patient_bolus_dose_ug": 50, "patient_bolus_duration_ms": 600_000,
          "patient_lockout_ms": 3_600_000, "patient_max_per_day": 4,
          "low_reservoir_threshold_nl": 2_000_000}


def _steps(*pairs: tuple[int, int]) -> dict[str, Any]:
    return {"weekday": 0xFF, "steps": [{"start_minute": m, "rate_nl_per_day": r} for m, r in pairs]}


REFUSALS: list[tuple[str, list[tuple[MT, Any]], MT, Any, NakCode]] = [
    # (id, set-up requests, request, fields, expected code)
    ("unknown-type", [], 0x7E, b"", NakCode.UNKNOWN_MESSAGE_TYPE),
    ("malformed", [], MT.SET_CLOCK, b"\x00\x01\x02", NakCode.MALFORMED_PAYLOAD),
    ("too-many-steps", [], MT.SET_SCHEDULE,
     bytes([0xFF, 49]) + b"".join(struct.pack(">HI", m * 20, 100_000) for m in range(49)),
     NakCode.TOO_MANY_STEPS),
    ("rate", [], MT.SET_SCHEDULE, _steps((0, 1)), NakCode.RATE_OUT_OF_RANGE),
    ("step-order", [], MT.SET_SCHEDULE, _steps((0, 100_000), (0, 200_000)), NakCode.STEP_ORDER),
    ("minute", [], MT.SET_SCHEDULE, _steps((0, 100_000), (1440, 200_000)),
     NakCode.MINUTE_OUT_OF_RANGE),
    ("no-steps", [], MT.SET_SCHEDULE, _steps(), NakCode.NO_STEPS),
    ("hard-limit", [], MT.SET_SCHEDULE, _steps((0, 4_000_000)), NakCode.HARD_DAILY_LIMIT),
    ("unknown-drug", [], MT.SET_DRUG, {"drug_name": "unobtainium",
                                       "concentration_ug_per_ml": 1_000}, NakCode.UNKNOWN_DRUG),
    ("concentration", [], MT.SET_DRUG, {"drug_name": "morphine", "concentration_ug_per_ml": 1},
     NakCode.CONCENTRATION_OUT_OF_RANGE),
    ("threshold", [], MT.SET_LIMITS, {**LIMITS, "low_reservoir_threshold_nl": 1},
     NakCode.THRESHOLD_OUT_OF_RANGE),
    ("duration", [], MT.SET_LIMITS, {**LIMITS, "patient_bolus_duration_ms": 1},
     NakCode.DURATION_OUT_OF_RANGE),
    ("lockout", [], MT.SET_LIMITS, {**LIMITS, "patient_lockout_ms": 1},
     NakCode.LOCKOUT_OUT_OF_RANGE),
    ("dose", [], MT.SET_LIMITS, {**LIMITS, "patient_bolus_dose_ug": 10_000_000},
     NakCode.DOSE_OUT_OF_RANGE),
    ("max-per-day", [], MT.SET_LIMITS, {**LIMITS, "patient_max_per_day": 200},
     NakCode.MAX_PER_DAY_OUT_OF_RANGE),
    ("bolus-both", [], MT.CLINICIAN_BOLUS, {"volume_nl": 1_000, "dose_ug": 10,
                                            "duration_ms": 600_000}, NakCode.INVALID_FIELD),
    ("bolus-active", [(MT.CLINICIAN_BOLUS, {"volume_nl": 1_000, "dose_ug": 0,
                                            "duration_ms": 3_600_000})],
     MT.CLINICIAN_BOLUS, {"volume_nl": 1_000, "dose_ug": 0, "duration_ms": 3_600_000},
     NakCode.BOLUS_ACTIVE),
    ("no-bolus", [], MT.CANCEL_BOLUS, None, NakCode.NO_BOLUS),
    ("insufficient", [], MT.CLINICIAN_BOLUS, {"volume_nl": 19_000_000, "dose_ug": 0,
                                              "duration_ms": 86_400_000},
     NakCode.INSUFFICIENT_RESERVOIR),
    ("no-such-alarm", [], MT.ACK_ALARM, {"alarm": Alarm.MOTOR_STALL}, NakCode.NO_SUCH_ALARM),
    ("clock", [], MT.SET_CLOCK, {"wall_ms": 2**63}, NakCode.CLOCK_OUT_OF_RANGE),
    ("invalid-state", [], MT.REFILL_WITHDRAWN, {"withdrawn_nl": 0}, NakCode.INVALID_STATE),
    ("overflow", [(MT.REFILL_BEGIN, None), (MT.REFILL_WITHDRAWN, {"withdrawn_nl": 0})],
     MT.REFILL_COMPLETE, {"withdrawn_nl": 0, "filled_nl": 2_000_000_000,
                          "concentration_ug_per_ml": 10_000}, NakCode.RESERVOIR_OVERFLOW),
    ("withdraw-required", [(MT.REFILL_BEGIN, None)],
     MT.REFILL_COMPLETE, {"withdrawn_nl": 1_000_000, "filled_nl": 1_000_000,
                          "concentration_ug_per_ml": 10_000}, NakCode.WITHDRAW_REQUIRED),
    ("withdrawn-volume", [(MT.REFILL_BEGIN, None)], MT.REFILL_WITHDRAWN,
     {"withdrawn_nl": 4_000_000_000}, NakCode.VOLUME_OUT_OF_RANGE),
    ("already-withdrawn", [(MT.REFILL_BEGIN, None), (MT.REFILL_WITHDRAWN, {"withdrawn_nl": 0})],
     MT.REFILL_WITHDRAWN, {"withdrawn_nl": 0}, NakCode.ALREADY_WITHDRAWN),
    ("other-withdrawn-volume", [(MT.REFILL_BEGIN, None), (MT.REFILL_WITHDRAWN, {"withdrawn_nl": 0})],
     MT.REFILL_COMPLETE, {"withdrawn_nl": 5, "filled_nl": 1_000_000,
                          "concentration_ug_per_ml": 10_000}, NakCode.ALREADY_WITHDRAWN),
]


def _send(host: WireHost, msg_type: int, fields: Any) -> Any:
    if isinstance(fields, bytes):  # a raw payload: tagged and fresh, not encodable on purpose
        from protocol import FrameKind, encode_frame
        assert host.session is not None
        seq = host.session.next_seq()
        host.send(encode_frame(msg_type, fields, seq, FrameKind.REQUEST, session=host.session))
        return host.expect(seq)
    return host.request(msg_type, fields)


@pytest.mark.parametrize("setup,msg_type,fields,code",
                         [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_refusal_changes_nothing(programmed: WireHost, setup: list, msg_type: int,
                                 fields: Any, code: NakCode) -> None:
    """The request is refused with its code (detail names the field or a reason) and the
    pump's status, program and limits are what they were."""
    for mt, f in setup:
        ok(programmed.request(mt, f), MT.ACK if mt != MT.CLINICIAN_BOLUS else MT.BOLUS_STARTED)
    before = _state(programmed)
    start = programmed.log_count()
    fields_of = nak(_send(programmed, msg_type, fields), code)
    assert fields_of.get("request_type") == msg_type
    assert _state(programmed) == before, "a refused request changed the pump"
    logged = {e["kind"] for e in programmed.log_since(start)} & COMMAND_EVENTS
    assert not logged, f"a refused request logged {sorted(logged)}"


# what only a command can change (a running pump changes its volumes and clocks by itself)
STEADY = ("state", "active_alarms", "bolus_kind", "reservoir_capacity_nl")
COMMAND_EVENTS = {EventKind.PROGRAM, EventKind.THRESHOLD, EventKind.PATIENT_BOLUS_CONFIG,
                  EventKind.BOLUS_START, EventKind.BOLUS_END, EventKind.REFILL_BEGIN,
                  EventKind.REFILL_WITHDRAWN, EventKind.REFILL_COMPLETE, EventKind.CLOCK_SET,
                  EventKind.ALARM_ACK, EventKind.PATIENT_BOLUS_GRANTED}


def _state(host: WireHost) -> tuple:
    """The pump's program and steady status (not its running volumes and clocks)."""
    full = status(host)
    st = {k: full[k] for k in STEADY}
    drug = ok(host.request(MT.GET_DRUG), MT.DRUG)
    sched = ok(host.request(MT.GET_SCHEDULE, {"weekday": 0xFF}), MT.SCHEDULE)
    limits = ok(host.request(MT.GET_LIMITS), MT.LIMITS)
    return (sorted(st.items()), sorted(drug.items()), str(sched), sorted(limits.items()))


CLINICIAN_ONLY = [
    (MT.SET_DRUG, {"drug_name": "morphine", "concentration_ug_per_ml": 10_000}),
    (MT.SET_SCHEDULE, _steps((0, 100_000))), (MT.SET_LIMITS, LIMITS),
    (MT.START_THERAPY, None), (MT.STOP_THERAPY, None),
    (MT.CLINICIAN_BOLUS, {"volume_nl": 1_000, "dose_ug": 0, "duration_ms": 600_000}),
    (MT.CANCEL_BOLUS, None), (MT.PRIMING_BOLUS, {"volume_nl": 1_000, "duration_ms": 600_000}),
    (MT.REFILL_BEGIN, None), (MT.REFILL_WITHDRAWN, {"withdrawn_nl": 0}),
    (MT.REFILL_COMPLETE, {"withdrawn_nl": 0, "filled_nl": 1, "concentration_ug_per_ml": 1}),
    (MT.SET_CLOCK, {"wall_ms": 0})]


def test_patient_role_may_only_read_and_ask(programmed: WireHost) -> None:
    """Every clinician-only request in a patient session: FORBIDDEN_FOR_ROLE, nothing changes;
    the patient may read and ask for a bolus."""
    before = _state(programmed)
    start = programmed.log_count()
    ok(programmed.handshake(Role.PATIENT), MT.SESSION_ACCEPTED)
    for mt, fields in CLINICIAN_ONLY:
        nak(programmed.request(mt, fields), NakCode.FORBIDDEN_FOR_ROLE)
    assert _state(programmed) == before
    assert not {e["kind"] for e in programmed.log_since(start)} & COMMAND_EVENTS
    ok(programmed.request(MT.PATIENT_BOLUS), MT.PATIENT_BOLUS_RESULT)
    ok(programmed.request(MT.GET_ALARMS), MT.ALARM_LIST)
