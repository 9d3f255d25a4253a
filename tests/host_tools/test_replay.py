"""pumpctl replay: the host side of a capture sent again, re-signed, answers compared."""
from __future__ import annotations

import json

from click.testing import CliRunner

import hal
from firmware_sim.device import start_virtual_pump
from host_tools.capture_frames import FrameSegmenter
from host_tools.client import PumpClient
from host_tools.pumpctl import cli
from host_tools.records import Step


def _record(path) -> None:
    with start_virtual_pump() as vp:
        link = hal.open(vp.url, capture=str(path), capture_segmenter=FrameSegmenter)
        with PumpClient(link) as c:
            c.identify()
            c.set_drug("morphine", 10_000)
            c.drug()
            c.set_schedule([Step(0, 400_000), Step(390, 600_000)])
            c.status()
        link.close()


def test_replay_against_an_equal_pump_finds_no_difference(tmp_path):
    capture = tmp_path / "field.pcapng"
    _record(capture)
    with start_virtual_pump() as vp:
        result = CliRunner().invoke(cli, ["--url", vp.url, "replay", str(capture), "--json",
                                          "--timing", "original"])
        with PumpClient(vp.url) as c:  # the requests really ran on the new pump
            assert c.drug().concentration_ug_per_ml == 10_000
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [r["request"] for r in lines] == ["IDENTIFY", "SET_DRUG", "GET_DRUG", "SET_SCHEDULE",
                                             "GET_STATUS"]
    assert all(r["same"] for r in lines)


def test_replay_reports_every_differing_answer(tmp_path):
    capture = tmp_path / "field.pcapng"
    _record(capture)
    with start_virtual_pump(profile="ip40") as vp:  # another model: identity and status differ
        result = CliRunner().invoke(cli, ["--url", vp.url, "replay", str(capture)])
    assert result.exit_code == 1
    assert "IDENTIFY" in result.output and "DIFFERS" in result.output
    assert "reservoir_capacity_nl" in result.output
    assert "answers differ" in result.output


def test_replay_of_a_file_that_is_no_capture_is_a_file_problem(tmp_path):
    bad = tmp_path / "bad.pcapng"
    bad.write_bytes(b"not a capture")
    with start_virtual_pump() as vp:
        result = CliRunner().invoke(cli, ["--url", vp.url, "replay", str(bad)])
    assert result.exit_code == 6, result.output
