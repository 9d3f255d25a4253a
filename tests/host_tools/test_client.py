"""PumpClient against a scripted pump: typed answers, retransmission, naks, timeouts, events."""
from __future__ import annotations

import threading

import pytest

from host_tools.client import PumpClient
from host_tools.errors import (AuthenticationFailed, ConnectionFailed, Forbidden,
                               OutcomeUnknown, ProtocolViolation, Refused, ResponseTimeout)
from host_tools.records import AlarmEvent, Status, StatusPush, Step
from protocol import MessageType as MT, Role
from protocol.enums import Alarm, DenialReason, TherapyState, Weekday
from protocol.errors import NakCode, ProtocolError
from protocol.frame import parse_frame
from tests.host_tools.fake_pump import FakePump
from tests.vectors.samples import SAMPLES


@pytest.fixture
def pump():
    with FakePump() as fake:
        yield fake


def test_status_is_typed_with_integer_units(pump):
    with PumpClient(pump.url, timeout_s=0.5) as client:
        status = client.status()
    assert isinstance(status, Status)
    assert status.state is TherapyState.INFUSING
    assert status.reservoir_nl == SAMPLES[MT.STATUS]["reservoir_nl"]
    assert status.active_alarms == (Alarm.LOW_RESERVOIR, Alarm.REFILL_DUE)
    assert status.bolus_end_ms is None and status.step_index == 1
    assert status.to_json()["state"] == "INFUSING"


def test_retransmission_reuses_seq_and_bytes_and_executes_once(pump):
    pump.on(MT.CLINICIAN_BOLUS, lambda f: (MT.BOLUS_STARTED, SAMPLES[MT.BOLUS_STARTED]))
    with PumpClient(pump.url, timeout_s=0.1, retries=3) as client:
        pump.drop_responses = 2
        started = client.clinician_bolus(900_000, dose_ug=100)
        assert client.stats.retransmits == 2
    assert started.volume_nl == 4_000
    assert pump.executed[MT.CLINICIAN_BOLUS] == 1
    bolus_frames = [f.raw for f in pump.received if f.msg_type == MT.CLINICIAN_BOLUS]
    assert len(bolus_frames) == 3 and len(set(bolus_frames)) == 1
    assert len({parse_frame(raw).seq for raw in bolus_frames}) == 1


def test_sequence_numbers_increase_per_request(pump):
    with PumpClient(pump.url) as client:
        client.status()
        client.drug()
        client.clock()
    seqs = [seq for _, seq in pump.executed_seqs]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_timeout_after_bounded_retries(pump):
    with PumpClient(pump.url, timeout_s=0.05, retries=2) as client:
        pump.silent = True
        with pytest.raises(ResponseTimeout) as info:
            client.status()
    assert info.value.attempts == 3
    assert sum(1 for f in pump.received if f.msg_type == MT.GET_STATUS) == 3


def test_model_nak_becomes_refused_with_code_field_reason(pump):
    def refuse(fields):
        raise ProtocolError(NakCode.HARD_DAILY_LIMIT, "steps: 40 mg/day over the 30 mg hard limit")
    pump.on(MT.SET_SCHEDULE, refuse)
    with PumpClient(pump.url) as client:
        with pytest.raises(Refused) as info:
            client.set_schedule([Step(0, 4_000_000)])
    err = info.value
    assert err.code is NakCode.HARD_DAILY_LIMIT
    assert err.field == "steps"
    assert "hard limit" in err.reason
    assert "HARD_DAILY_LIMIT" in str(err) and "SET_SCHEDULE" in str(err)


def test_nak_with_field_only_uses_code_description(pump):
    def refuse(fields):
        raise ProtocolError(NakCode.STEP_ORDER, "steps[1].start_minute")
    pump.on(MT.SET_SCHEDULE, refuse)
    with PumpClient(pump.url) as client, pytest.raises(Refused) as info:
        client.set_schedule([(0, 100_000), (0, 200_000)])
    assert info.value.field == "steps[1].start_minute"
    assert "increasing" in info.value.reason


def test_patient_role_forbidden_is_refused_subclass(pump):
    def forbid(fields):
        raise ProtocolError(NakCode.FORBIDDEN_FOR_ROLE, "START_THERAPY not allowed for PATIENT")
    pump.on(MT.START_THERAPY, forbid)
    with PumpClient(pump.url, role="patient") as client, pytest.raises(Forbidden):
        client.start()


def test_wrong_key_is_authentication_failed(pump):
    with pytest.raises(AuthenticationFailed):
        PumpClient(pump.url, key=b"\x01" * 32).open()


def test_no_pump_is_connection_failed():
    with pytest.raises(ConnectionFailed):
        PumpClient("virtual://nobody-listens-here-42").open()


def test_silent_pump_during_handshake_is_connection_failed(pump):
    pump.silent = True
    with pytest.raises(ConnectionFailed):
        PumpClient(pump.url, timeout_s=0.05, retries=1).open()


def test_protocol_nak_is_violation(pump):
    def bad(fields):
        raise ProtocolError(NakCode.MALFORMED_PAYLOAD, "GET_DRUG: trailing bytes")
    pump.on(MT.GET_DRUG, bad)
    with PumpClient(pump.url) as client, pytest.raises(ProtocolViolation):
        client.drug()


def test_patient_bolus_denial_is_a_value_not_an_error(pump):
    pump.on(MT.PATIENT_BOLUS, lambda f: (MT.PATIENT_BOLUS_RESULT, SAMPLES[MT.PATIENT_BOLUS_RESULT]))
    with PumpClient(pump.url, role=Role.PATIENT) as client:
        result = client.patient_bolus()
    assert not result.granted and result.denial_reason is DenialReason.LOCKOUT


def test_lost_session_reopens_and_resends_idempotent_request(pump):
    with PumpClient(pump.url, timeout_s=0.1) as client:
        first = client.session_id
        pump.forget_session()
        client.status()
        assert client.session_id != first
        assert client.stats.reconnects == 1


def test_lost_session_never_reissues_a_bolus_under_a_new_seq(pump):
    """An untagged NO_SESSION cannot be trusted (a forger can send one): the client
    retransmits the same seq, then reopens the session but does not send the bolus again; the
    caller reads the state first."""
    pump.on(MT.CLINICIAN_BOLUS, lambda f: (MT.BOLUS_STARTED, SAMPLES[MT.BOLUS_STARTED]))
    with PumpClient(pump.url, timeout_s=0.1, retries=2) as client:
        first = client.session_id
        pump.forget_session()
        with pytest.raises(OutcomeUnknown, match="read the pump's state"):
            client.clinician_bolus(900_000, volume_nl=4_000)
        sent = [f for f in pump.received if f.msg_type == MT.CLINICIAN_BOLUS]
        assert len({f.seq for f in sent}) == 1 and len(sent) == 3  # same seq, retransmitted
        assert client.session_id not in (0, first)  # reopened, ready to read the state
        client.status()
    assert pump.executed[MT.CLINICIAN_BOLUS] == 0


@pytest.mark.parametrize("code", [NakCode.NO_SESSION, NakCode.BAD_TAG])
def test_forged_untagged_refusal_before_the_answer_is_not_trusted(pump, code):
    """A forger answers first with an untagged NO_SESSION / BAD_TAG carrying the request's seq;
    the client keeps waiting, takes the pump's authentic answer and the bolus runs once."""
    pump.on(MT.CLINICIAN_BOLUS, lambda f: (MT.BOLUS_STARTED, SAMPLES[MT.BOLUS_STARTED]))
    with PumpClient(pump.url, timeout_s=0.5) as client:
        pump.forge_before = code
        started = client.clinician_bolus(900_000, volume_nl=4_000)
        assert started.volume_nl == SAMPLES[MT.BOLUS_STARTED]["volume_nl"]
        assert client.stats.untrusted == 1 and client.stats.reconnects == 0
    assert pump.executed[MT.CLINICIAN_BOLUS] == 1


def test_forged_refusals_instead_of_the_answer_never_give_a_second_bolus(pump):
    """The pump executes the bolus, a forger replaces every answer with an untagged
    NO_SESSION: the client retransmits the same bytes (the pump answers from its cache), never
    sends the bolus under a new seq, and reports the outcome as unknown."""
    pump.on(MT.CLINICIAN_BOLUS, lambda f: (MT.BOLUS_STARTED, SAMPLES[MT.BOLUS_STARTED]))
    with PumpClient(pump.url, timeout_s=0.1, retries=2) as client:
        pump.forge_instead = NakCode.NO_SESSION
        with pytest.raises(OutcomeUnknown):
            client.clinician_bolus(900_000, volume_nl=4_000)
        pump.forge_instead = None
        assert client.stats.untrusted == 3
    assert pump.executed[MT.CLINICIAN_BOLUS] == 1
    assert len({seq for t, seq in pump.executed_seqs if t == MT.CLINICIAN_BOLUS}) == 1


def test_events_reach_queue_and_callbacks(pump):
    seen: list = []
    got = threading.Event()
    with PumpClient(pump.url) as client:
        client.on_event(lambda e: (seen.append(e), got.set()))
        pump.send_event(MT.ALARM_EVENT, SAMPLES[MT.ALARM_EVENT])
        pump.send_event(MT.STATUS_PUSH, SAMPLES[MT.STATUS_PUSH])
        first = client.next_event(timeout=2)
        second = client.next_event(timeout=2)
        assert client.next_event(timeout=0.01) is None
    assert isinstance(first, AlarmEvent) and first.alarm is Alarm.LOW_RESERVOIR and first.raised
    assert isinstance(second, StatusPush) and second.status.reservoir_nl == 18_250_000
    assert got.wait(2) and len(seen) == 2


def test_monitor_thread_waits_for_events_while_requests_go_through(pump):
    got: list = []
    with PumpClient(pump.url) as client:
        assert not client.listening
        done = threading.Event()

        def monitor():
            while not done.is_set():
                event = client.next_event(timeout=0.2)
                if event is not None:
                    got.append(event)
        watcher = threading.Thread(target=monitor)
        watcher.start()
        for i in range(30):
            assert client.status().reservoir_nl == 18_250_000
            if i % 10 == 0:
                pump.send_event(MT.ALARM_EVENT, SAMPLES[MT.ALARM_EVENT])
        for _ in range(50):
            if len(got) == 3:
                break
            client.drug()
        done.set()
        watcher.join()
    assert len(got) == 3 and all(isinstance(e, AlarmEvent) for e in got)
    assert [e.seq for e in got] == [1, 2, 3]


def test_replayed_event_is_discarded(pump):
    with PumpClient(pump.url) as client:
        session = pump.session
        frame = session.event(MT.ALARM_EVENT, SAMPLES[MT.ALARM_EVENT])
        pump.link.write(frame)
        pump.link.write(frame)  # replay: same seq
        assert client.next_event(timeout=2) is not None
        assert client.next_event(timeout=0.1) is None
        assert client.stats.bad_frames >= 1


def test_requests_from_threads_are_serialised(pump):
    errors: list[BaseException] = []
    with PumpClient(pump.url) as client:
        def work():
            try:
                for _ in range(20):
                    client.status()
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    assert pump.executed[MT.GET_STATUS] == 80


def test_schedule_round_trip_and_bad_values_rejected_before_sending(pump):
    pump.on(MT.GET_SCHEDULE, lambda f: (MT.SCHEDULE, SAMPLES[MT.SCHEDULE]))
    with PumpClient(pump.url) as client:
        plan = client.schedule(Weekday.EVERY_DAY)
        assert len(plan.steps) == 48 and plan.weekday is Weekday.EVERY_DAY
        before = len(pump.received)
        with pytest.raises(ValueError):
            client.set_schedule([(0, -5)])
        with pytest.raises(ValueError):
            client.set_drug("morphine", 10.5)  # type: ignore[arg-type]
        assert len(pump.received) == before


def test_identify_needs_no_session(pump):
    with PumpClient(pump.url) as client:
        ident = client.identify()
    assert ident.model == "IP-40" and ident.weekday_plans is True


def test_close_sends_session_close(pump):
    with PumpClient(pump.url):
        pass
    assert pump.executed[MT.SESSION_CLOSE] == 1
