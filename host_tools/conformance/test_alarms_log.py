"""PROTOCOL.md ALARM_EVENT, GET_ALARMS, ACK_ALARM, READ_LOG: alarms pushed as they are raised,
listed and acknowledged; the event log gapless, growing with every executed command and with
nothing for a refusal. Alarms on demand need the emulator's INJECT_FAULT (skipped on other
pumps)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from protocol import Alarm, EventKind, FaultAction, FaultKind, MessageType as MT, NakCode

from .conftest import status
from .wire import WireHost, nak, ok

pytestmark = pytest.mark.requirement("ALM-4", "ALM-6", "ALM-7", "PER-4", "SAF-8")


@pytest.fixture
def stalled(programmed: WireHost) -> Iterator[WireHost]:
    """The programmed pump with its motor stalled (INJECT_FAULT MOTOR_STALL); restarted after."""
    r = programmed.request(MT.INJECT_FAULT, {"fault": FaultKind.MOTOR_STALL,
                                             "action": FaultAction.RAISE,
                                             "value": 0})  # 0: a permanent stall
    if r.msg_type == MT.NAK and r.fields["code"] == NakCode.UNKNOWN_MESSAGE_TYPE:
        pytest.skip("needs a pump in MOTOR_STALL: this pump has no INJECT_FAULT (not an emulator)")
    ok(r)
    yield programmed
    programmed.request(MT.INJECT_FAULT, {"fault": FaultKind.MOTOR_STALL,
                                         "action": FaultAction.CLEAR, "value": 0})
    programmed.request(MT.ACK_ALARM, {"alarm": Alarm.MOTOR_STALL})
    programmed.request(MT.START_THERAPY)


def test_alarm_is_pushed_listed_and_acknowledged(stalled: WireHost) -> None:
    """MOTOR_STALL: pushed at once (ALARM_EVENT, raised, HIGH priority, in the bitmask), in
    GET_ALARMS, in STATUS; delivery stopped; acknowledged it is gone, and a second
    acknowledgement gets NO_SUCH_ALARM."""
    ev = stalled.event(msg_type=MT.ALARM_EVENT).fields
    assert ev["alarm"] == Alarm.MOTOR_STALL and ev["raised"] == 1
    assert ev["priority"] == 3 and ev["active_alarms"] & (1 << Alarm.MOTOR_STALL)
    alarms = ok(stalled.request(MT.GET_ALARMS), MT.ALARM_LIST)["alarms"]
    assert Alarm.MOTOR_STALL in [a["alarm"] for a in alarms]
    st = status(stalled)
    assert st["active_alarms"] & (1 << Alarm.MOTOR_STALL)
    assert st["state"] == 5  # FAULT: delivery stopped
    ok(stalled.request(MT.ACK_ALARM, {"alarm": Alarm.MOTOR_STALL}))
    alarms = ok(stalled.request(MT.GET_ALARMS), MT.ALARM_LIST)["alarms"]
    assert Alarm.MOTOR_STALL not in [a["alarm"] for a in alarms]
    nak(stalled.request(MT.ACK_ALARM, {"alarm": Alarm.MOTOR_STALL}), NakCode.NO_SUCH_ALARM)


def test_log_is_gapless_and_grows_with_commands_and_refusals(programmed: WireHost) -> None:
    """Entries keep consecutive indexes and non-decreasing times; an executed command adds
    exactly its entry; a refused command adds no program entry."""
    start = programmed.log_count()
    ok(programmed.request(MT.SET_CLOCK, {"wall_ms": 1_700_000_000_000}))
    nak(programmed.request(MT.SET_DRUG, {"drug_name": "unobtainium",
                                         "concentration_ug_per_ml": 1}), NakCode.UNKNOWN_DRUG)
    entries = programmed.log_since(max(0, start - 8))
    idx = [e["index"] for e in entries]
    assert idx == list(range(idx[0], idx[0] + len(idx))), f"log indexes not gapless: {idx}"
    times = [e["time_ms"] for e in entries]
    assert times == sorted(times)
    new = [e for e in entries if e["index"] >= start]
    assert [e["kind"] for e in new].count(EventKind.CLOCK_SET) == 1
    assert EventKind.PROGRAM not in [e["kind"] for e in new], "a refused SET_DRUG was logged"


def test_read_log_past_the_end_is_empty(wire: WireHost) -> None:
    """A page that starts after the last entry is empty and gives the total."""
    total = wire.log_count()
    page = ok(wire.request(MT.READ_LOG, {"start_index": total + 5, "count": 4}), MT.LOG_PAGE)
    assert page["entries"] == [] and page["total_count"] == total
