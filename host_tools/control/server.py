"""The control server: the control application on uvicorn, in a thread beside the device.

The socket is bound first (:func:`host_tools.control.address.bind`), so a bad or busy address
is reported at once; a socket on another address than loopback gets a bearer token.
"""
from __future__ import annotations

import logging
import secrets
import socket
import threading

import uvicorn

from .address import ControlAddressError, bind, is_loopback, parse_address, read_token

from .app import create_app
from .controller import Controller
from .scenario_runner import ScenarioManager

log = logging.getLogger(__name__)

__all__ = ["ControlAddressError", "ControlServer", "bind", "is_loopback", "parse_address",
           "read_token"]


class ControlServer:
    """Serve ``controller`` on the listening socket ``sock`` (see :func:`bind`) until
    :meth:`stop`. ``token`` (required for a non-loopback socket: one is generated when None)
    guards every API route. :attr:`url` is the dashboard's address.
    """

    def __init__(self, controller: Controller, sock: socket.socket, *,
                 token: str | None = None, scenarios: ScenarioManager | None = None) -> None:
        bound = sock.getsockname()
        if token is None and not is_loopback(bound[0]):
            token = secrets.token_urlsafe(24)
        self.token = token
        self.controller = controller
        self.scenarios = scenarios or ScenarioManager(controller)
        self.closing = threading.Event()
        self.app = create_app(controller, token=token, scenarios=self.scenarios,
                              closing=self.closing)
        self.sock = sock
        shown = f"[{bound[0]}]" if sock.family == socket.AF_INET6 else bound[0]
        self.url = f"http://{shown}:{bound[1]}/"
        config = uvicorn.Config(self.app, log_level="warning", access_log=False,
                                timeout_graceful_shutdown=1, lifespan="off")
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def start(self) -> "ControlServer":
        """Serve in a daemon thread; returns self."""
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                        name="control-server", daemon=True)
        self._thread.start()
        log.info("control server on %s%s", self.url, " (bearer token required)"
                 if self.token else "")
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """End live streams, stop the server and the running scenario."""
        self.closing.set()
        self.scenarios.cancel()
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.sock.close()
