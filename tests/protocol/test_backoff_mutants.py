"""The per-account authentication back-off on its own, checked by its exact results: when an
account starts backing off, how the period grows and is capped, which proofs may still be
verified, what a verdict during the back-off buys, when an account is forgotten."""
from __future__ import annotations

import pytest

from protocol import NakCode, ProtocolError
from protocol.backoff import AuthBackoff

pytestmark = pytest.mark.requirement("SEC-5")

A = (1, 0)  # clinician on a point-to-point line
B = (2, 0)  # patient


def test_arguments_are_checked() -> None:
    for kwargs in ({"max_failures": 0}, {"backoff_ms": -1}, {"max_accounts": 0}):
        with pytest.raises(ValueError, match="max_failures >= 1, backoff_ms >= 0, max_accounts >= 1"):
            AuthBackoff(**kwargs)
    AuthBackoff(max_failures=1, backoff_ms=0, max_accounts=1)
    b = AuthBackoff()
    assert (b.max_failures, b.window_ms, b.backoff_ms, b.max_backoff_ms, b.max_accounts) == (
        3, 60_000, 2_000, 300_000, 64)
    assert AuthBackoff(backoff_ms=500_000).max_backoff_ms == 500_000


def test_backs_off_after_max_failures_within_the_window() -> None:
    b = AuthBackoff(max_failures=3, window_ms=1_000, backoff_ms=100, max_backoff_ms=10_000)
    b.failure(A, 0)
    b.failure(A, 500)
    b.failure(A, 1_000)  # the first left the window (1,000 ms ago): two failures
    assert b.retry_after_ms(A, 1_000) == 0
    b.failure(A, 1_200)  # three within 1,000 ms
    assert b.retry_after_ms(A, 1_200) == 100
    assert b.retry_after_ms(A, 1_250) == 50
    assert b.retry_after_ms(A, 1_300) == 0 and b.retry_after_ms(A, 5_000) == 0
    assert b.retry_after_ms(B, 1_250) == 0  # another account is not delayed


def test_each_later_failure_doubles_the_period_up_to_the_cap() -> None:
    b = AuthBackoff(max_failures=1, window_ms=1_000, backoff_ms=100, max_backoff_ms=350)
    b.failure(A, 0)
    assert b.retry_after_ms(A, 0) == 100
    b.failure(A, 1)  # during the back-off: + 200
    assert b.retry_after_ms(A, 1) == 299
    b.failure(A, 2)  # + 400 capped to 350
    assert b.retry_after_ms(A, 2) == 648
    b.failure(A, 3)  # + 350
    assert b.retry_after_ms(A, 3) == 997


def test_only_proofs_of_older_challenges_pass_during_the_back_off() -> None:
    b = AuthBackoff(max_failures=1, backoff_ms=1_000)
    b.failure(A, 5_000)
    assert b.may_verify(A, 4_999, 5_100) == 0  # issued before the failure: verified
    assert b.may_verify(A, 5_000, 5_100) == 900
    assert b.may_verify(A, 5_050, 5_100) == 900
    assert b.may_verify(A, 5_050, 6_000) == 0
    with pytest.raises(ProtocolError) as exc:
        b.check(A, 5_050, 5_100)
    assert (exc.value.code, exc.value.detail, exc.value.retry_after_ms) == (
        NakCode.RATE_LIMITED, "authentication back-off", 900)
    b.check(A, 4_000, 5_100)
    b.check(B, 5_050, 5_100)


def test_a_verdict_during_the_back_off_buys_one_more_period() -> None:
    b = AuthBackoff(max_failures=1, backoff_ms=1_000, max_backoff_ms=100_000)
    b.failure(A, 0)  # blocked until 1,000
    b.failure(A, 500)  # a proof of an older challenge failed during it: + 2,000
    assert b.retry_after_ms(A, 500) == 2_500
    b.failure(A, 600)  # + 4,000
    assert b.retry_after_ms(A, 600) == 6_400


def test_success_forgets_nothing_and_a_quiet_account_starts_afresh() -> None:
    b = AuthBackoff(max_failures=2, window_ms=100_000, backoff_ms=1_000, max_backoff_ms=10_000)
    b.failure(A, 0)
    b.success(A)
    b.failure(A, 10)  # the success did not reset the count
    assert b.retry_after_ms(A, 10) == 1_000
    b.failure(A, 1_010)  # trips again at once: the period doubles
    assert b.retry_after_ms(A, 1_010) == 2_000
    b.failure(A, 1_010 + 9_999)  # quiet 9,999 ms < 10,000: still a repeat offender
    assert b.retry_after_ms(A, 11_009) == 4_000
    b.failure(A, 11_009 + 10_000)  # quiet for max_backoff_ms: a fresh account, one failure
    assert b.retry_after_ms(A, 21_009) == 0
    b.failure(A, 21_010)
    assert b.retry_after_ms(A, 21_010) == 1_000


def test_the_account_whose_back_off_ends_first_is_forgotten() -> None:
    b = AuthBackoff(max_failures=1, backoff_ms=1_000, max_accounts=2)
    b.failure(A, 0)  # until 1,000
    b.failure(B, 500)  # until 1,500
    b.failure((3, 0), 600)  # a third account: A (ends first) is forgotten
    assert b.retry_after_ms(A, 700) == 0
    assert b.retry_after_ms(B, 700) == 800 and b.retry_after_ms((3, 0), 700) == 900
