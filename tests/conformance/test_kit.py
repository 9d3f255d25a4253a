"""The conformance kit (``pytest --pyargs host_tools.conformance --pump-url URL``) passes against
``pumpsim`` over a pseudo-terminal, and fails, at the right test, against pumps with a planted
protocol defect (tests/conformance/defective_pump.py)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from host_tools.simprocess import PumpsimProcess

pytestmark = [pytest.mark.slow,
              pytest.mark.requirement("PRO-1", "PRO-2", "PRO-3", "PRO-4", "PRO-5", "PRO-8",
                                      "SEC-2", "SEC-3", "SEC-4", "SEC-5", "SEC-6", "ALM-7")]

DEFECTIVE = Path(__file__).with_name("defective_pump.py")


def run_kit(url: str, tmp_path: Path, *extra: str) -> tuple[int, str]:
    """Run the kit against ``url`` in a fresh pytest process: (exit code, report)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rf",
         "-p", "no:xdist", "--pyargs", "host_tools.conformance", "--pump-url", url, *extra],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def test_kit_passes_against_pumpsim_on_a_pty(tmp_path: Path) -> None:
    with PumpsimProcess(["--url", "pty", "--state", str(tmp_path / "pump.db")],
                        tmp_path / "pumpsim.log") as sim:
        code, report = run_kit(sim.device, tmp_path)
    assert code == 0, report
    assert " passed" in report and "failed" not in report


@pytest.mark.parametrize("defect,caught_by", [
    ("replay", "test_replay_and_reused_seq_are_stale"),
    ("reused-seq", "test_replay_and_reused_seq_are_stale"),
    ("retransmit-twice", "test_retransmission_is_answered_byte_for_byte_and_executed_once"),
    ("bad-crc", "test_bad_crc_is_never_answered_and_the_next_frame_is"),
])
def test_kit_catches_a_planted_defect(tmp_path: Path, defect: str, caught_by: str) -> None:
    with PumpsimProcess(["--url", "pty", "--state", str(tmp_path / "pump.db")],
                        tmp_path / "pumpsim.log",
                        command=[sys.executable, str(DEFECTIVE), defect]) as sim:
        code, report = run_kit(sim.device, tmp_path, "-k", "not back_off")
    assert code == 1, report
    assert "FAILED " in report and caught_by in report, report


@pytest.mark.requirement("LIM-7", "LIM-9")
def test_kit_passes_against_a_pump_with_programming_limits(tmp_path: Path) -> None:
    """pumpsim with a PCA-like profile (3 schedule changes per 24 h, patient bolus duration in
    1-min and lockout in 15-min steps, a clinician bolus starting the lockout): the kit passes,
    and its MAX_CHANGES_REACHED and resolution tests run rather than skip."""
    src = (Path(__file__).parents[2] / "firmware_sim" / "profiles" / "ip20.toml").read_text()
    for old, new in (('name = "ip20"', 'name = "pca1"'),
                     ("max_changes_per_period = 0", "max_changes_per_period = 3"),
                     ("duration_step_ms = 1\n", "duration_step_ms = 60_000\n"),
                     ("lockout_step_ms = 1\n", "lockout_step_ms = 900_000\n"),
                     ("clinician_bolus_starts_lockout = false",
                      "clinician_bolus_starts_lockout = true")):
        assert old in src
        src = src.replace(old, new)
    profile = tmp_path / "pca1.toml"
    profile.write_text(src)
    with PumpsimProcess(["--url", "pty", "--state", str(tmp_path / "pump.db"),
                         "--profile", str(profile)], tmp_path / "pumpsim.log") as sim:
        code, report = run_kit(sim.device, tmp_path, "-rs")
    assert code == 0, report
    assert "failed" not in report
    assert "rate-change limit" not in report and "programming limits" not in report  # ran
