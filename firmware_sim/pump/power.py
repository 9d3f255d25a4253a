"""The battery: charge used by idling and by pumping, ERI and end of service.

The charge is kept exact in units of uAh x DAY_MS x 1e6, so ``idle x ms + motor x nL`` is an
integer and a threshold is crossed at the first ms it holds.
"""
from __future__ import annotations

from ..enums import Alarm, RejectCode
from ..profile import DAY_MS
from .core import NL_PER_ML, PumpCore, S
from .thresholds import THRESHOLDS, Measure


class PowerMixin(PumpCore):
    """Battery accounting and its alarms (BATTERY_ERI, REDUCED_BATTERY, END_OF_SERVICE) and the
    minimum-rate safe mode."""

    def _battery_consts(self) -> tuple[int, int, int, int]:
        """(idle, motor, capacity, reduced-battery level) in uAh x DAY_MS x 1e6 units, so
        ``idle x ms + motor x nL`` is the exact charge used."""
        p = self.profile
        c = self._battery_cache
        if c is None or c[0] is not p:
            scale = DAY_MS * NL_PER_ML
            c = (p, (p.battery_idle_uah_per_day * NL_PER_ML, p.battery_motor_uah_per_ml * DAY_MS,
                     p.battery_capacity_uah * scale,
                     (p.battery_capacity_uah - p.battery_reduced_uah) * scale))
            self._battery_cache = c
        return c[1]

    def daily_volume_in_force_nl(self) -> int:
        """The daily volume the therapy runs now (nL/day): the schedule's average over its week,
        the minimum rate in safe mode, 0 when therapy does not run."""
        if not self.resume_infusing or self.compiled is None or self.state is S.END_OF_SERVICE:
            return 0
        if self.safe_mode is not None:
            return self.profile.min_rate_nl_per_day
        return self.compiled.week_volume_x_day_ms // (7 * DAY_MS)

    def _eri_reserve_for(self, daily_volume_nl: int) -> int:
        """The charge (exact units) the pump uses in the ERI period at ``daily_volume_nl``."""
        p = self.profile
        return p.battery_eri_days * DAY_MS * (p.battery_idle_uah_per_day * NL_PER_ML
                                              + p.battery_motor_uah_per_ml * daily_volume_nl)

    def _eri_level(self) -> int:
        """The charge used (exact units) at which ERI is raised: the capacity less what the
        therapy in force uses in the ERI period, so end of service follows exactly that long
        after ERI at an unchanged rate."""
        return self._battery_consts()[2] - self._eri_reserve_for(self.eri_daily_volume_nl or 0)

    def _update_eri_reserve(self) -> None:
        """Recompute the ERI reserve for the rate in force (until ERI is raised); log a change
        as BATTERY_FORECAST (daily volume, ERI reserve in uAh, days from ERI to end of
        service)."""
        if Alarm.BATTERY_ERI in self.alarms:
            return
        volume = self.daily_volume_in_force_nl()
        if volume == (self.eri_daily_volume_nl or 0):
            self.eri_daily_volume_nl = volume
            return
        self.eri_daily_volume_nl = volume
        self._event("BATTERY_FORECAST", daily_volume_nl=volume,
                    eri_reserve_uah=self._eri_reserve_for(volume) // (DAY_MS * NL_PER_ML),
                    eri_days=self.profile.battery_eri_days)

    def _charge_used(self, t: int, delivered_nl: int) -> int:
        """Charge used by run time ``t`` with ``delivered_nl`` pumped (exact units)."""
        idle, motor = self._battery_consts()[:2]
        return idle * (t - self.battery_start_ms) + motor * delivered_nl

    def _check_battery(self) -> None:
        """Act on the battery rows of the threshold table that hold now."""
        for row in THRESHOLDS:
            if row.measure is Measure.CHARGE:
                d = row.distance(self, self.t_ms, self.reservoir_nl, self.delivered_nl,  # type: ignore[arg-type]
                                 self.path_old_nl, self._window_counted_pg())
                if d is not None and d <= 0:
                    row.fire(self)  # type: ignore[arg-type]

    def _on_battery_eri(self) -> None:
        """The battery reached its elective replacement indicator: the pump keeps running."""
        self._raise_alarm(Alarm.BATTERY_ERI)

    def _on_reduced_battery(self) -> None:
        """Reduced battery performance: the pump falls back to the minimum-rate safe mode."""
        self._raise_alarm(Alarm.REDUCED_BATTERY)
        self._enter_safe_mode("REDUCED_BATTERY")

    def _enter_safe_mode(self, reason: str) -> None:
        """Run the therapy at the profile's minimum rate from now on (a bolus in progress is
        cancelled; no bolus is given in safe mode). Logged as SAFE_MODE."""
        if self.safe_mode is not None:
            return
        self.safe_mode = reason
        if self.bolus is not None:
            self._finish_bolus("SAFE_MODE")
        self.basal_rem = 0
        self._event("SAFE_MODE", reason=reason, rate_nl_per_day=self.profile.min_rate_nl_per_day)
        self._sync_epoch()

    def _leave_safe_mode(self, reason: str) -> None:
        """End a safe mode entered for ``reason`` (the programmed schedule runs again)."""
        if self.safe_mode != reason:
            return
        self.safe_mode = None
        self.basal_rem = 0
        self._event("SAFE_MODE_END", reason=reason)
        self._sync_epoch()

    def _on_end_of_service(self) -> None:
        """The battery is spent: delivery stops for good (END_OF_SERVICE is terminal)."""
        if self.bolus is not None:
            self._finish_bolus("END_OF_SERVICE")
        self._raise_alarm(Alarm.END_OF_SERVICE)
        self.resume_infusing = False
        self.refill_due_ms = None
        self._trigger("end_service")
        self._sync_epoch()

    def battery_used_uah(self) -> int:
        """Battery charge used so far (uAh, floor)."""
        p = self.profile
        used = (p.battery_idle_uah_per_day * NL_PER_ML * (self.t_ms - self.battery_start_ms)
                + p.battery_motor_uah_per_ml * DAY_MS * self.delivered_nl)
        return min(used // (DAY_MS * NL_PER_ML), p.battery_capacity_uah)

    def inject_battery_drain(self, end_of_service: bool = False, *,
                             reduced: bool = False) -> None:
        """Fault injection: the battery drains at once to its elective replacement indicator
        (or to the reduced-battery level with ``reduced``, or to end of service, which stops
        delivery for good); alarms and state follow exactly as if it had run down.
        Rejection: INVALID_STATE if the battery is already that low."""
        idle, _, capacity, reduced_level = self._battery_consts()
        level = capacity if end_of_service else reduced_level if reduced else self._eri_level()
        missing = level - self._charge_used(self.t_ms, self.delivered_nl)
        if missing <= 0 or idle == 0:
            raise self._reject(RejectCode.INVALID_STATE, "", "the battery is already that low")
        self.battery_start_ms -= -(-missing // idle)  # as if the pump had idled that much longer
        self._event("BATTERY_DRAIN", end_of_service=end_of_service)
        self._check_battery()
        self._commit()
