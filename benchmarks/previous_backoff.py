"""The authentication back-off the pump used before the verdict budget (kept to compare).

``benchmarks/handshake_flood.py`` measures the old and the new back-off in the same run. This
is the earlier rule set, unchanged: per account, 3 wrong proofs within 60 s start a 2 s
back-off that doubles with each further wrong proof up to 300 s; a proof whose challenge was
issued before the latest failure is verified during the back-off and, if wrong, adds its full
period; an account quiet for 300 s is forgotten.
"""
from __future__ import annotations

import dataclasses
import logging

from protocol.errors import NakCode, ProtocolError

log = logging.getLogger(__name__)

Account = tuple[int, int]  # (role value, sender id)


@dataclasses.dataclass
class _Budget:
    failures: list[int] = dataclasses.field(default_factory=list)
    blocked_until: int = 0
    last_failure_ms: int = -1
    trips: int = 0


class GrowingBackoff:
    """Per-account growing back-off after wrong proofs (see the module documentation)."""

    def __init__(self, max_failures: int = 3, window_ms: int = 60_000, backoff_ms: int = 2_000,
                 max_backoff_ms: int = 300_000, max_accounts: int = 64) -> None:
        if max_failures < 1 or backoff_ms < 0 or max_accounts < 1:
            raise ValueError("max_failures >= 1, backoff_ms >= 0, max_accounts >= 1")
        self.max_failures = max_failures
        self.window_ms = window_ms
        self.backoff_ms = backoff_ms
        self.max_backoff_ms = max(max_backoff_ms, backoff_ms)
        self.max_accounts = max_accounts
        self._budgets: dict[Account, _Budget] = {}

    def retry_after_ms(self, account: Account, now_ms: int) -> int:
        """Milliseconds the account still backs off (0 = not backing off)."""
        budget = self._budgets.get(account)
        return max(0, budget.blocked_until - now_ms) if budget is not None else 0

    def may_verify(self, account: Account, issued_ms: int, now_ms: int) -> int:
        """0 if a proof for a challenge issued at ``issued_ms`` may be verified now, else the
        retry_after_ms to answer with RATE_LIMITED (the challenge stays valid)."""
        left = self.retry_after_ms(account, now_ms)
        if left and issued_ms >= self._budgets[account].last_failure_ms:
            return left
        return 0

    def check(self, account: Account, issued_ms: int, now_ms: int) -> None:
        """Raise ProtocolError(RATE_LIMITED, retry_after_ms) unless :meth:`may_verify`."""
        left = self.may_verify(account, issued_ms, now_ms)
        if left:
            raise ProtocolError(NakCode.RATE_LIMITED, "authentication back-off",
                                retry_after_ms=left)

    def failure(self, account: Account, now_ms: int) -> None:
        """Record one wrong proof of ``account`` verified at ``now_ms``."""
        budget = self._budget(account)
        if budget.last_failure_ms >= 0 and budget.blocked_until <= now_ms \
                and now_ms - budget.last_failure_ms >= self.max_backoff_ms:
            budget.trips = 0  # quiet long enough: a fresh account
            budget.failures.clear()
        budget.last_failure_ms = now_ms
        if budget.blocked_until > now_ms:  # verified during the back-off: it buys a period
            budget.trips += 1
            budget.blocked_until += self._period(budget.trips)
            return
        budget.failures = [t for t in budget.failures if now_ms - t < self.window_ms] + [now_ms]
        if budget.trips or len(budget.failures) >= self.max_failures:
            budget.trips += 1
            budget.blocked_until = now_ms + self._period(budget.trips)
            budget.failures.clear()
            log.warning("authentication back-off of role %d sender %d until %d ms",
                        account[0], account[1], budget.blocked_until)

    def success(self, account: Account) -> None:
        """A proof verified. Nothing is forgotten (see the module documentation): only a quiet
        period of ``max_backoff_ms`` without failures resets an account."""

    def _period(self, trips: int) -> int:
        return min(self.backoff_ms << min(max(0, trips - 1), 40), self.max_backoff_ms)

    def _budget(self, account: Account) -> _Budget:
        budget = self._budgets.get(account)
        if budget is None:
            if len(self._budgets) >= self.max_accounts:
                first = min(self._budgets, key=lambda a: self._budgets[a].blocked_until)
                del self._budgets[first]
            budget = self._budgets[account] = _Budget()
        return budget
