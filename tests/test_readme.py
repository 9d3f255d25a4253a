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
import socket
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
from tests.readme_blocks import (ROOT, Command, output_lines, readme_blocks, readme_commands,
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
    """A README output line as a pattern: ``...`` stands for anything, numbers for numbers."""
    parts = [re.sub(r"\d+", r"\\d+", re.escape(piece)) for piece in shown.strip().split("...")]
    return re.compile(".*".join(parts))


def assert_shown(shown: list[str], printed: str) -> None:
    """Every line the README shows matches some line really printed."""
    lines = [line.strip() for line in printed.splitlines()]
    for line in shown:
        pat = pattern(line)
        assert any(pat.fullmatch(real) for real in lines), \
            f"README shows {line.strip()!r}; nothing printed matches it:\n{printed}"


def block_with(lang: str, marker: str) -> str:
    """The text of the one README block of ``lang`` containing ``marker``."""
    found = [b for b in readme_blocks(lang) if marker in b.text]
    assert len(found) == 1, f"README.md: {len(found)} {lang or 'plain'} blocks contain {marker!r}"
    return found[0].text


def serve_lines() -> list[Command]:
    return [c for c in readme_commands("pumpsim") if c.argv[1] == "serve"]


# ------------------------------------------------------------------ every block is known
PYTHON_KINDS = {"PumpClient(\"/dev/pts/5\")": "device", "PumpsimProcess([": "pumpsim",
                "from my_programmer import program_pump": "plugin",
                "def test_programmer_shows_a_motor_stall": "control"}


def test_every_block_is_one_this_module_checks() -> None:
    kinds = {}
    for block in readme_blocks():
        if block.lang == "python":
            kind = [k for marker, k in PYTHON_KINDS.items() if marker in block.text]
            assert len(kind) == 1, f"README.md:{block.line}: a python block nothing here runs"
            kinds[kind[0]] = block.line
        elif block.lang == "yaml":
            doc = yaml.safe_load(block.text)
            assert "steps" in doc or "safety" in doc, \
                f"README.md:{block.line}: a YAML block that is neither a scenario nor CI"
        elif block.lang == "sh":
            assert shell_commands(block), f"README.md:{block.line}: a sh block without commands"
        else:
            assert block.lang == "", f"README.md:{block.line}: unknown block language {block.lang}"
    assert set(kinds) == set(PYTHON_KINDS.values())


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
        shell_block = block_with("", "pump> ")
        shell_script = [line.removeprefix("pump> ") for line in shell_block.splitlines()
                        if line.startswith("pump> ")]
        code, out, err = run_pumpctl(["--url", sim.device, "shell"], capsys, monkeypatch,
                                     "\n".join(shell_script) + "\n")
        assert code == 0 and "error" not in out, out + err
        assert_shown([line for line in shell_block.splitlines() if not line.startswith("pump> ")],
                     out)
