"""Every control action on a served pump, with its checks; the HTTP layer only translates.

Each action holds the host's lock (and the device's) for its whole duration, checks its input
first and changes nothing when it refuses (:class:`ControlError` with a specific message).
Every action taken is logged.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from firmware_sim import Rejected

from . import link_faults, model_faults, snapshot
from .clock import ClockError
from .errors import ControlError, bad_request, conflict
from .host import PumpHost

log = logging.getLogger(__name__)

MAX_EVENTS_PAGE = 1000
MAX_ADVANCE_MS = 10 * 365 * 86_400_000  # ten years of pump time in one move
CLOCK_ACTIONS = ("advance", "pause", "resume", "warp")


def _int_arg(name: str, value: Any, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"{name} must be an integer, got {value!r}")
    if not minimum <= value <= maximum:
        raise bad_request(f"{name}={value} is outside {minimum}..{maximum}")
    return value


class Controller:
    """The control plane of one :class:`PumpHost`. ``allow_reset`` enables :meth:`reset`."""

    def __init__(self, host: PumpHost, *, allow_reset: bool = False) -> None:
        self.host = host
        self.allow_reset = allow_reset
        self.started = time.time()

    # ------------------------------------------------------------------ reading
    def status(self) -> dict[str, Any]:
        """Pump status, truth ledger, link statistics, clock, faults in force."""
        host = self.host
        with host.locked() as pump:
            pump.tick(commit=False)  # the pump at its clock's now; the device commits it
            clock = host.clock.state()
            return {
                "pump": snapshot.pump_status(pump),
                "truth": snapshot.truth(pump),
                "link": {**snapshot.link_stats(host.device),
                         "faults": link_faults.describe(host.injector)},
                "clock": {"now_ms": clock.now_ms, "warp": clock.warp, "paused": clock.paused},
                "faults": {**model_faults.active(pump), **link_faults.active(host.injector)},
                "generation": host.resets,
                "power_cycles": host.power_cycles,
                "allow_reset": self.allow_reset,
            }

    def events(self, since: int = 0, limit: int = 200) -> dict[str, Any]:
        """Log entries from index ``since`` (at most ``limit``) and the index to ask next."""
        since = _int_arg("since", since, 0, 2**63)
        limit = _int_arg("limit", limit, 1, MAX_EVENTS_PAGE)
        with self.host.locked() as pump:
            items = snapshot.events(pump, since, limit)
            return {"events": items, "next": items[-1]["index"] + 1 if items else since,
                    "count": pump.status().event_count, "generation": self.host.resets}

    # ------------------------------------------------------------------ faults
    def faults(self) -> dict[str, Any]:
        """Every model and link fault, with parameters, ranges and what is in force."""
        with self.host.locked() as pump:
            on = {**model_faults.active(pump), **link_faults.active(self.host.injector)}
            model = [{"kind": "model", **snapshot.plain(f)} for f in model_faults.catalog(pump)]
            items = model + link_faults.catalog()
            for item in items:
                item["active"] = item["name"] in on
                item["values"] = on.get(item["name"])
            return {"faults": items}

    def add_fault(self, name: Any, params: Any = None) -> dict[str, Any]:
        """Switch fault ``name`` on (model or link) with ``params``."""
        if not isinstance(name, str) or not name:
            raise bad_request("name must be a fault's name (GET /api/faults lists them)")
        with self.host.locked() as pump:
            self.host.device.run_pending()  # the fault strikes at the pump's now
            if name.startswith(link_faults.PREFIX):
                values = link_faults.raise_fault(self.host.injector, name, params)
            else:
                values = model_faults.raise_fault(pump, name, params)
            self.host.device.run_pending()
        log.warning("control: fault %s on %s", name, values)
        return {"name": name, "active": True, "values": values}

    def clear_fault(self, name: str) -> dict[str, Any]:
        """Switch fault ``name`` off."""
        with self.host.locked() as pump:
            self.host.device.run_pending()
            if name.startswith(link_faults.PREFIX):
                link_faults.clear_fault(self.host.injector, name)
            else:
                model_faults.clear_fault(pump, name)
            self.host.device.run_pending()
        log.warning("control: fault %s off", name)
        return {"name": name, "active": False}

    def set_link_plan(self, spec: Any) -> dict[str, Any]:
        """Replace the whole link fault plan (a scenario's "link" action)."""
        with self.host.locked():
            plan = link_faults.set_plan(self.host.injector, spec)
        log.warning("control: link fault plan %s", plan)
        return snapshot.plain(plan)

    # ------------------------------------------------------------------ clock
    def clock(self, action: Any, ms: Any = None, warp: Any = None) -> dict[str, Any]:
        """``advance`` by ``ms``, ``pause``, ``resume``, or ``warp`` (simulated s per real s);
        the pump is run to the new now at once (alarms due in between are raised in order)."""
        if action not in CLOCK_ACTIONS:
            raise bad_request(f"action must be one of {', '.join(CLOCK_ACTIONS)}, got {action!r}")
        if action == "advance":
            ms = _int_arg("ms", ms, 0, MAX_ADVANCE_MS)
        elif ms is not None:
            raise bad_request(f"ms goes only with advance, not {action}")
        if action == "warp":
            if isinstance(warp, bool) or not isinstance(warp, (int, float)):
                raise bad_request(f"warp must be a number, got {warp!r}")
        elif warp is not None:
            raise bad_request(f"warp goes only with action warp, not {action}")
        clock = self.host.clock
        with self.host.locked():
            try:
                if action == "advance":
                    clock.advance(ms)
                elif action == "pause":
                    clock.pause()
                elif action == "resume":
                    clock.resume()
                else:
                    clock.set_warp(float(warp))
            except ClockError as exc:
                raise bad_request(str(exc)) from None
            self.host.device.run_pending()
            state = clock.state()
        log.warning("control: clock %s%s", action,
                    f" {ms} ms" if action == "advance" else f" {warp}" if action == "warp" else "")
        return {"now_ms": state.now_ms, "warp": state.warp, "paused": state.paused}

    def advance_to(self, t_ms: int) -> None:
        """Move the clock forward to pump time ``t_ms`` (scenarios) and run the pump to it."""
        with self.host.locked():
            self.host.clock.advance_to(t_ms)
            self.host.device.run_pending()

    # ------------------------------------------------------------------ power
    def power_cycle(self) -> dict[str, Any]:
        """Power loss and restart from the state file."""
        pump = self.host.power_cycle()
        return {"time_ms": pump.t_ms, "state": pump.state.name,
                "power_cycles": self.host.power_cycles}

    def reset(self) -> dict[str, Any]:
        """A fresh pump (403 unless the server was started with --allow-reset)."""
        if not self.allow_reset:
            raise ControlError(403, "reset is disabled: start pumpsim serve with --allow-reset")
        pump = self.host.reset()
        return {"time_ms": pump.t_ms, "state": pump.state.name, "generation": self.host.resets}

    # ------------------------------------------------------------------ model commands
    def pump_call(self, what: str, call: Any) -> Any:
        """Run ``call(pump)`` under the locks (scenario actions); a model refusal is a 409."""
        with self.host.locked() as pump:
            self.host.device.run_pending()
            try:
                result = call(pump)
            except Rejected as exc:
                raise conflict(f"{what}: the pump refused ({exc.code.value}): "
                               f"{exc.reason}") from None
            self.host.device.run_pending()
        log.warning("control: %s", what)
        return result
