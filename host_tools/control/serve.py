"""``pumpsim serve`` with a control plane: the pump on a :class:`PumpHost` (switchable link
faults, controllable clock, power cycle, reset), the control server and/or a scenario.
"""
from __future__ import annotations

import logging
import secrets
import threading
from typing import Any

import hal
from firmware_sim import Profile

from .address import ControlOptions
from .controller import Controller
from .errors import ControlError
from .host import MEMORY, PumpHost
from .scenario import Scenario
from .scenario_runner import ScenarioManager
from .server import ControlServer

log = logging.getLogger("pumpsim")


def wrap_link(link: hal.Link) -> hal.FaultInjector:
    """``link`` inside a (switchable) fault injector, unless it already is one."""
    return link if isinstance(link, hal.FaultInjector) else hal.FaultInjector(link)


def serve_controlled(link: hal.FaultInjector, profile: Profile, options: ControlOptions, *,
                     state_path: str | None, warp: float, stop: threading.Event,
                     announce: Any, **device_options: Any) -> None:
    """Serve until ``stop`` is set; ``announce(line)`` prints the control line(s) to stdout.
    A scenario that names a fault this pump lacks is a :class:`ControlError` (400)."""
    host = PumpHost(profile, link, state_path=state_path or MEMORY, warp=warp,
                    **device_options)
    log.info("pump %s, profile %s, state %s, warp %g, run clock at %d ms (controlled)",
             device_options.get("serial_number"), host.pump.profile.name,
             host.describe_store(), warp, host.pump.t_ms)
    controller = Controller(host, allow_reset=options.allow_reset)
    scenarios = ScenarioManager(controller)
    server = None
    host.start()
    try:
        if options.sock is not None:
            token = options.token
            if token is None and options.allow_remote:
                token = secrets.token_urlsafe(24)
            server = ControlServer(controller, options.sock, token=token,
                                   scenarios=scenarios).start()
            announce(f"control: {server.url}")
            if server.token and options.token is None:
                announce(f"control-token: {server.token}")
        if options.scenario is not None:
            scenarios.start(options.scenario)
        while not stop.is_set():
            stop.wait(0.5)
    except ControlError as exc:
        log.error("scenario refused: %s", exc.message)
        raise
    finally:
        if server is not None:
            server.stop()
        scenarios.cancel()
        host.close()
