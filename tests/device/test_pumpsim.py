"""``pumpsim``: serving over a pty and TCP in a separate process, the command line, signals."""
from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
import serial

from hal import read_capture
from host_tools.pumpsim import main
from protocol import Alarm, Role, StreamDecoder, TherapyState, load_keys
from protocol import MessageType as MT

from .host import RawHost, nak, ok, program
from .proc import PumpsimProcess, TcpBytes, serial_reader

pytestmark = pytest.mark.requirement("PER-2", "PER-3", "SEC-1")


def test_serve_on_pty_resumes_from_state_file(tmp_path: Path) -> None:
    db = tmp_path / "pump.db"
    sim = PumpsimProcess(["--url", "pty", "--state", str(db), "--log-frames",
                          "--serial", "IP-777"], tmp_path / "sim.log")
    assert sim.device.startswith("/dev/")
    port = serial.Serial(sim.device, timeout=0.05)
    host = RawHost(serial_reader(port), port.write)
    assert ok(host.untagged(MT.IDENTIFY), MT.IDENTITY)["serial_number"] == "IP-777"
    ok(host.handshake(Role.CLINICIAN), MT.SESSION_ACCEPTED)
    program(host)
    before = ok(host.request(MT.GET_LIMITS), MT.LIMITS)
    assert sim.stop() == 0
    port.close()
    log = sim.log()
    assert "rx REQ SESSION_OPEN" in log and "tx RSP LIMITS" in log
    assert "DEVELOPMENT KEYS" in log and "Traceback" not in log

    sim = PumpsimProcess(["--url", "pty", "--state", str(db)], tmp_path / "sim2.log")
    port = serial.Serial(sim.device, timeout=0.05)
    host = RawHost(serial_reader(port), port.write)
    ok(host.handshake(Role.PATIENT), MT.SESSION_ACCEPTED)
    assert ok(host.request(MT.GET_LIMITS), MT.LIMITS) == before
    st = ok(host.request(MT.GET_STATUS), MT.STATUS)
    assert st["state"] == TherapyState.INFUSING and st["reservoir_nl"] <= 20_000_000
    assert sim.stop() == 0
    port.close()


def test_serve_on_tcp_with_keys_and_sigint(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    with pytest.raises(SystemExit) as exc:
        main(["keys", "generate", str(keys), "--serial", "IP-000042"])
    assert exc.value.code == 0
    assert stat.S_IMODE(os.stat(keys).st_mode) == 0o600
    provisioned = load_keys(keys)
    capture = tmp_path / "wire.pcapng"
    sim = PumpsimProcess(["--url", "tcp-listen://127.0.0.1:0", "--keys", str(keys),
                          "--warp", "3600", "--capture", str(capture),
                          "--faults", "delay=0.5,delay_ms=5,seed=3"], tmp_path / "sim.log")
    assert sim.device.startswith("socket://127.0.0.1:")
    link = TcpBytes(sim.device)
    host = RawHost(link.read, link.write)
    assert nak(host.handshake(Role.CLINICIAN))["code"] == 0x09  # development key: AUTH_FAILED
    ok(host.handshake(Role.CLINICIAN, provisioned[Role.CLINICIAN]), MT.SESSION_ACCEPTED)
    ok(host.request(MT.GET_STATUS), MT.STATUS)
    link.close()  # a new host connects: the old session is gone
    link = TcpBytes(sim.device)
    host2 = RawHost(link.read, link.write)
    _, stale = host.build(MT.GET_STATUS)
    host2.send(stale)
    assert nak(host2.response())["code"] == 0x05  # NO_SESSION
    ok(host2.handshake(Role.PATIENT, provisioned[Role.PATIENT]), MT.SESSION_ACCEPTED)
    ok(host2.request(MT.GET_STATUS), MT.STATUS)
    sim.proc.send_signal(2)  # SIGINT
    assert sim.wait() == 0
    link.close()
    assert "DEVELOPMENT KEYS" not in sim.log()
    chunks = list(read_capture(capture))
    assert {c.direction for c in chunks} == {"rx", "tx"}
    frames = StreamDecoder().feed(b"".join(c.data for c in chunks if c.direction == "tx"))
    assert [f.name for f in frames][-1] == "STATUS"


def test_corrupt_state_file_gives_the_memory_alarm(tmp_path: Path) -> None:
    db = tmp_path / "pump.db"
    db.write_bytes(b"this is not a database" * 100)
    sim = PumpsimProcess(["--url", "tcp-listen://127.0.0.1:0", "--state", str(db)],
                         tmp_path / "sim.log")
    link = TcpBytes(sim.device)
    host = RawHost(link.read, link.write)
    ok(host.handshake(Role.CLINICIAN), MT.SESSION_ACCEPTED)
    st = ok(host.request(MT.GET_STATUS), MT.STATUS)
    assert st["active_alarms"] & (1 << Alarm.MEMORY_ERROR)
    assert st["state"] == TherapyState.STOPPED
    assert sim.stop() == 0
    link.close()
    assert "Traceback" not in sim.log()
    with sqlite3.connect(db) as conn:  # a fresh, valid store replaced it
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] > 0


@pytest.mark.parametrize("args, message", [
    (["serve", "--url", "virtual://p1"], "virtual://"),
    (["serve", "--url", "fault+virtual://p1?drop=0.1"], "virtual://"),
    (["serve", "--url", "socket://127.0.0.1:1"], "tcp-listen"),
    (["serve", "--url", "pty", "--warp", "0"], "--warp"),
    (["serve", "--url", "pty", "--warp", "fast"], "--warp"),
    (["serve", "--url", "pty", "--profile", "ip99"], "--profile"),
    (["serve", "--url", "pty", "--keys", "/nonexistent/keys.json"], "--keys"),
    (["serve", "--url", "pty", "--faults", "drop=2"], "--url"),
    (["serve", "--url", "pty", "--serial", "X" * 17], "--serial"),
    (["serve", "--url", "pty", "--state", "/nonexistent/dir/pump.db"], "--state"),
    (["serve", "--url", "/dev/nonexistent-tty"], "--url"),
    (["serve"], "--url"),
    (["serve", "--url", "pty", "--bogus"], "--bogus"),
    (["frobnicate"], "frobnicate"),
])
def test_bad_options_are_one_line_and_exit_2(args: list[str], message: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pumpsim: error:") and message in lines[0]


def test_keys_generate_refuses_to_overwrite(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "k.json"
    path.write_text("precious")
    with pytest.raises(SystemExit) as exc:
        main(["keys", "generate", str(path)])
    assert exc.value.code == 2 and path.read_text() == "precious"
    with pytest.raises(SystemExit) as exc:
        main(["keys", "generate", str(path), "--force"])
    assert exc.value.code == 0 and set(load_keys(path)) == {Role.CLINICIAN, Role.PATIENT}


def test_profiles_lists_the_shipped_profiles(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["profiles"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("ip20: reservoir 20 mL") and "ip40: reservoir 40 mL" in out


def test_bad_files_are_one_line_in_a_real_process(tmp_path: Path) -> None:
    import subprocess

    from host_tools.simprocess import pumpsim_command
    bad_profile = tmp_path / "bad.toml"
    bad_profile.write_text('name = "bad"\n[reservoir]\ncapacity_nl = "x"\n')
    bad_keys = tmp_path / "keys.json"
    bad_keys.write_text('{"format": "intrapump-keys/1", "keys": {"clinician": "zz"}}')
    bad_keys.chmod(0o600)
    for args in (["--profile", str(bad_profile)], ["--keys", str(bad_keys)]):
        done = subprocess.run(pumpsim_command() + ["serve", "--url", "pty", *args], capture_output=True,
                              text=True, timeout=30)
        assert done.returncode == 2 and done.stdout == ""
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
