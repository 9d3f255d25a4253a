"""pumpctl end to end: subprocesses against a real `pumpsim` on a pseudo-terminal.

One pumpsim per module (per xdist worker), programmed once in-process; every test is
self-contained against that programmed pump.
"""
from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from host_tools.client import PumpClient
from host_tools.schedule_file import load_schedule_file
from host_tools.simprocess import PumpsimProcess
from protocol import DEVELOPMENT_KEYS, Role, dump_keys

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "host_tools" / "examples" / "morphine_day.yaml"
BIN = Path(sys.executable).parent


def _script(name: str, module: str) -> list[str]:
    path = BIN / name
    return [str(path)] if path.exists() else [sys.executable, "-m", module]


PUMPCTL = _script("pumpctl", "host_tools.pumpctl")
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


@pytest.fixture(scope="module")
def device(tmp_path_factory):
    """A programmed pump (morphine 10 mg/mL, example schedule, 20 mL, patient bolus 0.5 mg
    with a 1 h lockout, infusing) served by a pumpsim process; yields the tty path."""
    state = tmp_path_factory.mktemp("pumpsim") / "pump.db"
    with PumpsimProcess(["--url", "pty", "--state", str(state)]) as sim:
        with PumpClient(sim.device, timeout_s=2.0) as client:
            client.set_drug("morphine", 10_000)
            for plan in load_schedule_file(EXAMPLE, 10_000):
                client.set_schedule(plan.steps, plan.weekday)
            client.refill_begin()
            client.refill_withdrawn(0)
            client.refill_complete(0, 20_000_000, 10_000)
            client.set_limits(patient_bolus_dose_ug=500, patient_bolus_duration_ms=600_000,
                              patient_lockout_ms=3_600_000, patient_max_per_day=4,
                              low_reservoir_threshold_nl=2_000_000)
            client.start()
        yield sim.device


def pumpctl(*args: str, url: str | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    """Run pumpctl (with --url when given) and return the finished process."""
    cmd = [*PUMPCTL, *(["--url", url] if url else []), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=ENV, input=input,
                          cwd=ROOT)


def ok_json(*args: str, url: str) -> dict:
    done = pumpctl(*args, "--json", url=url)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# ------------------------------------------------------------------------------ reading
def test_status_json_and_panel(device):
    doc = ok_json("status", url=device)
    assert doc["state"] == "INFUSING"
    assert doc["reservoir_nl"] <= 20_000_000 and doc["reservoir_capacity_nl"] == 20_000_000
    assert doc["drug_name"] == "morphine" and doc["concentration_ug_per_ml"] == 10_000
    assert isinstance(doc["rate_nl_per_day"], int) and doc["rate_nl_per_day"] > 0
    text = pumpctl("status", url=device)
    assert text.returncode == 0 and "INFUSING" in text.stdout and "reservoir" in text.stdout


def test_drug_shows_library_limits(device):
    doc = ok_json("drug", url=device)
    assert doc == {"name": "morphine", "concentration_ug_per_ml": 10_000,
                   "soft_daily_limit_ug": 15_000, "hard_daily_limit_ug": 30_000}
    assert "hard" in pumpctl("drug", url=device).stdout


def test_schedule_show_matches_the_file(device):
    doc = ok_json("schedule", "show", url=device)
    steps = [(s["start_minute"], s["rate_nl_per_day"]) for s in doc["plans"][0]["steps"]]
    assert steps == [(0, 400_000), (390, 600_000), (720, 550_000), (1080, 550_000), (1350, 400_000)]
    every = ok_json("schedule", "show", "--all", url=device)
    assert len(every["plans"]) == 8
    saturday = ok_json("schedule", "show", "--weekday", "saturday", url=device)
    assert [s["start_minute"] for s in saturday["plans"][0]["steps"]] == [0, 540]


def test_limits_show_and_set(device):
    doc = ok_json("limits", url=device)
    assert doc["patient_lockout_ms"] == 3_600_000 and doc["patient_bolus_dose_ug"] == 500
    sent = ok_json("limits", "set", "--threshold", "2.5mL", url=device)
    assert sent["low_reservoir_threshold_nl"] == 2_500_000 and sent["patient_lockout_ms"] == 3_600_000
    assert ok_json("limits", url=device)["low_reservoir_threshold_nl"] == 2_500_000
    assert pumpctl("limits", "set", "--threshold", "2mL", url=device).returncode == 0


def test_clock_show_and_set(device):
    doc = ok_json("clock", url=device)
    assert {"time_ms", "wall_ms"} <= doc.keys()
    assert pumpctl("clock", "set", "2026-03-02T08:00:00", url=device).returncode == 0
    wall = ok_json("clock", url=device)["wall_ms"]
    assert 1_772_438_400_000 <= wall < 1_772_438_400_000 + 60_000


def test_alarms_list_and_ack(device):
    doc = ok_json("alarms", url=device)
    assert isinstance(doc["alarms"], list)
    done = pumpctl("alarms", "ack", url=device)
    assert done.returncode == 0 and "acknowledged" in done.stdout


def test_log_formats_and_since(device):
    doc = ok_json("log", url=device)
    assert doc["total_count"] == len(doc["entries"]) > 5
    kinds = {e["kind_name"] for e in doc["entries"]}
    assert {"PROGRAM", "REFILL_COMPLETE", "STATE"} <= kinds
    csv_out = pumpctl("log", "--format", "csv", url=device)
    assert csv_out.returncode == 0
    lines = csv_out.stdout.strip().splitlines()
    assert lines[0] == "index,time_ms,wall,kind,kind_name,detail" and len(lines) == doc["total_count"] + 1
    table = pumpctl("log", "--last", "3", url=device)
    assert table.returncode == 0 and "event log (3 of" in table.stdout
    recent = ok_json("log", "--since", "-1h", url=device)
    assert 0 < len(recent["entries"]) <= doc["total_count"]
    future = ok_json("log", "--since", "2999-01-01T00:00", url=device)
    assert future["entries"] == []


def test_plot_is_a_valid_png(device, tmp_path):
    out = tmp_path / "plot.png"
    doc = ok_json("plot", "--hours", "2h", "--out", str(out), url=device)
    assert doc["path"] == str(out) and doc["end_ms"] - doc["start_ms"] == 7_200_000
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    assert width > 100 and height > 100
    assert struct.unpack(">I", data[29:33])[0] == zlib.crc32(data[12:29])


def json_lines(*args: str, url: str) -> list[dict]:
    done = pumpctl(*args, "--json", url=url)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_monitor_for_a_while(device):
    docs = json_lines("monitor", "--duration", "1", "--interval", "200ms", url=device)
    assert docs[0]["event"] == "Status" and docs[0]["state"] in ("INFUSING", "BOLUS")
    assert any(e["event"] == "StatusPush" for e in docs[1:])


def test_ports_json():
    doc = ok_json("ports", url="unused")
    assert isinstance(doc["ports"], list)


def test_sniff_a_capture(device, tmp_path):
    capture = tmp_path / "link.pcapng"
    with PumpClient(device, capture=str(capture)) as client:
        client.status()
    frames = json_lines("sniff", str(capture), url="unused")
    types = [f["type"] for f in frames]
    assert "GET_STATUS" in types and "STATUS" in types and "SESSION_OPEN" in types
    status = next(f for f in frames if f["type"] == "STATUS")
    assert status["direction"] == "pump>host" and status["fields"]["state"] >= 0
    assert bytes.fromhex(status["hex"])[:2] == b"\xa5\x5a"
    text = pumpctl("sniff", str(capture), "--count", "2")
    assert text.returncode == 0 and "host>pump" in text.stdout and "SESSION_OPEN" in text.stdout


def test_sniff_relay_decodes_a_live_session(device):
    tap = subprocess.Popen([*PUMPCTL, "sniff", "pty", "--relay", device, "--count", "8", "--json",
                            "--duration", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=ENV, start_new_session=True)
    try:
        line = tap.stderr.readline().strip()
        assert line.startswith("device:"), line
        done = pumpctl("clock", "--json", url=line.split(":", 1)[1].strip())
        assert done.returncode == 0, done.stderr
        out, _ = tap.communicate(timeout=20)
    finally:
        if tap.poll() is None:
            os.killpg(tap.pid, signal.SIGKILL)
            tap.wait()
    frames = [json.loads(line) for line in out.splitlines()]
    assert [f["type"] for f in frames][:6] == ["SESSION_OPEN", "SESSION_CHALLENGE", "SESSION_PROOF",
                                             "SESSION_ACCEPTED", "GET_CLOCK", "CLOCK"]
    assert frames[4]["direction"] == "host>pump" and frames[5]["direction"] == "pump>host"


# ------------------------------------------------------------------------------ programming
def test_schedule_set_previews_and_needs_confirmation(device):
    declined = pumpctl("schedule", "set", str(EXAMPLE), url=device, input="n\n")
    assert declined.returncode == 1
    assert "24 h preview" in declined.stdout and "hard limit" in declined.stdout
    done = pumpctl("schedule", "set", str(EXAMPLE), "--yes", url=device)
    assert done.returncode == 0 and "schedule programmed" in done.stdout
    doc = ok_json("schedule", "set", str(EXAMPLE.with_suffix(".csv")), "--yes", url=device)
    assert doc["programmed"][0]["daily_dose_ug"] > 0


def test_patient_bolus_then_lockout_then_clinician_bolus(device):
    first = ok_json("ptm", url=device)
    assert first["granted"] is True and first["dose_ug"] == 500
    assert pumpctl("cancel", url=device).returncode == 0  # the lockout runs start to start
    second = ok_json("ptm", url=device)
    assert second["granted"] is False and second["denial_reason"] == "LOCKOUT"
    text = pumpctl("ptm", url=device)
    assert text.returncode == 0 and "denied: LOCKOUT" in text.stdout
    bolus = ok_json("bolus", "--volume", "0.01mL", "--duration", "1min", url=device)
    assert bolus["kind"] == "CLINICIAN" and bolus["volume_nl"] == 10_000
    assert bolus["end_ms"] - bolus["start_ms"] == 60_000
    busy = pumpctl("bolus", "--dose", "50ug", "--duration", "1min", url=device)
    assert busy.returncode == 5 and "BOLUS_ACTIVE" in busy.stderr
    assert pumpctl("cancel", url=device).returncode == 0


def test_stop_and_start(device):
    assert pumpctl("stop", url=device).returncode == 0
    assert ok_json("status", url=device)["state"] == "STOPPED"
    done = pumpctl("start", url=device)
    assert done.returncode == 0 and "therapy started" in done.stdout


def test_refill_scripted(device):
    doc = ok_json("refill", "--withdrawn", "1mL", "--filled", "19mL", "--start", url=device)
    assert doc["filled_nl"] == 19_000_000 and doc["reservoir_nl"] == 19_000_000
    assert doc["discrepancy"] is True  # about 20 mL were expected, 1 mL was withdrawn
    assert doc["state"] == "INFUSING" and doc["refill_due_ms"]


# ------------------------------------------------------------------------------ errors
def test_bad_schedule_file_exits_6_with_line_and_field(device, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("every_day:\n  - {start: \"00:00\", rate_ml_per_day: 0.4}\n"
                   "  - {start: \"25:00\", rate_ml_per_day: 0.5}\n")
    done = pumpctl("schedule", "set", str(bad), "--yes", url=device)
    assert done.returncode == 6
    assert f"{bad}:3: start:" in done.stderr and done.stderr.count("\n") == 1


def test_schedule_file_for_another_concentration_exits_6(device, tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text("concentration_ug_per_ml: 25000\n"
                     "every_day:\n  - {start: \"00:00\", dose_mg_per_day: 5}\n")
    done = pumpctl("schedule", "set", str(other), "--yes", url=device)
    assert done.returncode == 6
    assert f"{other}:1: concentration_ug_per_ml:" in done.stderr
    assert "25000" in done.stderr and "10000" in done.stderr


def test_refused_exits_5_with_reason(device):
    done = pumpctl("drug", "set", "unobtainium", "10", url=device)
    assert done.returncode == 5
    assert "UNKNOWN_DRUG" in done.stderr and done.stderr.count("\n") == 1


def test_patient_role_cannot_program(device):
    done = pumpctl("--role", "patient", "stop", url=device)
    assert done.returncode == 5 and "FORBIDDEN_FOR_ROLE" in done.stderr


def test_wrong_key_exits_4(device):
    done = pumpctl("--key", "11" * 32, "status", url=device)
    assert done.returncode == 4 and "authentication" in done.stderr


def test_key_files(device, tmp_path):
    good = tmp_path / "keys.json"
    good.write_text(dump_keys(DEVELOPMENT_KEYS))
    good.chmod(0o600)
    assert pumpctl("--keys", str(good), "clock", url=device).returncode == 0
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "nope"}')
    bad.chmod(0o600)
    done = pumpctl("--keys", str(bad), "status", url=device)
    assert done.returncode == 6 and "format" in done.stderr
    clinician_only = tmp_path / "clinician.json"
    clinician_only.write_text(dump_keys({Role.CLINICIAN: DEVELOPMENT_KEYS[Role.CLINICIAN]}))
    clinician_only.chmod(0o600)
    done = pumpctl("--keys", str(clinician_only), "ptm", url=device)
    assert done.returncode == 6 and "keys.patient" in done.stderr


def test_connection_refused_exits_3():
    done = pumpctl("status", url="tcp://127.0.0.1:1")
    assert done.returncode == 3 and done.stderr.startswith("error: connection")
    missing = pumpctl("status", url="/dev/pts/does-not-exist")
    assert missing.returncode == 3


def test_usage_errors_exit_2(device):
    assert pumpctl("frobnicate", url=device).returncode == 2
    assert pumpctl("status").returncode == 2  # no --url
    assert pumpctl("bolus", "--volume", "1mL", url=device).returncode == 2  # no --duration
    bad_unit = pumpctl("bolus", "--volume", "1 parsec", "--duration", "1min", url=device)
    assert bad_unit.returncode == 2 and "volume" in bad_unit.stderr


def test_clock_set_sends_the_local_time_it_is_given(device):
    """Reproduction: `clock set 08:00+01:00` set 07:00 (converted to UTC), although the pump's
    wall clock is its local time."""
    assert pumpctl("clock", "set", "2026-03-02T08:00:00+01:00", url=device).returncode == 0
    wall = ok_json("clock", url=device)["wall_ms"]
    eight = 1_772_438_400_000  # 2026-03-02 08:00 as pump wall ms
    assert eight <= wall < eight + 60_000
    # --tz converts an instant: 08:00 UTC is 09:00 in Paris (winter time)
    assert pumpctl("clock", "set", "2026-03-02T08:00:00Z", "--tz", "Europe/Paris",
                   url=device).returncode == 0
    wall = ok_json("clock", url=device)["wall_ms"]
    assert eight + 3_600_000 <= wall < eight + 3_660_000
    bad = pumpctl("clock", "set", "08:00", "--tz", "Mars/Olympus", url=device)
    assert bad.returncode != 0 and "time zone" in bad.stderr + bad.stdout


def test_alarm_test_sounds_both_tones_and_is_logged(device):
    done = pumpctl("alarms", "test", url=device)
    assert done.returncode == 0 and "TWO_TONE_3S" in done.stdout
    kinds = [e["kind_name"] for e in ok_json("log", url=device)["entries"]]
    assert "ALARM_TEST" in kinds
