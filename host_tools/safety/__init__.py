"""The whole-stack safety machine, shipped as a public base class.

:class:`SafetyMachine` (a hypothesis ``RuleBasedStateMachine``) drives a virtual pump through a
real ``PumpClient`` over a (possibly faulty) link, and after every step checks every safety
invariant of REQUIREMENTS.md (SAF-1 ...) against :class:`Oracle`, an independent reference of
what the pump may have done. :class:`Violation` is raised on the first broken invariant.

Add your own rules and invariants by subclassing (needs the ``test`` extra: hypothesis)::

    from hypothesis.stateful import invariant, rule
    from host_tools.safety import SafetyMachine, Violation

    class MyMachine(SafetyMachine):
        @invariant()
        def reservoir_never_negative(self) -> None:
            status, _, _ = self._read()
            if status.reservoir_nl < 0:
                raise Violation("reservoir below zero")

    TestMine = MyMachine.TestCase

``make_machine(faults=..., only=..., force=...)`` builds focused variants (clean or faulty links,
a subset of rules, a forced set-up); counters of what ran are in :mod:`host_tools.safety.stats`.
"""
from __future__ import annotations

from typing import Any

__all__ = ["Limits", "LoopbackPump", "Oracle", "SafetyMachine", "SessionLink", "Violation",
           "make_machine"]
_HOME = {"Limits": "oracle", "Oracle": "oracle", "Violation": "oracle", "LoopbackPump": "loopback",
         "SafetyMachine": "machine", "SessionLink": "machine", "make_machine": "machine"}


def __getattr__(name: str) -> Any:
    """The public classes, imported on first use (the machine needs hypothesis; the pytest
    plugin imports :mod:`host_tools.safety.stats` in every session)."""
    if name in _HOME:
        import importlib
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
