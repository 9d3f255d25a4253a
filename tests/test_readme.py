"""Every example in README.md runs as written.

The README's fenced blocks are read by ``tests/readme_blocks.py``: every ``pumpctl`` and
``pumpsim`` command line parses against the real command-line interfaces, the ones that can run
here run against a ``pumpsim`` on a pseudo-terminal (the README's ``/dev/pts/N`` replaced by the
device it announces) and exit 0, every Python block runs, the plugin example runs under
``pytester`` with a small reference programmer, and the YAML and the printed output shown match
what the project loads and prints. Commands that are live views get a bounded duration; nothing
else is changed. A block of a kind this module does not know fails the test that lists blocks,
so a new example cannot go unchecked.
"""
from __future__ import annotations

import io
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
import yaml

from host_tools.client import PumpClient
from host_tools.control.process import ControlledPumpsim
from host_tools.simprocess import PumpsimProcess
from tests.readme_blocks import (ROOT, Block, Command, output_lines, readme_blocks, readme_commands,
                                 shell_commands)

pytest_plugins = ["pytester"]

README_DEVICE = "/dev/pts/5"
LIVE_LIMITS = {"monitor": ["--duration", "0.5"], "watch": ["--count", "1"]}


# ------------------------------------------------------------------------------- helpers
def run_pumpctl(argv: list[str], capsys: pytest.CaptureFixture[str],
                monkeypatch: pytest.MonkeyPatch, stdin: str = "") -> tuple[int, str, str]:
    """``pumpctl ARGV`` in this process (the console script's own ``run``): exit code, out, err."""
    from host_tools.pumpctl import run
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    capsys.readouterr()
    code = run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_pumpsim(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``pumpsim ARGV`` in this process (the console script's own ``main``)."""
    from host_tools.pumpsim import main
    capsys.readouterr()
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def with_device(command: Command, device: str) -> list[str]:
    """The command's arguments (program name dropped) with the README's tty replaced by
    ``device`` and a live view bounded in time."""
    args = [word.replace(README_DEVICE, device) for word in command.argv[1:]]
    for live, limit in LIVE_LIMITS.items():
        if live in args:
            args += limit
    return args


def workdir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Run in ``tmp_path`` as if it were a checkout: the README's relative paths
    (``host_tools/examples/...``) resolve; the files commands write land in ``tmp_path``."""
    (tmp_path / "host_tools").symlink_to(ROOT / "host_tools")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def resolve_click(group: click.Group, argv: tuple[str, ...]) -> click.Context:
    """Parse ``argv`` down to its last subcommand without running anything: unknown commands,
    unknown options and bad or missing arguments raise click's usage errors."""
    ctx = group.make_context(argv[0], list(argv[1:]))
    while isinstance(ctx.command, click.Group):
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        if not rest:
            break
        name, command, rest = ctx.command.resolve_command(ctx, rest)
        assert command is not None and name is not None
        ctx = command.make_context(name, rest, parent=ctx)
    return ctx


def pattern(shown: str) -> re.Pattern[str]:
    """A README output line as a pattern: ``...`` stands for anything, numbers (decimal or
    0x hexadecimal) for numbers."""
    def numbers(piece: str) -> str:
        return "".join(r"0x[0-9A-Fa-f]+" if part.startswith("0x") else
                       re.sub(r"\d+", r"\\d+", re.escape(part))
                       for part in re.split(r"(0x[0-9A-Fa-f]+)", piece))
    return re.compile(".*".join(numbers(piece) for piece in shown.strip().split("...")))


def assert_shown(shown: list[str], printed: str, *, whole: bool = True) -> None:
    """Every line the README shows matches some line really printed (the whole line, or a
    part of it when ``whole`` is false: columns another tool adds around it)."""
    lines = [line.strip() for line in printed.splitlines()]
    for line in shown:
        pat = pattern(line)
        assert any(pat.fullmatch(real) if whole else pat.search(real) for real in lines), \
            f"README shows {line.strip()!r}; nothing printed matches it:\n{printed}"


def block_with(lang: str, marker: str) -> Block:
    """The one README block of ``lang`` containing ``marker``."""
    found = [b for b in readme_blocks(lang) if marker in b.text]
    assert len(found) == 1, f"README.md: {len(found)} {lang or 'plain'} blocks contain {marker!r}"
    return found[0]


def serve_lines() -> list[Command]:
    return [c for c in readme_commands("pumpsim") if c.argv[1] == "serve"]


# ------------------------------------------------------------------ every block is known
PYTHON_MARKERS = ('PumpClient("/dev/pts/5")', "PumpsimProcess([",
                  "from my_programmer import program_pump", "def test_programmer_shows_a_motor")
SCENARIO_MARKER = "steps:\n  - at:"
CI_MARKER = "make safety"
SHELL_MARKER = "pump> "
SUMMARY_MARKER = "intrapump safety machine"
LAYOUT_MARKER = "firmware_sim/   "


def test_every_block_is_one_this_module_checks() -> None:
    markers = {"python": PYTHON_MARKERS, "yaml": (SCENARIO_MARKER, CI_MARKER),
               "": (SHELL_MARKER, SUMMARY_MARKER, LAYOUT_MARKER)}
    for block in readme_blocks():
        if block.lang == "sh":
            assert shell_commands(block), f"README.md:{block.line}: a sh block without commands"
            continue
        assert block.lang in markers, f"README.md:{block.line}: unknown language {block.lang!r}"
        known = [m for m in markers[block.lang] if m in block.text]
        assert len(known) == 1, f"README.md:{block.line}: a {block.lang or 'plain'} block that " \
                                "no test here checks"
    for lang, kinds in markers.items():
        for marker in kinds:
            assert any(marker in b.text for b in readme_blocks(lang)), marker


def test_layout_block_names_the_tree() -> None:
    for line in block_with("", LAYOUT_MARKER).text.splitlines():
        if line[:1].strip():
            assert (ROOT / line.split()[0]).is_dir(), line


# ----------------------------------------------------------------- command lines parse
@pytest.mark.parametrize("command", readme_commands("pumpctl") + readme_commands("pumpsim"),
                         ids=lambda c: f"L{c.line}-{' '.join(c.argv[:4])}")
def test_command_line_parses(command: Command, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    from host_tools.pumpctl import cli as pumpctl_cli
    from host_tools.pumpsim import cli as pumpsim_cli
    here = workdir(monkeypatch, tmp_path)
    for name in ("link.pcapng", "bench.pcapng"):  # captures made by other commands
        (here / name).write_bytes(b"")
    group = pumpctl_cli if command.program == "pumpctl" else pumpsim_cli
    try:
        resolve_click(group, command.argv)
    except click.exceptions.Exit as exc:  # --version, --help
        assert exc.exit_code == 0
    except click.UsageError as exc:
        pytest.fail(f"README.md:{command.line}: `{command}`: {exc.format_message()}")


def test_make_targets_and_scripts_exist() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([\w-]+):", makefile, re.MULTILINE))
    for command in readme_commands("make"):
        assert command.argv[1] in targets, f"README.md:{command.line}: no make target"
        for assignment in command.argv[2:]:
            assert f"{assignment.split('=')[0]} ?=" in makefile
    helps: dict[str, str] = {}
    for command in readme_commands(".venv/bin/python"):
        script = command.argv[1]
        if script not in helps:
            helps[script] = subprocess.run([sys.executable, str(ROOT / script), "--help"],
                                           capture_output=True, text=True, timeout=60,
                                           cwd=ROOT).stdout
        for option in (w for w in command.argv[2:] if w.startswith("--")):
            assert option in helps[script], f"README.md:{command.line}: {script} has no {option}"


def test_conformance_options_exist(pytester: pytest.Pytester) -> None:
    options = {w for c in readme_commands("pytest") for w in c.argv if w.startswith("--pump")}
    result = pytester.runpytest_inprocess("--pyargs", "host_tools.conformance", "--help")
    for option in options:
        assert option in result.stdout.str(), f"pytest --pyargs host_tools.conformance: {option}"


# ----------------------------------------------------------- commands run on a pty pump
@pytest.mark.slow
def test_pumpctl_block_runs_against_a_pty_pump(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    workdir(monkeypatch, tmp_path)
    block = [b for b in readme_blocks("sh") if f"pumpctl --url {README_DEVICE} status" in b.text]
    assert len(block) == 1
    commands = [c for c in shell_commands(block[0]) if README_DEVICE in c.argv]
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
        for command in readme_commands("pumpsim"):
            if command.argv[1] != "control":
                continue
            args = list(command.argv[1:])
            args[args.index("--url") + 1] = sim.control
            code, out, err = run_pumpsim(with_device(Command(("pumpsim", *args), command.line),
                                                     sim.device), capsys)
            assert code == 0, f"README.md:{command.line}: `{command}`: {err}"
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


def test_scenario_block_is_the_shipped_scenario_shortened() -> None:
    from host_tools.control.scenario import parse_scenario
    text = block_with("yaml", SCENARIO_MARKER).text
    shown = parse_scenario(text)
    path = text.splitlines()[0].removeprefix("# ").split()[0]
    shipped = parse_scenario((ROOT / path).read_text(encoding="utf-8"))
    assert shown.name == shipped.name
    assert [(s.offset_ms, s.action, s.args) for s in shown.steps] == \
        [(s.offset_ms, s.action, s.args) for s in shipped.steps[:len(shown.steps)]]


def test_ci_matrix_blocks_run_the_safety_target_with_a_seed() -> None:
    profiles = (ROOT / "tests" / "safety" / "profiles.py").read_text(encoding="utf-8")
    blocks = [b for b in readme_blocks("yaml") if CI_MARKER in b.text]
    assert len(blocks) == 2
    for block in blocks:
        doc = yaml.safe_load(block.text)
        found = re.findall(r"\b(INTRAPUMP_\w+)=", block.text)
        assert found and all(f'"{name}"' in profiles for name in found), doc


# ------------------------------------------------------------------------- python blocks
@pytest.mark.slow
def test_pumpclient_block_runs_against_a_pty_pump(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    text = block_with("python", 'PumpClient("/dev/pts/5")').text
    with PumpsimProcess(["--url", "pty"], tmp_path / "sim.log") as sim:
        code = compile(text.replace(README_DEVICE, sim.device), "README.md", "exec")
        exec(code, {"__name__": "readme_example"})  # noqa: S102 - the README's own example
        out = capsys.readouterr().out
        assert out.startswith("Status(") and "Refused" not in out
        with PumpClient(sim.device) as pump:
            assert [(s.start_minute, s.rate_nl_per_day) for s in pump.schedule().steps] == \
                [(0, 500_000), (480, 900_000)]


@pytest.mark.slow
def test_pumpsimprocess_block_runs(capsys: pytest.CaptureFixture[str]) -> None:
    text = block_with("python", "PumpsimProcess([").text
    exec(compile(text, "README.md", "exec"), {"__name__": "readme_example"})  # noqa: S102
    assert capsys.readouterr().out.startswith("Identity(")


REFERENCE_PROGRAMMER = '''
"""A minimal programmer: drug, schedule, a refill in three steps, start."""


def program_pump(client, drug, concentration_ug_per_ml, steps, fill_nl):
    client.set_drug(drug, concentration_ug_per_ml)
    client.set_schedule(steps)
    client.refill_begin()
    client.refill_withdrawn(0)
    client.refill_complete(0, fill_nl, concentration_ug_per_ml)
    client.start()
'''


@pytest.mark.slow
def test_plugin_example_passes_with_a_reference_programmer(pytester: pytest.Pytester) -> None:
    text = block_with("python", "from my_programmer import program_pump").text
    assert text.startswith("# tests/test_my_programmer.py")
    pytester.makepyfile(my_programmer=REFERENCE_PROGRAMMER, test_my_programmer=text)
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", "-W",
                                          "ignore::pytest.PytestAssertRewriteWarning")
    result.assert_outcomes(passed=len(re.findall(r"^def test_", text, re.MULTILINE)))


# --------------------------------------------------------------------- printed examples
def test_safety_summary_is_what_the_suite_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    from host_tools.safety import stats
    from tests.safety import conftest as safety_summary
    shown = block_with("", SUMMARY_MARKER).text.splitlines()
    monkeypatch.setenv("INTRAPUMP_SAFETY", "deep")
    monkeypatch.setattr(stats, "TOTAL", {"examples": 10, "steps": 300, "advance": 40,
                                         "restart": 5, "attack.replay": 7,
                                         "outcome.unknown": 2, "cmd.status": 3})

    class Reporter:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def section(self, title: str) -> None:
            self.lines.append(f"== {title} ==")

        def write_line(self, line: str) -> None:
            self.lines.append(line)

    reporter = Reporter()
    safety_summary.pytest_terminal_summary(reporter, 0, None)
    assert shown[0].strip("= ") == reporter.lines[0].strip("= ")
    # the README wraps the first long line in two: compare the words
    words = " ".join(reporter.lines[1:3])
    assert pattern(" ".join(shown[1:4])).fullmatch(words), words


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
            for extra in (["log"], ["cancel"]):  # a log page and a NAK, as the README shows
                run_pumpctl(["--url", url, *extra], capsys, monkeypatch)
            assert sim.stop() == 0
    finally:
        null_modem.terminate()
        null_modem.wait(10)
    check_wireshark_block(here / "bench.pcapng", capsys, monkeypatch)


def check_wireshark_block(capture: Path, capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`pumpctl wireshark` prints what the README shows; tshark, when installed, decodes
    ``capture`` (made by the bench example) with the lines and fields the README shows."""
    from host_tools.wireshark import dissector_path
    lines = block_with("sh", "$ pumpctl wireshark").text.splitlines()
    commands = [i for i, line in enumerate(lines) if line.startswith("$ ")]
    outputs = [lines[i + 1:j] for i, j in zip(commands, [*commands[1:], len(lines)])]
    code, out, err = run_pumpctl(["wireshark"], capsys, monkeypatch)
    assert code == 0, err
    assert_shown(outputs[0], out)
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (apt-get install tshark; .ci/run installs it)")
    for index, output in zip(commands[1:], outputs[1:]):
        words = shlex.split(lines[index][2:].replace(".../intrapump.lua", str(dissector_path())))
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
