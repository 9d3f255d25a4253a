"""Helpers shared by the pump model tests."""
from __future__ import annotations

from pathlib import Path

from firmware_sim import DAY_MS, Profile, Pump, Schedule, Storage, load_profile
from firmware_sim.profile import PROFILE_DIR

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
ML = 1_000_000  # nL per mL
MORPHINE_CONC = 10_000  # ug/mL


def ready_pump(profile: Profile | str = "ip20", *, fill_nl: int = 20 * ML,
               conc: int = MORPHINE_CONC, schedule: Schedule | None = None, drug: str = "morphine",
               start: bool = True, storage: Storage | None = None) -> Pump:
    """A pump programmed with ``drug`` at ``conc``, filled with ``fill_nl`` and (optionally)
    started at run time 0. Default schedule: 1 mL/day."""
    prof = load_profile(profile) if isinstance(profile, str) else profile
    pump = Pump(prof, storage)
    pump.program_therapy(drug, conc, schedule or Schedule.constant(ML))
    pump.refill_begin()
    pump.refill_withdrawn(0)
    pump.refill_complete(fill_nl, conc)
    if start:
        pump.start()
    return pump


def events_of(pump: Pump, kind: str | None = None) -> list:
    """Every logged event (of ``kind`` when given)."""
    out = []
    start = 0
    while True:
        page = pump.read_events(start, 500)
        out.extend(page)
        if len(page) < 500:
            break
        start += 500
    return [e for e in out if kind is None or e.kind == kind]


def ceil_div(a: int, b: int) -> int:
    """Ceiling of a / b for integers."""
    return -(-a // b)


def write_profile(tmp_path: Path, name: str = "custom", **overrides: str) -> Path:
    """A copy of the shipped ip20 profile with ``key = value`` lines replaced (key as in the
    file, value as TOML text), written under ``tmp_path``."""
    src = (PROFILE_DIR / "ip20.toml").read_text()
    lines = []
    for line in src.splitlines():
        key = line.split("=")[0].strip()
        if key == "name":
            line = f'name = "{name}"'
        elif key in overrides:
            line = f"{key} = {overrides[key]}"
        lines.append(line)
    path = tmp_path / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


__all__ = ["DAY_MS", "HOUR_MS", "MINUTE_MS", "ML", "MORPHINE_CONC", "ceil_div", "events_of",
           "ready_pump", "write_profile"]
