"""Session rules checked by their exact results where the broader tests only look at codes: the
transcript and key derivation bytes, argument checks, every refusal's code and text, the sequence
space's end, the retransmission cache and the legacy back-off's window."""
from __future__ import annotations

import hashlib
import hmac
import struct

import pytest

from protocol import (DEVELOPMENT_KEYS, AuthLimiter, FrameKind, HostSession, MessageType,
                      NakCode, ProtocolError, PumpSession, Role, Verdict, encode_frame,
                      parse_frame)
from protocol.messages import PROTOCOL_MINOR, encode_payload
from protocol.session import MAX_SEQ, host_proof, pump_proof, session_key, transcript

from .test_session import CLOCK_RESPONSE, handshake

pytestmark = pytest.mark.requirement("SEC-2", "SEC-3", "SEC-4", "SEC-5", "SEC-6", "PRO-4")

MT = MessageType
KEY = DEVELOPMENT_KEYS[Role.CLINICIAN]
HN = bytes(range(16))
PN = bytes(range(16, 32))


def refused(code: NakCode, detail: str, call, *args) -> ProtocolError:
    with pytest.raises(ProtocolError) as exc:
        call(*args)
    assert (exc.value.code, exc.value.detail) == (code, detail)
    return exc.value


def test_transcript_and_derived_keys_byte_for_byte() -> None:
    t = transcript(2, 0x01020304, HN, PN)
    assert t == b"intrapump/v1" + b"\x02" + b"\x01\x02\x03\x04" + HN + PN
    assert t == b"intrapump/v1" + struct.pack(">BI", 2, 0x01020304) + HN + PN
    for fn, label in ((host_proof, b"host-proof"), (pump_proof, b"pump-proof"),
                      (session_key, b"session-key")):
        assert fn(KEY, t) == hmac.new(KEY, label + t, hashlib.sha256).digest()


def test_host_session_arguments_and_open_fields() -> None:
    host = HostSession(Role.CLINICIAN, KEY, HN)
    assert host.open_fields() == {"role": int(Role.CLINICIAN), "host_nonce": HN,
                                  "protocol_minor": PROTOCOL_MINOR}
    assert HostSession(Role.PATIENT, KEY, HN, protocol_minor=0).open_fields() == {
        "role": int(Role.PATIENT), "host_nonce": HN}
    assert len(HostSession(Role.CLINICIAN, KEY).host_nonce) == 16
    assert HostSession(Role.CLINICIAN, KEY).host_nonce != HostSession(Role.CLINICIAN, KEY).host_nonce
    with pytest.raises(ValueError, match="host_nonce must be 16 bytes"):
        HostSession(Role.CLINICIAN, KEY, HN[:15])
    assert (host.session_id, host.last_seq, host.last_event_seq, host.established) == (0, 0, 0,
                                                                                     False)
    assert (host.pump_nonce, host._transcript) == (b"", b"")  # nothing to prove yet
    refused(NakCode.NO_SESSION, "session not established", host.request, MT.GET_CLOCK)
    refused(NakCode.NO_SESSION, "session not established", host.compute_tag, b"x")


def test_proof_fields_bind_the_challenge() -> None:
    host = HostSession(Role.CLINICIAN, KEY, HN)
    fields = host.proof_fields({"session_id": 77, "pump_nonce": PN})
    t = transcript(Role.CLINICIAN, 77, HN, PN)
    assert fields == {"session_id": 77, "proof": host_proof(KEY, t)}
    assert (host.session_id, host.pump_nonce) == (77, PN)
    refused(NakCode.AUTH_FAILED, "pump_proof", host.accept, {"pump_proof": b"\x00" * 32})
    assert not host.established
    host.accept({"pump_proof": pump_proof(KEY, t)})
    assert host.established and host._key == session_key(KEY, t)


def test_accept_before_any_challenge_is_refused() -> None:
    host = HostSession(Role.CLINICIAN, KEY, HN)
    refused(NakCode.AUTH_FAILED, "pump_proof", host.accept,
            {"pump_proof": pump_proof(KEY, b"")})


def test_sequence_space_ends_at_u32() -> None:
    host, _ = handshake()
    assert host.next_seq() == 1 and host.next_seq() == 2
    host.last_seq = MAX_SEQ - 1
    assert host.next_seq() == MAX_SEQ == 0xFFFFFFFF
    refused(NakCode.STALE_SEQUENCE, "sequence space exhausted; reopen session", host.next_seq)
    assert host.last_seq == MAX_SEQ


def test_pump_session_arguments() -> None:
    refused(NakCode.MALFORMED_PAYLOAD, "host_nonce", PumpSession, Role.CLINICIAN, KEY, HN[:8])
    for bad in (0, 2**32):
        with pytest.raises(ValueError, match=r"^session_id must be a non-zero u32$"):
            PumpSession(Role.CLINICIAN, KEY, HN, session_id=bad)
    assert PumpSession(Role.CLINICIAN, KEY, HN, session_id=1).session_id == 1
    top = PumpSession(Role.CLINICIAN, KEY, HN, session_id=0xFFFFFFFF, pump_nonce=PN)
    assert top.challenge_fields() == {"session_id": 0xFFFFFFFF, "pump_nonce": PN}
    assert (top.last_seq, top.last_event_seq, top.cached_response, top.protocol_minor) == (
        0, 0, None, 0)
    assert top._transcript == transcript(Role.CLINICIAN, 0xFFFFFFFF, HN, PN)
    drawn = PumpSession(Role.CLINICIAN, KEY, HN)
    assert 0 < drawn.session_id <= 0xFFFFFFFF and len(drawn.pump_nonce) == 16
    refused(NakCode.AUTH_FAILED, "role", PumpSession.open, {"role": 9, "host_nonce": HN},
            DEVELOPMENT_KEYS)
    refused(NakCode.AUTH_FAILED, "role", PumpSession.open,
            {"role": int(Role.PATIENT), "host_nonce": HN}, {Role.CLINICIAN: KEY})
    opened = PumpSession.open({"role": int(Role.PATIENT), "host_nonce": HN}, DEVELOPMENT_KEYS,
                              5, PN)
    assert (opened.role, opened.session_id, opened.pump_nonce) == (Role.PATIENT, 5, PN)


def test_one_proof_per_pending_session() -> None:
    pump = PumpSession(Role.CLINICIAN, KEY, HN, 9, PN)
    t = transcript(Role.CLINICIAN, 9, HN, PN)
    refused(NakCode.AUTH_FAILED, "proof", pump.verify_proof,
            {"session_id": 8, "proof": host_proof(KEY, t)})  # right proof, wrong session id
    refused(NakCode.AUTH_FAILED, "proof already used", pump.verify_proof,
            {"session_id": 9, "proof": host_proof(KEY, t)})
    assert not pump.established
    pump = PumpSession(Role.CLINICIAN, KEY, HN, 9, PN)
    assert pump.verify_proof({"session_id": 9, "proof": host_proof(KEY, t)}) == {
        "pump_proof": pump_proof(KEY, t)}
    refused(NakCode.AUTH_FAILED, "proof already used", pump.verify_proof,
            {"session_id": 9, "proof": host_proof(KEY, t)})
    pump = PumpSession(Role.CLINICIAN, KEY, HN, 9, PN)
    refused(NakCode.AUTH_FAILED, "proof", pump.verify_proof, {"session_id": 9})


def test_tag_refusal_texts() -> None:
    host, pump = handshake()
    _, wire = host.request(MT.GET_CLOCK)
    frame = parse_frame(wire)
    other = PumpSession(Role.CLINICIAN, KEY, HN, frame.session_id ^ 1, PN)
    refused(NakCode.NO_SESSION, f"session 0x{frame.session_id:08X} unknown", other.verify_tag,
            frame)
    untagged = parse_frame(encode_frame(MT.GET_CLOCK, None, 5))
    untagged.session_id = frame.session_id
    refused(NakCode.BAD_TAG, "tag missing", pump.verify_tag, untagged)
    forged = parse_frame(wire)
    forged.tag = bytes(16)
    refused(NakCode.BAD_TAG, "tag mismatch", pump.verify_tag, forged)


def test_request_classification_texts() -> None:
    host, pump = handshake()
    seq, wire = host.request(MT.GET_CLOCK)
    frame = parse_frame(wire)
    answer = pump.respond(frame, MT.CLOCK, CLOCK_RESPONSE)
    assert pump.check_request(frame) is Verdict.RETRANSMIT
    replay = parse_frame(wire)
    replay.tag = bytes(16)  # same seq, another tag: refused before the tag is even trusted
    with pytest.raises(ProtocolError):
        pump.check_request(replay)
    event = parse_frame(pump.event(MT.ALARM_EVENT, {"alarm": 0, "raised": 1, "priority": 2,
                                                    "time_ms": 5, "active_alarms": 1}))
    refused(NakCode.INVALID_FIELD, "not a request frame", pump.check_request, event)
    host.last_seq = 0
    _, again = host.request(MT.GET_STATUS)  # seq 1 again, another request: another tag
    refused(NakCode.STALE_SEQUENCE, "seq 1 reused", pump.check_request, parse_frame(again))
    assert pump.cached_response == answer and pump.last_seq == seq == 1


def test_seq_zero_is_never_a_retransmission() -> None:
    host, pump = handshake()
    host.last_seq = -1
    _, wire = host.request(MT.GET_CLOCK)
    frame = parse_frame(wire)
    assert frame.seq == 0
    refused(NakCode.STALE_SEQUENCE, "seq 0 <= 0", pump.check_request, frame)


def test_patient_refusal_text() -> None:
    host, pump = handshake(Role.PATIENT)
    _, wire = host.request(MT.SET_CLOCK, {"wall_ms": 1})
    refused(NakCode.FORBIDDEN_FOR_ROLE, "SET_CLOCK not allowed for PATIENT", pump.check_request,
            parse_frame(wire))


def test_respond_remembers_only_fresh_higher_requests() -> None:
    host, pump = handshake()
    _, w1 = host.request(MT.GET_CLOCK)
    _, w2 = host.request(MT.GET_CLOCK)
    f1, f2 = parse_frame(w1), parse_frame(w2)
    out2 = pump.respond(f2, MT.CLOCK, CLOCK_RESPONSE)
    assert (pump.last_seq, pump._last_tag, pump.cached_response) == (2, f2.tag, out2)
    pump.respond(f1, MT.CLOCK, CLOCK_RESPONSE)  # a lower seq never replaces the cache
    assert (pump.last_seq, pump._last_tag, pump.cached_response) == (2, f2.tag, out2)
    _, w3 = host.request(MT.GET_CLOCK)
    f3 = parse_frame(w3)
    pump.respond(f3, MT.NAK, {"code": NakCode.STALE_SEQUENCE, "request_type": MT.GET_CLOCK,
                              "retry_after_ms": 0, "detail": ""}, remember=False)
    assert (pump.last_seq, pump.cached_response) == (2, out2)
    response = parse_frame(pump.respond(f3, MT.CLOCK, CLOCK_RESPONSE))
    assert (response.seq, response.kind, response.session_id) == (3, FrameKind.RESPONSE,
                                                                  pump.session_id)
    host.check_response(response, 3)


def test_host_response_and_event_texts() -> None:
    host, pump = handshake()
    seq, wire = host.request(MT.GET_CLOCK)
    frame = parse_frame(wire)
    bad_tag_nak = parse_frame(encode_frame(MT.NAK, {"code": NakCode.BAD_TAG, "request_type": 0,
                                                    "retry_after_ms": 0, "detail": ""}, seq,
                                           FrameKind.RESPONSE))
    refused(NakCode.BAD_TAG, "pump could not authenticate the request", host.check_response,
            bad_tag_nak, seq)
    no_session = parse_frame(encode_frame(MT.NAK, {"code": NakCode.NO_SESSION, "request_type": 0,
                                                   "retry_after_ms": 0, "detail": ""}, seq,
                                          FrameKind.RESPONSE))
    refused(NakCode.NO_SESSION, "pump reports no session", host.check_response, no_session, seq)
    other_nak = parse_frame(encode_frame(MT.NAK, {"code": NakCode.INVALID_FIELD,
                                                  "request_type": 0, "retry_after_ms": 0,
                                                  "detail": ""}, seq, FrameKind.RESPONSE))
    refused(NakCode.BAD_TAG, "untagged answer inside a session", host.check_response, other_nak,
            seq)
    refused(NakCode.INVALID_FIELD, "not a response frame", host.check_response, frame, seq)
    response = parse_frame(pump.respond(frame, MT.CLOCK, CLOCK_RESPONSE))
    refused(NakCode.STALE_SEQUENCE, f"response seq {seq} != {seq + 1}", host.check_response,
            response, seq + 1)
    host.check_response(response, seq)
    ev = {"alarm": 0, "raised": 1, "priority": 2, "time_ms": 5, "active_alarms": 1}
    e1 = parse_frame(pump.event(MT.ALARM_EVENT, ev))
    assert e1.seq == 1 and e1.kind is FrameKind.EVENT
    refused(NakCode.INVALID_FIELD, "not an event frame", host.check_event, response)
    host.check_event(e1)
    assert host.last_event_seq == 1
    refused(NakCode.STALE_SEQUENCE, "event seq 1 <= 1", host.check_event, e1)
    assert parse_frame(pump.event(MT.ALARM_EVENT, ev)).seq == 2 == pump.last_event_seq


def test_legacy_limiter_window_and_reset() -> None:
    lim = AuthLimiter(max_failures=2, window_ms=1_000, backoff_ms=5_000)
    assert (lim.max_failures, lim.window_ms, lim.backoff_ms) == (2, 1_000, 5_000)
    lim.failure(0)
    lim.failure(1_000)  # the first is out of the window: still one failure
    lim.check(1_000)
    lim.failure(1_999)  # two within the window: back off until 6,999
    err = refused(NakCode.RATE_LIMITED, "authentication back-off", lim.check, 6_998)
    assert err.retry_after_ms == 1
    lim.check(6_999)
    lim.failure(7_000)
    lim.success()
    lim.failure(7_001)
    lim.check(7_001)  # success forgot the failure before it
    defaults = AuthLimiter()
    assert (defaults.max_failures, defaults.window_ms, defaults.backoff_ms) == (3, 60_000, 30_000)


def test_answers_and_events_use_the_layout_of_the_session_minor_version() -> None:
    host, pump = handshake()
    _, wire = host.request(MT.GET_CLOCK)
    frame = parse_frame(wire)
    ack = {"request_type": int(MT.GET_CLOCK), "warnings": 1}
    old = parse_frame(pump.respond(frame, MT.ACK, ack, minor=0))
    assert old.payload == encode_payload(MT.ACK, ack, 0) == bytes([int(MT.GET_CLOCK)])
    new = parse_frame(pump.respond(frame, MT.ACK, ack))
    assert new.payload == encode_payload(MT.ACK, ack, PROTOCOL_MINOR) != old.payload
    ev_old = parse_frame(pump.event(MT.ACK, ack, minor=0))
    ev_new = parse_frame(pump.event(MT.ACK, ack))
    assert (ev_old.payload, ev_new.payload) == (old.payload, new.payload)


def test_the_first_answer_to_a_request_is_the_one_cached() -> None:
    host, pump = handshake()
    _, wire = host.request(MT.GET_CLOCK)
    frame = parse_frame(wire)
    first = pump.respond(frame, MT.CLOCK, CLOCK_RESPONSE)
    pump.respond(frame, MT.CLOCK, {"time_ms": 8, "wall_ms": 43})
    assert pump.cached_response == first
