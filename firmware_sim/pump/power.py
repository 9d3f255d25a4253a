"""The battery: charge used by idling and by pumping, ERI and end of service.

The charge is kept exact in units of uAh x DAY_MS x 1e6, so ``idle x ms + motor x nL`` is an
integer and a threshold is crossed at the first ms it holds.
"""
from __future__ import annotations

from ..enums import Alarm, RejectCode
from ..profile import DAY_MS
from .core import NL_PER_ML, PumpCore
from .thresholds import THRESHOLDS, Measure


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

    def _charge_used(self, t: int, delivered_nl: int) -> int:
        """Charge used by run time ``t`` with ``delivered_nl`` pumped (exact units)."""
        idle, motor = self._battery_consts()[:2]
        return idle * (t - self.battery_start_ms) + motor * delivered_nl

    def _check_battery(self) -> None:
        """Act on the battery rows of the threshold table that hold now."""
        for row in THRESHOLDS:
            if row.measure is Measure.CHARGE:
                d = row.distance(self, self.t_ms, self.reservoir_nl, self.delivered_nl,  # type: ignore[arg-type]
                                 self.path_old_nl)
                if d is not None and d <= 0:
                    row.fire(self)  # type: ignore[arg-type]

    def _on_battery_eri(self) -> None:
        """The battery reached its elective replacement indicator: the pump keeps running."""
        self._raise_alarm(Alarm.BATTERY_ERI)

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
