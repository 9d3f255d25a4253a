"""The budget of wrong-proof verdicts (PROTOCOL.md section 4), with the pure objects and a
simulated clock: every attack of the handshake benchmark, asserting the key holder's bound and
the guesser's budget (not timed: the figures are benchmarks/handshake_flood.py's).

Before, on a shared line, a guesser striking each time the back-off ended pushed the holder's
wait up to 300 s, a burst of collected challenges bought hours of back-off, and 16 SESSION_OPEN
frames between a challenge and its proof pushed the challenge out."""
from __future__ import annotations

import os

import pytest

from protocol import DEVELOPMENT_KEYS, HostSession, NakCode, Role, encode_frame, parse_frame
from protocol import MessageType as MT
from protocol.backoff import OVERFLOW_SENDER, AuthBackoff
from protocol.pump_layer import PumpSessionLayer, Reply

KEY = DEVELOPMENT_KEYS[Role.CLINICIAN]
CLIN = int(Role.CLINICIAN)
PERIOD = AuthBackoff().long.period_ms
BUDGET = AuthBackoff().long.capacity


def layer() -> PumpSessionLayer:
    return PumpSessionLayer(DEVELOPMENT_KEYS, lambda f: {}, lambda t: True)


def send(lay: PumpSessionLayer, mt: MT, fields: dict, now: int, sender: int = 0):
    reply = lay.receive(parse_frame(encode_frame(mt, fields, 0)), now, sender)
    assert isinstance(reply, Reply)
    return parse_frame(reply.data)


def challenge(lay: PumpSessionLayer, key: bytes, now: int, sender: int = 0) -> dict:
    hs = HostSession(Role.CLINICIAN, key)
    return hs.proof_fields(send(lay, MT.SESSION_OPEN, hs.open_fields(), now, sender).fields)


def prove(lay: PumpSessionLayer, proof: dict, now: int, sender: int = 0) -> int:
    """The answer: SESSION_ACCEPTED's type, or the NAK code."""
    answer = send(lay, MT.SESSION_PROOF, proof, now, sender)
    return answer.msg_type if answer.msg_type == MT.SESSION_ACCEPTED else answer.fields["code"]


def holder_session_ms(lay: PumpSessionLayer, start: int, until: int, guess,
                      sender: int = 0) -> int | None:
    """Milliseconds the key holder (reference-client behaviour: the same proof again at most
    1 s apart while RATE_LIMITED, a new challenge if its own is gone) waits for a session,
    while ``guess(now)`` plays the guesser up to ``now``; None if not before ``until``."""
    now, proof = start, None
    while now < until:
        guess(now)
        if proof is None:
            proof = challenge(lay, KEY, now, sender)
        answer = prove(lay, proof, now, sender)
        if answer == MT.SESSION_ACCEPTED:
            lay.session = None
            return now - start
        if answer == NakCode.RATE_LIMITED:
            now += 1_000
        else:
            proof, now = None, now + 20
    return None


class Striker:
    """A guesser that sends a fresh wrong proof the moment the back-off ends."""

    def __init__(self, lay: PumpSessionLayer, sender: int = 0) -> None:
        self.lay, self.sender, self.next = lay, sender, 0

    def __call__(self, now: int) -> None:
        while self.next <= now:
            proof = challenge(self.lay, os.urandom(32), self.next, self.sender)
            assert prove(self.lay, proof, self.next, self.sender) == NakCode.AUTH_FAILED
            wait = self.lay.backoff.retry_after_ms((CLIN, self.sender), self.next)
            self.next += max(wait, 1)


def test_a_guess_each_time_the_back_off_ends_lets_the_holder_in_within_one_period() -> None:
    lay, minutes = layer(), 30
    striker = Striker(lay)
    waits = []
    for start in range(1_000, minutes * 60_000, 7_000):
        wait = holder_session_ms(lay, start, start + 10 * PERIOD, striker)
        assert wait is not None
        waits.append(wait)
    assert max(waits) <= PERIOD + 1_000  # before: up to 300 s
    verdicts = lay.stats.auth_failures
    assert verdicts <= BUDGET + 1 + minutes * 60_000 // PERIOD


def test_a_burst_then_silence_holds_the_holder_off_two_periods_at_most() -> None:
    lay = layer()
    stock = [challenge(lay, os.urandom(32), 0) for _ in range(40)]  # collected beforehand
    for p in stock:
        prove(lay, p, 1)
    for t in range(2_000, 20_000, 100):  # and spent whenever the pump verifies one
        for p in [challenge(lay, os.urandom(32), t - 1)] + stock:
            prove(lay, p, t)
    assert 3 <= lay.stats.auth_failures <= BUDGET + 1  # the burst got no more than the budget and one advance
    assert lay.backoff.retry_after_ms((CLIN, 0), 20_000) <= 2 * PERIOD  # before: hours
    wait = holder_session_ms(lay, 20_000, 20_000 + 10 * PERIOD, lambda now: None)
    assert wait is not None and wait <= 2 * PERIOD


@pytest.mark.parametrize("flood", [15, 16, 100, 127])
def test_a_session_open_flood_within_a_round_trip_does_not_push_the_challenge_out(flood) -> None:
    lay = layer()
    proof = challenge(lay, KEY, 0)
    for i in range(flood):  # before: 16 pushed it out
        send(lay, MT.SESSION_OPEN, {"role": CLIN, "host_nonce": os.urandom(16),
                                    "protocol_minor": 1}, 1)
    assert prove(lay, proof, 2) == MT.SESSION_ACCEPTED
    assert lay.stats.auth_failures == 0 and lay.pending <= lay.pool.size


def test_a_guesser_on_another_sender_never_delays_the_holder() -> None:
    lay = layer()
    striker = Striker(lay, sender=5)
    for start in range(0, 600_000, 7_000):
        assert holder_session_ms(lay, start, start + 1, striker, sender=6) == 0


def best_rate_per_minute(make, horizon_ms: int) -> float:
    """Most wrong verdicts per minute among burst-and-wait strategies (bursts of up to k
    proofs of challenges collected a millisecond before, at least w s apart)."""
    best = 0.0
    for k in (1, 2, 3, 5, 10, 20):
        for w in (0, 1, 2, 5, 10, 20, 29, 30, 31, 60, 120, 300, 301):
            b, verdicts, t = make(), 0, 1
            while t < horizon_ms:
                done = 0
                while done < k and not b.may_verify((CLIN, 0), t - 1, t):
                    b.failure((CLIN, 0), t)
                    done += 1
                verdicts += done
                t = max(t + b.retry_after_ms((CLIN, 0), t), t + w * 1000, t + 1)
            best = max(best, verdicts * 60_000 / horizon_ms)
    return best


def test_the_long_run_guessing_rate_is_no_higher_than_before() -> None:
    # before: 3 wrong verdicts within 60 s started the back-off, so one every 30 s never did:
    # 2.0 per minute for ever
    horizon = 2 * 3_600_000
    rate = best_rate_per_minute(AuthBackoff, horizon)
    assert rate <= (BUDGET + 1 + horizon / PERIOD) * 60_000 / horizon + 1e-9
    assert rate < 2.0


def test_a_right_proof_takes_no_token_and_a_wrong_one_takes_one() -> None:
    b = AuthBackoff(burst=1, budget=1, period_ms=10_000, burst_period_ms=0)
    account = (CLIN, 0)
    b.success(account)
    assert b.may_verify(account, 0, 0) == 0
    b.failure(account, 0)
    assert b.may_verify(account, 0, 1) == 9_999  # no token, challenge not older than the failure
    assert b.may_verify(account, -1, 1) == 0  # a handshake under way is verified (advance)
    b.failure(account, 1)
    assert b.may_verify(account, 0, 2) == 9_998  # one token in advance at most ...
    assert b.may_verify(account, 5, 2) == 19_998  # ... and a new challenge waits for a token
    assert b.retry_after_ms(account, 20_001) == 0


def test_accounts_are_bounded_and_new_senders_get_no_fresh_budget_when_full() -> None:
    b = AuthBackoff(burst=1, budget=1, max_accounts=3)
    for sender in range(10):
        b.failure((CLIN, sender), 0)
    assert len(b) <= 3 + 1  # three accounts and the role's overflow account
    assert b.retry_after_ms((CLIN, 9), 0) > 0  # sender 9 shares the overflow account
    assert b.retry_after_ms((CLIN, OVERFLOW_SENDER), 0) > 0
    later = 10 * b.long.period_ms
    b.failure((CLIN, 42), later)  # refilled accounts are forgotten when room is needed
    assert b.retry_after_ms((CLIN, 0), later) == 0 and len(b) <= 4


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        AuthBackoff(budget=0)
