"""Authentication back-off of the pump: a budget of wrong-proof verdicts per account (pure).

What it promises (PROTOCOL.md section 4, "Authentication back-off"):

* Failures are counted per **account**: the role the handshake claims and the sender the link
  identifies (0 on a point-to-point line). A guesser of the patient key never delays a
  clinician.
* Each account has two token buckets of **wrong verdicts**: a short one (``burst`` verdicts,
  one more every ``burst_period_ms``) and a long one (``budget`` verdicts, one more every
  ``period_ms``). A proof is verified when both hold a token; a wrong proof takes one from
  each. However a guesser arranges its attempts, it gets at most ``budget`` wrong verdicts at
  once and one per ``period_ms`` in the long run (plus the one advance below).
* A right proof takes nothing: only wrong verdicts are budgeted.
* Without a token, a proof is still verified if its challenge was issued **before the
  account's latest wrong verdict** (a handshake under way when a guess failed completes: the
  guess cannot cancel it), as long as each bucket is at most one token in debt; a wrong proof
  verified that way takes that token in advance. Any other proof gets RATE_LIMITED with
  ``retry_after_ms`` and its challenge stays valid, to be proved again later.
* So a guess is what lets the key holder in: whoever sends a wrong proof when a token comes
  opens the way for every handshake under way, and whatever burst a guesser sends, the next
  token comes at most two long periods after its last verdict.
* A successful proof does not refill the account (on a shared link a guesser would only have
  to wait for the key holder to log in to get fresh free attempts). An account whose buckets
  are full again is forgotten. At most ``max_accounts`` accounts are remembered; senders that
  find the table full share one overflow account per role, so new senders get no fresh budget.

Times are milliseconds of the caller's monotonic clock (real time, never pump time).
"""
from __future__ import annotations

import dataclasses
import logging

from .errors import NakCode, ProtocolError

log = logging.getLogger(__name__)

Account = tuple[int, int]  # (role value, sender id)
OVERFLOW_SENDER = -1  # the account of senders that find the table full


@dataclasses.dataclass(frozen=True)
class Bucket:
    """A token bucket of ``capacity`` wrong verdicts refilled with one every ``period_ms``.

    Its state is one number per account, ``full_at`` (ms): the time at which the bucket will be
    full again (generic cell rate form: at ``now`` it holds
    ``capacity - ceil((full_at - now) / period_ms)`` tokens).
    """

    capacity: int
    period_ms: int

    def wait_ms(self, full_at: int, now_ms: int, debt: int = 0) -> int:
        """Milliseconds until a token is free (0: now), allowing ``debt`` tokens of advance."""
        return max(0, full_at - (self.capacity - 1 + debt) * self.period_ms - now_ms)

    def take(self, full_at: int, now_ms: int) -> int:
        """The new ``full_at`` after one token is taken at ``now_ms``."""
        return max(full_at, now_ms) + self.period_ms


@dataclasses.dataclass
class _Account:
    short_full_at: int = 0
    long_full_at: int = 0
    last_failure_ms: int | None = None


class AuthBackoff:
    """Per-account budget of wrong-proof verdicts (see the module documentation)."""

    def __init__(self, burst: int = 3, burst_period_ms: int = 2_000, budget: int = 6,
                 period_ms: int = 33_000, max_accounts: int = 64) -> None:
        if burst < 1 or budget < 1 or burst_period_ms < 0 or period_ms < 0 or max_accounts < 1:
            raise ValueError("burst, budget, max_accounts >= 1 and periods >= 0 ms")
        self.short = Bucket(burst, burst_period_ms)
        self.long = Bucket(budget, period_ms)
        self.max_accounts = max_accounts
        self._accounts: dict[Account, _Account] = {}

    # ------------------------------------------------------------------ queries
    def retry_after_ms(self, account: Account, now_ms: int) -> int:
        """Milliseconds until the account has a token again (0 = it has one now)."""
        acc = self._accounts.get(self._resolve(account, now_ms))
        if acc is None:
            return 0
        return max(self.short.wait_ms(acc.short_full_at, now_ms),
                   self.long.wait_ms(acc.long_full_at, now_ms))

    def may_verify(self, account: Account, issued_ms: int, now_ms: int) -> int:
        """0 if a proof for a challenge issued at ``issued_ms`` may be verified now, else the
        retry_after_ms to answer with RATE_LIMITED (the challenge stays valid)."""
        acc = self._accounts.get(self._resolve(account, now_ms))
        if acc is None:
            return 0
        wait = max(self.short.wait_ms(acc.short_full_at, now_ms),
                   self.long.wait_ms(acc.long_full_at, now_ms))
        if wait and acc.last_failure_ms is not None and issued_ms < acc.last_failure_ms:
            return max(self.short.wait_ms(acc.short_full_at, now_ms, debt=1),
                       self.long.wait_ms(acc.long_full_at, now_ms, debt=1))
        return wait

    def check(self, account: Account, issued_ms: int, now_ms: int) -> None:
        """Raise ProtocolError(RATE_LIMITED, retry_after_ms) unless :meth:`may_verify`."""
        left = self.may_verify(account, issued_ms, now_ms)
        if left:
            raise ProtocolError(NakCode.RATE_LIMITED, "authentication back-off",
                                retry_after_ms=left)

    # ------------------------------------------------------------------ verdicts
    def failure(self, account: Account, now_ms: int) -> None:
        """Record one wrong proof of ``account`` verified at ``now_ms`` (takes a token)."""
        key = self._resolve(account, now_ms)
        acc = self._accounts.get(key)
        if acc is None:
            acc = self._accounts[key] = _Account()
        acc.short_full_at = self.short.take(acc.short_full_at, now_ms)
        acc.long_full_at = self.long.take(acc.long_full_at, now_ms)
        acc.last_failure_ms = now_ms
        wait = self.retry_after_ms(key, now_ms)
        if wait:
            log.warning("authentication back-off of role %d sender %d for %d ms",
                        key[0], key[1], wait)

    def success(self, account: Account) -> None:
        """A proof verified. It takes no token and refills nothing (see the module
        documentation): only time refills an account."""

    # ------------------------------------------------------------------ table
    def _resolve(self, account: Account, now_ms: int) -> Account:
        """The key the account is kept under: its own, or the role's overflow account when the
        table is full of accounts that still back off."""
        if account in self._accounts:
            return account
        if len(self._accounts) >= self.max_accounts:
            self._forget_refilled(now_ms)
        if len(self._accounts) < self.max_accounts:
            return account
        return (account[0], OVERFLOW_SENDER)

    def _forget_refilled(self, now_ms: int) -> None:
        """Drop the accounts whose buckets are full again (they are as good as new); O(n) with
        n <= max_accounts, run only when the table is full."""
        for key in [k for k, a in self._accounts.items()
                    if a.short_full_at <= now_ms and a.long_full_at <= now_ms]:
            del self._accounts[key]

    def __len__(self) -> int:
        return len(self._accounts)
