"""The battery: charge used by idling and by pumping, ERI and end of service.

The charge is kept exact in units of uAh x DAY_MS x 1e6, so ``idle x ms + motor x nL`` is an
integer and a threshold is crossed at the first ms it holds.
"""
from __future__ import annotations

from ..enums import Alarm, RejectCode
from ..profile import DAY_MS
from .core import NL_PER_ML, PumpCore


class PowerMixin(PumpCore):
    """Battery accounting and its alarms (BATTERY_ERI, END_OF_SERVICE)."""

    def _battery_consts(self) -> tuple[int, int, int, int]:
        """(idle, motor, ERI level, end-of-service level) in uAh x DAY_MS x 1e6 units, so
        ``idle x ms + motor x nL`` is the exact charge used."""
        p = self.profile
        c = self._battery_cache
        if c is None or c[0] is not p:
            scale = DAY_MS * NL_PER_ML
            c = (p, (p.battery_idle_uah_per_day * NL_PER_ML, p.battery_motor_uah_per_ml * DAY_MS,
                     (p.battery_capacity_uah - p.battery_eri_reserve_uah) * scale,
                     p.battery_capacity_uah * scale))
            self._battery_cache = c
        return c[1]

    def _check_battery(self) -> None:
        idle, motor, eri, eos = self._battery_consts()
        used = idle * (self.t_ms - self.battery_start_ms) + motor * self.delivered_nl
        if used >= eri and Alarm.BATTERY_ERI not in self.alarms:
            self._raise_alarm(Alarm.BATTERY_ERI)
        if used >= eos and Alarm.END_OF_SERVICE not in self.alarms:
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

    def inject_battery_drain(self, end_of_service: bool = False) -> None:
        """Fault injection: the battery drains at once to its elective replacement indicator (or
        to end of service, which stops delivery for good); alarms and state follow exactly as if
        it had run down. Rejection: INVALID_STATE if the battery is already that low."""
        p = self.profile
        level = p.battery_capacity_uah - (0 if end_of_service else p.battery_eri_reserve_uah)
        idle = p.battery_idle_uah_per_day * NL_PER_ML
        used = idle * (self.t_ms - self.battery_start_ms) \
            + p.battery_motor_uah_per_ml * DAY_MS * self.delivered_nl
        missing = level * DAY_MS * NL_PER_ML - used
        if missing <= 0 or idle == 0:
            raise self._reject(RejectCode.INVALID_STATE, "", "the battery is already that low")
        self.battery_start_ms -= -(-missing // idle)  # as if the pump had idled that much longer
        self._event("BATTERY_DRAIN", end_of_service=end_of_service)
        self._check_battery()
        self._commit()
