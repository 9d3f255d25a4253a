"""Runs a :class:`~host_tools.control.scenario.Scenario` against a pump, one step at a time,
in a thread of its own; every step takes the control plane's locks only while it acts.

In ``jump`` mode the clock is moved forward to each step's time; in ``follow`` mode the runner
waits for the pump's own clock (warp, pauses and manual moves included). The first step that
fails (a refusal, an ``expect`` that does not hold) ends the run as ``failed``.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from firmware_sim import Alarm, Schedule

from . import snapshot
from .controller import Controller
from .errors import ControlError, conflict
from .scenario import Scenario, Step, check_against

log = logging.getLogger(__name__)


def _withdraw_nl(controller: Controller, how: Any) -> int:
    if isinstance(how, int):
        return how
    with controller.host.locked() as pump:
        controller.host.device.run_pending()
        if how == "estimate":
            return pump.reservoir_nl
        return pump.truth().reservoir_nl


def _refill(controller: Controller, args: dict[str, Any]) -> str:
    withdraw = _withdraw_nl(controller, args.get("withdraw", "estimate"))

    def act(pump: Any) -> str:
        conc = args.get("concentration", pump.concentration_ug_per_ml)
        pump.refill_begin()
        flagged = pump.refill_withdrawn(withdraw)
        pump.refill_complete(args["fill"], conc)
        return f"withdrew {withdraw} nL{' (DISCREPANCY)' if flagged else ''}, " \
               f"filled {args['fill']} nL"
    return controller.pump_call("refill", act)


def _expect(controller: Controller, args: dict[str, Any]) -> str:
    with controller.host.locked() as pump:
        controller.host.device.run_pending()
        state = pump.state.name
        alarms = {a.name for a in pump.active_alarms}
    if args["state"] is not None and state != args["state"]:
        raise conflict(f"expected state {args['state']}, the pump is {state}")
    missing = [a for a in args["alarms"] if a not in alarms]
    present = [a for a in args["no_alarms"] if a in alarms]
    if missing or present:
        raise conflict(f"expected alarms {args['alarms']} and not {args['no_alarms']}; "
                       f"active: {sorted(alarms)}")
    return f"state {state}, alarms {sorted(alarms)}"


def _alarm(name: str) -> Alarm:
    try:
        return Alarm[name]
    except KeyError:
        raise conflict(f"no alarm {name!r} (alarms: {', '.join(a.name for a in Alarm)})") \
            from None


def _actions() -> dict[str, Callable[[Controller, Any], Any]]:
    def call(what: str, fn: Callable[[Any], Any]) -> Callable[[Controller, Any], Any]:
        return lambda c, a: c.pump_call(what, fn)
    return {
        "program": lambda c, a: c.pump_call("program", lambda p: p.program_therapy(
            a["drug"], a["concentration"], Schedule.constant(a["rate"]))),
        "start": call("start", lambda p: p.start()),
        "stop": call("stop", lambda p: p.stop()),
        "refill": _refill,
        "refill_begin": call("refill begin", lambda p: p.refill_begin()),
        "withdraw": lambda c, a: c.pump_call("withdraw", lambda p, n=_withdraw_nl(c, a):
                                             p.refill_withdrawn(n)),
        "refill_complete": lambda c, a: c.pump_call("refill complete", lambda p: p.refill_complete(
            a["fill"], a.get("concentration", p.concentration_ug_per_ml))),
        "patient_bolus_setting": lambda c, a: c.pump_call(
            "patient bolus setting", lambda p: p.configure_patient_bolus(**a)),
        "patient_bolus": call("patient bolus", lambda p: snapshot.plain(
            p.request_patient_bolus())),
        "fault": lambda c, a: c.add_fault(a["name"], a["params"]),
        "clear_fault": lambda c, a: c.clear_fault(a),
        "link": lambda c, a: c.set_link_plan("" if a in ("off", None) else a),
        "clock": lambda c, a: c.clock(**a),
        "power_cycle": lambda c, a: c.power_cycle(),
        "acknowledge": lambda c, a: c.pump_call(f"acknowledge {a}",
                                                lambda p: p.acknowledge_alarm(_alarm(a))),
        "expect": _expect,
    }


ACTIONS = _actions()


class ScenarioRun:
    """One run of a scenario (see the module documentation); :meth:`report` says how far."""

    def __init__(self, controller: Controller, scenario: Scenario) -> None:
        self.controller = controller
        self.scenario = scenario
        self.state = "pending"
        self.results: list[dict[str, Any]] = []
        self.start_ms = 0
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"scenario {scenario.name}",
                                        daemon=True)

    def start(self) -> "ScenarioRun":
        """Start running in the background; returns self."""
        self.start_ms = self.controller.host.clock.now_ms()
        self.state = "running"
        log.warning("scenario %r started at pump time %d ms (%d steps, %s)", self.scenario.name,
                    self.start_ms, len(self.scenario.steps), self.scenario.mode)
        self._thread.start()
        return self

    def cancel(self, timeout_s: float = 5.0) -> None:
        """Stop before the next step (a step under way completes)."""
        self._cancel.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def wait(self, timeout_s: float | None = None) -> str:
        """Wait for the run to end; its final state."""
        self._thread.join(timeout_s)
        return self.state

    def _wait_for(self, target_ms: int) -> bool:
        clock = self.controller.host.clock
        if self.scenario.mode == "jump":
            self.controller.advance_to(target_ms)
            return not self._cancel.is_set()
        while not self._cancel.is_set():
            state = clock.state()
            left = target_ms - state.now_ms
            if left <= 0:
                return True
            real_s = 0.2 if state.paused else min(0.2, left / state.warp / 1000)
            self._cancel.wait(max(real_s, 0.001))
        return False

    def _run(self) -> None:
        for step in self.scenario.steps:
            if not self._wait_for(self.start_ms + step.offset_ms):
                self.state = "cancelled"
                return
            if not self._do(step):
                self.state = "failed"
                return
        self.state = "done"
        log.warning("scenario %r done", self.scenario.name)

    def _do(self, step: Step) -> bool:
        result: dict[str, Any] = {"step": step.number, "action": step.action, "text": step.text,
                                  "time_ms": self.controller.host.clock.now_ms()}
        try:
            outcome = ACTIONS[step.action](self.controller, step.args)
            result.update(ok=True, result=snapshot.plain(outcome))
        except ControlError as exc:
            result.update(ok=False, error=exc.message)
        except Exception as exc:  # noqa: BLE001 - a scenario must never take the pump down
            log.exception("scenario step %d failed", step.number)
            result.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        self.results.append(result)
        level = logging.INFO if result["ok"] else logging.ERROR
        log.log(level, "scenario %r step %d (%s): %s", self.scenario.name, step.number,
                step.text, result.get("result", result.get("error")))
        return bool(result["ok"])

    def report(self) -> dict[str, Any]:
        """Name, state (pending, running, done, failed, cancelled), start time, results."""
        return {"name": self.scenario.name, "state": self.state, "mode": self.scenario.mode,
                "start_ms": self.start_ms, "steps": len(self.scenario.steps),
                "results": list(self.results)}


class ScenarioManager:
    """At most one scenario runs at a time on a pump."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.current: ScenarioRun | None = None
        self._lock = threading.Lock()

    def start(self, scenario: Scenario) -> ScenarioRun:
        """Check ``scenario`` against this pump's faults and start it (409 while one runs)."""
        names = {f["name"] for f in self.controller.faults()["faults"]}
        check_against(scenario, names)
        with self._lock:
            if self.current is not None and self.current.state == "running":
                raise conflict(f"scenario {self.current.scenario.name!r} is still running; "
                               "cancel it first (DELETE /api/scenario)")
            self.current = ScenarioRun(self.controller, scenario).start()
            return self.current

    def report(self) -> dict[str, Any] | None:
        """The current (or last) run's report."""
        return None if self.current is None else self.current.report()

    def cancel(self) -> None:
        """Cancel the running scenario, if any."""
        if self.current is not None:
            self.current.cancel()
