"""The end-to-end demo (pumpsim on a pty driven by pumpctl) succeeds and writes its plot."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    # No --out: the plot goes to demo-out in the current directory, never into the package.
    done = subprocess.run([sys.executable, "-m", "host_tools.demo"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "first bolus granted; second denied: LOCKOUT" in done.stdout
    assert "pumpsim stopped cleanly (exit code 0)" in done.stdout
    assert "motor stall raised from outside, read by the programmer, cleared" in done.stdout
    assert (tmp_path / "demo-out" / "pump-day.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
