"""Running and parsing the README's commands in this process, and matching its printed output.

``pumpctl`` and ``pumpsim`` run through their console scripts' own entry functions (``run`` and
``main``), so a test sees the exit code, the output and the errors a user would.
"""
from __future__ import annotations

import io
import re
import shlex
import sys
from pathlib import Path

import click
import pytest

from tests.readme_blocks import ROOT, Command

README_DEVICE = "/dev/pts/5"
LIVE_LIMITS = {"monitor": ["--duration", "0.5"], "watch": ["--count", "1"]}


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
        # click 8.2 keeps the subcommand's name in _protected_args, older versions without "_"
        protected = getattr(ctx, "_protected_args", None)
        rest = [*(ctx.protected_args if protected is None else protected), *ctx.args]
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


def assert_parses(command: Command, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *,
                  fragment: bool = False) -> None:
    """``command`` parses against pumpctl's or pumpsim's interface; a ``fragment`` (a command
    the prose names by some of its options) may leave out required ones."""
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
    except click.MissingParameter:
        if not fragment:
            raise
    except click.UsageError as exc:
        pytest.fail(f"README.md:{command.line}: `{command}`: {exc.format_message()}")


# placeholders of the prose's command spans, and the value a parse needs in their place
PLACEHOLDERS = {"URL": "/dev/pts/5", "COMMAND": "status", "FILE": "bench.pcapng",
                "HOST:PORT": "127.0.0.1:0"}


def prose_command(span: str) -> tuple[str, ...]:
    """A command written in the prose: pipes and redirections dropped, placeholders filled,
    an optional ``[--opt a|b]`` taken with its first choice."""
    span = re.split(r" [|<] ", span)[0]
    span = re.sub(r"\[(--[\w-]+) ([^|\]]+)[^\]]*\]", r"\1 \2", span)
    return tuple(PLACEHOLDERS.get(word, word) for word in shlex.split(span))


def declared_options() -> set[str]:
    """Every long option of pumpctl and pumpsim (all their commands) and of the pytest plugin."""
    from host_tools.pumpctl import cli as pumpctl_cli
    from host_tools.pumpsim import cli as pumpsim_cli
    found: set[str] = set()
    commands: list[click.Command] = [pumpctl_cli, pumpsim_cli]
    while commands:
        command = commands.pop()
        found.update(o for p in command.params for o in [*p.opts, *p.secondary_opts])
        if isinstance(command, click.Group):
            commands.extend(command.commands.values())
    plugin = (ROOT / "host_tools" / "pytest_plugin.py").read_text(encoding="utf-8")
    found.update(re.findall(r'addoption\("(--[\w-]+)"', plugin))
    return found
