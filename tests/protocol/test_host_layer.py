"""The host's session layer on its own: which frame read while a request is in flight is its
answer, which is only an untrusted hint, when to retransmit and what to do when a request's fate
is unknown."""
from __future__ import annotations

import pytest

from protocol import FrameKind, MessageType, NakCode, encode_frame, parse_frame
from protocol.host_layer import (IDEMPOTENT, UNTRUSTED_CODES, Exchange, Recovery, Verdict,
                                 recovery)

from .test_session import CLOCK_RESPONSE, handshake

pytestmark = pytest.mark.requirement("PRO-4", "SEC-4")

MT = MessageType


def nak(code: NakCode, seq: int):
    return parse_frame(encode_frame(MT.NAK, {"code": code, "request_type": 0,
                                             "retry_after_ms": 0, "detail": ""}, seq,
                                    FrameKind.RESPONSE))


def test_retransmit_until_the_retries_are_used_up() -> None:
    ex = Exchange(MT.GET_CLOCK, 1, None, retries=2)
    assert (ex.attempts, ex.deadline_ms, ex.untrusted, ex.invalid) == (0, 0, {}, None)
    ex.sent(1_000, 250)
    assert (ex.attempts, ex.deadline_ms) == (1, 1_250)
    assert ex.on_timeout() is True
    ex.sent(1_250, 250)
    assert ex.on_timeout() is True
    ex.sent(1_500, 300)
    assert (ex.attempts, ex.deadline_ms) == (3, 1_800)
    assert ex.on_timeout() is False


def test_handshake_answers_are_untagged_and_matched_by_seq() -> None:
    ex = Exchange(MT.SESSION_OPEN, 0, None, retries=0)
    challenge = parse_frame(encode_frame(MT.SESSION_CHALLENGE, {"session_id": 5,
                                                                "pump_nonce": bytes(16)}, 0,
                                         FrameKind.RESPONSE))
    assert ex.classify(challenge) == (Verdict.ANSWER, "")
    late = parse_frame(encode_frame(MT.SESSION_CHALLENGE, {"session_id": 5,
                                                           "pump_nonce": bytes(16)}, 3,
                                    FrameKind.RESPONSE))
    assert ex.classify(late) == (Verdict.LATE, "seq 3 != 0")
    host, pump = handshake()
    _, wire = host.request(MT.GET_CLOCK)
    tagged = parse_frame(pump.respond(parse_frame(wire), MT.CLOCK, CLOCK_RESPONSE))
    ex = Exchange(MT.SESSION_OPEN, tagged.seq, None, retries=0)
    assert ex.classify(tagged) == (Verdict.INVALID,
                                   "CLOCK seq 1: tagged answer to a handshake frame")
    assert ex.invalid == "CLOCK seq 1: tagged answer to a handshake frame"
    with_id = parse_frame(encode_frame(MT.SESSION_CHALLENGE, {"session_id": 5,
                                                              "pump_nonce": bytes(16)}, 0,
                                       FrameKind.RESPONSE))
    with_id.session_id = 9
    assert Exchange(MT.SESSION_OPEN, 0, None, 0).classify(with_id)[0] is Verdict.INVALID


def test_session_answers_hints_and_forgeries() -> None:
    host, pump = handshake()
    seq, wire = host.request(MT.GET_CLOCK)
    request = parse_frame(wire)
    ex = Exchange(MT.GET_CLOCK, seq, host, retries=1)
    assert ex.classify(nak(NakCode.NO_SESSION, seq)) == (Verdict.UNTRUSTED, "untagged NO_SESSION")
    assert ex.classify(nak(NakCode.NO_SESSION, seq)) == (Verdict.UNTRUSTED, "untagged NO_SESSION")
    assert ex.untrusted == {NakCode.NO_SESSION: 2}
    assert ex.only_untrusted_no_session is True
    assert ex.classify(nak(NakCode.BAD_TAG, seq)) == (Verdict.UNTRUSTED, "untagged BAD_TAG")
    assert ex.untrusted == {NakCode.NO_SESSION: 2, NakCode.BAD_TAG: 1}
    verdict, why = ex.classify(nak(NakCode.INVALID_FIELD, seq))
    assert (verdict, why) == (Verdict.INVALID,
                              "NAK seq 1: BAD_TAG: untagged answer inside a session")
    assert ex.only_untrusted_no_session is False  # something else came back too
    assert ex.classify(request) == (Verdict.INVALID,
                                    "GET_CLOCK seq 1: INVALID_FIELD: not a response frame")
    answer = parse_frame(pump.respond(request, MT.CLOCK, CLOCK_RESPONSE))
    assert ex.classify(answer) == (Verdict.ANSWER, "")


def test_only_bad_tag_hints_are_not_a_lost_session() -> None:
    host, _ = handshake()
    seq, _ = host.request(MT.GET_CLOCK)
    ex = Exchange(MT.GET_CLOCK, seq, host, retries=0)
    assert ex.only_untrusted_no_session is False
    ex.classify(nak(NakCode.BAD_TAG, seq))
    assert ex.only_untrusted_no_session is False
    assert UNTRUSTED_CODES == {NakCode.NO_SESSION, NakCode.BAD_TAG}


def test_recovery_never_repeats_a_non_idempotent_request_blindly() -> None:
    assert recovery(MT.GET_STATUS, True) is Recovery.REISSUE
    assert recovery(MT.SET_SCHEDULE, True) is Recovery.REISSUE
    for request in (MT.CLINICIAN_BOLUS, MT.START_THERAPY, MT.STOP_THERAPY, MT.REFILL_COMPLETE):
        assert request not in IDEMPOTENT
        assert recovery(request, True) is Recovery.READ_BACK
        assert recovery(request, False) is Recovery.REISSUE
