"""The authentication back-off a device uses (PROTOCOL.md section 4)."""
from __future__ import annotations

from protocol import AuthLimiter
from protocol.backoff import AuthBackoff


def backoff_for(limiter: AuthLimiter | AuthBackoff | None) -> AuthBackoff:
    """The pump's per-account budget of wrong verdicts: the default, the given one, or one
    configured like a given :class:`AuthLimiter` (its ``max_failures`` wrong verdicts at once,
    then one per ``backoff_ms``; a huge ``max_failures`` never backs off, for tools that guess
    on purpose)."""
    if limiter is None:
        return AuthBackoff()
    if isinstance(limiter, AuthBackoff):
        return limiter
    default = AuthBackoff()
    return AuthBackoff(burst=limiter.max_failures, burst_period_ms=limiter.backoff_ms,
                       budget=max(limiter.max_failures, default.long.capacity),
                       period_ms=max(limiter.backoff_ms, default.long.period_ms))
