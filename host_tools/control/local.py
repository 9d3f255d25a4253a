"""A controlled virtual pump in this process: a :class:`PumpHost` on ``virtual://NAME`` with
its control server on loopback, for tests of programmers (the ``pump_control`` fixture).
"""
from __future__ import annotations

import uuid
from types import TracebackType
from typing import Any

import hal
from firmware_sim import load_profile

from .address import bind
from .controller import Controller
from .host import PumpHost
from .server import ControlServer


class LocalControlledPump:
    """A running controlled pump: :attr:`url` (its clinical link, ``virtual://...``),
    :attr:`control` (its control URL), :attr:`host` and :attr:`controller`. Resets are
    allowed. ``options`` go to :class:`PumpHost` (state_path, warp, keys, serial_number...)."""

    def __init__(self, profile: str = "ip20", **options: Any) -> None:
        self.url = f"virtual://control-{uuid.uuid4().hex[:12]}"
        link = hal.FaultInjector(hal.open(self.url, end="pump"))
        self.host = PumpHost(load_profile(profile), link,
                             reopen_inner=lambda: hal.open(self.url, end="pump"), **options)
        self.controller = Controller(self.host, allow_reset=True)
        self.server = ControlServer(self.controller, bind("127.0.0.1:0"))
        self.control = self.server.url
        self.host.start()
        self.server.start()

    def close(self) -> None:
        """Stop the server and the pump; close the link."""
        self.server.stop()
        self.host.close()
        self.host.link.close()

    def __enter__(self) -> "LocalControlledPump":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
