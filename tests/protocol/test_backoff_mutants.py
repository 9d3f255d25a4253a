"""The authentication back-off's arithmetic checked by exact results: the token bucket's wait and
take, the two buckets of an account, the one-token advance for a handshake already under way,
the refusal text, the configuration checks and the bounded account table."""
from __future__ import annotations

import pytest

from protocol import NakCode, ProtocolError
from protocol.backoff import OVERFLOW_SENDER, AuthBackoff, Bucket

pytestmark = pytest.mark.requirement("SEC-6")

A = (1, 0)  # clinician on a point-to-point line


def test_bucket_wait_and_take() -> None:
    b = Bucket(3, 100)
    assert b.take(0, 1_000) == 1_100 and b.take(1_100, 1_000) == 1_200
    assert b.take(1_200, 1_000) == 1_300 and b.take(900, 1_000) == 1_100
    assert b.wait_ms(1_200, 1_000) == 0  # two tokens taken, one left
    assert b.wait_ms(1_300, 1_000) == 100
    assert b.wait_ms(1_300, 1_050) == 50
    assert b.wait_ms(1_300, 1_000, debt=1) == 0
    assert b.wait_ms(1_400, 1_000, debt=1) == 100
    assert b.wait_ms(0, 1_000) == 0


def test_defaults_and_configuration_checks() -> None:
    b = AuthBackoff()
    assert (b.short, b.long, b.max_accounts) == (Bucket(3, 2_000), Bucket(6, 33_000), 64)
    for kwargs in ({"burst": 0}, {"budget": 0}, {"burst_period_ms": -1}, {"period_ms": -1},
                   {"max_accounts": 0}):
        with pytest.raises(ValueError,
                           match=r"^burst, budget, max_accounts >= 1 and periods >= 0 ms$"):
            AuthBackoff(**kwargs)
    AuthBackoff(burst=1, budget=1, burst_period_ms=0, period_ms=0, max_accounts=1)


def test_two_buckets_and_the_advance_for_a_handshake_under_way() -> None:
    b = AuthBackoff(burst=2, burst_period_ms=100, budget=3, period_ms=1_000)
    assert b.retry_after_ms(A, 0) == 0 and b.may_verify(A, 0, 0) == 0 and len(b) == 0
    b.failure(A, 0)
    assert b.retry_after_ms(A, 0) == 0
    b.failure(A, 0)  # the short bucket is empty: wait for its next token
    assert b.retry_after_ms(A, 0) == 100 and b.retry_after_ms(A, 40) == 60
    assert b.retry_after_ms(A, 100) == 0
    b.failure(A, 100)  # now the long bucket is empty too
    assert b.retry_after_ms(A, 100) == 900
    assert b.may_verify(A, 100, 100) == 900  # issued at the failure: not before it
    assert b.may_verify(A, 99, 100) == 0  # issued before it: verified on an advance
    with pytest.raises(ProtocolError) as exc:
        b.check(A, 100, 150)
    assert (exc.value.code, exc.value.detail, exc.value.retry_after_ms) == (
        NakCode.RATE_LIMITED, "authentication back-off", 850)
    b.check(A, 99, 150)
    b.failure(A, 150)  # the advance is taken: even an older challenge waits now
    assert b.may_verify(A, 99, 150) == max(Bucket(2, 100).wait_ms(400, 150, 1),
                                           Bucket(3, 1_000).wait_ms(4_000, 150, 1)) == 850
    b.success(A)  # a right proof refills nothing
    assert b.retry_after_ms(A, 150) == 1_850
    assert b.retry_after_ms(A, 2_000) == 0


def test_full_table_shares_an_overflow_account_until_accounts_refill() -> None:
    b = AuthBackoff(burst=1, burst_period_ms=100, budget=1, period_ms=100, max_accounts=2)
    b.failure((1, 1), 0)
    b.failure((1, 2), 0)
    b.failure((1, 3), 50)  # the table is full of accounts still backing off
    assert (1, OVERFLOW_SENDER) in b._accounts and (1, 3) not in b._accounts and len(b) == 3
    assert b.retry_after_ms((1, 3), 50) == 100 == b.retry_after_ms((1, 4), 50)
    assert b.retry_after_ms((2, 3), 50) == 0  # another role's overflow is untouched
    assert b.may_verify((1, 9), 50, 50) == 100  # a new sender is held by the overflow account
    b.failure((1, 5), 100)  # (1, 1) and (1, 2) refilled at 100: forgotten, room again
    assert (1, 1) not in b._accounts and (1, 2) not in b._accounts
    assert (1, 5) in b._accounts and b.retry_after_ms((1, 5), 100) == 100


def test_a_full_table_forgets_only_accounts_refilled_in_both_buckets() -> None:
    b = AuthBackoff(burst=1, burst_period_ms=100, budget=1, period_ms=100, max_accounts=2)
    b.failure((1, 1), 0)
    b.failure((1, 2), 0)
    b.failure((1, 3), 200)  # both refilled at 100: forgotten, the new sender gets its own
    assert set(b._accounts) == {(1, 3)}
    b = AuthBackoff(burst=1, burst_period_ms=10, budget=1, period_ms=1_000, max_accounts=1)
    b.failure((1, 1), 0)
    b.failure((1, 2), 100)  # (1, 1)'s short bucket refilled, its long one not: kept
    assert set(b._accounts) == {(1, 1), (1, OVERFLOW_SENDER)}


def test_the_advance_is_one_token_of_the_short_bucket_too() -> None:
    b = AuthBackoff(burst=1, burst_period_ms=1_000, budget=10, period_ms=10)
    b.failure(A, 0)
    assert b.retry_after_ms(A, 0) == 1_000 and b.may_verify(A, -1, 0) == 0
    b.failure(A, 0)  # the advance is taken
    assert b.may_verify(A, -1, 0) == 1_000
