"""Handshake, tags, sequence numbers, retransmission cache, permissions, keys."""
from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import (DEVELOPMENT_KEYS, AuthLimiter, FrameKind, HostSession, KeyFileError,
                      MessageType, NakCode, ProtocolError, PumpSession, ROLE_PERMISSIONS, Role,
                      Verdict, dump_keys, encode_frame, generate_keys, is_allowed, load_keys,
                      parse_frame)

pytestmark = pytest.mark.requirement("SEC-2", "SEC-3", "SEC-4", "SEC-5", "SEC-6", "PRO-4")

MT = MessageType
CLOCK = {"wall_ms": 42}
CLOCK_RESPONSE = {"time_ms": 7, "wall_ms": 42}


def handshake(role: Role = Role.CLINICIAN, host_key: bytes | None = None,
              pump_keys: dict | None = None) -> tuple[HostSession, PumpSession]:
    """Run the handshake through real frames; returns established sessions."""
    pump_keys = pump_keys or DEVELOPMENT_KEYS
    host = HostSession(role, host_key or DEVELOPMENT_KEYS[role])
    open_frame = parse_frame(encode_frame(MT.SESSION_OPEN, host.open_fields(), 0))
    pump = PumpSession.open(open_frame.fields, pump_keys)
    challenge = parse_frame(encode_frame(MT.SESSION_CHALLENGE, pump.challenge_fields(), 0,
                                         FrameKind.RESPONSE))
    proof = parse_frame(encode_frame(MT.SESSION_PROOF, host.proof_fields(challenge.fields), 0))
    accepted = pump.verify_proof(proof.fields)
    host.accept(parse_frame(encode_frame(MT.SESSION_ACCEPTED, accepted, 0,
                                         FrameKind.RESPONSE)).fields)
    return host, pump


def test_handshake_and_request_response() -> None:
    host, pump = handshake()
    assert host.established and pump.established and host.session_id == pump.session_id
    seq, wire = host.request(MT.SET_CLOCK, CLOCK)
    frame = parse_frame(wire)
    assert frame.session_id == pump.session_id and frame.tag is not None
    assert pump.check_request(frame) is Verdict.NEW
    response = parse_frame(pump.respond(frame, MT.ACK, {"request_type": MT.SET_CLOCK}))
    host.check_response(response, seq)


def test_wrong_key_fails_both_ways() -> None:
    wrong = bytes(32)
    with pytest.raises(ProtocolError) as err:
        handshake(host_key=wrong)
    assert err.value.code is NakCode.AUTH_FAILED
    # pump with a different key: host detects it from the pump proof ... but the pump
    # refuses first because the host proof does not verify.
    with pytest.raises(ProtocolError) as err:
        handshake(pump_keys={Role.CLINICIAN: wrong})
    assert err.value.code is NakCode.AUTH_FAILED


def test_host_rejects_forged_pump_proof() -> None:
    host = HostSession(Role.CLINICIAN, DEVELOPMENT_KEYS[Role.CLINICIAN])
    pump = PumpSession.open(host.open_fields(), DEVELOPMENT_KEYS)
    host.proof_fields(pump.challenge_fields())
    with pytest.raises(ProtocolError) as err:
        host.accept({"pump_proof": bytes(32)})
    assert err.value.code is NakCode.AUTH_FAILED
    assert not host.established


def test_pending_session_allows_one_proof_attempt() -> None:
    host = HostSession(Role.PATIENT, DEVELOPMENT_KEYS[Role.PATIENT])
    pump = PumpSession.open(host.open_fields(), DEVELOPMENT_KEYS)
    good = host.proof_fields(pump.challenge_fields())
    with pytest.raises(ProtocolError):
        pump.verify_proof({"session_id": good["session_id"], "proof": bytes(32)})
    with pytest.raises(ProtocolError):
        pump.verify_proof(good)
    assert not pump.established


def test_role_without_key_cannot_open() -> None:
    with pytest.raises(ProtocolError) as err:
        PumpSession.open({"role": 2, "host_nonce": bytes(16)}, {Role.CLINICIAN: bytes(32)})
    assert err.value.code is NakCode.AUTH_FAILED
    with pytest.raises(ProtocolError):
        PumpSession.open({"role": 9, "host_nonce": bytes(16)}, DEVELOPMENT_KEYS)


@given(st.data())
def test_forged_or_modified_frames_fail(data: st.DataObject) -> None:
    host, pump = handshake()
    _, wire = host.request(MT.SET_CLOCK, CLOCK)
    frame = parse_frame(wire)
    # flip one bit anywhere in the authenticated data or the tag, then fix the CRC
    span = len(wire) - 2 - 2
    bit = data.draw(st.integers(0, span * 8 - 1))
    mutated = bytearray(wire)
    mutated[2 + bit // 8] ^= 1 << (bit % 8)
    from protocol.frame import crc16
    mutated[-2:] = crc16(bytes(mutated[:-2])).to_bytes(2, "big")
    try:
        forged = parse_frame(bytes(mutated))
    except ProtocolError:
        return  # header no longer valid (version/flags/length): never reaches the session
    with pytest.raises(ProtocolError) as err:
        pump.check_request(forged)
    assert err.value.code in (NakCode.BAD_TAG, NakCode.NO_SESSION, NakCode.INVALID_FIELD)
    assert pump.check_request(frame) is Verdict.NEW  # the genuine one still works


def test_untagged_frame_in_session_fails() -> None:
    host, pump = handshake()
    frame = parse_frame(encode_frame(MT.SET_CLOCK, CLOCK, 1))
    with pytest.raises(ProtocolError) as err:
        pump.check_request(frame)
    assert err.value.code is NakCode.NO_SESSION  # session id 0 is no session


def test_other_session_key_fails() -> None:
    host_a, pump_a = handshake()
    host_b, _ = handshake()
    host_b.session_id = pump_a.session_id  # try to hijack session A with key B
    _, wire = host_b.request(MT.SET_CLOCK, CLOCK)
    with pytest.raises(ProtocolError) as err:
        pump_a.check_request(parse_frame(wire))
    assert err.value.code is NakCode.BAD_TAG


def test_retransmit_gets_cached_response_and_replay_is_stale() -> None:
    host, pump = handshake()
    seq1, wire1 = host.request(MT.SET_CLOCK, CLOCK)
    f1 = parse_frame(wire1)
    assert pump.check_request(f1) is Verdict.NEW
    resp1 = pump.respond(f1, MT.ACK, {"request_type": MT.SET_CLOCK})
    # retransmission (same bytes): recognised, cached response identical
    assert pump.check_request(parse_frame(wire1)) is Verdict.RETRANSMIT
    assert pump.cached_response == resp1
    seq2, wire2 = host.request(MT.GET_CLOCK)
    f2 = parse_frame(wire2)
    assert pump.check_request(f2) is Verdict.NEW
    pump.respond(f2, MT.CLOCK, CLOCK_RESPONSE)
    # the old request is now stale: a replay changes nothing
    with pytest.raises(ProtocolError) as err:
        pump.check_request(parse_frame(wire1))
    assert err.value.code is NakCode.STALE_SEQUENCE
    assert seq2 == seq1 + 1


def test_same_seq_other_content_is_stale() -> None:
    host, pump = handshake()
    _, wire = host.request(MT.SET_CLOCK, CLOCK)
    frame = parse_frame(wire)
    pump.check_request(frame)
    pump.respond(frame, MT.ACK, {"request_type": MT.SET_CLOCK})
    other = parse_frame(encode_frame(MT.SET_CLOCK, {"wall_ms": 99}, frame.seq, session=host))
    with pytest.raises(ProtocolError) as err:
        pump.check_request(other)
    assert err.value.code is NakCode.STALE_SEQUENCE


def test_unexecuted_request_does_not_advance_sequence() -> None:
    host, pump = handshake()
    _, wire = host.request(MT.GET_CLOCK)
    frame = parse_frame(wire)
    assert pump.check_request(frame) is Verdict.NEW
    assert pump.check_request(frame) is Verdict.NEW  # not yet answered: still new
    assert pump.last_seq == 0


def test_response_checks_on_host() -> None:
    host, pump = handshake()
    seq, wire = host.request(MT.GET_CLOCK)
    frame = parse_frame(wire)
    response = parse_frame(pump.respond(frame, MT.CLOCK, CLOCK_RESPONSE))
    with pytest.raises(ProtocolError) as err:
        host.check_response(response, seq + 1)
    assert err.value.code is NakCode.STALE_SEQUENCE
    untagged = parse_frame(encode_frame(MT.CLOCK, CLOCK_RESPONSE, seq, FrameKind.RESPONSE))
    with pytest.raises(ProtocolError):
        host.check_response(untagged, seq)
    lost = parse_frame(encode_frame(MT.NAK, {"code": NakCode.NO_SESSION, "request_type": 0x50,
                                             "retry_after_ms": 0, "detail": ""}, seq,
                                    FrameKind.RESPONSE))
    with pytest.raises(ProtocolError) as err:
        host.check_response(lost, seq)
    assert err.value.code is NakCode.NO_SESSION


def test_events_strictly_increasing() -> None:
    host, pump = handshake()
    ev = {"alarm": 0, "raised": 1, "priority": 2, "time_ms": 5, "active_alarms": 1}
    e1 = parse_frame(pump.event(MT.ALARM_EVENT, ev))
    e2 = parse_frame(pump.event(MT.ALARM_EVENT, ev))
    host.check_event(e1)
    host.check_event(e2)
    with pytest.raises(ProtocolError) as err:
        host.check_event(e1)
    assert err.value.code is NakCode.STALE_SEQUENCE


def test_request_cannot_be_reflected_as_response() -> None:
    host, pump = handshake()
    seq, wire = host.request(MT.GET_CLOCK)
    with pytest.raises(ProtocolError):
        host.check_response(parse_frame(wire), seq)


def test_patient_forbidden_commands() -> None:
    host, pump = handshake(Role.PATIENT)
    _, wire = host.request(MT.SET_SCHEDULE, {"weekday": 255, "steps": []})
    frame = parse_frame(wire)
    with pytest.raises(ProtocolError) as err:
        pump.check_request(frame)
    assert err.value.code is NakCode.FORBIDDEN_FOR_ROLE
    # the refusal is answered once and cached like any executed request
    nak = pump.respond(frame, MT.NAK, {"code": NakCode.FORBIDDEN_FOR_ROLE,
                                       "request_type": MT.SET_SCHEDULE, "retry_after_ms": 0,
                                       "detail": "role"})
    assert pump.check_request(frame) is Verdict.RETRANSMIT and pump.cached_response == nak
    _, wire = host.request(MT.PATIENT_BOLUS)
    assert pump.check_request(parse_frame(wire)) is Verdict.NEW


def test_permission_table() -> None:
    assert all(is_allowed(Role.CLINICIAN, t) for t in ROLE_PERMISSIONS)
    patient = {t for t in ROLE_PERMISSIONS if is_allowed(Role.PATIENT, t)}
    assert MT.PATIENT_BOLUS in patient and MT.GET_STATUS in patient
    for t in (MT.SET_SCHEDULE, MT.SET_DRUG, MT.SET_LIMITS, MT.CLINICIAN_BOLUS, MT.INJECT_FAULT,
              MT.SET_CLOCK, MT.REFILL_COMPLETE, MT.STOP_THERAPY):
        assert t not in patient
    assert not is_allowed(Role.CLINICIAN, MT.STATUS)  # responses are never requests


def test_auth_limiter() -> None:
    lim = AuthLimiter(max_failures=3, window_ms=1000, backoff_ms=5000)
    for t in (0, 10, 20):
        lim.check(t)
        lim.failure(t)
    with pytest.raises(ProtocolError) as err:
        lim.check(100)
    assert err.value.code is NakCode.RATE_LIMITED and err.value.retry_after_ms == 4920
    lim.check(5020)


def test_key_file_round_trip(tmp_path) -> None:
    keys = generate_keys()
    path = tmp_path / "keys.json"
    path.write_text(dump_keys(keys, "IP40-1"))
    path.chmod(0o600)
    assert load_keys(path) == keys


@pytest.mark.parametrize("doc", [
    {}, {"format": "intrapump-keys/1"}, {"format": "intrapump-keys/1", "keys": {"nurse": "00" * 32}},
    {"format": "intrapump-keys/1", "keys": {"patient": "zz"}},
    {"format": "intrapump-keys/1", "keys": {"patient": "00" * 8}},
    {"format": "other", "keys": {"patient": "00" * 32}},
])
def test_key_file_errors(tmp_path, doc) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(doc))
    path.chmod(0o600)
    with pytest.raises(KeyFileError):
        load_keys(path)
    with pytest.raises(KeyFileError):
        load_keys(tmp_path / "missing.json")


def test_untagged_bad_tag_nak_is_reported_as_bad_tag() -> None:
    """The pump answers a request it cannot authenticate with an untagged NAK(BAD_TAG): the
    host sees BAD_TAG, not a lost session."""
    host, pump = handshake()
    seq, wire = host.request(MT.GET_CLOCK)
    nak = parse_frame(encode_frame(MT.NAK, {"code": NakCode.BAD_TAG, "request_type": MT.GET_CLOCK,
                                            "retry_after_ms": 0, "detail": "tag mismatch"},
                                   seq, FrameKind.RESPONSE))
    with pytest.raises(ProtocolError) as err:
        host.check_response(nak, seq)
    assert err.value.code is NakCode.BAD_TAG
    # an untagged NAK with any other code is not trusted as an answer of the session
    other = parse_frame(encode_frame(MT.NAK, {"code": NakCode.INVALID_STATE, "request_type": 0x50,
                                              "retry_after_ms": 0, "detail": ""}, seq,
                                     FrameKind.RESPONSE))
    with pytest.raises(ProtocolError) as err:
        host.check_response(other, seq)
    assert err.value.code is NakCode.BAD_TAG
