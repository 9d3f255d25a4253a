"""Control plane of a running virtual pump: an HTTP API and a live dashboard beside the
clinical link (faults switched at run time, clock moves, power cycles, resets, scenarios),
a typed client, and the ``pumpsim control`` commands.

Server side: :class:`PumpHost` (the served pump), :class:`Controller` (every action, checked),
:func:`create_app` / :class:`ControlServer` (HTTP). Client side: :class:`ControlClient`.
"""
from __future__ import annotations

from .clock import ClockError, ControlClock
from .errors import ControlError

__all__ = ["ClockError", "ControlClock", "ControlError"]
