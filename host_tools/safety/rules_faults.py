"""The safety machine's rules of alarms, faults, time and power: acknowledgements, injected
faults (motor, memory, battery, delivery mechanism), moves of the pump's clock (to the edges of
what must happen) and of the wall clock, and power losses."""
from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from protocol import FAULT_WIRE, FaultKind
from host_tools.errors import ConnectionFailed, ResponseTimeout

from . import draws, stats
from .base import ALARMS, MachineBase, _diff
from .oracle import DAY_MS, DELIVERING, MINUTE_MS, Violation

HOUR_MS = 3_600_000
YEAR_MS = 365 * DAY_MS


class FaultAndTimeRules(MachineBase):
    """Alarms, injected faults, the clocks and power losses."""

    @rule(alarm=st.sampled_from(ALARMS))
    def ack_alarm(self, alarm: str) -> None:
        from protocol import Alarm
        out, _, evs = self.command("ack_alarm", lambda c: c.ack_alarm(Alarm[alarm]))
        if not self.lost(out, evs):
            self.oracle.on_ack(alarm, self.executed(out, evs))

    @rule(kind=st.sampled_from([FaultKind.MOTOR_STALL, FaultKind.MOTOR_STALL,
                                FaultKind.MEMORY_ERROR, FaultKind.CLEAR_MOTOR_STALL,
                                FaultKind.CLEAR_MOTOR_STALL, FaultKind.BATTERY_ERI,
                                FaultKind.END_OF_SERVICE]))
    def inject_fault(self, kind: FaultKind) -> None:
        out, _, evs = self.command("inject_fault", lambda c: c.inject_fault(kind))
        if self.forbidden("inject_fault") or self.lost(out, evs):
            return
        ran = self.executed(out, evs)
        o = self.oracle
        if kind is FaultKind.MOTOR_STALL:
            o.on_stall(ran)
        elif kind is FaultKind.MEMORY_ERROR and ran:
            o.on_memory_error()
        elif kind is FaultKind.CLEAR_MOTOR_STALL:
            o.on_ack("MOTOR_STALL", ran)
        elif kind in (FaultKind.BATTERY_ERI, FaultKind.END_OF_SERVICE):
            o.on_battery_drain(kind is FaultKind.END_OF_SERVICE, ran)

    @rule(kind=st.sampled_from([FaultKind.OVER_INFUSION, FaultKind.UNDER_INFUSION,
                                FaultKind.OCCLUSION, FaultKind.LEAK]),
          value=st.one_of(st.sampled_from([1, 50, 100, 145, 1000]), st.integers(0, 1001)),
          clear=st.booleans())
    def mechanism_fault(self, kind: FaultKind, value: int, clear: bool) -> None:
        """Raise or clear a fault of the delivery mechanism (invariant 13 follows the truth)."""
        name = FAULT_WIRE[kind].model_name
        out, _, evs = self.command("inject_fault",
                                   lambda c: c.inject_fault(kind, value, clear=clear))
        if self.forbidden("inject_fault") or self.lost(out, evs):
            return
        self.oracle.on_mechanism_fault(name, value, clear, self.executed(out, evs))

    def _advance(self, delta: int) -> None:
        """Move the pump's clock by ``delta`` ms; check what may happen meanwhile."""
        stats.count("advance")
        st0 = self._status()
        self.vp.advance(delta)
        self.oracle.advance(self.clock.now_ms())
        st1 = self._status()
        if st1.time_ms != self.clock.now_ms():
            raise Violation(f"pump run clock {st1.time_ms} != clock {self.clock.now_ms()}")
        stats.count("check.SAF-3")
        if st0.state.name not in DELIVERING and st1.delivered_nl != st0.delivered_nl:
            raise Violation(f"{st1.delivered_nl - st0.delivered_nl} nL delivered while "
                            f"{st0.state.name}")
        due = st0.refill_due_ms
        if due is not None and st0.time_ms < due <= st1.time_ms and \
                not any(a.alarm.name == "REFILL_DUE" for a in st0.alarms):
            got = {a.alarm.name: a.raised_ms for a in st1.alarms}
            if got.get("REFILL_DUE") != due and st1.state.name != "END_OF_SERVICE":
                raise Violation(f"refill due at {due} but REFILL_DUE raised at "
                                f"{got.get('REFILL_DUE')}")
        self._drain_events()

    @rule(delta=st.one_of(st.integers(1, 10 * MINUTE_MS), st.integers(1, 6 * HOUR_MS),
                          st.integers(HOUR_MS, 2 * DAY_MS)))
    def advance(self, delta: int) -> None:
        self._advance(delta)

    @rule(days=st.integers(2, 60))
    def advance_days(self, days: int) -> None:
        self._advance(days * DAY_MS)

    @precondition(lambda self: self.huge_jumps < 1)
    @rule(years=st.integers(1, 8))
    def advance_years(self, years: int) -> None:
        self.huge_jumps += 1
        self._advance(years * YEAR_MS)

    @rule(data=st.data())
    def advance_to_edge(self, data: st.DataObject) -> None:
        """Move to just before, at or just after a moment where something must happen."""
        edges = self.edges()
        if not edges:
            self._advance(1)
            return
        target = draws.pick(data, sorted(edges)) + data.draw(draws.EDGE_OFFSET, label="offset")
        now = self.clock.now_ms()
        self._advance(max(1, target - now))

    def edges(self) -> set[int]:
        """Oracle moments: lockout and 24 h ends, bolus end, step boundary, threshold and
        empty crossings, a dose window's end and limit, refill due."""
        o = self.oracle
        now = o.t
        out: set[int] = set()
        if o.patient and o.grants:
            out.add(o.grants[-1] + o.patient["lockout_ms"])
            out.add(o.grants[0] + DAY_MS)
        if o.bolus is not None:
            out.add(o.bolus.end)
        if o.plan is not None:
            out.add(now + o.plan.boundaries(o.wall) - o.wall)
        if o.exact and o.state in DELIVERING:
            horizon = now + 400 * DAY_MS
            if o._given(horizon) >= o.reservoir > 0:
                out.add(o._first(o.reservoir, horizon))
            if o.reservoir > o.low and o._given(horizon) >= o.reservoir - o.low:
                out.add(o._first(o.reservoir - o.low, horizon))
        if o.window is not None:  # the dose window's end and the moment its limit is due
            out.add(o.window_end() or 0)
            out.add(o.window_limit_due() or 0)
        with self.vp.device.lock:
            due = self.vp.pump.refill_due_ms
        if due is not None:
            out.add(due)
        return {e for e in out if e > now + 1}

    @rule(data=st.data())
    def set_clock(self, data: st.DataObject) -> None:
        o = self.oracle
        if data.draw(st.booleans(), label="anywhere"):
            wall = data.draw(draws.ANY_WALL, label="wall")
        else:  # back or forward by up to two days
            wall = max(0, o.wall + data.draw(draws.CLOCK_STEP, label="wall change"))
        out, _, evs = self.command("set_clock", lambda c: c.set_clock(wall))
        if not self.forbidden("set_clock"):
            o.on_set_clock(wall, self.executed(out, evs))

    @rule()
    def power_loss(self) -> None:
        """Restart from the state file: every acknowledged change and log entry survives."""
        stats.count("restart")
        stats.count("check.SAF-9")
        with self.vp.device.lock:
            before = self.vp.pump.snapshot()
            log_before = self.vp.pump.read_events(0, 1_000_000)
        self.vp.restart()
        with self.vp.device.lock:
            after = self.vp.pump.snapshot()
            log_after = self.vp.pump.read_events(0, 1_000_000)
        if after != before:
            raise Violation(f"restart changed the pump: {_diff(before, after)}")
        if log_after[:len(log_before)] != log_before:
            raise Violation("restart lost or changed event log entries")
        assert self.client is not None
        try:
            self.client.reconnect()
        except (ConnectionFailed, ResponseTimeout):
            self._connect(self.role, self.plan)
        self._drain_events()
