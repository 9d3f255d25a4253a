"""The control server: the control application on uvicorn, in a thread beside the device.

The socket is bound before the thread starts, so a bad or busy address is reported at once;
an address other than loopback is refused unless remote access is allowed, and then a bearer
token is required (generated unless given).
"""
from __future__ import annotations

import ipaddress
import logging
import secrets
import socket
import threading
from pathlib import Path

import uvicorn

from .app import create_app
from .controller import Controller
from .scenario_runner import ScenarioManager

log = logging.getLogger(__name__)


class ControlAddressError(ValueError):
    """A control address that cannot be used (the message says why)."""


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) -> (host, port); port 0 picks a free one."""
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise ControlAddressError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:0)")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    """True for localhost and the loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(path: str) -> str:
    """The token in file ``path`` (first line, stripped; at least 16 characters)."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip().splitlines()[0].strip()
    except (OSError, IndexError, UnicodeDecodeError) as exc:
        raise ControlAddressError(f"cannot read a token from {path}: {exc}") from None
    if len(token) < 16:
        raise ControlAddressError(f"the token in {path} is shorter than 16 characters")
    return token


def bind(address: str, *, allow_remote: bool = False) -> socket.socket:
    """A listening socket on ``address`` (HOST:PORT); loopback only unless ``allow_remote``."""
    host, port = parse_address(address)
    if not is_loopback(host) and not allow_remote:
        raise ControlAddressError(f"{host} is not a loopback address; the control server "
                                  "listens on loopback only unless --control-allow-remote")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(64)
    except OSError as exc:
        sock.close()
        raise ControlAddressError(f"cannot listen on {address}: {exc.strerror}") from None
    return sock


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
