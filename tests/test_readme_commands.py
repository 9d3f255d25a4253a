"""Every command example in README.md runs as written: against a ``pumpsim`` on a
pseudo-terminal (the README's ``/dev/pts/N`` replaced by the device it announces), a
``pumpsim --control`` pump, a socat null modem (skipped with the reason when socat is absent),
and tshark (likewise). Live views get a bounded duration; nothing else is changed.
"""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from host_tools.control.process import ControlledPumpsim
from host_tools.pumpctl.common import EXIT_REFUSED
from host_tools.simprocess import PumpsimProcess
from tests.readme_blocks import (ROOT, Command, block_with, inline_spans, output_lines,
                                 readme_commands, readme_table, serve_lines, shell_commands)
from tests.readme_cli import (README_DEVICE, assert_shown, prose_command, run_pumpctl,
                              run_pumpsim, with_device, workdir)

pytest_plugins = ["pytester"]


# ----------------------------------------------------------- commands run on a pty pump
@pytest.mark.slow
def test_pumpctl_block_runs_against_a_pty_pump(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    workdir(monkeypatch, tmp_path)
    block = block_with("sh", f"pumpctl --url {README_DEVICE} status")
    commands = [c for c in shell_commands(block) if README_DEVICE in c.argv]
    with PumpsimProcess(["--url", "pty"], tmp_path / "sim.log") as sim:
        for command in commands:
            answers = "y\n" if command.argv[3:5] == ("schedule", "set") else ""
            code, out, err = run_pumpctl(with_device(command, sim.device), capsys, monkeypatch,
                                         answers)
            assert code == 0, f"README.md:{command.line}: `{command}` exited {code}: {err}{out}"
        assert (tmp_path / "day.png").read_bytes()[:4] == b"\x89PNG"
        # the shell's example programs a schedule, which the pump refuses while a bolus runs
        cancel = next(c for c in commands if c.argv[3:] == ("cancel",))
        assert run_pumpctl(with_device(cancel, sim.device), capsys, monkeypatch)[0] == 0
        shell_block = block_with("", "pump> ").text
        shell_script = [line.removeprefix("pump> ") for line in shell_block.splitlines()
                        if line.startswith("pump> ")]
        code, out, err = run_pumpctl(["--url", sim.device, "shell"], capsys, monkeypatch,
                                     "\n".join(shell_script) + "\n")
        assert code == 0 and "error" not in out, out + err
        assert_shown([line for line in shell_block.splitlines() if not line.startswith("pump> ")],
                     out)
        # the stream the prose pipes into jq: JSON lines with the field jq picks
        span = next(s for _, s in inline_spans() if "--follow --json | jq" in s)
        follow = [w.replace("/dev/pts/4", sim.device) for w in prose_command(span)[1:]]
        # (it prints only new entries; --last 5 shows some at once)
        code, out, err = run_pumpctl([*follow, "--last", "5", "--duration", "0.5"], capsys,
                                     monkeypatch)
        field = span.rsplit("jq .", 1)[1]
        assert code == 0 and out.strip(), err
        assert all(field in json.loads(line) for line in out.splitlines()), out
        # "plain `refill` is guided": it asks withdrawn, filled, concentration, start
        code, out, err = run_pumpctl(["--url", sim.device, "refill"], capsys, monkeypatch,
                                     "20mL\n20mL\n\ny\n")
        assert code == 0 and "reservoir now 20.000 mL" in out, out + err


@pytest.mark.slow
@pytest.mark.parametrize("command", [c for c in serve_lines() if "--control" not in c.argv
                                     and "/dev/pts/3" not in c.argv],
                         ids=lambda c: f"L{c.line}")
def test_pumpsim_serve_line_runs(command: Command, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    url = command.argv[command.argv.index("--url") + 1]
    if not (url == "pty" or url.startswith("tcp-listen://")):
        if not Path(url).exists():
            pytest.skip(f"README.md:{command.line}: no serial device {url} on this machine "
                        "(its options are checked by test_command_line_parses)")
    here = workdir(monkeypatch, tmp_path)
    # a fixed TCP port may be taken on a shared machine: the pump announces the one it got
    args = [re.sub(r"^(tcp-listen://[^:]+):\d+$", r"\1:0", word) for word in command.argv[2:]]
    with PumpsimProcess(args, here / "sim.log") as sim:
        code, out, err = run_pumpctl(["--url", sim.device, "status", "--json"], capsys,
                                     monkeypatch)
        assert code == 0, err
        assert sim.stop() == 0, sim.log()
    if "--capture" in args:  # the capture the README's `pumpctl sniff` reads
        sniff = next(c for c in readme_commands("pumpctl") if "sniff" in c.argv)
        assert (here / sniff.argv[-1]).exists()
        code, out, err = run_pumpctl(list(sniff.argv[1:]), capsys, monkeypatch)
        assert code == 0 and "SESSION_OPEN" in out and "GET_STATUS" in out, err
    if "--state" in args:
        assert (here / args[args.index("--state") + 1]).stat().st_size > 0


def test_pumpsim_keys_profiles_and_pumpctl_tools_run(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    here = workdir(monkeypatch, tmp_path)
    for command in readme_commands("pumpsim"):
        if command.argv[1] in ("keys", "profiles"):
            code, out, err = run_pumpsim(list(command.argv[1:]), capsys)
            assert code == 0, f"README.md:{command.line}: `{command}`: {err}"
    keys = here / "pump-keys.json"
    assert keys.exists() and keys.stat().st_mode & 0o077 == 0
    for command in readme_commands("pumpctl"):
        if command.argv[1] in ("ports", "--version"):
            code, out, err = run_pumpctl(list(command.argv[1:]), capsys, monkeypatch)
            assert code == 0, f"README.md:{command.line}: `{command}`: {err}"


@pytest.mark.slow
def test_pumpsim_accuracy_lines_run(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    here = workdir(monkeypatch, tmp_path)
    lines = [c for c in readme_commands("pumpsim") if c.argv[1] == "accuracy"]
    assert lines
    for command in lines:
        code, out, err = run_pumpsim(list(command.argv[1:]), capsys)
        assert code == 0, f"README.md:{command.line}: `{command}`: {err}"
        stem = command.argv[command.argv.index("--out") + 1]
        assert (here / f"{stem}.png").exists() and (here / f"{stem}.json").exists()


# ------------------------------------------------------- the control API and its plugin use
@pytest.mark.slow
def test_control_block_runs_against_a_controlled_pump(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      pytester: pytest.Pytester) -> None:
    serve = next(c for c in serve_lines() if "--control" in c.argv)
    with ControlledPumpsim(list(serve.argv[2:]), tmp_path / "sim.log") as sim:
        monkeypatch.chdir(ROOT)  # the scenario's path is relative to a checkout
        printed = {}
        for command in readme_commands("pumpsim"):
            if command.argv[1] != "control":
                continue
            args = list(command.argv[1:])
            args[args.index("--url") + 1] = sim.control
            code, out, err = run_pumpsim(with_device(Command(("pumpsim", *args), command.line),
                                                     sim.device), capsys)
            assert code == 0, f"README.md:{command.line}: `{command}`: {err}"
            printed[" ".join(args[3:])] = out
        listed = {line.split()[0] for line in printed["faults list"].splitlines() if line.strip()}
        for row in readme_table("fault"):
            for name in re.findall(r"`(\w+)`", row[0]):
                assert name in listed, f"README's fault table: the pump has no fault {name}"
        check_routes(sim.control)
        from host_tools.control.client import ControlClient
        with ControlClient(sim.control) as control:
            deadline = time.monotonic() + 20
            while (progress := control.scenario())["state"] == "running":
                assert time.monotonic() < deadline, progress
                time.sleep(0.05)
        assert progress["state"] == "done", progress
        # the plugin example: the plugin resets this pump (stalled by the scenario) first
        monkeypatch.chdir(pytester.path)
        pytester.makepyfile(test_stall=block_with("python", "def test_programmer_shows_a_motor").text)
        result = pytester.runpytest_inprocess(
            "-q", "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning",
            "--pump-url", sim.device, "--pump-control", sim.control)
        result.assert_outcomes(passed=1)


def check_routes(control_url: str) -> None:
    """The README's route table and the control server's OpenAPI document list the same
    routes (method and path)."""
    import httpx
    document = httpx.get(control_url + "openapi.json", timeout=10).json()
    served = {(method.upper(), path) for path, item in document["paths"].items()
              for method in item}
    shown = set()
    for row in readme_table("route"):
        methods, path = row[0].strip("`").split()[:2]
        shown.update((method, path.split("?")[0].rstrip("`")) for method in methods.split("/"))
    assert shown == served


@pytest.mark.slow
def test_bench_block_runs_on_a_socat_null_modem(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed (apt-get install socat; .ci/run installs it)")
    here = workdir(monkeypatch, tmp_path)
    block = block_with("sh", "socat -d -d")
    socat_line, serve, status = shell_commands(block)
    null_modem = subprocess.Popen(list(socat_line.argv), stderr=subprocess.PIPE, text=True)
    try:
        ttys = []
        while len(ttys) < 2:
            line = null_modem.stderr.readline()
            assert line, "socat printed no ptys"
            ttys += re.findall(r"PTY is (\S+)", line)
        shown_a, shown_b = "/dev/pts/3", "/dev/pts/4"
        args = [w.replace(shown_a, ttys[0]) for w in serve.argv[2:]]
        with PumpsimProcess(args, here / "sim.log") as sim:
            assert sim.device == ttys[0]
            with open(ttys[1], "wb", buffering=0) as host_end:
                host_end.write(b"garbage")  # bytes that are not a frame, as in the capture
            argv = [w.replace(shown_b, ttys[1]) for w in status.argv]
            done = subprocess.run([str(Path(sys.executable).with_name("pumpctl")), *argv[1:]],
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            info = [line.replace(shown_b, ttys[1]) for line in output_lines(block)]
            assert info and all(line in done.stderr.splitlines() for line in info), done.stderr
            url = argv[argv.index("--url") + 1]
            # a log page, and a NAK for a bolus cancelled when none runs, as the README shows
            assert run_pumpctl(["--url", url, "log"], capsys, monkeypatch)[0] == 0
            assert run_pumpctl(["--url", url, "cancel"], capsys, monkeypatch)[0] == EXIT_REFUSED
            assert sim.stop() == 0
    finally:
        null_modem.terminate()
        null_modem.wait(10)
    check_tshark_lines(here / "bench.pcapng")


def wireshark_session() -> tuple[list[str], list[list[str]]]:
    """The README's Wireshark session: its commands (``$`` dropped) and each one's output."""
    lines = block_with("sh", "$ pumpctl wireshark").text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("$ ")]
    outputs = [lines[i + 1:j] for i, j in zip(starts, [*starts[1:], len(lines)])]
    return [lines[i][2:] for i in starts], outputs


def test_pumpctl_wireshark_prints_what_the_readme_shows(capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    commands, outputs = wireshark_session()
    assert commands[0] == "pumpctl wireshark"
    code, out, err = run_pumpctl(["wireshark"], capsys, monkeypatch)
    assert code == 0, err
    assert_shown(outputs[0], out)


def check_tshark_lines(capture: Path) -> None:
    """tshark, when installed, decodes ``capture`` (made by the bench example) into the lines
    and fields the README shows (their values, times and columns aside)."""
    from host_tools.wireshark import dissector_path
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (apt-get install tshark; .ci/run installs it)")
    commands, outputs = wireshark_session()
    for command, output in zip(commands[1:], outputs[1:]):
        words = shlex.split(command.replace(".../intrapump.lua", str(dissector_path())))
        words = [str(capture) if w == "bench.pcapng" else w for w in words]
        done = subprocess.run(words, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        for shown in output:
            info = re.sub(r"^\s*\d+\s+[\d.]+\s+", "", shown).strip()
            if info.startswith("intrapump") and "=" in info:  # a summary line: its fields
                head = re.sub(r"^intrapump \d+ ", "", info.split(" seq=")[0])
                names = re.findall(r"(\w+)=", info)
                real = [line for line in done.stdout.splitlines()
                        if re.search(rf"intrapump \d+ {head} seq=", line)]
                assert any(re.findall(r"(\w+)=", r) == names for r in real), (shown, real)
            else:
                assert_shown([info], done.stdout, whole=False)
