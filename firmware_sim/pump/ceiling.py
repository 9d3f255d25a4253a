"""The rate ceiling: no delivery of any kind ever runs faster than the profile's maximum rate.

The instantaneous delivery rate is the basal rate of the step in force plus, during a bolus of
V nL over D ms, ``V x DAY_MS / D`` nL/day. Because a step change or a clock move can happen while
a bolus runs, a bolus is checked against the *highest* step rate of the running schedule:

- a clinician or priming bolus whose rate on top of that would exceed the profile's
  ``max_rate_nl_per_day`` is refused with RATE_OUT_OF_RANGE before anything changes, on
  ``duration_ms`` when a longer duration (within the allowed range) would fit, else on the volume
  (or dose) field;
- a patient bolus setting (dose at the current concentration over its duration, on top of the
  schedule's highest step) that could not be delivered within its duration is refused at
  SET_LIMITS, and so are a program or a refill that would make the current setting undeliverable;
- a bridge bolus (after a refill that changed the concentration) runs the schedule at
  ``rate x c_new / c_old``; that rate is capped at the maximum rate, so the bridge simply takes
  longer (its BOLUS_START log entry carries the computed and the capped rates).

Units: nL, ms, nL/day.
"""
from __future__ import annotations

from ..enums import RejectCode
from ..profile import DAY_MS
from ..schedule import CompiledSchedule
from .core import PG_PER_UG, PumpCore


class RateCeilingMixin(PumpCore):
    """Checks of every delivery's rate against the profile's maximum rate."""

    def _basal_ceiling_nl_per_day(self) -> int:
        """The highest basal rate (nL/day) the therapy can run under a bolus: the schedule's
        highest step when therapy runs (or would run), else 0."""
        compiled = self.compiled
        return compiled.max_rate_nl_per_day if self.resume_infusing and compiled is not None else 0

    def _check_bolus_rate(self, volume_nl: int, duration_ms: int, max_duration_ms: int,
                          volume_field: str) -> None:
        """Raise RATE_OUT_OF_RANGE unless ``volume_nl`` over ``duration_ms`` on top of the
        schedule stays within the maximum rate."""
        cap = self.profile.max_rate_nl_per_day
        room = cap - self._basal_ceiling_nl_per_day()
        if volume_nl * DAY_MS <= room * duration_ms:
            return
        rate = -(-volume_nl * DAY_MS // duration_ms)
        if room > 0 and volume_nl * DAY_MS <= room * max_duration_ms:
            need = -(-volume_nl * DAY_MS // room)
            raise self._reject(RejectCode.RATE_OUT_OF_RANGE, "duration_ms",
                               f"{volume_nl} nL over {duration_ms} ms is {rate} nL/day; with the "
                               f"schedule the maximum {cap} nL/day needs at least {need} ms")
        raise self._reject(RejectCode.RATE_OUT_OF_RANGE, volume_field,
                           f"{volume_nl} nL cannot be given within {max_duration_ms} ms without "
                           f"exceeding {cap} nL/day (with the schedule)")

    def _check_patient_rate(self, dose_ug: int, duration_ms: int, conc: int | None,
                            compiled: CompiledSchedule | None, field: str | None = None) -> None:
        """Raise RATE_OUT_OF_RANGE when a patient bolus of ``dose_ug`` at ``conc`` over
        ``duration_ms`` on top of ``compiled``'s highest step would exceed the maximum rate
        (on ``field``, or on the duration / dose that causes it)."""
        if not conc:
            return
        volume = dose_ug * PG_PER_UG // conc
        cap = self.profile.max_rate_nl_per_day
        room = cap - (compiled.max_rate_nl_per_day if compiled is not None else 0)
        if volume * DAY_MS <= room * duration_ms:
            return
        if field is None:
            fits = room > 0 and volume * DAY_MS <= room * self.profile.patient_max_duration_ms
            field = "duration_ms" if fits else "dose_ug"
        raise self._reject(RejectCode.RATE_OUT_OF_RANGE, field,
                           f"a patient bolus of {volume} nL over {duration_ms} ms on top of the "
                           f"schedule would exceed {cap} nL/day")

    def _bridge_rate(self, rate_nl_per_day: int, num: int, den: int) -> int:
        """The bridge bolus rate for a schedule step of ``rate_nl_per_day``: the step's rate
        scaled to the old concentration, capped at the maximum rate (nL/day)."""
        return min(rate_nl_per_day * num // den, self.profile.max_rate_nl_per_day)
