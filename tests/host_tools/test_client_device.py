"""PumpClient against the real virtual device (in-process, ManualClock): programming, events,
lossy links, power loss."""
from __future__ import annotations

import pytest

import hal
from firmware_sim.device import start_virtual_pump
from host_tools.client import PumpClient
from host_tools.errors import Refused
from host_tools.records import AlarmEvent, Limits, Step, StatusPush
from protocol.enums import Alarm, DenialReason, MessageType as MT, Role, TherapyState, Weekday
from protocol.errors import NakCode

pytestmark = pytest.mark.requirement("SAF-6", "ALM-7", "PRO-7", "SEC-5")

DAY_MS = 86_400_000


def program(client: PumpClient, reservoir_nl: int = 20_000_000) -> None:
    """Morphine 10 mg/mL, 0.5 mL/day, filled, patient bolus 0.5 mg / 1 h lockout, infusing."""
    client.set_drug("morphine", 10_000)
    client.set_schedule([Step(0, 500_000)])
    client.refill_begin()
    client.refill_withdrawn(0)
    client.refill_complete(0, reservoir_nl, 10_000)
    client.set_limits(Limits(500, 600_000, 3_600_000, 4, 2_000_000))
    client.start()


@pytest.fixture
def vp(tmp_path):
    with start_virtual_pump(state_path=tmp_path / "pump.db") as pump:
        yield pump


def test_program_and_read_back(vp):
    with PumpClient(vp.url) as client:
        program(client)
        assert client.drug().name == "morphine"
        assert client.schedule(Weekday.EVERY_DAY).steps == (Step(0, 500_000),)
        assert client.limits() == Limits(500, 600_000, 3_600_000, 4, 2_000_000)
        status = client.status()
    assert status.state is TherapyState.INFUSING
    assert status.reservoir_nl == 20_000_000 and status.rate_nl_per_day == 500_000


def test_patient_bolus_lockout_and_patient_role(vp):
    link = hal.open(vp.url)  # one host link, two sessions in turn (the clients leave it open)
    with PumpClient(link) as clinician:
        program(clinician)
    with PumpClient(link, role=Role.PATIENT) as patient:
        granted = patient.patient_bolus()
        assert granted.granted and granted.dose_ug == 500 and granted.volume_nl == 50_000
        vp.advance(11 * 60_000)  # the 10 min bolus is over; the 1 h lockout is not
        denied = patient.patient_bolus()
        assert not denied.granted and denied.denial_reason is DenialReason.LOCKOUT
        with pytest.raises(Refused) as info:
            patient.stop()
    assert info.value.code is NakCode.FORBIDDEN_FOR_ROLE
    link.close()


def test_model_refusal_names_field(vp):
    with PumpClient(vp.url) as client:
        client.set_drug("morphine", 10_000)
        with pytest.raises(Refused) as info:
            client.set_schedule([Step(0, 10)])
    assert info.value.code is NakCode.RATE_OUT_OF_RANGE
    assert "rate_nl_per_day" in info.value.field


def test_alarm_event_is_pushed_when_reservoir_runs_low(vp):
    with PumpClient(vp.url) as client:
        program(client, reservoir_nl=2_400_000)  # 0.5 mL/day: low (2 mL) within a day
        vp.advance(DAY_MS)
        alarms = []
        for event in client.events(timeout=1):
            if isinstance(event, AlarmEvent):
                alarms.append(event)
            if any(a.alarm is Alarm.LOW_RESERVOIR for a in alarms):
                break
    low = [a for a in alarms if a.alarm is Alarm.LOW_RESERVOIR]
    assert low and low[0].raised and Alarm.LOW_RESERVOIR in low[0].active_alarms
    # 2.4 mL - 0.5 mL/day reaches 2 mL after 0.8 day: raised at that exact ms
    assert low[0].time_ms == DAY_MS * 4 // 5


def test_status_push_telemetry(vp):
    with PumpClient(vp.url) as client:
        client.set_telemetry(100)
        event = client.next_event(timeout=3)
        client.set_telemetry(0)
    assert isinstance(event, StatusPush) and event.status.reservoir_capacity_nl == 20_000_000


def test_lossy_link_executes_each_command_once(tmp_path):
    with start_virtual_pump(state_path=tmp_path / "pump.db", faults="drop=0.3,seed=11") as vp:
        with PumpClient(vp.url, timeout_s=0.05, retries=12) as client:
            program(client)
            for _ in range(5):
                client.clinician_bolus(60_000, volume_nl=1_000)
                client.cancel_bolus()
            retransmits = client.stats.retransmits
        with vp.device.lock:
            starts = [e for e in vp.pump.read_events(0, 1000) if e.kind == "BOLUS_START"
                      and e.details.get("bolus_kind") == "CLINICIAN"]
    assert retransmits > 0
    assert len(starts) == 5


def test_power_loss_reconnects_for_idempotent_requests(vp):
    with PumpClient(vp.url) as client:
        program(client)
        first = client.session_id
        vp.restart()
        assert client.status().state is TherapyState.INFUSING
        assert client.session_id != first and client.stats.reconnects == 1
        client.set_schedule([Step(0, 600_000)])
        assert client.schedule().steps == (Step(0, 600_000),)


def test_every_request_type_has_a_method():
    names = {"IDENTIFY": "identify", "GET_STATUS": "status", "GET_DRUG": "drug",
             "SET_DRUG": "set_drug", "GET_SCHEDULE": "schedule", "SET_SCHEDULE": "set_schedule",
             "GET_LIMITS": "limits", "SET_LIMITS": "set_limits", "START_THERAPY": "start",
             "GET_DRUG_LIBRARY": "drug_library", "GET_DEVICE_LIMITS": "device_limits",
             "STOP_THERAPY": "stop", "CLINICIAN_BOLUS": "clinician_bolus",
             "PATIENT_BOLUS": "patient_bolus", "CANCEL_BOLUS": "cancel_bolus",
             "PRIMING_BOLUS": "priming_bolus", "REFILL_BEGIN": "refill_begin",
             "REFILL_WITHDRAWN": "refill_withdrawn", "REFILL_COMPLETE": "refill_complete",
             "GET_ALARMS": "alarms", "ACK_ALARM": "ack_alarm", "READ_LOG": "read_log",
             "GET_CLOCK": "clock", "SET_CLOCK": "set_clock", "SET_TELEMETRY": "set_telemetry",
             "INJECT_FAULT": "inject_fault", "SESSION_OPEN": "open", "SESSION_PROOF": "open",
             "SESSION_CLOSE": "close", "ALARM_TEST": "alarm_test"}
    from protocol.messages import REGISTRY
    requests = {t.name for t, s in REGISTRY.items() if s.kind == "request"}
    assert requests == set(names)
    assert all(callable(getattr(PumpClient, m)) for m in names.values())
    assert MT.GET_STATUS.name in requests
