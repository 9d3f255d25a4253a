"""The oracle's arithmetic of time: what the therapy in force delivers between two instants, when
the reservoir, the low-reservoir threshold and the battery levels are crossed, and advancing
the reference pump to a later run time (events at their exact millisecond)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from .oracle_parts import (DAY_MS, DELIVERING, NL_PER_ML, PG_PER_UG, Bolus, WeekPlan,
                           _ceil_div)
from .oracle_windows import OracleWindows

if TYPE_CHECKING:
    from .oracle_parts import Limits
    from .truth import OracleTruth


class OracleTime(OracleWindows):
    """Helpers and the time arithmetic of :class:`host_tools.safety.oracle.Oracle` (which holds
    the state these methods read and write)."""

    lim: "Limits"
    truth: "OracleTruth"
    eri_volume: int | None = None  # daily volume (nL/day) in force when ERI was raised

    # ------------------------------------------------------------------ helpers
    @property
    def wall(self) -> int:
        return self.t + self.wall_offset

    def _raise(self, alarm: str, at: int | None) -> None:
        if alarm not in self.alarms:
            if alarm == "BATTERY_ERI":  # end of service 90 days on at the rate in force now
                self.eri_volume = self.daily_volume_in_force()
            self.alarms[alarm] = at
            self.acked.discard(alarm)

    def _clear(self, alarm: str) -> None:
        self.alarms.pop(alarm, None)
        self.acked.discard(alarm)

    def drug_limits(self) -> tuple[int, int, int, int] | None:
        return self.lim.drugs.get((self.drug or "").lower())

    def hard_pg(self) -> int:
        d = self.drug_limits()
        return d[3] * PG_PER_UG if d else 0

    def basal_window_pg(self, plan: WeekPlan | None = None, conc: int | None = None) -> int:
        """Largest 24 h basal dose of the schedule at ``conc`` (pg)."""
        plan = plan or self.plan
        conc = self.conc if conc is None else conc
        if plan is None or not conc:
            return 0
        return _ceil_div(plan.max_window * conc, DAY_MS)

    def recent_bolus_pg(self) -> int:
        return sum(b[2] for b in self.bolus_history if b[1] > self.t - DAY_MS)

    def _limit_conc(self) -> int:
        c = self.conc or 0
        return max(c, self.path_old_conc) if self.bridge_pending else c

    def patient_volume(self, dose_ug: int, conc: int | None = None) -> int:
        conc = self.conc if conc is None else conc
        return dose_ug * PG_PER_UG // conc if conc else 0

    # ------------------------------------------------------------------ time
    def _delivering(self) -> bool:
        return self.state in DELIVERING

    def _given(self, t: int) -> int:
        """Volume delivered from self.t to t (no reservoir cap) under the current therapy."""
        if not self._delivering() or t <= self.t:
            return 0
        v = 0
        if self.resume and self.plan is not None:
            v += (self.acc + self._basal_integral(t)) // DAY_MS - self.acc // DAY_MS
        if self.bolus is not None:
            v += self.bolus.given(t) - self.bolus.given(self.t)
        return v

    def _counted(self, t: int) -> int:
        """Volume a dose window counts from self.t to t: basal and a patient bolus."""
        if not self._delivering() or t <= self.t:
            return 0
        v = 0
        if self.resume and self.plan is not None:
            v += (self.acc + self._basal_integral(t)) // DAY_MS - self.acc // DAY_MS
        if self.bolus is not None and self.bolus.kind == "PATIENT":
            v += self.bolus.given(t) - self.bolus.given(self.t)
        return v

    def _basal_integral(self, t: int) -> int:
        """The basal rate integrated from self.t to t (nL/day x ms): the schedule, or the
        minimum rate in safe mode."""
        if self.safe is not None:
            return self.lim.min_rate * (t - self.t)
        if self.keep_open:
            return self.lim.keep_open_rate * (t - self.t)
        off = self.wall_offset
        return self.plan.integral(self.t + off, t + off) if self.plan is not None else 0

    def daily_volume_in_force(self) -> int:
        """The daily volume (nL/day) the ERI forecast uses: the schedule's weekly average."""
        if not self.resume or self.plan is None or self.state == "END_OF_SERVICE":
            return 0
        if self.safe is not None:
            return self.lim.min_rate
        return self.plan.integral(0, 7 * DAY_MS) // (7 * DAY_MS)

    def _eri_level_x(self) -> int:
        """Charge used (uAh x DAY_MS x 1e6) at which ERI is due: the capacity less what the
        therapy in force uses in the ERI period (end of service that long after ERI)."""
        L = self.lim
        volume = self.daily_volume_in_force()
        if "BATTERY_ERI" in self.alarms and self.eri_volume is not None:
            volume = self.eri_volume  # the forecast made when ERI was raised stands
        reserve = L.battery_eri_days * DAY_MS * (L.battery_idle_uah_per_day * NL_PER_ML
                                                 + L.battery_motor_uah_per_ml * volume)
        return L.battery_capacity_uah * DAY_MS * NL_PER_ML - reserve

    def _first(self, need: int, hi: int, given: Callable[[int], int] | None = None) -> int:
        """First run ms in (self.t, hi] where ``given`` (default _given) reaches ``need``
        (caller checks hi)."""
        given = given or self._given
        lo = self.t + 1
        while lo < hi:
            mid = (lo + hi) // 2
            if given(mid) >= need:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def _battery_used_x(self, t: int, delivered: int) -> int:
        L = self.lim
        return (L.battery_idle_uah_per_day * NL_PER_ML * (t - self.battery_start)
                + L.battery_motor_uah_per_ml * DAY_MS * delivered)

    def _battery_crossing(self, end: int) -> tuple[int, str] | None:
        """First ms in (t, end] where ERI or end of service is reached, if any."""
        if "END_OF_SERVICE" in self.alarms:
            return None
        L = self.lim
        scale = DAY_MS * NL_PER_ML
        levels = [(self._eri_level_x(), "BATTERY_ERI")]
        if L.battery_reduced_uah:
            levels.append(((L.battery_capacity_uah - L.battery_reduced_uah) * scale,
                           "REDUCED_BATTERY"))
        levels.append((L.battery_capacity_uah * scale, "END_OF_SERVICE"))
        for need, name in levels:
            if name in self.alarms:
                continue

            def used(x: int) -> int:
                return self._battery_used_x(x, self.delivered + min(self._given(x), self.reservoir))

            if used(self.t) >= need:
                return self.t, name
            if used(end) >= need:
                lo, hi = self.t + 1, end
                while lo < hi:
                    mid = (lo + hi) // 2
                    if used(mid) >= need:
                        hi = mid
                    else:
                        lo = mid + 1
                return lo, name
            return None
        return None

    def advance(self, t1: int) -> None:
        """Run the reference pump to run time ``t1`` (>= t), event by event."""
        if t1 < self.t:
            raise ValueError("the run clock never goes back")
        while self.t < t1:
            end = t1
            if self._delivering():
                if self.bolus is not None and self.bolus.end < end:
                    end = self.bolus.end
                if self._given(end) >= self.reservoir:
                    end = self._first(self.reservoir, end)
                if "LOW_RESERVOIR" not in self.alarms and self.reservoir > self.low \
                        and self._given(end) >= self.reservoir - self.low:
                    end = self._first(self.reservoir - self.low, end)
            if self.window is not None:
                end = self._window_crossing(end)
            bat = self._battery_crossing(end)
            if bat is not None and bat[0] <= self.t:
                self._battery_event(bat[1])
                continue
            if bat is not None:
                end = bat[0]
            self._step_to(end)
            if bat is not None and self.t == bat[0]:
                self._battery_event(bat[1])

    def _window_crossing(self, end: int) -> int:
        """``end``, or the first ms before it where the window ends or reaches its limit."""
        w_end = self.window_end()
        # while nothing flows, windows only roll (nothing to count or log): no step at each end
        if w_end is not None and w_end < end and (self.keep_open or self._delivering()):
            end = w_end
        room = self.window_room_nl()
        if room is not None and room > 0 and self._counted(end) >= room:
            end = self._first(room, end, self._counted)
        # the window counts at the old drug's higher concentration until it is out
        old = self.path_old_nl
        if self.bridge_pending and self.exact and old > 0 and self.path_old_conc > (self.conc or 0) \
                and self._given(end) >= old:
            end = self._first(old, end)
        return end

    def _step_to(self, end: int) -> None:
        given = self._given(end)
        if self.window is not None:
            self.count_window(min(self._counted(end), given))
        vol = min(given, self.reservoir)
        if self._delivering() and self.resume and self.plan is not None:
            self.acc += self._basal_integral(end)
        self.reservoir -= vol
        self.delivered += vol
        if self.bridge_pending and vol and self.exact:
            # the old drug leaves the catheter first; once it is out, the dose is the new one's
            self.path_old_nl -= min(vol, self.path_old_nl)
            self.bridge_pending = self.path_old_nl > 0
        self.t = end
        # conditions true at the new time, in the documented order
        if self._delivering() and self.reservoir == 0:
            self.acc = 0
            if self.bolus is not None:
                self._finish_bolus()
            self._raise("LOW_RESERVOIR", self.t)
            self._raise("EMPTY_RESERVOIR", self.t)
            self.state = "EMPTY"
        elif self._delivering() and self.reservoir <= self.low:
            self._raise("LOW_RESERVOIR", self.t)
        if self.bolus is not None and self.state == "BOLUS" and self.t >= self.bolus.end:
            self._finish_bolus()
        if self.window is not None:
            self.window_moments()

    def _battery_event(self, name: str) -> None:
        if name == "END_OF_SERVICE" and self.lim.battery_reduced_uah \
                and "REDUCED_BATTERY" not in self.alarms:
            self._battery_event("REDUCED_BATTERY")
        self._raise(name, self.t)
        if name == "REDUCED_BATTERY":
            self._enter_safe("REDUCED_BATTERY")
        if name == "END_OF_SERVICE":
            self._raise("BATTERY_ERI", self.alarms.get("BATTERY_ERI", self.t))
            if self.bolus is not None:
                self._finish_bolus()
            self.resume = False
            self.state = "END_OF_SERVICE"
            self.sync_window()

    def _enter_safe(self, reason: str) -> None:
        """The minimum-rate safe mode: a bolus is cancelled, the basal remainder restarts."""
        if self.safe is not None:
            return
        self.safe = reason
        if self.bolus is not None:
            self._finish_bolus()
        self.acc = 0

    def _finish_bolus(self) -> None:
        b = self.bolus
        assert b is not None
        for h in reversed(self.bolus_history):
            if h[0] == b.start:
                h[1] = min(h[1], self.t)
                break
        self.bolus = None
        if self.state == "BOLUS":
            self.state = "INFUSING" if self.resume else "STOPPED"

    def _start_bolus(self, kind: str, volume: int, duration: int) -> None:
        self.bolus = Bolus(kind, volume, duration, self.t)
        self.bolus_history.append([self.t, self.t + duration, volume * self._limit_conc()])
        self.state = "BOLUS"
        if self.reservoir <= self.low:  # delivering with the reservoir at or below the threshold
            self._raise("LOW_RESERVOIR", self.t)
