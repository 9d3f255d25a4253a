"""The authentication back-off a device uses (PROTOCOL.md section 4)."""
from __future__ import annotations

from protocol import AuthLimiter
from protocol.backoff import AuthBackoff

from ..profile import Profile


def profile_backoff(profile: Profile | None) -> AuthBackoff:
    """The back-off the device profile's [security] table sets (the defaults without one)."""
    if profile is None:
        return AuthBackoff()
    return AuthBackoff(burst=profile.auth_burst, burst_period_ms=profile.auth_burst_period_ms,
                       budget=profile.auth_budget, period_ms=profile.auth_period_ms)


def backoff_for(limiter: AuthLimiter | AuthBackoff | None,
                profile: Profile | None = None) -> AuthBackoff:
    """The pump's per-account budget of wrong verdicts: the profile's, the given one, or one
    configured like a given :class:`AuthLimiter` (its ``max_failures`` wrong verdicts at once,
    then one per ``backoff_ms``; a huge ``max_failures`` never backs off, for tools that guess
    on purpose)."""
    if limiter is None:
        return profile_backoff(profile)
    if isinstance(limiter, AuthBackoff):
        return limiter
    default = profile_backoff(profile)
    return AuthBackoff(burst=limiter.max_failures, burst_period_ms=limiter.backoff_ms,
                       budget=max(limiter.max_failures, default.long.capacity),
                       period_ms=max(limiter.backoff_ms, default.long.period_ms))
