"""The protocol and the pump model agree on shared names and values.

The pump turns a model rejection into a NAK by name (``NakCode[rejected.code.value]``) and
carries the model's enumerations as their integer values.
"""
from __future__ import annotations

import pytest

import firmware_sim.enums as model
from protocol import enums as wire
from protocol import NakCode


def test_every_model_rejection_has_a_nak_code() -> None:
    missing = [c.value for c in model.RejectCode if c.value not in NakCode.__members__]
    assert not missing, f"model rejection codes without a NakCode: {missing}"
    for c in model.RejectCode:
        # model refusals live in 0x20..0x3F, those of the emulator's fault injection in 0x48..0x4F
        assert 0x20 <= NakCode[c.value] <= 0x3F or 0x48 <= NakCode[c.value] <= 0x4F


@pytest.mark.parametrize("name", ["TherapyState", "AlarmPriority", "Alarm", "BolusKind", "Role",
                                  "Weekday", "DenialReason"])
def test_enumerations_share_values(name: str) -> None:
    model_enum, wire_enum = getattr(model, name), getattr(wire, name)
    for member in model_enum:
        assert wire_enum[member.name] == int(member.value), f"{name}.{member.name}"


def test_event_kinds_match_the_device_table() -> None:
    """The pump's event-log kind codes on the wire are protocol.EventKind."""
    codes = pytest.importorskip("firmware_sim.device.codes")
    table = getattr(codes, "LOG_KINDS", None)
    if table is None:
        pytest.skip("the device encodes EventKind directly")
    assert {name: int(code) for name, code in table.items()} == \
        {k.name: int(k) for k in wire.EventKind if k is not wire.EventKind.OTHER}
    unknown = getattr(codes, "UNKNOWN_LOG_KIND", wire.EventKind.OTHER)
    assert unknown == wire.EventKind.OTHER


def test_inject_fault_carries_every_model_fault_with_its_parameter() -> None:
    from firmware_sim.faults import CATALOG
    carried = {w.model_name: w for k, w in wire.FAULT_WIRE.items()
               if k is not wire.FaultKind.CLEAR_MOTOR_STALL}
    for spec in CATALOG:
        assert spec.name in carried, f"{spec.name} cannot be injected over the protocol"
        w = carried[spec.name]
        if not spec.params:
            assert w.param is None
            continue
        (p,) = spec.params  # one parameter, carried in INJECT_FAULT's value
        assert (w.param, w.unit, w.minimum, w.maximum, w.default) == \
            (p.name, p.unit, p.minimum, p.maximum, p.default)
