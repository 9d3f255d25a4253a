"""pumpctl previews a schedule against the drug library the pump reports over the wire
(GET_DRUG_LIBRARY), never against the emulator's own profile files."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from firmware_sim.device import start_virtual_pump
from firmware_sim.profile import load_profile
from host_tools.client import PumpClient
from host_tools.pumpctl import cli
from host_tools.pumpctl import therapy

EXAMPLE = Path(__file__).resolve().parents[2] / "host_tools" / "examples" / "morphine_day.yaml"


def test_preview_uses_the_library_the_pump_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    base = load_profile("ip20")
    morphine = dataclasses.replace(base.drugs["morphine"], soft_daily_limit_ug=1)
    profile = dataclasses.replace(base, name="xp7", drugs={**base.drugs, "morphine": morphine})
    monkeypatch.setattr(therapy.PumpClient, "drug_entry", _counting(therapy.PumpClient.drug_entry))
    with start_virtual_pump(profile=profile) as vp:
        with PumpClient(vp.url) as client:
            client.set_drug("morphine", 10_000)
            assert client.drug_entry("MORPHINE").soft_daily_limit_ug == 1
        result = CliRunner().invoke(cli, ["--url", vp.url, "schedule", "set", str(EXAMPLE),
                                          "--yes", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    # over the pump's own soft limit of 1 ug/day, which no profile file of the emulator has
    assert all(plan["over_soft_limit"] for plan in doc["programmed"])
    assert CALLS  # the limits came from GET_DRUG_LIBRARY


CALLS: list[str] = []


def _counting(method):
    def wrapper(self, name):
        CALLS.append(name)
        return method(self, name)
    return wrapper
