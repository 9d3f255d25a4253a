"""Programming limits over the wire: a pump whose profile limits schedule changes, starts the
patient lockout with a clinician bolus and takes the patient bolus duration and lockout in
steps, driven through PumpClient and pumpctl over a virtual pump."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from firmware_sim.device import start_virtual_pump
from firmware_sim.profile import load_profile
from host_tools.client import PumpClient
from host_tools.errors import Refused
from host_tools.pumpctl import cli
from host_tools.records import DeviceLimits, Step
from host_tools.simprocess import PumpsimProcess
from protocol.enums import DenialReason, EventKind, MessageType as MT
from protocol.errors import NakCode
from protocol.messages import decode_any_version, encode_payload

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
ML = 1_000_000

PCA_LIKE = dict(max_rate_changes_per_period=2, rate_changes_period_ms=HOUR_MS,
                clinician_bolus_starts_lockout=True, patient_duration_step_ms=MINUTE_MS,
                patient_lockout_step_ms=15 * MINUTE_MS)


def pca_like_profile():
    return dataclasses.replace(load_profile("ip20"), name="pca1", **PCA_LIKE)


def _fill(client: PumpClient) -> None:
    client.set_drug("morphine", 1_000)
    client.set_schedule([Step(0, 500_000)])  # the first schedule: not a change
    client.refill_begin()
    client.refill_withdrawn(0)
    client.refill_complete(0, 10 * ML, 1_000)
    client.start()


@pytest.mark.requirement("LIM-7", "LIM-9", "PRO-6")
def test_device_limits_report_the_programming_limits() -> None:
    with start_virtual_pump(profile=pca_like_profile()) as vp:
        with PumpClient(vp.url, role="patient") as client:
            lim = client.device_limits()
    assert (lim.max_rate_changes_per_period, lim.rate_changes_period_ms,
            lim.clinician_bolus_starts_lockout, lim.patient_duration_step_ms,
            lim.patient_lockout_step_ms) == (2, HOUR_MS, True, MINUTE_MS, 15 * MINUTE_MS)
    with start_virtual_pump() as vp, PumpClient(vp.url) as client:
        shipped = client.device_limits()
    assert (shipped.max_rate_changes_per_period, shipped.patient_duration_step_ms,
            shipped.clinician_bolus_starts_lockout) == (0, 1, False)


@pytest.mark.requirement("PRO-6")
def test_a_pump_sending_the_first_layout_reports_no_programming_limits() -> None:
    fields = {f.name: 1 for f in dataclasses.fields(DeviceLimits)
              if f.name not in PCA_LIKE}
    first = encode_payload(MT.DEVICE_LIMITS, fields, minor=0)
    assert len(first) == 72
    lim = DeviceLimits.from_fields(decode_any_version(MT.DEVICE_LIMITS, first))
    assert lim.max_rate_changes_per_period is None and lim.patient_lockout_step_ms is None


@pytest.mark.requirement("LIM-7")
def test_the_change_beyond_the_limit_is_refused_with_the_wait_and_logged() -> None:
    with start_virtual_pump(profile=pca_like_profile()) as vp:
        with PumpClient(vp.url) as client:
            _fill(client)
            client.set_schedule([Step(0, 600_000)])
            vp.advance(10 * MINUTE_MS)
            client.set_schedule([Step(0, 700_000)])
            client.set_schedule([Step(0, 700_000)])  # the same plan again: not a change
            with pytest.raises(Refused) as exc:
                client.set_schedule([Step(0, 800_000)])
            assert exc.value.code == NakCode.MAX_CHANGES_REACHED
            assert exc.value.retry_after_ms == 50 * MINUTE_MS
            assert "2 rate changes in 1 h" in exc.value.reason
            assert client.schedule().steps == (Step(0, 700_000),)  # nothing changed
            page = client.read_log(client.read_log(0, 1).total_count - 1, 1)
            assert page.entries[-1].kind == EventKind.REFUSED
            assert page.entries[-1].values["code"] == NakCode.MAX_CHANGES_REACHED
            vp.advance(50 * MINUTE_MS)
            client.set_schedule([Step(0, 800_000)])
            assert client.schedule().steps == (Step(0, 800_000),)


@pytest.mark.requirement("LIM-8", "LIM-9")
def test_steps_and_the_clinician_lockout_over_the_wire() -> None:
    with start_virtual_pump(profile=pca_like_profile()) as vp:
        with PumpClient(vp.url) as client:
            _fill(client)
            with pytest.raises(Refused) as exc:
                client.set_limits(patient_bolus_dose_ug=5, patient_bolus_duration_ms=90_000,
                                  patient_lockout_ms=HOUR_MS, patient_max_per_day=12)
            assert (exc.value.code, exc.value.field) == (NakCode.DURATION_OUT_OF_RANGE,
                                                         "patient_bolus_duration_ms")
            with pytest.raises(Refused) as exc:
                client.set_limits(patient_bolus_dose_ug=5, patient_bolus_duration_ms=MINUTE_MS,
                                  patient_lockout_ms=HOUR_MS + MINUTE_MS, patient_max_per_day=12)
            assert (exc.value.code, exc.value.field) == (NakCode.LOCKOUT_OUT_OF_RANGE,
                                                         "patient_lockout_ms")
            assert client.limits().patient_bolus_dose_ug == 0  # nothing changed
            client.set_limits(patient_bolus_dose_ug=5, patient_bolus_duration_ms=MINUTE_MS,
                              patient_lockout_ms=HOUR_MS, patient_max_per_day=12)
            client.clinician_bolus(MINUTE_MS, volume_nl=1_000)
            vp.advance(2 * MINUTE_MS)
        with PumpClient(vp.url, role="patient") as patient:
            denied = patient.patient_bolus()
            assert not denied.granted and denied.denial_reason == DenialReason.LOCKOUT
            vp.advance(HOUR_MS - 2 * MINUTE_MS)
            assert patient.patient_bolus().granted


@pytest.mark.requirement("LIM-7", "LIM-9")
def test_pumpctl_shows_the_limits_checks_the_steps_and_the_next_change(tmp_path: Path) -> None:
    plan = tmp_path / "plan.csv"
    plan.write_text("weekday,start,rate_ml_per_day\n,00:00,0.90\n")
    run = CliRunner().invoke
    with start_virtual_pump(profile=pca_like_profile()) as vp:
        with PumpClient(vp.url) as client:
            _fill(client)
            client.set_schedule([Step(0, 600_000)])
            client.set_schedule([Step(0, 700_000)])
        shown = run(cli, ["--url", vp.url, "limits", "device"]).output
        assert "up to 2 per 1 h" in shown and "15 min" in shown
        bad = run(cli, ["--url", vp.url, "limits", "set", "--lockout", "70min"])
        assert bad.exit_code == 2 and "15 min steps" in bad.output
        with vp.device.lock:
            assert vp.pump.patient_bolus_config is None  # nothing was sent
        refused = run(cli, ["--url", vp.url, "schedule", "set", str(plan), "--yes"])
    assert refused.exit_code != 0
    text = " ".join(refused.output.split())
    assert "MAX_CHANGES_REACHED" in text
    assert "the next schedule change is allowed in 1 h" in text


def pca_like_profile_file(tmp_path: Path) -> Path:
    """The ip20 profile file with the PCA-like programming limits switched on."""
    src = (Path(__file__).parents[2] / "firmware_sim" / "profiles" / "ip20.toml").read_text()
    for old, new in (('name = "ip20"', 'name = "pca1"'),
                     ("max_changes_per_period = 0", "max_changes_per_period = 2"),
                     ("changes_period_ms = 86_400_000", "changes_period_ms = 3_600_000"),
                     ("lockout_step_ms = 1\n", "lockout_step_ms = 900_000\n")):
        assert old in src
        src = src.replace(old, new)
    path = tmp_path / "pca1.toml"
    path.write_text(src)
    return path


@pytest.mark.slow
@pytest.mark.requirement("LIM-7", "LIM-9")
def test_pumpctl_over_a_pty_against_pumpsim_with_a_limited_profile(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    plan = tmp_path / "plan.csv"
    plan.write_text("weekday,start,rate_ml_per_day\n,00:00,0.90\n")
    with PumpsimProcess(["--url", "pty", "--state", str(tmp_path / "pump.db"), "--profile",
                         str(pca_like_profile_file(tmp_path))], tmp_path / "pumpsim.log") as sim:
        def pumpctl(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "host_tools.pumpctl", "--url",
                                   sim.device, *args], capture_output=True, text=True,
                                  timeout=60, env=env)
        with PumpClient(sim.device, timeout_s=2.0) as client:
            _fill(client)
            client.set_schedule([Step(0, 600_000)])
            client.set_schedule([Step(0, 700_000)])
        lockout = pumpctl("limits", "set", "--dose", "5ug", "--duration", "1min",
                          "--max-per-day", "4", "--lockout", "70min")
        refused = pumpctl("schedule", "set", str(plan), "--yes")
        shown = pumpctl("limits", "device")
    assert lockout.returncode == 2 and "15 min steps" in " ".join(lockout.stderr.split())
    assert refused.returncode != 0
    text = " ".join((refused.stdout + refused.stderr).split())
    assert "MAX_CHANGES_REACHED" in text and "next schedule change is allowed in" in text
    assert "up to 2 per 1 h" in shown.stdout
