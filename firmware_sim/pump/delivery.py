"""Delivery: the run clock, segment-by-segment integration, and the next-event search.

Volumes are integrated exactly (see :mod:`firmware_sim.pump.pump`): the basal volume of a
segment is ``(rate x ms + remainder) // DAY_MS`` with the remainder carried; a bolus of V nL over
D ms has delivered ``V x elapsed // D``. Threshold crossings are found by bisection on these
integer functions, so every alarm is raised at the first ms its condition holds.
"""
from __future__ import annotations

from typing import Callable

from ..enums import Alarm, BolusKind
from ..profile import DAY_MS
from .core import FOREVER as _FOREVER, PumpCore, first_reaching as _first_reaching


class DeliveryMixin(PumpCore):
    """Advances the run clock and integrates delivery event to event."""

    def tick(self, *, commit: bool = True) -> None:
        """Advance to the pump clock's now (no-op if the clock is behind the run time);
        ``commit`` as for :meth:`advance_to`."""
        now = self.clock.now_ms()
        if now > self.t_ms:
            self.advance_to(now, commit=commit)

    def advance_to(self, t_ms: int, *, commit: bool = True) -> None:
        """Run the pump until run time ``t_ms`` (>= current), event to event, then commit.

        With ``commit=False`` a run that logged nothing (only time passed: delivery integrated,
        no alarm, no state change) is kept in memory and stored by the next commit (any
        command, :meth:`checkpoint`, or a run that logs); a run that logs is committed at once.
        A power loss then loses only unlogged run time, never an acknowledged change or a log
        entry (nothing was acknowledged since the last commit)."""
        if t_ms < self.t_ms:
            raise ValueError(f"advance_to({t_ms}) is before the pump's run time {self.t_ms}")
        while self.t_ms < t_ms:
            self._segment(t_ms)
        if commit or self._pending:
            self._commit()

    @property
    def uncommitted_ms(self) -> int:
        """Run time (ms) advanced since the state was last committed (0: all stored)."""
        return self.t_ms - self._committed_t_ms

    def checkpoint(self) -> None:
        """Commit the state now if run time passed since the last commit (logs nothing)."""
        if self.t_ms != self._committed_t_ms or self._pending:
            self._commit()

    def next_event_ms(self, until_ms: int | None = None) -> int | None:
        """Run time (ms) of the first event :meth:`advance_to` would log from now on: the first
        instant after :attr:`time_ms` at which an alarm is raised or the state changes (bolus
        or bridge end, low-reservoir and empty crossings, refill-due date, battery ERI and end
        of service). Step boundaries change the rate and log nothing: they are integrated over,
        exactly as :meth:`advance_to` does. None when nothing is logged up to ``until_ms``
        (inclusive; None: ever). Pure and cheap (no copy, no storage): crossings are found by
        bisection on the exact integer delivery functions over the whole horizon."""
        t0 = self.t_ms
        target = _FOREVER if until_ms is None else until_ms
        if target <= t0:
            return None
        bol = self.bolus
        if (bol is not None and bol["kind"] == BolusKind.BRIDGE) or self._would_log(
                t0, self.reservoir_nl, self.delivered_nl, self.path_old_nl):
            return self._next_event_walk(target)
        return self._next_event_direct(target)

    def _would_log(self, t: int, reservoir_nl: int, delivered_nl: int, path_old_nl: int) -> bool:
        """Whether :meth:`_after_segment` logs anything at run time ``t`` with these moving
        quantities (the other state as it is now)."""
        st = self.machine.state
        delivering = st == "INFUSING" or st == "BOLUS"
        alarms = self.alarms
        if delivering and (reservoir_nl == 0 or (reservoir_nl <= self.low_threshold_nl
                                                 and Alarm.LOW_RESERVOIR not in alarms)):
            return True
        bol = self.bolus
        if bol is not None and st == "BOLUS":
            if bol["kind"] == BolusKind.BRIDGE:
                if path_old_nl == 0:
                    return True
            elif t >= bol["start_ms"] + bol["duration_ms"]:
                return True
        due = self.refill_due_ms
        if due is not None and t >= due and Alarm.REFILL_DUE not in alarms:
            return True
        idle, motor, eri, eos = self._battery_consts()
        used = idle * (t - self.battery_start_ms) + motor * delivered_nl
        return (used >= eri and Alarm.BATTERY_ERI not in alarms) or \
            (used >= eos and Alarm.END_OF_SERVICE not in alarms)

    def _next_event_walk(self, target: int) -> int | None:
        """:meth:`next_event_ms` segment by segment, as :meth:`advance_to` runs (a bridge bolus,
        whose rate is rounded per step, or a condition already true now)."""
        t, res, deliv, rem, path = (self.t_ms, self.reservoir_nl, self.delivered_nl,
                                    self.basal_rem, self.path_old_nl)
        while t < target:
            dt, vol, rem = self._plan_segment(t, target, res, deliv, rem, path)
            vol = min(vol, res)
            res -= vol
            deliv += vol
            path -= min(vol, path)
            t += dt
            if self._would_log(t, res, deliv, path):
                return t
        return None

    def _next_event_direct(self, target: int) -> int | None:
        """:meth:`next_event_ms` without a bridge bolus and with no condition true now: the
        volume delivered in the first x ms is ``(integral of the schedule + remainder) // day``
        plus the bolus's ``V x elapsed // D``, however the time is split into segments, so each
        crossing is one bisection over the horizon."""
        t0 = self.t_ms
        st = self.machine.state
        delivering = st == "INFUSING" or st == "BOLUS"
        compiled = self.compiled if delivering and self.resume_infusing else None
        bol = self.bolus if delivering else None
        hi = target - t0  # the horizon, ms after now
        event = False  # whether something is logged at t0 + hi
        bV = bD = e0 = b0 = 0
        if bol is not None:
            bV, bD = bol["volume_nl"], bol["duration_ms"]
            e0 = t0 - bol["start_ms"]
            b0 = bV * e0 // bD
            if bD - e0 <= hi:
                hi, event = bD - e0, True
        due = self.refill_due_ms
        if due is not None and due - t0 <= hi and Alarm.REFILL_DUE not in self.alarms:
            hi, event = due - t0, True
        wall0 = t0 + self.wall_offset_ms
        rem = self.basal_rem

        def delivered(x: int) -> int:
            """Volume delivered in the first x ms from now (exact, nondecreasing)."""
            v = 0
            if compiled is not None:
                v = (compiled.integral_x_day_ms(wall0, wall0 + x) + rem) // DAY_MS
            if bD:
                v += bV * (e0 + x) // bD - b0
            return v

        crossings: list[tuple[Callable[[int], int], int]] = []
        if delivering:
            crossings.append((delivered, self.reservoir_nl))
            if Alarm.LOW_RESERVOIR not in self.alarms:
                crossings.append((delivered, self.reservoir_nl - self.low_threshold_nl))
        idle = 0
        if Alarm.END_OF_SERVICE not in self.alarms:
            idle, motor, eri, eos = self._battery_consts()
            base = idle * (t0 - self.battery_start_ms) + motor * self.delivered_nl
            need = (eri if Alarm.BATTERY_ERI not in self.alarms else eos) - base
            if delivering:
                crossings.append((lambda x: idle * x + motor * delivered(x), need))
            else:
                crossings.append((lambda x: idle * x, need))
            if idle and hi >= _FOREVER - t0:
                hi = -(-need // idle)  # idle drain alone reaches the level by then
        if hi >= _FOREVER - t0 and delivering:
            # no end in sight but the reservoir: double until it would be empty
            x = 1
            while delivered(x) < self.reservoir_nl and x < _FOREVER:
                x *= 2
            hi = min(x, hi)
        if hi >= _FOREVER - t0:
            return None
        for fn, need in crossings:
            if fn(hi) >= need:
                hi, event = _first_reaching(fn, need, hi), True
        return t0 + hi if event else None

    def _segment(self, target: int) -> None:
        dt, vol, rem = self._plan_segment(self.t_ms, target, self.reservoir_nl,
                                          self.delivered_nl, self.basal_rem, self.path_old_nl)
        if vol:
            if vol >= self.reservoir_nl:
                vol = self.reservoir_nl
            self.reservoir_nl -= vol
            self.delivered_nl += vol
            old = min(vol, self.path_old_nl)
            if old:
                self.path_old_nl -= old
                self.dose_pg += old * self.path_old_conc
            self.dose_pg += (vol - old) * (self.concentration_ug_per_ml or 0)
        self.basal_rem = rem
        self.t_ms += dt
        self.segments += 1
        self._after_segment()

    def _plan_segment(self, t: int, target: int, reservoir_nl: int, delivered_nl: int,
                      rem: int, path_old_nl: int) -> tuple[int, int, int]:
        """The next segment from run time ``t`` (at most to ``target``) with the given moving
        quantities and the pump's other state: (duration ms >= 1, volume nL before the reservoir
        cap, basal remainder after it). Pure: changes nothing."""
        st = self.machine.state
        end = target
        rate = 0
        bol = self.bolus
        bridge = bol is not None and bol["kind"] == BolusKind.BRIDGE
        delivering = st == "INFUSING" or st == "BOLUS"
        if delivering and self.resume_infusing and self.compiled is not None:
            off = self.wall_offset_ms
            _, rate, nxt = self.compiled.lookup(t + off)
            if nxt - off < end:
                end = nxt - off
            if bridge:
                rate = rate * bol["num"] // bol["den"]  # type: ignore[index]
        bV = bD = e0 = b0 = 0
        if delivering and bol is not None and not bridge:
            bV, bD = bol["volume_nl"], bol["duration_ms"]
            e0 = t - bol["start_ms"]
            b0 = bV * e0 // bD
            bend = bol["start_ms"] + bD
            if bend < end:
                end = bend
        due = self.refill_due_ms
        if due is not None and t < due < end and Alarm.REFILL_DUE not in self.alarms:
            end = due
        dt = end - t

        def f(x: int) -> int:
            """Volume delivered in the first x ms of the segment (nondecreasing, exact)."""
            v = (rate * x + rem) // DAY_MS
            if bD:
                v += bV * (e0 + x) // bD - b0
            return v

        vol = 0
        if delivering:
            vol = (rate * dt + rem) // DAY_MS + (bV * (e0 + dt) // bD - b0 if bD else 0)
            res = reservoir_nl
            if vol >= res:
                dt = _first_reaching(f, res, dt)
                vol = f(dt)
            low = res - self.low_threshold_nl
            if low > 0 and vol >= low and Alarm.LOW_RESERVOIR not in self.alarms:
                dt = _first_reaching(f, low, dt)
                vol = f(dt)
            if bridge and vol >= path_old_nl:
                dt = _first_reaching(f, path_old_nl, dt)
                vol = f(dt)
        if Alarm.END_OF_SERVICE not in self.alarms:
            idle, motor, eri, eos = self._battery_consts()
            base = idle * (t - self.battery_start_ms) + motor * delivered_nl
            for level in (eri, eos):
                need = level - base
                if 0 < need <= idle * dt + motor * vol:
                    dt = _first_reaching(lambda x: idle * x + motor * f(x), need, dt)
                    vol = f(dt) if delivering else 0
        return dt, vol, ((rate * dt + rem) % DAY_MS if delivering else rem)

    def _after_segment(self) -> None:
        """Raise alarms and change state for every condition true at the new run time."""
        t = self.t_ms
        bol = self.bolus
        st = self.machine.state
        if (st == "INFUSING" or st == "BOLUS") and self.reservoir_nl == 0:
            self.basal_rem = 0
            if bol is not None:
                # straight to EMPTY: a single bolus from STOPPED must not pass through STOPPED
                self._finish_bolus("EMPTY", transition=False)
            self._raise_alarm(Alarm.LOW_RESERVOIR, reservoir_nl=0)
            self._raise_alarm(Alarm.EMPTY_RESERVOIR)
            self._trigger("run_dry")
        elif self.reservoir_nl <= self.low_threshold_nl and Alarm.LOW_RESERVOIR not in self.alarms \
                and st in ("INFUSING", "BOLUS"):
            self._raise_alarm(Alarm.LOW_RESERVOIR, reservoir_nl=self.reservoir_nl)
        bol = self.bolus
        if bol is not None and self.machine.state == "BOLUS":
            if bol["kind"] == BolusKind.BRIDGE:
                if self.path_old_nl == 0:
                    self._finish_bolus("COMPLETE")
            elif t >= bol["start_ms"] + bol["duration_ms"]:
                self._finish_bolus("COMPLETE")
        due = self.refill_due_ms
        if due is not None and t >= due and Alarm.REFILL_DUE not in self.alarms:
            self._raise_alarm(Alarm.REFILL_DUE)
        self._check_battery()

    def _bolus_delivered(self, bol: dict[str, int]) -> int:
        if bol["kind"] == BolusKind.BRIDGE:
            return bol["volume_nl"] - self.path_old_nl
        e = min(self.t_ms - bol["start_ms"], bol["duration_ms"])
        return bol["volume_nl"] * e // bol["duration_ms"]

    def _start_bolus(self, kind: BolusKind, volume_nl: int, duration_ms: int) -> None:
        self.bolus = {"kind": int(kind), "volume_nl": volume_nl, "duration_ms": duration_ms,
                      "start_ms": self.t_ms}
        self.bolus_history.append([self.t_ms, self.t_ms + duration_ms,
                                   volume_nl * self._limit_conc(), int(kind)])
        self._trigger("begin_bolus")
        self._event("BOLUS_START", bolus_kind=kind.name, volume_nl=volume_nl,
                    duration_ms=duration_ms, end_ms=self.t_ms + duration_ms)
        if self.reservoir_nl <= self.low_threshold_nl:  # delivering from now on
            self._raise_alarm(Alarm.LOW_RESERVOIR, reservoir_nl=self.reservoir_nl)

    def _finish_bolus(self, outcome: str, transition: bool = True) -> None:
        bol = self.bolus
        assert bol is not None
        delivered = self._bolus_delivered(bol)
        kind = BolusKind(bol["kind"])
        if kind != BolusKind.BRIDGE:
            # the history entry ends now (the window check counts it until 24 h after its end)
            for h in reversed(self.bolus_history):
                if h[0] == bol["start_ms"] and h[3] == bol["kind"]:
                    h[1] = self.t_ms
                    break
        self.bolus = None
        self._event("BOLUS_END", bolus_kind=kind.name, delivered_nl=delivered, outcome=outcome)
        if transition and self.machine.state == "BOLUS":
            self.machine.resume_flag = self.resume_infusing
            self._trigger("end_bolus")

    def _start_bridge(self) -> None:
        assert self.concentration_ug_per_ml
        self.bolus = {"kind": int(BolusKind.BRIDGE), "volume_nl": self.path_old_nl,
                      "num": self.concentration_ug_per_ml, "den": self.path_old_conc,
                      "start_ms": self.t_ms}
        if self.machine.state != "REFILL":  # from REFILL, finish_refill goes to BOLUS itself
            self._trigger("begin_bolus")
        self._event("BOLUS_START", bolus_kind="BRIDGE", volume_nl=self.path_old_nl,
                    old_concentration_ug_per_ml=self.path_old_conc,
                    concentration_ug_per_ml=self.concentration_ug_per_ml)
