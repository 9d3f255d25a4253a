"""Control server addresses and tokens, checked before anything heavy is imported or started:
``HOST:PORT`` parsing, the loopback rule, token files, binding the listening socket.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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


@dataclass
class ControlOptions:
    """What ``pumpsim serve`` was asked for: a bound control socket (or None), its token, the
    reset permission and a checked scenario (or None)."""

    sock: socket.socket | None = None
    token: str | None = None
    allow_remote: bool = False
    allow_reset: bool = False
    scenario: Any = None  # a checked host_tools.control.scenario.Scenario
