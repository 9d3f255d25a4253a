"""The whole-stack safety machine: PumpClient -> faulty virtual link -> Device -> Pump -> SQLite.

A hypothesis ``RuleBasedStateMachine`` sends random commands in clinician and patient sessions
(and with wrong keys), injects link faults, raw attacks (replays, forged tags, unauthenticated and
malformed frames), moves the pump's clock (forward, to the edges of lockouts, boluses and alarm
thresholds, by months and years) and the wall clock (backwards and forwards with SET_CLOCK),
refills, stalls the motor and cuts the power. After every step it checks every safety invariant
of REQUIREMENTS.md against the oracle of :mod:`host_tools.safety.oracle` (see
:meth:`SafetyMachine.check`).

``make_machine(faults=..., name=...)`` returns a machine class (``only=`` focuses it on a few
rules, for the planted-bug hunts); the tests run it with hypothesis's state-machine runner.
Counters of examples, steps, commands, states and alarms go to :mod:`host_tools.safety.stats`.

The pump is served synchronously in the machine's own thread over an in-process loopback
(:mod:`host_tools.safety.loopback`): the same device, session rules, model and store as a
threaded virtual pump, without thread hand-offs or timed waits. The rules and checks live in
:mod:`~host_tools.safety.rules_therapy`, :mod:`~host_tools.safety.rules_faults`,
:mod:`~host_tools.safety.rules_attacks` and :mod:`~host_tools.safety.checks`, on the plumbing of
:mod:`~host_tools.safety.base`; what they draw is in :mod:`~host_tools.safety.draws`.

One host link serves a whole example; each session sees it through its own fault injector and
records its frames (for replays). A command's outcome is "ok", "refused" or, when the answer was
lost for good, decided from the pump's event log after a fresh round trip.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

from .base import ALARMS, CLINICIAN_ONLY, MARKERS, MachineBase
from .checks import Checks
from .draws import HOUR_MS, YEAR_MS
from .links import SessionLink
from .rules_attacks import AttackRules
from .rules_faults import FaultAndTimeRules
from .rules_therapy import TherapyRules
from .rules_windows import WindowRules
from .oracle import DAY_MS, MINUTE_MS, Limits, Oracle, Violation
from . import stats


class SafetyMachine(TherapyRules, FaultAndTimeRules, AttackRules, WindowRules, Checks,
                    MachineBase):
    """The whole-stack safety machine (see the module documentation). Subclasses set FAULTS
    (link faults allowed), PROFILE (a device profile name) and FORCE (set-up forced:
    "patient", "start", "low fill"); add rules with ``@rule`` and invariants with
    ``@invariant`` raising :class:`host_tools.safety.Violation`."""


def make_machine(faults: bool = True, name: str = "SafetyMachine", *,
                 only: set[str] | None = None, force: set[str] = frozenset(),
                 profile: str | None = None) -> type[SafetyMachine]:
    """A machine class; ``faults`` allows faulty links (drops, corruption, duplicates...).

    ``only`` keeps just the named rules (a focused machine with the same oracle and checks, for
    hunting one kind of bug fast); ``force`` fixes parts of the set-up ("patient": patient
    boluses configured, "start": therapy running, "low fill": a fill just above the threshold).
    ``profile`` names the device profile (default ip20; a variant such as "ip20+windows", see
    :mod:`host_tools.safety.device_profiles`).
    """
    attrs: dict[str, Any] = {"FAULTS": faults, "FORCE": frozenset(force)}
    if profile is not None:
        attrs["PROFILE"] = profile
    if only is not None:
        for attr, value in inspect.getmembers(SafetyMachine):
            if getattr(value, "hypothesis_stateful_rule", None) is not None and attr not in only:
                attrs[attr] = _plain(value)  # still callable by other rules, no longer a rule
    return type(name, (SafetyMachine,), attrs)


def _plain(method: Callable[..., Any]) -> Callable[..., Any]:
    def call(self: SafetyMachine, *args: Any, **kwargs: Any) -> Any:
        return method(self, *args, **kwargs)
    return call


__all__ = ["ALARMS", "CLINICIAN_ONLY", "DAY_MS", "HOUR_MS", "Limits", "MARKERS", "MINUTE_MS",
           "MachineBase", "Oracle", "SafetyMachine", "SessionLink", "Violation", "YEAR_MS",
           "make_machine", "stats"]
