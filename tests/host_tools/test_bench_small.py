"""Small bench items: refill -y, plot with the schedule ahead, clock times on the plot's axis."""
from __future__ import annotations

import json

from click.testing import CliRunner

from firmware_sim.device import start_virtual_pump
from host_tools.client import PumpClient
from host_tools.plotting import clock
from host_tools.pumpctl import cli
from host_tools.records import Step


def _programmed(vp) -> None:
    with PumpClient(vp.url) as c:
        c.set_drug("morphine", 10_000)
        c.set_schedule([Step(0, 400_000), Step(390, 600_000), Step(1200, 300_000)])


def test_refill_yes_answers_the_questions():
    with start_virtual_pump() as vp:
        _programmed(vp)
        result = CliRunner().invoke(cli, ["--url", vp.url, "refill", "-y", "--withdrawn", "0",
                                          "--filled", "18mL", "--json"])
        assert result.exit_code == 0, result.output
        doc = json.loads(result.output)
        assert doc["started"] is True and doc["state"] == "INFUSING"


def test_plot_draws_the_programmed_schedule_ahead(tmp_path):
    out = tmp_path / "plot.png"
    with start_virtual_pump() as vp:
        _programmed(vp)
        result = CliRunner().invoke(cli, ["--url", vp.url, "plot", "--hours", "2h", "--ahead", "24h",
                                          "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    ahead = doc["planned_steps"]
    assert ahead[0][0] == doc["end_ms"]
    assert [rate for _, rate in ahead] == [400_000, 600_000, 300_000]
    assert [t - doc["end_ms"] for t, _ in ahead[1:]] == [390 * 60_000, 1200 * 60_000]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_axis_is_the_pump_clock():
    assert clock(0).isoformat() == "1970-01-01T00:00:00"
    assert clock(90 * 60_000).strftime("%H:%M") == "01:30"
