"""The fenced code blocks of README.md and the command lines in its shell blocks.

A small parser for the one Markdown construct the README's examples use: a fence of three
backticks at the start of a line, with an optional language word, closed by a bare fence.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# programs whose lines in a ```sh block are commands (anything else there is printed output)
PROGRAMS = ("pumpctl", "pumpsim", "make", "socat", "pytest", ".venv/bin/python", "tshark",
            "wireshark")


@dataclass(frozen=True)
class Block:
    """One fenced block: its language word ("" when none), its text, and the README line of
    its first text line (1-based)."""

    lang: str
    text: str
    line: int


@dataclass(frozen=True)
class Command:
    """One shell command of a ```sh block: its words and the README line it starts on."""

    argv: tuple[str, ...]
    line: int

    @property
    def program(self) -> str:
        """The program's name as written (``pumpctl``, ``.venv/bin/python``, ...)."""
        return self.argv[0]

    def __str__(self) -> str:
        return shlex.join(self.argv)


def fenced_blocks(text: str) -> list[Block]:
    """Every fenced block of ``text`` in order; an unclosed fence raises ValueError."""
    blocks: list[Block] = []
    lang: str | None = None
    body: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        fence = re.match(r"^```(\S*)\s*$", line)
        if lang is None:
            if fence:
                lang, body, start = fence.group(1), [], number + 1
        elif line.rstrip() == "```":
            blocks.append(Block(lang, "\n".join(body) + "\n", start))
            lang = None
        else:
            body.append(line)
    if lang is not None:
        raise ValueError(f"README.md: the block opened at line {start - 1} is never closed")
    return blocks


def readme_blocks(lang: str | None = None) -> list[Block]:
    """README.md's fenced blocks, only those of ``lang`` when given."""
    blocks = fenced_blocks(README.read_text(encoding="utf-8"))
    return [b for b in blocks if lang is None or b.lang == lang]


def _logical_lines(block: Block) -> list[tuple[int, str]]:
    """The block's lines with backslash continuations joined, each with its README line."""
    lines: list[tuple[int, str]] = []
    pending = ""
    first = 0
    for offset, raw in enumerate(block.text.splitlines()):
        if not pending:
            first = block.line + offset
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        lines.append((first, pending + raw))
        pending = ""
    return lines


def _split(line: str) -> list[list[str]]:
    """Shell words of ``line``, comments dropped, one list per ``;``-separated command."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";")
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for word in lexer:
        if word == ";":
            commands.append([])
        else:
            commands[-1].append(word)
    return [c for c in commands if c]


def shell_commands(block: Block) -> list[Command]:
    """The commands of a ```sh block. In a block that shows a session (lines starting with
    ``$ ``) only those lines are commands; otherwise every line starting with one of
    PROGRAMS is, and the rest (``# device: ...``, a log line) is output shown as an example."""
    lines = _logical_lines(block)
    session = any(text.startswith("$ ") for _, text in lines)
    commands: list[Command] = []
    for number, text in lines:
        if session:
            if not text.startswith("$ "):
                continue
            text = text[2:]
        if not text.startswith(PROGRAMS):
            continue
        commands.extend(Command(tuple(words), number) for words in _split(text))
    return commands


def readme_commands(program: str | None = None) -> list[Command]:
    """Every command of README.md's ```sh blocks, only those of ``program`` when given."""
    found = [c for b in readme_blocks("sh") for c in shell_commands(b)]
    return [c for c in found if program is None or c.program == program]


def output_lines(block: Block) -> list[str]:
    """The lines of a ```sh block that are printed output, not commands or comments."""
    commands = {c.line for c in shell_commands(block)}
    return [text for number, text in _logical_lines(block)
            if number not in commands and not text.startswith(("#", "$ "))]


def inline_spans() -> list[tuple[int, str]]:
    """Every inline code span of README.md outside fenced blocks, with its line."""
    spans: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(README.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            spans.extend((number, span) for span in re.findall(r"`([^`]+)`", line))
    return spans


def block_with(lang: str, marker: str) -> Block:
    """The one README block of ``lang`` containing ``marker``."""
    found = [b for b in readme_blocks(lang) if marker in b.text]
    assert len(found) == 1, f"README.md: {len(found)} {lang or 'plain'} blocks contain {marker!r}"
    return found[0]


def serve_lines() -> list[Command]:
    """The README's ``pumpsim serve`` command lines."""
    return [c for c in readme_commands("pumpsim") if c.argv[1] == "serve"]


def readme_table(first_header: str) -> list[list[str]]:
    """The rows (cells stripped) of the README's Markdown table whose header row starts with
    the cell ``first_header``; AssertionError unless exactly one table does."""
    lines = README.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines)
              if line.startswith("|") and line.split("|")[1].strip() == first_header]
    assert len(starts) == 1, f"README.md: {len(starts)} tables start with {first_header!r}"
    rows = []
    for line in lines[starts[0] + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows
