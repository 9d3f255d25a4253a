"""Every command at 9600 baud without --timeout: over a paced pty and over a socat null-modem pair."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from host_tools.client import PumpClient
from host_tools.simprocess import PumpsimProcess

BIN = Path(sys.executable).parent
PUMPCTL = [str(BIN / "pumpctl")] if (BIN / "pumpctl").exists() else [sys.executable, "-m", "host_tools.pumpctl"]
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
SOCAT = shutil.which("socat")


def pumpctl(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PUMPCTL, "-vv", "--url", url, *args], capture_output=True, text=True,
                          timeout=90, env=ENV)


def _exercise(url: str) -> None:
    """status, drug set, a full log page and the session close, with the derived timeout: no
    retransmission, no unanswered frame."""
    port = url.split("?", 1)[0]
    with PumpClient(port, timeout_s=3.0, baudrate=9600) as fill:  # enough entries for a long page
        for i in range(8):
            fill.set_drug("morphine", 1000 + i)
    done = pumpctl(url, "drug", "set", "morphine", "2000")
    assert done.returncode == 0, done.stderr[-2000:]
    done = pumpctl(url, "status", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["state"] == "STOPPED"
    assert "9600 baud 8N1" in done.stderr
    done = pumpctl(url, "log", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(json.loads(done.stdout)["entries"]) >= 8
    assert "retransmitting" not in done.stderr and "session close:" not in done.stderr


@pytest.mark.slow
def test_every_command_over_a_pty_paced_at_9600_baud():
    with PumpsimProcess(["--url", "pty", "--baud", "9600"]) as sim:
        _exercise(f"{sim.device}?baud=9600")


@pytest.mark.slow
@pytest.mark.skipif(SOCAT is None, reason="socat is not installed (apt-get install socat; "
                    ".ci/run installs it when run as root)")
def test_every_command_over_a_socat_null_modem_pair_at_9600_baud(tmp_path):
    links = tmp_path / "pump", tmp_path / "host"
    socat = subprocess.Popen([SOCAT, "-d", "-d", f"pty,raw,echo=0,link={links[0]}",
                              f"pty,raw,echo=0,link={links[1]}"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not all(p.exists() for p in links):
            assert time.monotonic() < deadline, "socat did not create its ptys"
            time.sleep(0.05)
        with PumpsimProcess(["--url", str(links[0]), "--baud", "9600"]):
            _exercise(f"{links[1]}?baud=9600")
    finally:
        os.killpg(socat.pid, signal.SIGTERM)
        socat.wait(timeout=10)
