"""The pump's state machine (built with the ``transitions`` library): therapy and alarms as two
parallel regions of one hierarchical machine.

The therapy region holds the delivery states (idle = STOPPED, INFUSING, BOLUS, REFILL, EMPTY,
FAULT, END_OF_SERVICE). The alarm region is itself parallel: one sub-region per alarm, each
``off`` -> ``sounding`` -> ``silenced`` (acknowledged) -> ``off``, so "low-reservoir alarm" is the
state ``pump__alarms__LOW_RESERVOIR__sounding`` a reader finds in the machine, and alarms stay
orthogonal to therapy (a bolus runs while the low-reservoir alarm sounds). :func:`pump_machine`
builds the whole machine; :func:`state_diagram` draws it (Mermaid, generated into
``docs/state-machine.md`` by ``python -m firmware_sim.statemachine``). The alarm latching the pump
applies (:data:`CLEARED_BY_ACK`) is read from this declaration.

Transitions table (trigger: sources -> destination [condition]):

=================  ===========================================  =====================================
trigger            sources                                      destination
=================  ===========================================  =====================================
start              STOPPED                                      INFUSING
stop               INFUSING, BOLUS                              STOPPED
begin_bolus        STOPPED, INFUSING                            BOLUS
end_bolus          BOLUS                                        INFUSING [resume_infusing] else STOPPED
begin_refill       STOPPED, INFUSING, BOLUS, EMPTY              REFILL
finish_refill      REFILL                                       BOLUS [bridge_needed], INFUSING
                                                                [resume_infusing] else STOPPED
run_dry            INFUSING, BOLUS                              EMPTY
stall              STOPPED, INFUSING, BOLUS, REFILL, EMPTY      FAULT
clear_fault        FAULT                                        STOPPED
memory_fault       STOPPED, INFUSING, BOLUS, REFILL, EMPTY      STOPPED
end_service        every state but END_OF_SERVICE               END_OF_SERVICE
=================  ===========================================  =====================================

END_OF_SERVICE is terminal. An invalid trigger raises ``transitions.MachineError``, which the pump
turns into ``Rejected(INVALID_STATE)`` before anything changes.

:meth:`TherapyMachine.fire` runs a trigger through a dispatch table compiled once from the
``transitions`` machine's own events (same sources, destinations, conditions and order). The
machine declares no enter/exit callbacks, so this is the same transition as calling the trigger,
without the library's per-call event object and logging: the model fires thousands of
transitions per simulated year.
"""
from __future__ import annotations

from typing import Any

from transitions import Machine, MachineError

from .enums import Alarm, TherapyState

S = TherapyState
_ALL_BUT_EOS = [s.name for s in S if s is not S.END_OF_SERVICE]

TRANSITIONS = [
    {"trigger": "start", "source": "STOPPED", "dest": "INFUSING"},
    {"trigger": "stop", "source": ["INFUSING", "BOLUS"], "dest": "STOPPED"},
    {"trigger": "begin_bolus", "source": ["STOPPED", "INFUSING"], "dest": "BOLUS"},
    {"trigger": "end_bolus", "source": "BOLUS", "dest": "INFUSING", "conditions": "resume_infusing"},
    {"trigger": "end_bolus", "source": "BOLUS", "dest": "STOPPED"},
    {"trigger": "begin_refill", "source": ["STOPPED", "INFUSING", "BOLUS", "EMPTY"], "dest": "REFILL"},
    {"trigger": "finish_refill", "source": "REFILL", "dest": "BOLUS", "conditions": "bridge_needed"},
    {"trigger": "finish_refill", "source": "REFILL", "dest": "INFUSING",
     "conditions": "resume_infusing"},
    {"trigger": "finish_refill", "source": "REFILL", "dest": "STOPPED"},
    {"trigger": "run_dry", "source": ["INFUSING", "BOLUS"], "dest": "EMPTY"},
    {"trigger": "stall", "source": ["STOPPED", "INFUSING", "BOLUS", "REFILL", "EMPTY"], "dest": "FAULT"},
    {"trigger": "clear_fault", "source": "FAULT", "dest": "STOPPED"},
    {"trigger": "memory_fault", "source": ["STOPPED", "INFUSING", "BOLUS", "REFILL", "EMPTY"],
     "dest": "STOPPED"},
    {"trigger": "end_service", "source": _ALL_BUT_EOS, "dest": "END_OF_SERVICE"},
]


class TherapyMachine:
    """Holds the therapy state; the two condition flags are set by the pump before a trigger."""

    def __init__(self, initial: TherapyState = TherapyState.STOPPED) -> None:
        self.resume_flag = False
        self.bridge_flag = False
        self.machine = Machine(model=self, states=[s.name for s in S], transitions=TRANSITIONS,
                               initial=initial.name, auto_transitions=False)
        self._table = _compile(self.machine)

    def resume_infusing(self) -> bool:
        """Condition: therapy continues (infusing) after the bolus/refill."""
        return self.resume_flag

    def bridge_needed(self) -> bool:
        """Condition: a bridge bolus follows the refill."""
        return self.bridge_flag

    @property
    def therapy_state(self) -> TherapyState:
        """The current state as the shared enum."""
        return TherapyState[self.state]

    def can(self, trigger: str) -> bool:
        """True when ``trigger`` is valid from the current state."""
        return (trigger, self.state) in self._table

    def fire(self, trigger: str) -> str:
        """Run ``trigger`` from the current state and return the new state's name: the first
        transition whose conditions hold wins; none holding leaves the state unchanged.
        Raises ``MachineError`` when the trigger is not valid from the current state."""
        options = self._table.get((trigger, self.state))
        if options is None:
            raise MachineError(f"Can't trigger event {trigger} from state {self.state}!")
        for dest, conditions in options:
            if all(getattr(self, c)() for c in conditions):
                self.state = dest
                break
        return self.state


def _compile(machine: Machine) -> dict[tuple[str, str], list[tuple[str, tuple[str, ...]]]]:
    """(trigger, source) -> [(dest, condition method names)] from the machine's events."""
    table: dict[tuple[str, str], list[tuple[str, tuple[str, ...]]]] = {}
    for name, event in machine.events.items():
        for source, transitions in event.transitions.items():
            for t in transitions:
                if any(not c.target for c in t.conditions) or t.before or t.after \
                        or t.prepare:
                    raise ValueError(f"{name}: only plain 'conditions' are supported")
                table.setdefault((name, source), []).append(
                    (t.dest, tuple(c.func for c in t.conditions)))
    return table


# --- the alarm region and the whole machine ----------------------------------------------------
SEP = "__"  # state path separator (state names themselves contain single underscores)
# how each alarm ends: "ack" (an acknowledgement clears it), "condition" (it stays, silenced,
# until its condition ends, e.g. a completed refill) or "never" (the battery does not recover)
ALARM_ENDS: dict[Alarm, str] = {
    Alarm.LOW_RESERVOIR: "condition", Alarm.EMPTY_RESERVOIR: "condition",
    Alarm.REFILL_DUE: "condition", Alarm.BATTERY_ERI: "never", Alarm.END_OF_SERVICE: "never",
    Alarm.MOTOR_STALL: "ack", Alarm.MEMORY_ERROR: "ack", Alarm.REFILL_DISCREPANCY: "ack",
    Alarm.REDUCED_BATTERY: "never",
}


def alarm_transitions(alarm: Alarm) -> list[dict[str, Any]]:
    """The transitions of one alarm's sub-region (state names relative to the region)."""
    a = alarm.name
    out: list[dict[str, Any]] = [{"trigger": f"raise_{a}", "source": "off", "dest": "sounding"}]
    if ALARM_ENDS[alarm] == "ack":
        out.append({"trigger": f"ack_{a}", "source": "sounding", "dest": "off"})
    else:
        out.append({"trigger": f"ack_{a}", "source": "sounding", "dest": "silenced"})
    if ALARM_ENDS[alarm] == "condition":
        out.append({"trigger": f"clear_{a}", "source": ["sounding", "silenced"], "dest": "off"})
    return out


CLEARED_BY_ACK = frozenset(a for a in Alarm if any(
    t["trigger"].startswith("ack_") and t["dest"] == "off" for t in alarm_transitions(a)))


def _path(*parts: str) -> str:
    return SEP.join(parts)


def pump_machine(model: Any = None) -> Any:
    """The whole machine: ``pump`` with the parallel regions ``therapy`` (the transitions of
    :data:`TRANSITIONS`) and ``alarms`` (one parallel sub-region per :class:`Alarm`)."""
    therapy = {"name": "therapy", "children": [s.name for s in S], "initial": "STOPPED"}
    alarms = {"name": "alarms", "parallel": [
        {"name": a.name, "children": ["off", "sounding", "silenced"], "initial": "off"}
        for a in Alarm]}
    transitions: list[dict[str, Any]] = []
    for t in TRANSITIONS:
        src = t["source"] if isinstance(t["source"], list) else [t["source"]]
        transitions.append({**t, "source": [_path("pump", "therapy", x) for x in src],
                            "dest": _path("pump", "therapy", t["dest"])})
    for a in Alarm:
        for t in alarm_transitions(a):
            src = t["source"] if isinstance(t["source"], list) else [t["source"]]
            transitions.append({**t, "source": [_path("pump", "alarms", a.name, x) for x in src],
                                "dest": _path("pump", "alarms", a.name, t["dest"])})
    holder = model if model is not None else _ConditionModel()
    # the diagram extension is imported here, not at start-up: only documents and tests draw
    from transitions.extensions.diagrams import HierarchicalGraphMachine

    class _State(HierarchicalGraphMachine.state_cls):  # type: ignore[name-defined, misc]
        separator = SEP

    class _PumpMachine(HierarchicalGraphMachine):
        state_cls = _State

    return _PumpMachine(model=holder, states=[{"name": "pump", "parallel": [therapy, alarms]}],
                        transitions=transitions, initial="pump", auto_transitions=False,
                        graph_engine="mermaid", show_conditions=True,
                        title="intrapump state machine")


class _ConditionModel:
    """A model for drawing: the therapy conditions (never consulted while drawing)."""

    def resume_infusing(self) -> bool:
        return False

    def bridge_needed(self) -> bool:
        return False


def state_diagram() -> str:
    """The Mermaid source of the whole machine's diagram (deterministic)."""
    return str(pump_machine().get_graph().draw(None)).rstrip() + "\n"


def state_diagram_document() -> str:
    """docs/state-machine.md: the generated diagram with a short legend."""
    return (
        "# The pump's state machine\n\n"
        "Generated from `firmware_sim/statemachine.py` by `python -m firmware_sim.statemachine "
        "> docs/state-machine.md`; a test fails when this file and the machine drift apart.\n\n"
        "Two parallel regions: `therapy` (idle = STOPPED, INFUSING, BOLUS, REFILL, EMPTY, "
        "FAULT, END_OF_SERVICE) and `alarms`, one sub-region per alarm (`off`, `sounding`, "
        "`silenced` once acknowledged). Alarms are orthogonal to therapy: a bolus runs while "
        "the low-reservoir alarm sounds (`pump__alarms__LOW_RESERVOIR__sounding`). "
        "Conditions are shown in brackets.\n\n"
        "```mermaid\n" + state_diagram() + "```\n")


if __name__ == "__main__":  # pragma: no cover - documentation generator
    print(state_diagram_document(), end="")
