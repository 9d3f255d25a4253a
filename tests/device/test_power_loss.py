"""Power loss: ``kill -9`` of a ``pumpsim`` process at random moments while it is programmed,
restarted from the same state file each time. Every acknowledged change must be there, the
event log intact (gapless, readable) and the volume conserved (safety invariants SAF-1 and
SAF-9 of REQUIREMENTS.md)."""
from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

from firmware_sim import Alarm, ManualClock, Pump, Storage, load_profile
from protocol import Role
from protocol import MessageType as MT

from .host import RawHost, ok, program
from .proc import PumpsimProcess, TcpBytes

import pytest

pytestmark = pytest.mark.requirement("SAF-1", "SAF-9", "PER-2")

CYCLES = 6


def _commands(rng: random.Random, n: int) -> tuple[MT, dict[str, Any], tuple[str, int]]:
    """A state-changing request with a unique value, and how that value shows in the log."""
    which = n % 3
    if which == 0:
        rate = 100_000 + (1_000 * n + rng.randrange(1_000)) % 2_000_000  # far below limits
        return (MT.SET_SCHEDULE, {"weekday": 0xFF, "steps": [
            {"start_minute": 0, "rate_nl_per_day": rate}]}, ("PROGRAM", rate))
    if which == 1:
        threshold = 500_000 + (10_000 * n + rng.randrange(10_000)) % 4_500_000
        return (MT.SET_LIMITS, {"patient_bolus_dose_ug": 50, "patient_bolus_duration_ms": 600_000,
                                "patient_lockout_ms": 3_600_000, "patient_max_per_day": 4,
                                "low_reservoir_threshold_nl": threshold},
                ("THRESHOLD", threshold))
    wall = 1_700_000_000_000 + 60_000 * n
    return MT.SET_CLOCK, {"wall_ms": wall}, ("CLOCK_SET", wall)


def _logged(ev_kind: str, details: dict[str, Any]) -> tuple[str, int] | None:
    if ev_kind == "PROGRAM":
        return "PROGRAM", details["schedule"]["255"][0][1]
    if ev_kind == "THRESHOLD":
        return "THRESHOLD", details["low_threshold_nl"]
    if ev_kind == "CLOCK_SET":
        return "CLOCK_SET", details["new_wall_ms"]
    return None


def _check_store(db: Path, acked: list[tuple[str, int]]) -> Pump:
    storage = Storage(db)
    assert storage.fault is None
    events = storage.read_events(0, 1_000_000)
    assert [e.index for e in events] == list(range(len(events))) == \
        list(range(storage.event_count()))
    assert all(not (isinstance(e.details, dict) and "unreadable" in e.details) for e in events)
    logged = {_logged(e.kind, e.details) for e in events}
    missing = [a for a in acked if a not in logged]
    assert not missing, f"acknowledged but lost: {missing}"
    pump = Pump(load_profile("ip20"), storage, ManualClock(0))
    st = pump.status()
    assert st.filled_nl == st.delivered_nl + st.reservoir_nl + st.withdrawn_nl
    assert Alarm.MEMORY_ERROR not in {a.alarm for a in st.alarms}
    storage.close()
    return pump


def test_kill_9_while_programming(tmp_path: Path) -> None:
    rng = random.Random(20261125)
    db = tmp_path / "pump.db"
    acked: list[tuple[str, int]] = []
    n = 0
    programmed = False
    in_flight: tuple[str, int] = ("", 0)
    for cycle in range(CYCLES):
        sim = PumpsimProcess(["--url", "tcp-listen://127.0.0.1:0", "--state", str(db),
                              "--warp", "86400"], tmp_path / f"sim{cycle}.log")
        link = TcpBytes(sim.device)
        host = RawHost(link.read, link.write)
        killer = threading.Timer(rng.uniform(0.05, 0.6), sim.proc.kill)
        try:
            ok(host.handshake(Role.CLINICIAN), MT.SESSION_ACCEPTED)
            if not programmed:
                program(host)
                programmed = True
            killer.start()
            while True:
                mt, fields, in_flight = _commands(rng, n)
                n += 1
                ok(host.request(mt, fields))
                acked.append(in_flight)
        except (EOFError, OSError):
            pass  # the pump died mid-conversation (the connection closed)
        finally:
            killer.cancel()
            sim.proc.kill()
            sim.wait()
            link.close()
        assert "Traceback" not in sim.log()
        pump = _check_store(db, acked)
        # the state is the last acknowledged change, or the one in flight at the kill
        last = {kind: value for kind, value in acked}
        rate = pump.schedule.plans[0xFF].steps[0].rate_nl_per_day
        assert ("PROGRAM", rate) in {("PROGRAM", last.get("PROGRAM")), in_flight} or \
            "PROGRAM" not in last
        assert ("THRESHOLD", pump.low_threshold_nl) in {
            ("THRESHOLD", last.get("THRESHOLD")), in_flight} or "THRESHOLD" not in last
    assert len(acked) > CYCLES  # the test did program the pump between the kills
    pump = _check_store(db, acked)
    assert pump.delivered_nl > 0  # the warped pump delivered between and across the kills
