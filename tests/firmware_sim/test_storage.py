"""Non-volatile storage: every accepted change committed, exact continuation after a restart,
corrupt or foreign files give the memory alarm and a safe state."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Callable

import pytest

from firmware_sim import (Alarm, Pump, Rejected, Schedule, Storage, TherapyState,
                          load_profile)

from .helpers import DAY_MS, HOUR_MS, MINUTE_MS, ML, events_of, ready_pump

pytestmark = pytest.mark.requirement("PER-1", "PER-2", "PER-3", "SAF-9")

S = TherapyState


def stored_state(path: Path) -> dict:
    with sqlite3.connect(path) as c:
        return json.loads(c.execute("SELECT json FROM state WHERE id = 1").fetchone()[0])


def stored_event_count(path: Path) -> int:
    with sqlite3.connect(path) as c:
        return c.execute("SELECT COUNT(*) FROM events").fetchone()[0]


def roundtrip(d: dict) -> dict:
    return json.loads(json.dumps(d))


def restart(pump: Pump, path: Path) -> Pump:
    """Power loss: drop the pump, rebuild it from the same file."""
    pump.storage.close()
    return Pump(load_profile("ip20"), Storage(path))


def test_every_accepted_change_is_committed(tmp_path: Path) -> None:
    path = tmp_path / "pump.db"
    pump = Pump(load_profile("ip20"), Storage(path))
    steps: list[Callable[[], object]] = [
        lambda: pump.program_therapy("morphine", 10_000, Schedule.daily([(0, ML), (600, 2 * ML)])),
        pump.refill_begin, lambda: pump.refill_withdrawn(0),
        lambda: pump.refill_complete(20 * ML, 10_000), pump.start,
        lambda: pump.set_low_reservoir_threshold(3 * ML),
        lambda: pump.configure_patient_bolus(dose_ug=500, duration_ms=10 * MINUTE_MS,
                                             lockout_ms=HOUR_MS, max_per_24h=4),
        lambda: pump.advance_to(HOUR_MS), pump.request_patient_bolus,
        lambda: pump.advance_to(HOUR_MS + 60_001), pump.request_patient_bolus,
        lambda: pump.advance_to(2 * HOUR_MS),
        lambda: pump.start_clinician_bolus(duration_ms=MINUTE_MS, volume_nl=1000),
        pump.stop_bolus, lambda: pump.set_time(5 * HOUR_MS), pump.inject_motor_stall,
        lambda: pump.acknowledge_alarm(Alarm.MOTOR_STALL), pump.start,
        pump.disable_patient_bolus, pump.stop, lambda: pump.inject_memory_error("x"),
    ]
    for step in steps:
        step()
        assert stored_state(path) == roundtrip(pump.snapshot())
        assert stored_event_count(path) == pump.status().event_count


def test_rejected_command_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "pump.db"
    pump = ready_pump(storage=Storage(path))
    before, n = stored_state(path), stored_event_count(path)
    with pytest.raises(Rejected):
        pump.set_schedule(Schedule.constant(1))
    assert stored_state(path) == before
    assert stored_event_count(path) == n


def twin_actions() -> list[Callable[[Pump], object]]:
    """A day of therapy with everything in flight that a restart must carry over."""
    return [
        lambda p: p.configure_patient_bolus(dose_ug=500, duration_ms=30 * MINUTE_MS,
                                            lockout_ms=2 * HOUR_MS, max_per_24h=3),
        lambda p: p.advance_to(HOUR_MS + 1),
        lambda p: p.request_patient_bolus(),
        lambda p: p.advance_to(HOUR_MS + 17 * MINUTE_MS + 3),  # mid patient bolus
        lambda p: p.set_time(10 * HOUR_MS),
        lambda p: p.advance_to(2 * HOUR_MS + 5),
        lambda p: p.request_patient_bolus(),  # lockout
        lambda p: p.advance_to(DAY_MS + 7),
        lambda p: p.refill_begin(),
        lambda p: p.refill_withdrawn(p.status().reservoir_nl - 100_000),
        lambda p: p.refill_complete(15 * ML, 20_000),  # bridge bolus
        lambda p: p.advance_to(DAY_MS + 2 * HOUR_MS + 33),  # mid bridge
        lambda p: p.advance_to(DAY_MS + 20 * HOUR_MS),
        lambda p: p.start_clinician_bolus(duration_ms=HOUR_MS, volume_nl=10_000),
        lambda p: p.advance_to(DAY_MS + 20 * HOUR_MS + 1_234),  # mid clinician bolus
        lambda p: p.advance_to(2 * DAY_MS),
    ]


@pytest.mark.parametrize("restart_after", [0, 1, 2, 3, 4, 6, 8, 9, 10, 11, 14, 15])
def test_restart_continues_exactly(tmp_path: Path, restart_after: int) -> None:
    path = tmp_path / "pump.db"
    pump = ready_pump(storage=Storage(path), schedule=Schedule.daily([(0, 700_001), (480, ML)]))
    twin = ready_pump(schedule=Schedule.daily([(0, 700_001), (480, ML)]))
    for i, act in enumerate(twin_actions()):
        act(pump)
        act(twin)
        if i == restart_after:
            pump = restart(pump, path)
            assert pump.status() == twin.status()
    assert pump.status() == twin.status()
    pump.advance_to(3 * DAY_MS)
    twin.advance_to(3 * DAY_MS)
    assert pump.status() == twin.status()
    assert events_of(pump) == events_of(twin)
    r1, r2 = pump.request_patient_bolus(), twin.request_patient_bolus()
    assert r1 == r2


def test_restart_in_refill_and_fault(tmp_path: Path) -> None:
    path = tmp_path / "pump.db"
    pump = ready_pump(storage=Storage(path))
    pump.advance_to(HOUR_MS)
    pump.refill_begin()
    pump.refill_withdrawn(19 * ML)
    pump = restart(pump, path)
    assert pump.status().state is S.REFILL
    pump.refill_complete(20 * ML, 10_000)  # the withdrawal survived the restart
    assert pump.status().state is S.INFUSING
    pump.inject_motor_stall()
    pump = restart(pump, path)
    assert pump.status().state is S.FAULT
    pump.acknowledge_alarm(Alarm.MOTOR_STALL)
    assert pump.status().state is S.STOPPED


def assert_memory_error_safe_state(pump: Pump) -> None:
    st = pump.status()
    assert st.state is S.STOPPED
    assert Alarm.MEMORY_ERROR in {a.alarm for a in st.alarms}
    pump.advance_to(st.time_ms + DAY_MS)
    assert pump.status().delivered_nl == 0


def test_corrupt_file_gives_memory_error(tmp_path: Path, caplog) -> None:
    path = tmp_path / "pump.db"
    path.write_bytes(b"this is not a database" * 200)
    pump = Pump(load_profile("ip20"), Storage(path))
    assert_memory_error_safe_state(pump)
    assert (tmp_path / "pump.db.corrupt-0").read_bytes().startswith(b"this is not")
    assert "Traceback" not in caplog.text
    # the fresh store works and keeps the alarm over a restart
    pump.program_therapy("morphine", 10_000, Schedule.constant(ML))
    pump = restart(pump, path)
    assert Alarm.MEMORY_ERROR in {a.alarm for a in pump.status().alarms}
    assert pump.status().drug_name == "morphine"


def test_foreign_sqlite_file_gives_memory_error(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE users (name TEXT)")
        c.execute("INSERT INTO users VALUES ('alice')")
    c.close()
    pump = Pump(load_profile("ip20"), Storage(path))
    assert_memory_error_safe_state(pump)
    assert (tmp_path / "other.sqlite.corrupt-0").exists()


def test_wrong_magic_gives_memory_error(tmp_path: Path) -> None:
    path = tmp_path / "pump.db"
    ready_pump(storage=Storage(path)).storage.close()
    with sqlite3.connect(path) as c:
        c.execute("UPDATE meta SET value = 'something-else' WHERE key = 'magic'")
    c.close()
    assert_memory_error_safe_state(Pump(load_profile("ip20"), Storage(path)))


@pytest.mark.parametrize("tamper", [
    lambda d: d.update(state="FLYING"),
    lambda d: d.update(version=99),
    lambda d: d.update(reservoir_nl=-5),
    lambda d: d.update(reservoir_nl=10**12),
    lambda d: d.update(delivered_nl="many"),
    lambda d: d.update(delivered_nl=d["delivered_nl"] + 1),  # conservation broken
    lambda d: d.pop("filled_nl"),
    lambda d: d.update(alarms=[[99, 0, 0]]),
    lambda d: d.update(alarms="none"),
    lambda d: d.update(bolus=5),
    lambda d: d.update(bolus={"kind": 1}),
    lambda d: d.update(schedule={"255": [[0, 10**12]]}),
    lambda d: d.update(schedule={"255": []}),
    lambda d: d.update(schedule={"255": [[0, 1_000_000]], "7": [[0, 1_000_000]]}),
    lambda d: d.update(profile={"name": "x"}),
    lambda d: d.update(patient_history=["a"]),
    lambda d: d.update(patient_cfg={"dose_ug": 1}),
    lambda d: d.update(wall_offset_ms=1.5),
    lambda d: d.update(t_ms=None),
    lambda d: d.update(drug_name="aspirin"),
])
def test_tampered_state_gives_memory_error(tmp_path: Path, tamper) -> None:
    path = tmp_path / "pump.db"
    pump = ready_pump(storage=Storage(path))
    pump.configure_patient_bolus(dose_ug=500, duration_ms=10 * MINUTE_MS, lockout_ms=HOUR_MS,
                                 max_per_24h=4)
    pump.request_patient_bolus()
    pump.advance_to(MINUTE_MS)
    pump.storage.close()
    d = stored_state(path)
    tamper(d)
    with Storage(path) as store:  # a validly sealed state the model must still refuse
        store.commit(json.dumps(d))
    pump = Pump(load_profile("ip20"), Storage(path))
    assert_memory_error_safe_state(pump)
    # the pump stays usable after the memory error
    pump.program_therapy("morphine", 10_000, Schedule.constant(ML))


def test_state_not_json_gives_memory_error(tmp_path: Path) -> None:
    path = tmp_path / "pump.db"
    ready_pump(storage=Storage(path)).storage.close()
    with sqlite3.connect(path) as c:
        c.execute("UPDATE state SET json = '{not json' WHERE id = 1")
    c.close()
    assert_memory_error_safe_state(Pump(load_profile("ip20"), Storage(path)))


def test_event_log_gap_gives_memory_error(tmp_path: Path) -> None:
    path = tmp_path / "pump.db"
    ready_pump(storage=Storage(path)).storage.close()
    with sqlite3.connect(path) as c:
        c.execute("DELETE FROM events WHERE idx = 1")
    c.close()
    assert_memory_error_safe_state(Pump(load_profile("ip20"), Storage(path)))


def test_snapshot_round_trip() -> None:
    pump = ready_pump()
    pump.advance_to(HOUR_MS)
    copy = Pump.from_snapshot(pump.snapshot())
    copy.advance_to(DAY_MS)
    pump.advance_to(DAY_MS)
    a, b = pump.status(), copy.status()
    assert (a.delivered_nl, a.reservoir_nl, a.state) == (b.delivered_nl, b.reservoir_nl, b.state)


def test_storage_api(tmp_path: Path) -> None:
    with Storage(tmp_path / "s.db") as st:
        assert st.load_state() is None and st.fault is None
        evs = st.commit({"a": 1}, [(5, "X", {"k": 1}), (6, "Y", {})])
        assert [(e.index, e.kind) for e in evs] == [(0, "X"), (1, "Y")]
        assert st.commit('{"b": 2}', [(7, "Z", {})])[0].index == 2
        assert st.load_state() == {"b": 2}
        assert st.event_count() == 3
        assert st.read_events(1, 1)[0].kind == "Y"
