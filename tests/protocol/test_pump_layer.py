"""The pump's session layer, pure: handshakes, back-off accounts and floods, time passed in.

The lockout reproductions: a wrong proof each time the back-off ends, or a flood of
SESSION_OPEN frames, used to keep the key holder out for good (0 sessions out of 45 attempts in
45 s); now the key holder gets in at the guesser's next verdict, while a guesser gets no more
wrong-proof verdicts than its budget (tests/protocol/test_backoff.py).
"""
from __future__ import annotations

import os

import pytest

from protocol import DEVELOPMENT_KEYS, FrameKind, HostSession, NakCode, Role, encode_frame, parse_frame
from protocol import MessageType as MT
from protocol.backoff import AuthBackoff
from protocol.pending import PendingPool
from protocol.pump_layer import Execute, PumpSessionLayer, Reply

KEY = DEVELOPMENT_KEYS[Role.CLINICIAN]


def layer(**kw) -> PumpSessionLayer:
    return PumpSessionLayer(DEVELOPMENT_KEYS, lambda f: {}, lambda t: True, **kw)


def send(lay: PumpSessionLayer, msg_type: MT, fields: dict, now_ms: int, seq: int = 0):
    decision = lay.receive(parse_frame(encode_frame(msg_type, fields, seq)), now_ms)
    assert isinstance(decision, Reply)
    return parse_frame(decision.data)


class Host:
    """One party on the shared link: the key holder (right key) or a guesser (random key)."""

    def __init__(self, lay: PumpSessionLayer, key: bytes) -> None:
        self.lay, self.key = lay, key
        self.hs: HostSession | None = None
        self.proof: dict | None = None

    def open(self, now_ms: int) -> bool:
        self.hs = HostSession(Role.CLINICIAN, self.key)
        ch = send(self.lay, MT.SESSION_OPEN, self.hs.open_fields(), now_ms)
        if ch.msg_type != MT.SESSION_CHALLENGE:
            return False
        self.proof = self.hs.proof_fields(ch.fields)
        return True

    def prove(self, now_ms: int):
        """Send the proof of the pending handshake; (accepted?, answer fields)."""
        assert self.proof is not None
        answer = send(self.lay, MT.SESSION_PROOF, self.proof, now_ms)
        if answer.msg_type == MT.SESSION_ACCEPTED:
            self.proof = None
            assert self.hs is not None
            self.hs.accept(answer.fields)
            return True, answer.fields
        if answer.fields["code"] != NakCode.RATE_LIMITED:
            self.proof = None  # the challenge was used up
        return False, answer.fields

    def handshake(self, now_ms: int):
        if self.proof is None and not self.open(now_ms):
            return False, {}
        return self.prove(now_ms)


def test_a_guess_each_time_the_back_off_ends_no_longer_locks_the_key_holder_out() -> None:
    lay = layer()
    guesser, holder = Host(lay, os.urandom(32)), Host(lay, KEY)
    sessions = guesses = 0
    next_guess = 0
    first_session_s = None
    for second in range(45):  # the key holder tries once a second for 45 s
        t = second * 1000
        while next_guess <= t + 999:  # the guesser strikes the moment each back-off ends
            ok, answer = guesser.handshake(next_guess)
            assert not ok
            if answer.get("code") == NakCode.AUTH_FAILED:
                guesses += 1
            wait = lay.backoff.retry_after_ms((int(Role.CLINICIAN), 0), next_guess)
            next_guess += max(wait, 1)
        ok, _ = holder.handshake(t + 500)
        sessions += ok
        if ok:
            first_session_s = second if first_session_s is None else first_session_s
            lay.session = None  # the key holder closes its session and comes back later
    assert first_session_s is not None and first_session_s <= 3  # was 0 of 45 in 45 s
    assert sessions >= 4  # one each time the guesser's next verdict comes
    # the guesser's budget: six verdicts (three at once, then one each 2 s), then one per
    # period, and one in advance
    assert guesses <= 6 + 1 + 45_000 // lay.backoff.long.period_ms


def test_key_holder_mid_handshake_completes_though_a_guess_fails_meanwhile() -> None:
    lay = layer()
    guesser, holder = Host(lay, os.urandom(32)), Host(lay, KEY)
    for i in range(3):
        assert not guesser.handshake(i)[0]
    assert holder.open(10)  # its challenge comes while the account backs off ...
    assert holder.prove(11)[1]["code"] == NakCode.RATE_LIMITED  # ... so its proof must wait
    assert not guesser.handshake(2_100)[0]  # the next guess, right when the back-off ends ...
    assert holder.prove(2_200)[0]  # ... cannot cancel the handshake already under way


def test_a_burst_of_collected_challenges_buys_two_periods_at_most() -> None:
    lay = layer()
    guesser = [Host(lay, os.urandom(32)) for _ in range(10)]
    for g in guesser:  # collect challenges first, then spend them in one burst
        assert g.open(0)
    verdicts = [g.prove(1)[1]["code"] for g in guesser]
    # 3 verdicts at once, one more in advance, then the rest must wait (before: all 10 were
    # verified and bought 510 s of back-off)
    assert verdicts.count(NakCode.AUTH_FAILED) == 4
    assert verdicts.count(NakCode.RATE_LIMITED) == 6
    assert lay.backoff.retry_after_ms((1, 0), 1) <= 2 * lay.backoff.long.period_ms


def test_guesses_of_the_patient_key_never_delay_the_clinician() -> None:
    lay = layer()
    for i in range(10):
        hs = HostSession(Role.PATIENT, os.urandom(32))
        ch = send(lay, MT.SESSION_OPEN, hs.open_fields(), i)
        send(lay, MT.SESSION_PROOF, hs.proof_fields(ch.fields), i)
    assert lay.backoff.retry_after_ms((int(Role.PATIENT), 0), 10) > 0
    assert Host(lay, KEY).handshake(11)[0]


def test_a_session_open_flood_cannot_evict_a_challenge_before_its_proof_returns() -> None:
    lay = layer(pool=PendingPool(size=16))
    holder = Host(lay, KEY)
    accepted = 0
    for attempt in range(20):
        t = attempt * 1000
        for i in range(200):  # a flood before the holder's attempt ...
            send(lay, MT.SESSION_OPEN, {"role": 1, "host_nonce": os.urandom(16),
                                        "protocol_minor": 1}, t + i)
        assert holder.open(t + 300)
        for i in range(15):  # ... and fewer than the pool's size between challenge and proof
            send(lay, MT.SESSION_OPEN, {"role": 1, "host_nonce": os.urandom(16),
                                        "protocol_minor": 1}, t + 301)
        ok, _ = holder.prove(t + 302)
        accepted += ok
    assert accepted == 20
    assert lay.pending <= 16 + 16  # bounded memory whatever the flood
    assert lay.stats.auth_failures == 0  # asking for a challenge is never a failure


def test_pending_pool_work_is_bounded() -> None:
    pool_layer = layer(pool=PendingPool(size=4, ttl_ms=1_000))
    for i in range(1_000):
        send(pool_layer, MT.SESSION_OPEN, {"role": 2, "host_nonce": os.urandom(16),
                                           "protocol_minor": 1}, i)
    assert pool_layer.pending == 4


def test_rate_limited_proof_keeps_its_challenge_and_byte_identical_open_is_answered_again() -> None:
    lay = layer()
    hs = HostSession(Role.CLINICIAN, KEY)
    open_frame = encode_frame(MT.SESSION_OPEN, hs.open_fields(), 5)
    first = lay.receive(parse_frame(open_frame), 0)
    again = lay.receive(parse_frame(open_frame), 1)
    assert isinstance(first, Reply) and isinstance(again, Reply)
    assert again.data == first.data and again.retransmission


def test_request_paths() -> None:
    lay = layer()
    holder = Host(lay, KEY)
    assert holder.handshake(0)[0]
    sess = holder.hs
    assert sess is not None
    seq, data = sess.request(MT.GET_STATUS)
    decision = lay.receive(parse_frame(data), 1)
    assert isinstance(decision, Execute)
    answer = lay.refuse(decision.frame, NakCode.INVALID_STATE, "why")
    again = lay.receive(parse_frame(data), 2)  # a retransmission gets the same bytes
    assert isinstance(again, Reply) and again.data == answer and again.retransmission
    untagged = lay.receive(parse_frame(encode_frame(MT.GET_STATUS, None, 9)), 3)
    assert isinstance(untagged, Reply) and parse_frame(untagged.data).tag is None


@pytest.mark.parametrize("minor, size", [(0, 17), (1, 18)])
def test_session_open_declares_the_minor_version(minor: int, size: int) -> None:
    lay = layer()
    hs = HostSession(Role.CLINICIAN, KEY, protocol_minor=minor)
    frame = parse_frame(encode_frame(MT.SESSION_OPEN, hs.open_fields()))
    assert len(frame.payload) == size
    ch = lay.receive(frame, 0)
    assert isinstance(ch, Reply)
    acc = lay.receive(parse_frame(encode_frame(MT.SESSION_PROOF, hs.proof_fields(
        parse_frame(ch.data).fields))), 1)
    assert isinstance(acc, Reply) and lay.protocol_minor == minor


def test_backoff_accounts_are_bounded() -> None:
    b = AuthBackoff(burst=1, budget=1, max_accounts=3)
    for sender in range(10):
        b.failure((1, sender), 0)
    assert len(b) == 3 + 1  # and the role's overflow account
