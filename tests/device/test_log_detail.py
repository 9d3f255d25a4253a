"""The one-line detail of an event-log entry on the wire: at most 48 UTF-8 bytes, made of whole
``key=value`` parts only; the parts that do not fit are left out and counted (``+N``), never
cut in the middle of a value."""
from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim import Pump, Schedule, load_profile
from firmware_sim.device import Dispatcher
from firmware_sim.device.codes import fit_parts, log_detail
from protocol.messages import MAX_TEXT

import pytest

pytestmark = pytest.mark.requirement("PER-4")

LIMIT = MAX_TEXT["detail"]
OMITTED = re.compile(r"^\+(\d+)$")


def split_detail(text: str) -> tuple[list[str], int]:
    """(shown parts, number left out) of a detail whose parts contain no spaces."""
    tokens = text.split(" ") if text else []
    if tokens and OMITTED.match(tokens[-1]):
        return tokens[:-1], int(tokens[-1][1:])
    return tokens, 0


def test_a_long_lockout_is_left_out_whole_not_cut() -> None:
    details = {"dose_ug": 500, "duration_ms": 1_800_000, "lockout_ms": 28_800_000,
               "max_per_24h": 24}
    text = log_detail("PATIENT_BOLUS_CONFIG", details)
    assert len(text.encode()) <= LIMIT
    shown, left_out = split_detail(text)
    assert shown == ["dose_ug=500", "duration_ms=1800000"]
    assert left_out == 2
    assert "lockout_ms=288000" not in text  # the old cut value, a lie


def test_everything_that_fits_is_shown_without_a_marker() -> None:
    assert log_detail("THRESHOLD", {"low_threshold_nl": 2_000_000}) == "low_threshold_nl=2000000"
    assert log_detail("STATE", {"old": "STOPPED", "new": "INFUSING", "trigger": "start"}) == \
        "STOPPED->INFUSING"


def test_a_first_part_too_long_leaves_only_the_count() -> None:
    assert log_detail("MEMORY", {"reason": "x" * 60}) == "MEMORY +1"
    assert fit_parts(["y" * 60, "z" * 60]) == "+2"


def test_multibyte_values_count_in_bytes() -> None:
    text = fit_parts(["drug=é" * 4, "note=" + "é" * 20, "n=1"])
    assert len(text.encode()) <= LIMIT
    assert text == "drug=édrug=édrug=édrug=é +2"


KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=14).filter(
    lambda k: k not in ("schedule", "trigger", "priority", "reason_code"))  # never shown
VALUES = st.one_of(st.integers(0, 2**64),
                   st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_é0123456789", min_size=1,
                           max_size=30))


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=8))
def test_every_shown_value_is_complete(details: dict[str, object]) -> None:
    text = log_detail("REFILL_COMPLETE", details)
    assert len(text.encode("utf8")) <= LIMIT
    shown, left_out = split_detail(text)
    # what log_detail shows for a key: the bare value for alarm/bolus_kind/reason/outcome
    full = [str(v) if k in ("alarm", "bolus_kind", "reason", "outcome") else f"{k}={v}"
            for k, v in details.items()]
    assert len(shown) + left_out == len(full)
    for part in shown:
        assert part in full
    if not left_out:
        assert sorted(shown) == sorted(full)


def test_read_log_details_on_the_wire_are_whole() -> None:
    pump = Pump(load_profile("ip20"))
    pump.program_therapy("morphine", 10_000, Schedule.constant(1_000_000))
    pump.configure_patient_bolus(dose_ug=500, duration_ms=1_800_000, lockout_ms=28_800_000,
                                 max_per_24h=4)
    page = Dispatcher(pump, "IP-TEST").read_log({"start_index": 0, "count": 16})[1]
    assert page is not None
    details = [e["detail"] for e in page["entries"]]
    config = [d for d in details if d.startswith("dose_ug=500")]
    assert config and all("lockout_ms=288000 " not in d + " " for d in config)
    for d in details:
        assert len(d.encode()) <= LIMIT
