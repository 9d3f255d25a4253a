"""The rate-change limit: at most ``max_rate_changes_per_period`` accepted schedule changes in
any rolling ``rate_changes_period_ms`` of run time (profile ``[rate] max_changes_per_period`` and
``changes_period_ms``; 0 = no limit, the shipped profiles' setting).

What counts as a rate change: an accepted command that changes the rate the patient receives,
that is, replaces the schedule by a different one while therapy runs (INFUSING, a bolus on top
of the schedule, EMPTY or a refill that will resume it) - SET_SCHEDULE of the every-day plan or
of one weekday plan (one change each), a program (``program_therapy``) or a refill completion
that brings a new schedule. Programming a stopped pump sets the rate it will start with and is
not counted (so neither is the first schedule, nor the placeholder plan SET_DRUG gives a pump
without one); nor is a command that leaves the schedule as it is (the same plan sent again,
SET_DRUG, SET_LIMITS, a refill with the schedule in force). Starting, stopping, boluses and the
pump's own fallbacks (safe mode, keep-open rate) are not programming and are not counted.

The change that would exceed the limit is refused with MAX_CHANGES_REACHED, changes nothing,
and says how many changes the period holds and after how many ms the next one is allowed
(``Rejected.retry_after_ms``). The times are on the run clock, so a wall-clock move neither
frees nor spends a change, and they are persisted with the state, so a restart keeps them.
Units: ms.
"""
from __future__ import annotations

from ..enums import RejectCode
from ..schedule import Schedule
from .core import PumpCore


def period_text(period_ms: int) -> str:
    """A period for people: ``"24 h"``, ``"90 min"`` or ``"1500 ms"``."""
    if period_ms % 3_600_000 == 0:
        return f"{period_ms // 3_600_000} h"
    if period_ms % 60_000 == 0:
        return f"{period_ms // 60_000} min"
    return f"{period_ms} ms"


class RateChangeMixin(PumpCore):
    """Counts accepted schedule changes and refuses the one beyond the profile's limit."""

    def _is_rate_change(self, schedule: Schedule) -> bool:
        return self.resume_infusing and self._schedule is not None and schedule != self._schedule

    def _changes_in_period(self) -> list[int]:
        since = self.t_ms - self.profile.rate_changes_period_ms
        return [c for c in self.rate_changes if c > since]

    def rate_changes_left(self) -> int | None:
        """How many more schedule changes the period allows now (None: the profile sets no
        limit)."""
        limit = self.profile.max_rate_changes_per_period
        return None if limit == 0 else max(0, limit - len(self._changes_in_period()))

    def _check_rate_change(self, schedule: Schedule, field: str = "schedule") -> None:
        """Raise MAX_CHANGES_REACHED when ``schedule`` is a rate change and the period already
        holds the profile's maximum number of them."""
        p = self.profile
        limit = p.max_rate_changes_per_period
        if limit == 0 or not self._is_rate_change(schedule):
            return
        counted = self._changes_in_period()
        if len(counted) < limit:
            return
        next_ms = counted[-limit] + p.rate_changes_period_ms
        wait = next_ms - self.t_ms
        raise self._reject(RejectCode.MAX_CHANGES_REACHED, field,
                           f"{len(counted)} rate changes in {period_text(p.rate_changes_period_ms)}"
                           f": next in {wait} ms", retry_after_ms=wait)

    def _count_rate_change(self, schedule: Schedule) -> None:
        """Record an accepted ``schedule`` (before it replaces the one in force) when it is a
        rate change and the profile limits them; forget the changes that have left the period.
        The change itself is logged by its PROGRAM / REFILL_COMPLETE entry."""
        if self.profile.max_rate_changes_per_period and self._is_rate_change(schedule):
            self.rate_changes = self._changes_in_period() + [self.t_ms]
