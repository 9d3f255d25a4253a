"""pumpctl shell, driven through its standard input (no terminal needed)."""
from __future__ import annotations

import io
import json

from click.testing import CliRunner

from firmware_sim.device import start_virtual_pump
from host_tools.client import PumpClient
from host_tools.pumpctl import cli
from host_tools.shell import PumpShell, TapLink, parse_value
from protocol.enums import MessageType as MT

SCRIPT = """\
status
send SET_DRUG drug_name=morphine concentration_ug_per_ml=10000
send SET_SCHEDULE weekday=EVERY_DAY steps=0:400000,390:600000
schedule
send SET_TELEMETRY interval_ms=100
wait 0.5
send NO_SUCH_MESSAGE
send SET_DRUG drug_name=morphine
raw a5 5a 01 00 00 00 00 00 00 00 00 01 10 00 00 32 de
raw zz
nonsense
drug
quit
"""


def test_shell_runs_typed_commands_messages_and_raw_frames(tmp_path):
    history = tmp_path / "history"
    with start_virtual_pump() as vp:
        result = CliRunner().invoke(cli, ["--url", vp.url, "shell", "--history", str(history)],
                                    input=SCRIPT)
        with PumpClient(vp.url) as c:
            assert [(s.start_minute, s.rate_nl_per_day) for s in c.schedule().steps] == \
                [(0, 400_000), (390, 600_000)]
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert json.loads(lines[0])["state"] == "STOPPED"
    assert json.loads(lines[1]) == {"request_type": int(MT.SET_DRUG), "warnings": 0}
    assert "[event] StatusPush" in result.output  # events printed as they arrive
    assert "error: unknown message 'NO_SUCH_MESSAGE'" in result.output
    assert "missing" in result.output  # a field left out: refused before sending
    assert "<- RSP NAK" in result.output and "NO_SESSION" in result.output  # the raw frame's answer
    assert "error: non-hexadecimal" in result.output
    assert "unknown command 'nonsense'" in result.output
    assert '"concentration_ug_per_ml": 10000' in lines[-1] or any(
        '"concentration_ug_per_ml": 10000' in line for line in lines)
    assert "send SET_DRUG drug_name=morphine concentration_ug_per_ml=10000" in history.read_text()


def test_completion_of_commands_messages_and_fields():
    with start_virtual_pump() as vp:
        with PumpClient(vp.url) as client:
            shell = PumpShell(client, TapLink.__new__(TapLink), stdin=io.StringIO(), stdout=io.StringIO())
            assert "status" in shell.completenames("sta")
            assert shell.complete_send("SET_D", "send SET_D", 5, 10) == ["SET_DRUG"]
            assert shell.complete_send("", "send SET_DRUG ", 14, 14) == [
                "drug_name=", "concentration_ug_per_ml="]
            assert shell.complete_send("c", "send SET_DRUG drug_name=x c", 26, 27) == [
                "concentration_ug_per_ml="]
            assert shell.complete_schedule("MO", "schedule MO", 9, 11) == ["MONDAY"]


def test_field_values_by_name_number_json_and_compact_records():
    assert parse_value(MT.GET_SCHEDULE, "weekday", "every_day") == 0xFF
    assert parse_value(MT.SET_CLOCK, "wall_ms", "0x10") == 16
    assert parse_value(MT.SET_SCHEDULE, "steps", "0:1,60:2") == [
        {"start_minute": 0, "rate_nl_per_day": 1}, {"start_minute": 60, "rate_nl_per_day": 2}]
    assert parse_value(MT.SET_SCHEDULE, "steps", '[{"start_minute": 5, "rate_nl_per_day": 9}]') == [
        {"start_minute": 5, "rate_nl_per_day": 9}]
    assert parse_value(MT.SET_DRUG, "drug_name", "morphine") == "morphine"
