"""Hostile and malformed input files and options: every one ends with exit 2 (option) or 6
(file) naming the file and line, in bounded time and memory, before any session is opened."""
from __future__ import annotations

from pathlib import Path

import pytest

from host_tools.client import PumpClient
from host_tools.pumpctl import run

STEP = '{start: "00:00", rate_ml_per_day: 0.5}'
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8))

# (name, file bytes, line the error must name or None)
FILES: list[tuple[str, bytes, int | None]] = [
    ("empty.yaml", b"", 1),
    ("comment_only.yaml", b"# nothing here\n", 1),
    ("not_utf8.yaml", b"every_day:\n  - {start: \"00:00\", rate_ml_per_day: 0.5\xff}\n", 2),
    ("latin1.yaml", "every_day:\n  - {start: \"00:00\", rate_ml_per_day: 0,5 \u00b5}\n".encode("latin-1"), 2),
    ("huge_exponent.yaml", b"every_day:\n  - {start: \"00:00\", rate_nl_per_day: 1e999999999}\n", 2),
    ("tiny_exponent.yaml", b"every_day:\n  - {start: \"00:00\", rate_nl_per_day: 1e-999999999}\n", 2),
    ("many_digits.yaml", b"every_day:\n  - {start: \"00:00\", rate_nl_per_day: " + b"9" * 5000 + b"}\n", 2),
    ("nan.yaml", b"every_day:\n  - {start: \"00:00\", rate_nl_per_day: NaN}\n", 2),
    ("infinity.yaml", b"every_day:\n  - {start: \"00:00\", rate_nl_per_day: Infinity}\n", 2),
    ("negative.yaml", b"every_day:\n  - {start: \"00:00\", rate_nl_per_day: -5}\n", 2),
    ("alias_bomb.yaml", BOMB.encode(), 1),
    ("anchor.yaml", f"every_day: &p\n  - {STEP}\nsaturday: *p\n".encode(), 1),
    ("deep.yaml", b"every_day: " + b"[" * 5000 + b"]" * 5000 + b"\n", 1),
    ("list_root.yaml", b"- a\n- b\n", 1),
    ("scalar_root.yaml", b"hello\n", 1),
    ("unknown_key.yaml", f"everyday_plan:\n  - {STEP}\n".encode(), 1),
    ("plan_not_list.yaml", b"every_day: 5\n", 1),
    ("step_not_mapping.yaml", b"every_day:\n  - 5\n", 2),
    ("nested_value.yaml", b"every_day:\n  - {start: [1, 2], rate_ml_per_day: 1}\n", 2),
    ("complex_key.yaml", b"? [a, b]\n: 1\n", 1),
    ("duplicate_field.yaml", b"every_day:\n  - {start: \"00:00\", rate_ml_per_day: 1, rate_ml_per_day: 2}\n", 2),
    ("syntax.yaml", b"every_day: [\n", 2),
    ("nul.yaml", b"every_day:\n  - {start: \"00:00\", rate_ml_per_day: 1\x00}\n", 2),
    ("two_documents.yaml", f"every_day:\n  - {STEP}\n---\nsaturday:\n  - {STEP}\n".encode(), 3),
    ("too_big.yaml", b"# " + b"x" * (300 * 1024) + b"\n", None),
    ("too_many_steps.yaml", ("every_day:\n" + "".join(
        f'  - {{start: "{m // 60:02d}:{m % 60:02d}", rate_ml_per_day: 1}}\n'
        for m in range(0, 49 * 20, 20))).encode(), 50),
    ("bad_time.yaml", b"every_day:\n  - {start: \"24:00\", rate_ml_per_day: 1}\n", 2),
    ("garbled_time.yaml", b"every_day:\n  - {start: \"aa:bb\", rate_ml_per_day: 1}\n", 2),
    ("zero_concentration.yaml", f"concentration_ug_per_ml: 0\nevery_day:\n  - {STEP}\n".encode(), 1),
    ("list_concentration.yaml", f"concentration_ug_per_ml: [1]\nevery_day:\n  - {STEP}\n".encode(), 1),
    ("plan_twice.yaml", f"every_day:\n  - {STEP}\neveryday:\n  - {STEP}\n".encode(), 3),
    ("empty_plan.yaml", b"every_day: []\n", 1),
    ("schedule.txt", b"every_day: []\n", None),
    ("empty.csv", b"", 1),
    ("no_start.csv", b"rate_ml_per_day\n1\n", 1),
    ("cells.csv", b"start,rate_ml_per_day\n00:00,1,2\n", 2),
    ("nul.csv", b"start,rate_ml_per_day\n00:00,1\x00\n", 2),
    ("weekday.csv", b"weekday,start,rate_ml_per_day\nfunday,00:00,1\n", 2),
    ("huge_field.csv", b"start,rate_ml_per_day\n00:00,\"" + b"1" * 200_000 + b"\"\n", 2),
    ("not_utf8.csv", b"start,rate_ml_per_day\n00:00,1\n00:10,\xfe\n", 3),
    ("huge_exponent.csv", b"start,rate_nl_per_day\n00:00,1e999999999\n", 2),
]

OPTIONS: list[list[str]] = [
    ["refill", "--withdrawn", "0", "--filled", "99999999999mL", "--no-start"],
    ["refill", "--withdrawn", "5parsec", "--filled", "1mL"],
    ["refill", "--withdrawn", "0", "--filled", "1mL", "--concentration", "0"],
    ["bolus", "--volume", "1mL", "--duration", "99999999999999999999h"],
    ["bolus", "--volume", "1e9", "--duration", "1min"],
    ["limits", "set", "--lockout", "9" * 400],
    ["clock", "set", "9" * 30],
    ["schedule", "set", "/nonexistent/plan.yaml"],
]


@pytest.fixture
def no_session(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: PumpClient) -> None:
        raise AssertionError("a session was opened for input that should have been refused")
    monkeypatch.setattr(PumpClient, "open", refuse)


@pytest.mark.parametrize("name, content, line", FILES, ids=[f[0] for f in FILES])
def test_malformed_schedule_file_exits_6_with_file_and_line(
        name: str, content: bytes, line: int | None, tmp_path: Path, no_session: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    code = run(["--url", "tcp://127.0.0.1:1", "schedule", "set", str(path), "--yes"])
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert code == 6, err
    assert str(path) in err
    if line is not None:
        assert f"{path}:{line}:" in err, err
    assert "unexpected" not in err and "Traceback" not in err


@pytest.mark.parametrize("args", OPTIONS, ids=[" ".join(a)[:40] for a in OPTIONS])
def test_bad_option_exits_2_or_6_before_a_session(args: list[str], no_session: None,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["--url", "tcp://127.0.0.1:1", *args])
    err = capsys.readouterr().err
    assert code in (2, 6), err
    assert "unexpected" not in err and "Traceback" not in err


def test_corpus_size() -> None:
    assert len(FILES) + len(OPTIONS) >= 40


def test_an_impossible_volume_is_refused_in_the_users_units(no_session: None,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The typo of the hardening report: the refusal repeats what was typed and gives the range
    in mL, not a count of nanolitres nobody typed."""
    code = run(["--url", "tcp://127.0.0.1:1", "refill", "--withdrawn", "0", "--filled",
                "99999999999mL", "--no-start"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2, err
    assert "99999999999mL is outside 0.000 mL..4294.967 mL" in err, err
