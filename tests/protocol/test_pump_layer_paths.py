"""The pump's session layer, every path checked by the exact answer it sends and what it counts:
NAK fields, frames that are not requests, requests without a session, IDENTIFY in both layouts,
the handshake's refusals and repeats, in-session refusals, answers, events and closing."""
from __future__ import annotations

import pytest

from protocol import (DEVELOPMENT_KEYS, FrameKind, HostSession, MessageType as MT, NakCode, Role,
                      encode_frame, parse_frame)
from protocol.pump_layer import Execute, PumpSessionLayer, Reply, nak_fields

pytestmark = pytest.mark.requirement("PRO-4", "SEC-2", "SEC-3", "SEC-4", "SEC-5", "SEC-6")

KEY = DEVELOPMENT_KEYS[Role.CLINICIAN]
CLOCK = {"time_ms": 7, "wall_ms": 42}


def layer(refusals: list | None = None, is_request=lambda t: True) -> PumpSessionLayer:
    hook = None if refusals is None else (lambda *a: refusals.append(a))
    return PumpSessionLayer(DEVELOPMENT_KEYS, lambda f: {"identity": "x"}, is_request,
                            on_refusal=hook)


def reply(decision) -> tuple:
    assert isinstance(decision, Reply)
    frame = parse_frame(decision.data)
    return frame, decision.retransmission


def established(lay: PumpSessionLayer, role: Role = Role.CLINICIAN, minor: int = 1) -> HostSession:
    hs = HostSession(role, DEVELOPMENT_KEYS[role], protocol_minor=minor)
    ch, _ = reply(lay.receive(parse_frame(encode_frame(MT.SESSION_OPEN, hs.open_fields())), 0))
    acc, _ = reply(lay.receive(parse_frame(encode_frame(MT.SESSION_PROOF,
                                                        hs.proof_fields(ch.fields))), 1))
    hs.accept(acc.fields)
    return hs


def test_nak_fields_are_clamped_to_the_wire() -> None:
    assert nak_fields(NakCode.BAD_TAG, 0x1FF, "why", 5) == {
        "code": int(NakCode.BAD_TAG), "request_type": 0xFF, "retry_after_ms": 5, "detail": "why"}
    assert nak_fields(NakCode.BAD_TAG, 1, "", -3)["retry_after_ms"] == 0
    assert nak_fields(NakCode.BAD_TAG, 1, "", 2**33)["retry_after_ms"] == 0xFFFFFFFF
    assert nak_fields(NakCode.BAD_TAG, 1, "", 0xFFFFFFFF)["retry_after_ms"] == 0xFFFFFFFF
    assert nak_fields(NakCode.BAD_TAG, 1, "é" * 40)["detail"] == "é" * 24  # 48 UTF-8 bytes


def test_frames_that_are_not_requests_are_ignored_and_counted() -> None:
    lay = layer()
    for kind in (FrameKind.RESPONSE, FrameKind.EVENT):
        assert lay.receive(parse_frame(encode_frame(MT.CLOCK, CLOCK, 1, kind)), 0) is None
    assert lay.stats.ignored == 2 and sum(lay.stats.naks.values()) == 0


def test_requests_without_a_session() -> None:
    refusals: list = []
    lay = layer(refusals)
    nak, again = reply(lay.receive(parse_frame(encode_frame(MT.GET_STATUS, None, 4)), 0))
    assert (nak.msg_type, nak.seq, nak.kind, nak.tag, again) == (MT.NAK, 4, FrameKind.RESPONSE,
                                                                 None, False)
    assert nak.fields == {"code": NakCode.NO_SESSION, "request_type": int(MT.GET_STATUS),
                          "retry_after_ms": 0, "detail": "GET_STATUS needs a session"}
    assert refusals == [(NakCode.NO_SESSION, int(MT.GET_STATUS), "GET_STATUS needs a session",
                         False)]
    assert lay.stats.naks[NakCode.NO_SESSION] == 1
    unknown, _ = reply(lay.receive(parse_frame(encode_frame(0xEE, b"", 5)), 0))
    assert unknown.fields["code"] == NakCode.UNKNOWN_MESSAGE_TYPE and unknown.seq == 5
    bad, _ = reply(lay.receive(parse_frame(encode_frame(MT.SESSION_OPEN, b"\x01", 6)), 0))
    assert bad.fields["code"] == NakCode.MALFORMED_PAYLOAD and bad.seq == 6
    tagged_elsewhere = parse_frame(encode_frame(MT.GET_STATUS, None, 7))
    tagged_elsewhere.session_id, tagged_elsewhere.tag = 0x1234, bytes(16)
    nak, _ = reply(lay.receive(tagged_elsewhere, 0))
    assert nak.fields["code"] == NakCode.NO_SESSION
    assert nak.fields["detail"] == "session 0x00001234 unknown"


@pytest.mark.parametrize("minor", [0, 1])
def test_identify_is_answered_in_the_layout_the_host_sent(minor: int) -> None:
    lay = PumpSessionLayer(DEVELOPMENT_KEYS, lambda f: {
        "model": "m", "serial_number": "s", "firmware_version": "f", "protocol_version": 1,
        "reservoir_capacity_nl": 20_000_000, "weekday_plans": 1, "protocol_minor": 1},
        lambda t: True)
    fields = {"protocol_minor": minor} if minor else {}
    answer, _ = reply(lay.receive(parse_frame(encode_frame(MT.IDENTIFY, fields, 3)), 0))
    assert answer.msg_type == MT.IDENTITY and answer.seq == 3 and answer.tag is None
    assert ("protocol_minor" in answer.fields) is bool(minor)


def test_handshake_refusals_repeats_and_replacement() -> None:
    refusals: list = []
    lay = layer(refusals)
    hs = HostSession(Role.CLINICIAN, KEY)
    no_key = {"role": 7, "host_nonce": bytes(16), "protocol_minor": 1}
    nak, _ = reply(lay.receive(parse_frame(encode_frame(MT.SESSION_OPEN, no_key, 2)), 0))
    assert (nak.fields["code"], nak.fields["detail"]) == (NakCode.AUTH_FAILED, "role")
    nak, _ = reply(lay.receive(parse_frame(encode_frame(
        MT.SESSION_PROOF, {"session_id": 99, "proof": bytes(32)}, 2)), 0))
    assert (nak.fields["code"], nak.fields["detail"]) == (NakCode.AUTH_FAILED, "session_id")
    assert lay.stats.auth_failures == 0 and lay.pending == 0
    ch, _ = reply(lay.receive(parse_frame(encode_frame(MT.SESSION_OPEN, hs.open_fields(), 3)), 0))
    assert ch.msg_type == MT.SESSION_CHALLENGE and ch.seq == 3 and lay.pending == 1
    proof = encode_frame(MT.SESSION_PROOF, hs.proof_fields(ch.fields), 4)
    acc, again = reply(lay.receive(parse_frame(proof), 1))
    assert acc.msg_type == MT.SESSION_ACCEPTED and acc.seq == 4 and not again
    assert lay.stats.sessions == 1 and lay.pending == 0 and lay.session is not None
    assert lay.session.session_id == ch.fields["session_id"] and lay.protocol_minor == 1
    acc2, again = reply(lay.receive(parse_frame(proof), 2))  # a repeat gets the same answer
    assert acc2.raw == acc.raw and again and lay.stats.duplicates == 1
    # a second host replaces the session; a wrong proof is a counted failure
    wrong = HostSession(Role.CLINICIAN, bytes(32))
    ch, _ = reply(lay.receive(parse_frame(encode_frame(MT.SESSION_OPEN, wrong.open_fields())), 3))
    nak, _ = reply(lay.receive(parse_frame(encode_frame(
        MT.SESSION_PROOF, wrong.proof_fields(ch.fields))), 4))
    assert (nak.fields["code"], nak.fields["detail"]) == (NakCode.AUTH_FAILED, "proof")
    assert lay.stats.auth_failures == 1
    assert refusals[-1] == (NakCode.AUTH_FAILED, int(MT.SESSION_PROOF), "proof", False)
    first = lay.session
    other = established(lay)
    assert lay.session is not first and lay.stats.sessions == 2 and other.established


def test_in_session_refusals_answers_events_and_close() -> None:
    refusals: list = []
    lay = layer(refusals, is_request=lambda t: t != MT.STATUS)
    assert lay.event(MT.ACK, {"request_type": 1, "warnings": 0}) is None  # no session yet
    hs = established(lay, Role.PATIENT)
    seq, wire = hs.request(MT.GET_STATUS)
    decision = lay.receive(parse_frame(wire), 5)
    assert isinstance(decision, Execute) and decision.session is lay.session
    out = parse_frame(lay.answer(decision.frame, MT.CLOCK, CLOCK))
    assert (out.msg_type, out.seq, out.fields) == (MT.CLOCK, seq, CLOCK)
    hs.check_response(out, seq)
    again, retrans = reply(lay.receive(parse_frame(wire), 6))
    assert again.raw == out.raw and retrans and lay.stats.duplicates == 1
    # a stale seq: refused, tagged, not remembered
    hs.last_seq = 0
    _, stale = hs.request(MT.GET_CLOCK)
    nak, _ = reply(lay.receive(parse_frame(stale), 7))
    assert nak.fields["code"] == NakCode.STALE_SEQUENCE and nak.tag is not None
    assert lay.session.cached_response == out.raw
    hs.last_seq = seq
    # forbidden for the role: refused, remembered
    seq2, forbidden = hs.request(MT.SET_CLOCK, {"wall_ms": 1})
    nak, _ = reply(lay.receive(parse_frame(forbidden), 8))
    assert (nak.fields["code"], nak.fields["detail"]) == (
        NakCode.FORBIDDEN_FOR_ROLE, "SET_CLOCK not allowed for PATIENT")
    assert refusals[-1] == (NakCode.FORBIDDEN_FOR_ROLE, int(MT.SET_CLOCK),
                            "SET_CLOCK not allowed for PATIENT", True)
    assert lay.session.last_seq == seq2
    # a message that is no request at all, and an unknown type, inside the session
    _, status = hs.request(MT.STATUS, b"")
    nak, _ = reply(lay.receive(parse_frame(status), 9))
    assert (nak.fields["code"], nak.fields["detail"]) == (NakCode.UNKNOWN_MESSAGE_TYPE,
                                                          "STATUS is not a request")
    _, unknown = hs.request(0xEE, b"")
    nak, _ = reply(lay.receive(parse_frame(unknown), 10))
    assert nak.fields["code"] == NakCode.UNKNOWN_MESSAGE_TYPE and nak.tag is not None
    # a malformed payload of a permitted request: refused inside the session
    _, bad = hs.request(MT.PATIENT_BOLUS, b"\x01\x02\x03")
    nak, _ = reply(lay.receive(parse_frame(bad), 11))
    assert nak.fields["code"] == NakCode.MALFORMED_PAYLOAD and nak.tag is not None
    # a wrong tag: nothing can be trusted, the answer is untagged
    forged = parse_frame(hs.request(MT.GET_CLOCK)[1])
    forged.tag = bytes(16)
    nak, _ = reply(lay.receive(forged, 12))
    assert nak.fields["code"] == NakCode.BAD_TAG and nak.tag is None
    ev = parse_frame(lay.event(MT.ACK, {"request_type": 1, "warnings": 0}))
    assert ev.kind is FrameKind.EVENT and ev.seq == 1
    hs.check_event(ev)
    seq3, close = hs.request(MT.SESSION_CLOSE)
    decision = lay.receive(parse_frame(close), 13)
    assert isinstance(decision, Execute)
    lay.answer(decision.frame, MT.ACK, {"request_type": int(MT.SESSION_CLOSE), "warnings": 0})
    assert lay.session is None
    with pytest.raises(Exception) as exc:
        lay.answer(decision.frame, MT.ACK, {"request_type": 1, "warnings": 0})
    assert "the session ended before the answer" in str(exc.value)


def test_an_answer_that_cannot_be_encoded_becomes_internal_error() -> None:
    lay = layer()
    hs = established(lay)
    seq, wire = hs.request(MT.GET_CLOCK)
    decision = lay.receive(parse_frame(wire), 2)
    assert isinstance(decision, Execute)
    nak = parse_frame(lay.answer(decision.frame, MT.CLOCK, {"time_ms": -1, "wall_ms": 0}))
    assert (nak.msg_type, nak.fields["code"], nak.fields["detail"]) == (
        MT.NAK, NakCode.INTERNAL_ERROR, "response encoding")
    hs.check_response(nak, seq)


def test_drop_forgets_the_session_and_pending_handshakes() -> None:
    lay = layer()
    established(lay)
    hs = HostSession(Role.CLINICIAN, KEY)
    lay.receive(parse_frame(encode_frame(MT.SESSION_OPEN, hs.open_fields())), 5)
    assert lay.pending == 1 and lay.session is not None
    lay.drop()
    assert lay.pending == 0 and lay.session is None


def test_given_parts_are_used_and_a_new_layer_has_no_session() -> None:
    from protocol.backoff import AuthBackoff
    from protocol.pump_layer import LayerStats
    backoff, stats = AuthBackoff(), LayerStats()
    lay = PumpSessionLayer(DEVELOPMENT_KEYS, lambda f: {}, lambda t: True, backoff=backoff,
                           stats=stats)
    assert lay.backoff is backoff and lay.stats is stats
    assert lay.session is None and lay.protocol_minor == 0 and lay.pending == 0
    assert nak_fields(NakCode.BAD_TAG, 1, "x")["retry_after_ms"] == 0


def test_handshake_answers_are_responses_and_repeats_are_counted() -> None:
    seen: list = []
    lay = PumpSessionLayer(DEVELOPMENT_KEYS, lambda f: seen.append(f) or {
        "model": "m", "serial_number": "s", "firmware_version": "f", "protocol_version": 1,
        "reservoir_capacity_nl": 1, "weekday_plans": 1, "protocol_minor": 1}, lambda t: True)
    ident = parse_frame(encode_frame(MT.IDENTIFY, {"protocol_minor": 1}, 2))
    answer, _ = reply(lay.receive(ident, 0))
    assert answer.kind is FrameKind.RESPONSE and seen == [ident.fields]
    hs = HostSession(Role.CLINICIAN, KEY)
    open_frame = parse_frame(encode_frame(MT.SESSION_OPEN, hs.open_fields(), 3))
    ch, _ = reply(lay.receive(open_frame, 0))
    assert ch.kind is FrameKind.RESPONSE
    for n in (1, 2):
        again, retrans = reply(lay.receive(open_frame, n))
        assert again.raw == ch.raw and retrans and lay.stats.duplicates == n
    proof = parse_frame(encode_frame(MT.SESSION_PROOF, hs.proof_fields(ch.fields), 4))
    acc, _ = reply(lay.receive(proof, 3))
    assert acc.kind is FrameKind.RESPONSE
    for n in (3, 4):
        reply(lay.receive(proof, 4))
        assert lay.stats.duplicates == n


def test_wrong_proofs_count_and_the_back_off_answer_says_how_long() -> None:
    refusals: list = []
    lay = layer(refusals)
    failures = 0
    for t in range(0, 10):
        wrong = HostSession(Role.CLINICIAN, bytes(32))
        ch, _ = reply(lay.receive(parse_frame(encode_frame(MT.SESSION_OPEN, wrong.open_fields())),
                                  t))
        nak, _ = reply(lay.receive(parse_frame(encode_frame(
            MT.SESSION_PROOF, wrong.proof_fields(ch.fields))), t))
        if nak.fields["code"] == NakCode.AUTH_FAILED:
            failures += 1
            assert nak.fields["retry_after_ms"] == lay.backoff.retry_after_ms((1, 0), t)
            continue
        assert (nak.fields["code"], nak.fields["detail"]) == (NakCode.RATE_LIMITED,
                                                              "authentication back-off")
        assert nak.fields["retry_after_ms"] == lay.backoff.may_verify((1, 0), t, t) > 0
        break
    assert failures == lay.stats.auth_failures == 3  # the default burst
    assert lay.stats.naks[NakCode.AUTH_FAILED] == 3 and lay.stats.naks[NakCode.RATE_LIMITED] == 1
    assert any(r[0] == NakCode.AUTH_FAILED and r[1] == int(MT.SESSION_PROOF) for r in refusals)


def test_session_answers_follow_its_minor_version_and_only_an_acked_close_ends_it() -> None:
    refusals: list = []
    lay = layer(refusals)
    hs = established(lay, minor=0)
    assert lay.protocol_minor == 0
    seq, wire = hs.request(MT.GET_CLOCK)
    decision = lay.receive(parse_frame(wire), 2)
    assert isinstance(decision, Execute)
    ack = parse_frame(lay.answer(decision.frame, MT.ACK, {"request_type": int(MT.GET_CLOCK),
                                                         "warnings": 1}))
    assert ack.payload == bytes([int(MT.GET_CLOCK)])  # the 1.0 ACK: no warnings byte
    assert lay.session is not None  # an ACK to anything but SESSION_CLOSE keeps the session
    ev = parse_frame(lay.event(MT.ACK, {"request_type": 1, "warnings": 1}))
    assert ev.payload == b"\x01"
    # a stale request: tagged NAK, no retry time, reported as authenticated
    hs.last_seq = 0
    _, stale = hs.request(MT.GET_STATUS)
    nak, _ = reply(lay.receive(parse_frame(stale), 3))
    assert (nak.fields["code"], nak.fields["retry_after_ms"]) == (NakCode.STALE_SEQUENCE, 0)
    assert refusals[-1][0] == NakCode.STALE_SEQUENCE and refusals[-1][3] is True
    hs.last_seq = seq
    # the session's id on an untagged frame: its tag is missing, not its session
    untagged = parse_frame(encode_frame(MT.GET_STATUS, None, seq + 1))
    untagged.session_id = lay.session.session_id
    nak, _ = reply(lay.receive(untagged, 4))
    assert (nak.fields["code"], nak.fields["detail"]) == (NakCode.BAD_TAG, "tag missing")
    assert lay.stats.naks[NakCode.STALE_SEQUENCE] == 1 and lay.stats.naks[NakCode.BAD_TAG] == 1
    seq2, wire2 = hs.request(MT.GET_CLOCK)
    decision = lay.receive(parse_frame(wire2), 5)
    refused = parse_frame(lay.refuse(decision.frame, NakCode.INVALID_STATE, "why"))
    assert refused.fields["retry_after_ms"] == 0 and refused.seq == seq2
    for n in (1, 2):
        again, retrans = reply(lay.receive(parse_frame(wire2), 5 + n))
        assert retrans and again.raw == refused.raw and lay.stats.duplicates == n


def test_answering_after_the_session_ended_is_refused_with_no_session() -> None:
    from protocol import ProtocolError
    lay = layer()
    hs = established(lay)
    _, wire = hs.request(MT.GET_CLOCK)
    decision = lay.receive(parse_frame(wire), 2)
    lay.drop()
    with pytest.raises(ProtocolError) as exc:
        lay.answer(decision.frame, MT.CLOCK, CLOCK)
    assert (exc.value.code, exc.value.detail) == (NakCode.NO_SESSION,
                                                  "the session ended before the answer")
