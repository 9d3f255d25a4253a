"""One test per security rule of the device (PROTOCOL.md sections 3-7): whatever arrives, a
frame that is unauthenticated, forged, replayed, forbidden, stale or malformed changes nothing,
is answered as the protocol says, and the pump keeps serving."""
from __future__ import annotations

import os
import random
import struct

import pytest

import hal
from firmware_sim.device import VirtualPump, start_virtual_pump
from protocol import (DEVELOPMENT_KEYS, FrameKind, HostSession, NakCode, Role, crc16,
                      encode_frame)
from protocol import MessageType as MT

from .conftest import snapshot
from .host import RawHost, nak, ok, program

pytestmark = pytest.mark.requirement(
    "SEC-2", "SEC-3", "SEC-4", "SEC-5", "SEC-6", "SAF-7", "PRO-3", "PRO-8")

SET_CLOCK = {"wall_ms": 123_456_789}


def _resign(frame: bytes, **header: int) -> bytes:
    """``frame`` with header fields replaced and a recomputed CRC (the tag is left as is)."""
    body = bytearray(frame[:-2])
    if "session_id" in header:
        body[4:8] = struct.pack(">I", header["session_id"])
    if "seq" in header:
        body[8:12] = struct.pack(">I", header["seq"])
    if "flip_tag" in header:
        body[-1] ^= 0x01
    if "payload_byte" in header:
        body[15] ^= header["payload_byte"]
    return bytes(body) + crc16(bytes(body)).to_bytes(2, "big")


@pytest.fixture
def programmed(vp: VirtualPump, clinician: RawHost) -> RawHost:
    program(clinician)
    return clinician


def test_no_session(vp: VirtualPump, host: RawHost) -> None:
    before = snapshot(vp)
    for mt, fields in ((MT.GET_STATUS, None), (MT.START_THERAPY, None), (MT.SET_CLOCK, SET_CLOCK)):
        r = host.untagged(mt, fields, seq=7)
        assert r.tag is None and r.session_id == 0 and r.seq == 7
        assert nak(r)["code"] == NakCode.NO_SESSION and r.fields["request_type"] == mt
    assert snapshot(vp) == before


def test_unknown_session_id(vp: VirtualPump, programmed: RawHost) -> None:
    before = snapshot(vp)
    _, data = programmed.build(MT.STOP_THERAPY)
    programmed.send(_resign(data, session_id=0xDEADBEEF))
    r = programmed.response()
    assert r.tag is None and nak(r)["code"] == NakCode.NO_SESSION
    assert snapshot(vp) == before


def test_wrong_key_and_budget_of_verdicts() -> None:
    now = [1000.0]  # the device's monotonic clock (s), moved by the test
    with start_virtual_pump(monotonic=lambda: now[0]) as p:
        link = hal.open(p.url)
        host = RawHost.on_link(link)
        for _ in range(3):
            r = nak(host.handshake(Role.CLINICIAN, key=os.urandom(32)))
            assert r["code"] == NakCode.AUTH_FAILED
        assert r["retry_after_ms"] == 2_000  # the third failure starts the back-off
        blocked = nak(host.handshake(Role.CLINICIAN))  # a handshake begun since must wait
        assert blocked["code"] == NakCode.RATE_LIMITED and blocked["retry_after_ms"] == 2_000
        # three more, one each 2 s, spend the budget of six; then one each period
        for expected in (2_000, 2_000, p.device.limiter.long.period_ms - 6_000):
            now[0] += blocked["retry_after_ms"] / 1000
            r = nak(host.handshake(Role.CLINICIAN, key=os.urandom(32)))  # one more failure ...
            assert r["code"] == NakCode.AUTH_FAILED and r["retry_after_ms"] == expected
            blocked = nak(host.handshake(Role.CLINICIAN))  # ... and a handshake begun since waits
            assert blocked["code"] == NakCode.RATE_LIMITED
            assert blocked["retry_after_ms"] == expected
        assert p.device.session is None
        now[0] += blocked["retry_after_ms"] / 1000
        ok(host.handshake(Role.CLINICIAN), MT.SESSION_ACCEPTED)  # a token came back
        for _ in range(2):
            assert nak(host.handshake(Role.PATIENT, key=bytes(32)))["code"] == NakCode.AUTH_FAILED
        assert p.device.stats.auth_failures == 8
        ok(host.request(MT.GET_STATUS), MT.STATUS)  # the established session was never touched
        link.close()


def test_the_back_off_is_the_device_profiles(tmp_path) -> None:
    """The budgets of wrong verdicts come from the profile's [security] table: a pump whose
    profile allows one wrong verdict at once, then one per 5 s, backs off after the first."""
    from firmware_sim import load_profile
    from tests.firmware_sim.helpers import write_profile
    profile = load_profile(write_profile(tmp_path, auth_burst="1", auth_burst_period_ms="5_000",
                                         auth_budget="1", auth_period_ms="5_000"))
    now = [1000.0]
    with start_virtual_pump(profile=profile, monotonic=lambda: now[0]) as p:
        link = hal.open(p.url)
        host = RawHost.on_link(link)
        r = nak(host.handshake(Role.CLINICIAN, key=os.urandom(32)))
        assert r["code"] == NakCode.AUTH_FAILED and r["retry_after_ms"] == 5_000
        assert nak(host.handshake(Role.CLINICIAN))["code"] == NakCode.RATE_LIMITED
        now[0] += 5
        ok(host.handshake(Role.CLINICIAN), MT.SESSION_ACCEPTED)
        link.close()


def test_guesses_on_the_same_link_cannot_keep_the_key_holder_out() -> None:
    """A guesser that sends a wrong proof each time the back-off ends used to keep the
    clinician out for good; a handshake under way now completes at the guesser's next verdict."""
    now = [1000.0]
    with start_virtual_pump(monotonic=lambda: now[0]) as p:
        link = hal.open(p.url)
        wire = RawHost.on_link(link)  # guesser and key holder share the line
        for _ in range(3):
            assert nak(wire.handshake(Role.CLINICIAN, key=os.urandom(32)))["code"] == NakCode.AUTH_FAILED
        holder = HostSession(Role.CLINICIAN, DEVELOPMENT_KEYS[Role.CLINICIAN])
        ch = ok(wire.untagged(MT.SESSION_OPEN, holder.open_fields()), MT.SESSION_CHALLENGE)
        proof = holder.proof_fields(ch)
        waiting = nak(wire.untagged(MT.SESSION_PROOF, proof))
        assert waiting["code"] == NakCode.RATE_LIMITED and waiting["retry_after_ms"] == 2_000
        now[0] += 2.0  # the back-off ends: the guesser strikes first ...
        assert nak(wire.handshake(Role.CLINICIAN, key=os.urandom(32)))["code"] == NakCode.AUTH_FAILED
        ok(wire.untagged(MT.SESSION_PROOF, proof), MT.SESSION_ACCEPTED)  # ... the holder is in
        assert p.device.session is not None and p.device.session.role is Role.CLINICIAN
        link.close()


def test_proof_for_another_session_and_second_attempt(host: RawHost, vp: VirtualPump) -> None:
    hs = HostSession(Role.PATIENT, DEVELOPMENT_KEYS[Role.PATIENT])
    ch = ok(host.untagged(MT.SESSION_OPEN, hs.open_fields()), MT.SESSION_CHALLENGE)
    proof = hs.proof_fields(ch)
    wrong_id = dict(proof, session_id=(proof["session_id"] + 1) & 0xFFFFFFFF or 1)
    assert nak(host.untagged(MT.SESSION_PROOF, wrong_id))["code"] == NakCode.AUTH_FAILED
    assert vp.device.stats.auth_failures == 0  # no challenge of that id: no key was tried
    wrong = dict(proof, proof=bytes(32))
    assert nak(host.untagged(MT.SESSION_PROOF, wrong))["code"] == NakCode.AUTH_FAILED
    # one verified attempt per challenge: the right proof now fails too
    assert nak(host.untagged(MT.SESSION_PROOF, proof))["code"] == NakCode.AUTH_FAILED
    assert vp.device.session is None and vp.device.stats.auth_failures == 1


def test_role_without_key() -> None:
    with start_virtual_pump(keys={Role.CLINICIAN: DEVELOPMENT_KEYS[Role.CLINICIAN]}) as p:
        link = hal.open(p.url)
        host = RawHost.on_link(link)
        assert nak(host.handshake(Role.PATIENT))["code"] == NakCode.AUTH_FAILED
        ok(host.handshake(Role.CLINICIAN), MT.SESSION_ACCEPTED)
        link.close()


def test_patient_may_not_send_clinician_commands(vp: VirtualPump, programmed: RawHost) -> None:
    patient = programmed
    ok(patient.handshake(Role.PATIENT), MT.SESSION_ACCEPTED)
    before = snapshot(vp)
    forbidden = [(MT.STOP_THERAPY, None), (MT.SET_CLOCK, SET_CLOCK),
                 (MT.CLINICIAN_BOLUS, {"volume_nl": 1000, "dose_ug": 0, "duration_ms": 60_000}),
                 (MT.REFILL_BEGIN, None), (MT.SET_DRUG, {"drug_name": "baclofen",
                                                         "concentration_ug_per_ml": 500}),
                 (MT.INJECT_FAULT, {"fault": 1, "action": 0, "value": 0}), (MT.CANCEL_BOLUS, None)]
    for mt, fields in forbidden:
        r = patient.request(mt, fields)
        assert r.tag is not None and nak(r)["code"] == NakCode.FORBIDDEN_FOR_ROLE
    assert snapshot(vp) == before
    ok(patient.request(MT.GET_STATUS), MT.STATUS)
    ok(patient.request(MT.PATIENT_BOLUS), MT.PATIENT_BOLUS_RESULT)


def test_replayed_frame_is_stale(vp: VirtualPump, programmed: RawHost) -> None:
    seq, stop = programmed.build(MT.STOP_THERAPY)
    programmed.send(stop)
    ok(programmed.expect(seq))
    ok(programmed.request(MT.START_THERAPY))
    before = snapshot(vp)
    programmed.send(stop)  # an attacker replays the captured STOP
    r = programmed.response()
    assert r.tag is not None and r.seq == seq
    assert nak(r)["code"] == NakCode.STALE_SEQUENCE
    assert snapshot(vp) == before


def test_same_seq_other_content_is_stale(vp: VirtualPump, programmed: RawHost) -> None:
    seq, data = programmed.build(MT.SET_CLOCK, SET_CLOCK)
    programmed.send(data)
    ok(programmed.expect(seq))
    before = snapshot(vp)
    other = encode_frame(MT.SET_CLOCK, {"wall_ms": 42}, seq, FrameKind.REQUEST,
                         session=programmed.session)
    programmed.send(other)
    assert nak(programmed.expect(seq))["code"] == NakCode.STALE_SEQUENCE
    assert snapshot(vp) == before
    programmed.send(data)  # the genuine retransmission still gets the cached ACK
    ok(programmed.expect(seq))
    assert snapshot(vp) == before


def test_old_sequence_numbers_are_refused(vp: VirtualPump, programmed: RawHost) -> None:
    sess = programmed.session
    assert sess is not None
    sess.last_seq = 1000
    ok(programmed.request(MT.GET_STATUS), MT.STATUS)
    before = snapshot(vp)
    for old in (0, 1, 500, 1000):
        frame = encode_frame(MT.STOP_THERAPY, None, old, FrameKind.REQUEST, session=sess)
        programmed.send(frame)
        assert nak(programmed.response())["code"] == NakCode.STALE_SEQUENCE
    assert snapshot(vp) == before


def test_forged_tag(vp: VirtualPump, programmed: RawHost) -> None:
    before = snapshot(vp)
    seq, data = programmed.build(MT.STOP_THERAPY)
    programmed.send(_resign(data, flip_tag=1))
    r = programmed.response()
    assert r.tag is None and nak(r)["code"] == NakCode.BAD_TAG
    # a changed payload under the old tag, and a frame without its tag, are forgeries too
    seq2, data2 = programmed.build(MT.SET_CLOCK, SET_CLOCK)
    programmed.send(_resign(data2, payload_byte=0x40))
    assert nak(programmed.response())["code"] == NakCode.BAD_TAG
    untagged = encode_frame(MT.STOP_THERAPY, None, seq2 + 1, FrameKind.REQUEST)
    programmed.send(_resign(untagged, session_id=programmed.session.session_id))
    assert nak(programmed.response())["code"] == NakCode.BAD_TAG
    assert snapshot(vp) == before
    programmed.send(data)  # nothing was remembered: the genuine frame still executes
    ok(programmed.expect(seq))


def test_oversize_length_is_never_answered_and_pump_keeps_serving(
        vp: VirtualPump, programmed: RawHost) -> None:
    before = snapshot(vp)
    header = b"\xa5\x5a\x01\x00" + bytes(8) + bytes([MT.GET_STATUS]) + struct.pack(">H", 60_000)
    programmed.send(header + os.urandom(3000))
    assert programmed.no_response(0.3)
    assert vp.device.decoder.stats.oversize >= 1
    assert snapshot(vp) == before
    ok(programmed.request(MT.GET_STATUS), MT.STATUS)


def test_malformed_and_unknown_frames(vp: VirtualPump, programmed: RawHost) -> None:
    sess = programmed.session
    assert sess is not None
    before = snapshot(vp)
    seq = sess.next_seq()
    bad = encode_frame(MT.SET_CLOCK, b"\x01\x02", seq, FrameKind.REQUEST, session=sess)
    programmed.send(bad)
    r = programmed.expect(seq)
    assert nak(r)["code"] == NakCode.MALFORMED_PAYLOAD
    programmed.send(bad)  # remembered: the retransmission gets the same NAK
    assert programmed.expect(seq).raw == r.raw
    seq = sess.next_seq()
    programmed.send(encode_frame(0x77, b"", seq, FrameKind.REQUEST, session=sess))
    assert nak(programmed.expect(seq))["code"] == NakCode.UNKNOWN_MESSAGE_TYPE
    seq = sess.next_seq()
    programmed.send(encode_frame(MT.ACK, {"request_type": 1}, seq, FrameKind.REQUEST,
                                 session=sess))
    assert nak(programmed.expect(seq))["code"] == NakCode.UNKNOWN_MESSAGE_TYPE
    steps = bytes([0xFF, 49]) + bytes(6 * 49)
    seq = sess.next_seq()
    programmed.send(encode_frame(MT.SET_SCHEDULE, steps, seq, FrameKind.REQUEST, session=sess))
    assert nak(programmed.expect(seq))["code"] == NakCode.TOO_MANY_STEPS
    # responses and events sent to the pump are ignored
    programmed.send(encode_frame(MT.ACK, {"request_type": 1}, 5, FrameKind.RESPONSE))
    programmed.send(encode_frame(MT.STATUS_PUSH, b"", 5, FrameKind.EVENT))
    assert programmed.no_response(0.2)
    assert vp.device.stats.ignored == 2
    assert snapshot(vp) == before


def test_garbage_storm(vp: VirtualPump, programmed: RawHost) -> None:
    rng = random.Random(1234)
    valid = [encode_frame(MT.STOP_THERAPY, None, 99, FrameKind.REQUEST),
             encode_frame(MT.IDENTIFY, None, 3, FrameKind.REQUEST)]
    before = snapshot(vp)
    for _ in range(200):
        kind = rng.random()
        if kind < 0.5:
            chunk = rng.randbytes(rng.randint(1, 400))
        elif kind < 0.8:
            chunk = bytes(rng.choice([0xA5, 0x5A, 0x01, 0x00, 0xFF])
                          for _ in range(rng.randint(1, 64)))
        else:  # a valid frame with bit errors
            frame = bytearray(rng.choice(valid))
            frame[rng.randrange(len(frame))] ^= 1 << rng.randrange(8)
            chunk = bytes(frame)
        programmed.send(chunk)
    programmed.send(bytes(2000))  # flush any false candidate
    while not programmed.no_response(0.3):
        programmed.responses.clear()
    # stray decodable frames (e.g. an untouched IDENTIFY) may have been answered; nothing changed
    assert snapshot(vp) == before
    st = ok(programmed.request(MT.GET_STATUS), MT.STATUS)
    assert st["state"] == 1  # still INFUSING
    assert vp.device.decoder.stats.skipped_bytes > 10_000
