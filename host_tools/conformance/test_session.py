"""PROTOCOL.md sections 4-5 and 7: handshake, tags, sessions, sequence numbers, replay and
retransmission (exactly once)."""
from __future__ import annotations

import os

import pytest

from protocol import EventKind, FrameKind, MessageType as MT, NakCode, Role, encode_frame

from .conftest import status
from .wire import WireHost, nak, ok

pytestmark = pytest.mark.requirement("SEC-2", "SEC-3", "SEC-4", "PRO-4", "PRO-8", "SAF-6",
                                     "SAF-7")


def test_handshake_both_roles(bare: WireHost) -> None:
    """Both roles open a session; the pump proves it holds the key (checked by the host)."""
    ok(bare.handshake(Role.PATIENT), MT.SESSION_ACCEPTED)
    ok(bare.handshake(Role.CLINICIAN), MT.SESSION_ACCEPTED)
    assert status(bare)["state"] is not None


def test_wrong_key_is_refused(bare: WireHost) -> None:
    """A proof made with a wrong key gets AUTH_FAILED; the right key then succeeds."""
    nak(bare.handshake(Role.CLINICIAN, key=os.urandom(32)), NakCode.AUTH_FAILED)
    ok(bare.handshake(Role.CLINICIAN), MT.SESSION_ACCEPTED)


def test_requests_without_a_session_get_no_session(bare: WireHost) -> None:
    """Untagged GET_STATUS (no session) and a tagged one naming an unknown session."""
    nak(bare.untagged(MT.GET_STATUS, None, 1), NakCode.NO_SESSION)
    ok(bare.handshake(), MT.SESSION_ACCEPTED)
    assert bare.session is not None
    real = bare.session.session_id
    bare.session.session_id = real ^ 0x5A5A5A5A
    seq, data = bare.build(MT.GET_STATUS)
    bare.session.session_id = real
    bare.send(data)
    r = bare.response()
    nak(r, NakCode.NO_SESSION)
    assert r.tag is None


def test_untagged_and_forged_requests_get_bad_tag(wire: WireHost) -> None:
    """In a session: an untagged request and one with a flipped tag byte get an untagged
    BAD_TAG and change nothing."""
    before = status(wire)
    assert wire.session is not None
    seq, data = wire.build(MT.STOP_THERAPY)
    forged = bytearray(data)
    forged[-3] ^= 0x01  # last tag byte
    from protocol import crc16
    forged[-2:] = crc16(bytes(forged[:-2])).to_bytes(2, "big")
    wire.send(bytes(forged))
    r = wire.response()
    nak(r, NakCode.BAD_TAG)
    assert r.tag is None
    untagged = bytearray(encode_frame(MT.STOP_THERAPY, None, seq + 1, FrameKind.REQUEST))
    untagged[4:8] = wire.session.session_id.to_bytes(4, "big")
    untagged[-2:] = crc16(bytes(untagged[:-2])).to_bytes(2, "big")
    wire.send(bytes(untagged))
    nak(wire.response(), NakCode.BAD_TAG)
    after = status(wire)
    assert after["state"] == before["state"], "a request with a bad tag was executed"


def test_retransmission_is_answered_byte_for_byte_and_executed_once(wire: WireHost) -> None:
    """The same bytes again: the same answer, byte for byte; the log grows once."""
    count = wire.log_count()
    seq, data = wire.build(MT.SET_CLOCK, {"wall_ms": 1_700_000_000_000})
    wire.send(data)
    first = wire.expect(seq)
    ok(first)
    for _ in range(3):
        wire.send(data)
        again = wire.response()
        assert again.raw == first.raw, "a retransmission got another answer"
    assert wire.executed(count, EventKind.CLOCK_SET) == 1, \
        "a retransmitted command was executed again"


def test_replay_and_reused_seq_are_stale(wire: WireHost) -> None:
    """An older request again (replay), and the last seq with other content: STALE_SEQUENCE,
    nothing executed."""
    s1, d1 = wire.build(MT.SET_CLOCK, {"wall_ms": 1_700_000_000_000})
    wire.send(d1)
    ok(wire.expect(s1))
    s2, d2 = wire.build(MT.GET_STATUS)
    wire.send(d2)
    ok(wire.expect(s2), MT.STATUS)
    count = wire.log_count()
    wire.send(d1)  # replay
    nak(wire.expect(s1), NakCode.STALE_SEQUENCE)
    assert wire.session is not None
    last = wire.session.last_seq
    wire.session.last_seq = last - 1  # reuse the last seq with other content
    s3, d3 = wire.build(MT.SET_CLOCK, {"wall_ms": 1_600_000_000_000})
    assert s3 == last
    wire.send(d3)
    nak(wire.expect(s3), NakCode.STALE_SEQUENCE)
    assert wire.executed(count, EventKind.CLOCK_SET) == 0, "a stale request was executed"


def test_session_close(wire: WireHost) -> None:
    """SESSION_CLOSE is acknowledged; the session is then unknown."""
    ok(wire.request(MT.SESSION_CLOSE))
    seq, data = wire.build(MT.GET_STATUS)
    wire.send(data)
    nak(wire.response(), NakCode.NO_SESSION)
