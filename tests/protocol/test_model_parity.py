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
        assert NakCode[c.value] >= 0x20  # model refusals live in 0x20..0x3F
        assert NakCode[c.value] <= 0x3F


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
