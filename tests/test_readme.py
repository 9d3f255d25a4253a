"""Every example in README.md is right: each block is one a test checks, command lines parse
against the real interfaces, options named in the prose exist, the YAML loads with the project's
loaders, the Python blocks and the plugin example run, and printed output shown matches what
the project prints. The commands themselves run in tests/test_readme_commands.py.
"""
from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from host_tools.client import PumpClient
from host_tools.simprocess import PumpsimProcess
from tests.readme_blocks import (README, ROOT, Command, block_with, inline_spans, readme_blocks,
                                 readme_commands, readme_table, shell_commands)
from tests.readme_cli import (README_DEVICE, assert_parses, declared_options, pattern,
                              prose_command)

pytest_plugins = ["pytester"]

README_TEXT = README.read_text(encoding="utf-8")


# ------------------------------------------------------------------ every block is known
PYTHON_MARKERS = ('PumpClient("/dev/pts/5")', "PumpsimProcess([",
                  "from my_programmer import program_pump", "def test_programmer_shows_a_motor")
SCENARIO_MARKER = "steps:\n  - at:"
CI_MARKER = "make safety"
SHELL_MARKER = "pump> "
SUMMARY_MARKER = "intrapump safety machine"
LAYOUT_MARKER = "firmware_sim/   "
DATA_LOADERS = {"toml": tomllib.loads, "json": json.loads}


def test_every_block_is_one_this_module_checks() -> None:
    markers = {"python": PYTHON_MARKERS, "yaml": (SCENARIO_MARKER, CI_MARKER),
               "": (SHELL_MARKER, SUMMARY_MARKER, LAYOUT_MARKER)}
    for block in readme_blocks():
        if block.lang == "sh":
            assert shell_commands(block), f"README.md:{block.line}: a sh block without commands"
            continue
        if block.lang in DATA_LOADERS:  # data shown as an example: it must at least parse
            DATA_LOADERS[block.lang](block.text)
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
    assert_parses(command, tmp_path, monkeypatch)


@pytest.mark.parametrize("command", [Command(prose_command(s), n) for n, s in inline_spans()
                                     if s.startswith(("pumpctl ", "pumpsim "))],
                         ids=lambda c: f"L{c.line}-{' '.join(c.argv[:4])}")
def test_command_in_the_prose_parses(command: Command, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    assert_parses(command, tmp_path, monkeypatch, fragment=True)


def test_every_option_the_prose_names_exists() -> None:
    declared = declared_options()
    scripts = "".join(p.read_text(encoding="utf-8") for p in
                      [*(ROOT / "benchmarks").glob("*.py"), *(ROOT / "tests" / "mutation").glob("*.py")])
    for line, span in inline_spans():
        for option in re.findall(r"(?:^| )(--[\w-]+)", span) if span.startswith("--") else []:
            assert option in declared or f'"{option}"' in scripts, \
                f"README.md:{line}: `{span}`: no command declares {option}"


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


def test_example_files_and_the_columns_the_readme_names_load(tmp_path: Path) -> None:
    from host_tools.control.scenario import parse_scenario
    from host_tools.schedule_file import load_schedule_file
    for path in sorted((ROOT / "host_tools" / "examples").iterdir()):
        assert load_schedule_file(path, 10_000), path
    for path in sorted((ROOT / "host_tools" / "control" / "scenarios").glob("*.yaml")):
        assert parse_scenario(path.read_text(encoding="utf-8")).steps, path
    columns = {s for _, s in inline_spans() if re.fullmatch(r"(rate|dose)_[a-z]+_per_[a-z]+", s)}
    assert len(columns) >= 4
    for column in columns:
        path = tmp_path / f"{column}.yaml"
        path.write_text(f'every_day:\n  - {{start: "00:00", {column}: 1}}\n', encoding="utf-8")
        assert load_schedule_file(path, 10_000)[0].steps, column


def test_tables_name_what_exists() -> None:
    import host_tools.pytest_plugin as plugin
    from host_tools.pumpctl import common
    codes = {v for k, v in vars(common).items() if k.startswith("EXIT_")}
    assert {int(row[0]) for row in readme_table("code")} == codes
    for row in readme_table("fixture"):
        for name in re.findall(r"`(\w+)`", row[0]):
            assert callable(getattr(plugin, name, None)), f"the plugin has no fixture {name}"
    for row in readme_table("script"):
        assert (ROOT / "benchmarks" / row[0].strip("`")).is_file(), row[0]
    for row in readme_table("area"):
        for module in re.findall(r"`([\w/]+\.py)`", row[1]):
            assert (ROOT / module).is_file(), module


# classes the prose names methods of as `Class.method(...)`
PROSE_CLASSES = {"Pump": "firmware_sim.Pump", "PumpClient": "host_tools.client.PumpClient",
                 "hal": "hal"}


def resolve(dotted: str) -> object:
    """The object a dotted name names: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            found = getattr(found, name)
        return found
    raise ModuleNotFoundError(dotted)


def test_every_name_the_prose_gives_exists() -> None:
    for line, span in inline_spans():
        named = re.fullmatch(r"((?:firmware_sim|hal|protocol|host_tools)(?:\.\w+)+)", span)
        method = re.match(r"(\w+)\.(\w+)\(", span)
        try:
            if named:
                resolve(named.group(1))
            elif method and method.group(1) in PROSE_CLASSES:
                assert callable(getattr(resolve(PROSE_CLASSES[method.group(1)]), method.group(2)))
        except (ImportError, AttributeError) as exc:
            pytest.fail(f"README.md:{line}: `{span}` names nothing: {exc}")


def test_control_client_has_the_methods_the_readme_lists() -> None:
    from host_tools.control.client import ControlClient
    paragraph = next(s for s in README_TEXT.split("\n\n") if "ControlClient` (httpx)" in s)
    names = re.findall(r"`(\w+)\(", paragraph)
    assert len(names) >= 10
    for name in names:
        assert callable(getattr(ControlClient, name, None)), f"ControlClient has no {name}()"


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


@pytest.mark.slow
def test_plugin_example_against_another_pump_skips_the_model_tests(
        pytester: pytest.Pytester, tmp_path: Path) -> None:
    """As the README says: with --pump-url the same file runs against another pump, and the
    tests that need the model (``virtual_pump``) are skipped."""
    text = block_with("python", "from my_programmer import program_pump").text
    needs_model = len(re.findall(r"^def test_\w+\([^)]*virtual_pump", text, re.MULTILINE))
    tests = len(re.findall(r"^def test_", text, re.MULTILINE))
    assert 0 < needs_model < tests
    pytester.makepyfile(my_programmer=REFERENCE_PROGRAMMER, test_my_programmer=text)
    with PumpsimProcess(["--url", "pty"], tmp_path / "sim.log") as sim:
        result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", "-W",
                                              "ignore::pytest.PytestAssertRewriteWarning",
                                              "--pump-url", sim.device)
    result.assert_outcomes(passed=tests - needs_model, skipped=needs_model)


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
