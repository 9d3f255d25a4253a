"""The pure parts behind pumpctl: quantities, nak parsing, delivery history, refill arithmetic."""
from __future__ import annotations

from pathlib import Path

import pytest

from host_tools.errors import Forbidden, Refused, refusal_from_nak
from host_tools.history import (DAY_MS, KIND_BOLUS_END, KIND_BOLUS_START, KIND_STATE,
                                compile_plans, delivery_history, find_index_at)
from host_tools.pumpctl.refill import discrepancy_limit_nl
from host_tools.records import LogEntry, Schedule, Step
from host_tools.units import (QuantityError, parse_concentration, parse_dose_ug,
                              parse_duration_ms, parse_volume_nl, parse_wall)
from protocol.enums import MessageType as MT, Weekday
from protocol.errors import NakCode


@pytest.mark.parametrize("text,nl", [("250000", 250_000), ("0.25mL", 250_000), ("250uL", 250_000),
                                      ("1.5 ml", 1_500_000), ("7nL", 7)])
def test_volumes(text, nl):
    assert parse_volume_nl(text) == nl


def test_other_quantities():
    assert parse_dose_ug("0.5mg") == 500 and parse_dose_ug("100") == 100
    assert parse_duration_ms("10min") == 600_000 and parse_duration_ms("1.5h") == 5_400_000
    assert parse_concentration("10mg/mL") == 10_000 and parse_concentration("250") == 250
    assert parse_wall("1970-01-02T00:00:00") == DAY_MS
    assert parse_wall("-1h", now_wall_ms=DAY_MS) == DAY_MS - 3_600_000


@pytest.mark.parametrize("text", ["0.5nL", "abc", "1 parsec", "-1mL", ""])
def test_bad_quantities_are_refused_not_rounded(text):
    with pytest.raises(QuantityError):
        parse_volume_nl(text)


def test_nak_detail_field_or_reason():
    by_field = refusal_from_nak({"code": 0x21, "detail": "steps[1].start_minute"}, MT.SET_SCHEDULE)
    assert by_field.field == "steps[1].start_minute" and "increasing" in by_field.reason
    by_reason = refusal_from_nak({"code": 0x26, "detail": "start not allowed in REFILL"})
    assert by_reason.field == "" and by_reason.reason == "start not allowed in REFILL"
    both = refusal_from_nak({"code": 0x24, "detail": "steps: over the hard limit"})
    assert (both.field, both.reason) == ("steps", "over the hard limit")
    unknown = refusal_from_nak({"code": 0x7E, "detail": ""})
    assert isinstance(unknown, Refused) and unknown.code == 0x7E and "0x7E" in str(unknown)
    assert isinstance(refusal_from_nak({"code": int(NakCode.FORBIDDEN_FOR_ROLE)}), Forbidden)


def test_discrepancy_limit_is_the_larger_of_volume_and_percent():
    assert discrepancy_limit_nl(5_000_000, 2_000_000, 20) == 2_000_000
    assert discrepancy_limit_nl(20_000_000, 2_000_000, 20) == 4_000_000


def _entry(i: int, t: int, kind: int, detail: str) -> LogEntry:
    return LogEntry(i, t, int(kind), detail)


def test_history_integrates_the_schedule_while_infusing():
    plans = [Schedule(Weekday.EVERY_DAY, (Step(0, 480_000), Step(720, 960_000)))]
    compiled = compile_plans(plans)
    entries = [_entry(0, 0, KIND_STATE, "STOPPED->INFUSING")]
    h = delivery_history(compiled, entries, 0, DAY_MS)
    assert h.delivered_nl == 240_000 + 480_000
    assert h.rate_steps == [(0, 480_000), (DAY_MS // 2, 960_000)]


def test_history_counts_boluses_and_stops():
    compiled = compile_plans([Schedule(Weekday.EVERY_DAY, (Step(0, 864_000),))])  # 36 uL/h
    hour = 3_600_000
    entries = [_entry(0, 0, KIND_STATE, "STOPPED->INFUSING"),
               _entry(1, hour, KIND_BOLUS_START, "CLINICIAN volume_nl=5000 duration_ms=600000"),
               _entry(2, hour, KIND_STATE, "INFUSING->BOLUS"),
               _entry(3, hour + 600_000, KIND_BOLUS_END, "CLINICIAN COMPLETED delivered_nl=5000"),
               _entry(4, hour + 600_000, KIND_STATE, "BOLUS->INFUSING"),
               _entry(5, 2 * hour, KIND_STATE, "INFUSING->STOPPED")]
    h = delivery_history(compiled, entries, 0, 3 * hour)
    assert h.delivered_nl == 864_000 * 2 // 24 + 5_000
    assert h.rate_steps[-1] == (2 * hour, 0)


def test_find_index_at_is_a_binary_search():
    times = [0, 10, 10, 20, 30]
    reads: list[int] = []

    def read(i: int) -> int:
        reads.append(i)
        return times[i]
    assert find_index_at(read, len(times), 10) == 1
    assert find_index_at(lambda i: times[i], len(times), 31) == 5
    assert len(reads) <= 3


def test_schedule_set_on_a_pump_without_drug_exits_5_before_asking(capsys):
    from firmware_sim.device.harness import start_virtual_pump
    from host_tools.pumpctl import run

    example = Path(__file__).resolve().parents[2] / "host_tools" / "examples" / "morphine_day.yaml"
    with start_virtual_pump() as vp:
        code = run(["--url", vp.url, "schedule", "set", str(example), "--yes"])
        with vp.device.lock:
            assert vp.pump.schedule is None or not vp.pump.drug_name
    assert code == 5
    assert "no drug is programmed" in capsys.readouterr().err
