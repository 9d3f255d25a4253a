"""One readable report for a failing test that logged a lot (registered through the ``pytest11``
entry point as ``intrapump_logs``).

A failing hypothesis run replays many examples; each refusal the pump logs is a WARNING line,
so the captured log of one failure can run to hundreds of near-identical lines. For a failed
test whose captured log or stderr is longer than ``--log-digest-lines`` (default 40; 0 keeps
everything), the section is replaced by a digest: how many lines there were, the most frequent
messages (numbers masked) with their counts and one real example each, and the last lines
verbatim (the ones nearest the failure).
"""
from __future__ import annotations

import collections
import re
from typing import Any

import pytest

_NUMBER = re.compile(r"0x[0-9A-Fa-f]+|\d+")
TAIL = 15
TOP = 12


def digest(text: str, limit: int) -> str:
    """``text`` unchanged when it has at most ``limit`` lines, else its digest."""
    lines = text.splitlines()
    if limit <= 0 or len(lines) <= limit:
        return text
    shapes: collections.Counter[str] = collections.Counter()
    example: dict[str, str] = {}
    for line in lines:
        shape = _NUMBER.sub("#", line)
        shapes[shape] += 1
        example.setdefault(shape, line)
    out = [f"[{len(lines)} lines, {len(shapes)} distinct messages; the most frequent "
           f"(numbers masked as #), then the last {TAIL} lines]"]
    out += [f"{n:6d} x {example[shape]}" for shape, n in shapes.most_common(TOP)]
    if len(shapes) > TOP:
        out.append(f"       ... and {len(shapes) - TOP} more distinct messages")
    out.append(f"--- last {TAIL} lines ---")
    out += lines[-TAIL:]
    return "\n".join(out) + "\n"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("intrapump").addoption(
        "--log-digest-lines", type=int, default=40, metavar="N",
        help="digest the captured log/stderr of a failed test when longer than N lines "
             "(0: keep it whole)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Any:
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    limit = item.config.getoption("--log-digest-lines")
    report.sections = [(title, digest(text, limit) if title.startswith(("Captured log",
                                                                         "Captured stderr"))
                        else text) for title, text in report.sections]
