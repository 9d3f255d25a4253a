"""JSON-lines streams: log --follow, monitor and sniff write one flushed object per line."""
from __future__ import annotations

import json
import threading

from click.testing import CliRunner

from firmware_sim.device import start_virtual_pump
from host_tools.client import PumpClient
from host_tools.pumpctl import cli


def test_log_follow_json_prints_new_entries_as_they_are_logged():
    with start_virtual_pump() as vp:
        with PumpClient(vp.url) as c:
            c.set_drug("morphine", 1000)

        def program_later() -> None:
            with PumpClient(vp.url) as c:
                c.set_drug("morphine", 2000)
                c.set_drug("morphine", 3000)

        timer = threading.Timer(0.5, program_later)
        timer.start()
        result = CliRunner().invoke(cli, ["--url", vp.url, "log", "--follow", "--last", "1", "--json",
                                          "--poll", "0.1", "--duration", "2.5"])
        timer.join()
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [e["index"] for e in lines] == list(range(lines[0]["index"], lines[0]["index"] + len(lines)))
    assert len(lines) == 3 and all(e["kind_name"] == "PROGRAM" for e in lines)


def test_monitor_json_lines_start_with_the_status():
    with start_virtual_pump() as vp:
        result = CliRunner().invoke(cli, ["--url", vp.url, "monitor", "--json", "--duration", "0.3",
                                          "--refresh", "0.1"])
    assert result.exit_code == 0, result.output
    docs = [json.loads(line) for line in result.output.splitlines()]
    assert docs[0]["event"] == "Status" and "reservoir_nl" in docs[0]
