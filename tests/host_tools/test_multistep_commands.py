"""Multi-step pumpctl commands: all input checked before the first request; a step the pump
refuses midway leaves the pump as it was, or in a state the command reports with how to finish."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from firmware_sim import Schedule, TherapyState, load_profile
from firmware_sim.device.harness import start_virtual_pump
from host_tools.pumpctl import run

ML = 1_000_000


def _programmed(vp, rate_nl: int = 300_000) -> None:  # type: ignore[no-untyped-def]
    with vp.device.lock:
        pump = vp.pump
        pump.program_therapy("morphine", 10_000, Schedule.constant(rate_nl))
        pump.refill_begin()
        pump.refill_withdrawn(0)
        pump.refill_complete(18 * ML, 10_000)
        pump.start()


def _plans(vp) -> dict:  # type: ignore[no-untyped-def]
    with vp.device.lock:
        return {int(w): [(s.start_minute, s.rate_nl_per_day) for s in p.steps]
                for w, p in vp.pump.schedule.plans.items()}


def _two_plans(tmp_path: Path, saturday_rate_ml: str) -> Path:
    path = tmp_path / "two.yaml"
    path.write_text('every_day:\n  - {start: "00:00", rate_ml_per_day: 0.4}\n'
                    f'saturday:\n  - {{start: "00:00", rate_ml_per_day: {saturday_rate_ml}}}\n')
    return path


def test_refill_typo_is_refused_before_the_first_request(capsys: pytest.CaptureFixture[str]) -> None:
    with start_virtual_pump() as vp:
        _programmed(vp)
        before = vp.pump.status()
        code = run(["--url", vp.url, "refill", "--withdrawn", "0", "--filled", "25mL",
                    "--no-start"])
        after = vp.pump.status()
    assert code == 2, capsys.readouterr().err
    assert after.state is TherapyState.INFUSING
    assert (after.reservoir_nl, after.event_count) == (before.reservoir_nl, before.event_count)


def test_refill_refused_midway_reports_how_to_finish_and_can_be_finished(
        capsys: pytest.CaptureFixture[str]) -> None:
    with start_virtual_pump() as vp:
        _programmed(vp, rate_nl=ML)  # 10 mg/day at 10 mg/mL; 50 mg/mL would give 50 mg/day
        code = run(["--url", vp.url, "refill", "--withdrawn", "0", "--filled", "19mL",
                    "--concentration", "50mg/mL", "--no-start"])
        err = " ".join(capsys.readouterr().err.split())
        assert code == 5 and "HARD_DAILY_LIMIT" in err
        assert "stays in REFILL" in err and "pumpctl refill --withdrawn" in err
        assert vp.pump.status().state is TherapyState.REFILL
        for _ in range(50):  # the virtual pump end notices the last host left
            code = run(["--url", vp.url, "refill", "--withdrawn", "0", "--filled", "19mL",
                        "--no-start"])
            if code != 3:
                break
            time.sleep(0.05)
        assert code == 0, capsys.readouterr().err
        st = vp.pump.status()
    assert st.state is TherapyState.INFUSING and st.reservoir_nl == 19 * ML


def test_plan_over_the_hard_limit_is_refused_before_anything_is_sent(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with start_virtual_pump() as vp:
        _programmed(vp)
        before = _plans(vp)
        code = run(["--url", vp.url, "schedule", "set", str(_two_plans(tmp_path, "4")), "--yes"])
        after = _plans(vp)
    err = " ".join(capsys.readouterr().err.split())
    assert code == 5 and "saturday" in err and "nothing was sent" in err
    assert after == before


def test_plan_is_checked_against_the_ranges_the_pump_reports(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A pump whose ranges are stricter than its model's profile file: pumpctl checks what the
    pump reports (GET_DEVICE_LIMITS), so nothing is sent (it used to check ip20's file, send
    the every-day plan and have the saturday one refused midway)."""
    strict = dataclasses.replace(load_profile("ip20"), max_rate_nl_per_day=500_000)
    with start_virtual_pump(profile=strict) as vp:
        _programmed(vp)
        before = _plans(vp)
        code = run(["--url", vp.url, "schedule", "set", str(_two_plans(tmp_path, "0.6")), "--yes"])
        after = _plans(vp)
    err = " ".join(capsys.readouterr().err.split())
    assert code == 5 and "48000..500000" in err and "nothing was sent" in err
    assert after == before


def test_plan_refused_midway_puts_the_sent_plans_back(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # what the preview cannot foresee: the pump counts every allowed patient bolus into the
    # hard daily limit (1 mg x 20 a day on top of 12 mg/day of saturday's plan > 30 mg)
    with start_virtual_pump() as vp:
        _programmed(vp)
        with vp.device.lock:
            vp.pump.configure_patient_bolus(dose_ug=1_000, duration_ms=600_000,
                                            lockout_ms=3_600_000, max_per_24h=20)
        before = _plans(vp)
        code = run(["--url", vp.url, "schedule", "set", str(_two_plans(tmp_path, "1.2")), "--yes"])
        after = _plans(vp)
    err = " ".join(capsys.readouterr().err.split())
    assert code == 5 and "HARD_DAILY_LIMIT" in err and "put back" in err
    assert after == before
