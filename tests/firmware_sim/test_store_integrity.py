"""Store integrity: every change to stored data is detected at start-up (hash chain over the
event log, seal over the state row with its profile limits), the bad file is moved aside and
the pump starts STOPPED with the memory alarm; an empty file or a lost state row is never a
silent fresh pump."""
from __future__ import annotations

import hashlib
import json
import random
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from firmware_sim import Alarm, Pump, Storage, TherapyState, load_profile
from firmware_sim.store_seal import chain_next

from .helpers import HOUR_MS, MINUTE_MS, ready_pump

S = TherapyState
FLIPS_IN_STATE = 260
FLIPS_IN_EVENTS = 280
FLIPS_ANYWHERE = 60


def _stored_pump(path: Path) -> None:
    pump = ready_pump(storage=Storage(path))
    pump.configure_patient_bolus(dose_ug=500, duration_ms=10 * MINUTE_MS, lockout_ms=HOUR_MS,
                                 max_per_24h=4)
    pump.request_patient_bolus()
    pump.advance_to(2 * HOUR_MS)
    pump.storage.close()


def logical_content(path: Path) -> object:
    """Everything SQLite returns for the file (schema, meta, state, events), or the error
    reading it raised: two files with equal content store the same data."""
    try:
        with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as c:
            return [c.execute(q).fetchall() for q in (
                "SELECT type, name, sql FROM sqlite_master ORDER BY name",
                "SELECT * FROM meta ORDER BY key", "SELECT * FROM state",
                "SELECT * FROM events ORDER BY idx")]
    except Exception as exc:  # noqa: BLE001 - unreadable counts as changed
        return f"unreadable: {type(exc).__name__}"
    finally:
        c.close() if "c" in locals() else None


def _memory_alarm(pump: Pump) -> bool:
    st = pump.status()
    return st.state is S.STOPPED and Alarm.MEMORY_ERROR in {a.alarm for a in st.alarms}


def _bit_positions(path: Path, data: bytes, rng: random.Random) -> list[int]:
    """Bits to flip: inside the state row, inside the event rows (with their record headers),
    and anywhere in the file."""
    with sqlite3.connect(path) as c:
        state_text = c.execute("SELECT json FROM state").fetchone()[0]
        rows = c.execute("SELECT kind, details, chain FROM events").fetchall()
    c.close()
    state_at = data.find(state_text[:40].encode())
    assert state_at > 0
    bits = [8 * state_at + rng.randrange(8 * len(state_text)) for _ in range(FLIPS_IN_STATE)]
    spans = []
    for kind, details, chain in rows:
        at = data.find((kind + details).encode())
        assert at > 0
        spans.append((at - 12, len(kind) + len(details) + len(chain) + 12))
    for _ in range(FLIPS_IN_EVENTS):
        at, length = rng.choice(spans)
        bits.append(8 * at + rng.randrange(8 * length))
    bits += [rng.randrange(8 * len(data)) for _ in range(FLIPS_ANYWHERE)]
    return bits


def test_every_single_bit_change_to_stored_data_is_detected(tmp_path: Path) -> None:
    original = tmp_path / "pump.db"
    _stored_pump(original)
    data = original.read_bytes()
    reference = logical_content(original)
    rng = random.Random(15)
    changed = detected = 0
    missed = []
    for n, bit in enumerate(_bit_positions(original, data, rng)):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        path = tmp_path / f"flip-{n}.db"
        path.write_bytes(flipped)
        if logical_content(path) == reference:
            path.unlink()
            continue  # the bit is in unused space: no stored data changed
        changed += 1
        store = Storage(path)
        if store.fault is not None:
            detected += 1
            assert store.moved_to == f"{path}.corrupt-0" and store.moved_to in store.fault
        else:
            missed.append(bit)
        if n % 50 == 0:  # the pump itself on a sample: alarm, stopped, no crash
            store.close()
            flipped_again = tmp_path / f"pump-{n}.db"
            flipped_again.write_bytes(flipped)
            assert _memory_alarm(Pump(load_profile("ip20"), Storage(flipped_again)))
        store.close()
    print(f"single-bit flips that changed stored data: {changed}; detected: {detected}")
    assert changed >= 400
    assert missed == [], f"undetected flips at bits {missed[:10]}"


def test_changed_profile_limit_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "pump.db"
    _stored_pump(path)
    with sqlite3.connect(path) as c:
        text = c.execute("SELECT json FROM state").fetchone()[0]
        d = json.loads(text)
        for drug in d["profile"]["drugs"].values():
            drug["hard_daily_limit_ug"] *= 10
        c.execute("UPDATE state SET json = ?", (json.dumps(d),))
    c.close()
    store = Storage(path)
    assert store.fault is not None and "seal" in store.fault
    assert _memory_alarm(Pump(load_profile("ip20"), store))
    assert (tmp_path / "pump.db.corrupt-0").exists()


def test_empty_file_is_not_a_fresh_pump(tmp_path: Path) -> None:
    path = tmp_path / "pump.db"
    path.write_bytes(b"")
    store = Storage(path)
    assert store.fault is not None and "0 bytes" in store.fault
    assert str(tmp_path / "pump.db.corrupt-0") in store.fault
    assert _memory_alarm(Pump(load_profile("ip20"), store))


def test_missing_state_row_is_not_a_fresh_pump(tmp_path: Path) -> None:
    path = tmp_path / "pump.db"
    _stored_pump(path)
    with sqlite3.connect(path) as c:
        c.execute("DELETE FROM state")
    c.close()
    store = Storage(path)
    assert store.fault is not None and "state row" in store.fault
    assert _memory_alarm(Pump(load_profile("ip20"), store))


def test_truncated_event_log_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "pump.db"
    _stored_pump(path)
    with sqlite3.connect(path) as c:
        c.execute("DELETE FROM events WHERE idx = (SELECT MAX(idx) FROM events)")
    c.close()
    assert Storage(path).fault is not None


def test_a_new_file_is_a_fresh_pump_and_a_keyed_seal_needs_its_key(tmp_path: Path) -> None:
    path = tmp_path / "pump.db"
    pump = Pump(load_profile("ip20"), Storage(path, key=b"k" * 32))
    assert pump.storage.fault is None and not _memory_alarm(pump)
    pump.storage.close()
    assert Storage(path, key=b"k" * 32).fault is None
    assert "seal" in (Storage(path, key=b"x" * 32).fault or "")


def test_absurd_clock_gives_the_memory_alarm_not_an_error_per_tick(tmp_path: Path, caplog) -> None:
    from firmware_sim.device.harness import start_virtual_pump

    path = tmp_path / "pump.db"
    _stored_pump(path)
    with Storage(path) as store:  # validly sealed: only the model can find it absurd
        state = store.load_state()
        assert state is not None
        state["t_ms"] = state["battery_start_ms"] = 2 ** 70
        store.commit(json.dumps(state))
    with start_virtual_pump(state_path=path) as vp:
        for _ in range(5):
            vp.device.poll()
            vp.device.run_pending()
        assert _memory_alarm(vp.pump)
        assert "clock out of range" in caplog.text
    assert "Traceback" not in caplog.text and "failed" not in caplog.text


@pytest.mark.requirement("PER-3")
@given(prev=st.text(max_size=70), idx=st.integers(0, 2**63), time_ms=st.integers(-2**63, 2**63),
       kind=st.text(max_size=30), details=st.text(max_size=200))
def test_chain_hashes_the_json_array_of_the_row(prev: str, idx: int, time_ms: int, kind: str,
                                               details: str) -> None:
    """The chain value is SHA-256 over exactly ``json.dumps([prev, idx, time, kind, details])``
    (its stored-row encoding), whatever text the columns hold: stores written before the
    encoder was specialised verify unchanged."""
    data = json.dumps([prev, idx, time_ms, kind, details]).encode()
    assert chain_next(prev, idx, time_ms, kind, details) == hashlib.sha256(data).hexdigest()


@pytest.mark.requirement("PER-3")
def test_a_changed_schema_row_is_detected(tmp_path: Path) -> None:
    """One bit turns the meta table's index entry from 'index' into 'hndex': SQLite's own
    integrity check passes, the store's schema comparison does not."""
    path = tmp_path / "pump.db"
    _stored_pump(path)
    data = bytearray(path.read_bytes())
    at = data.find(b"indexsqlite_autoindex_meta_1")
    assert at > 0
    data[at] ^= 0x01  # 'i' -> 'h'
    path.write_bytes(data)
    with sqlite3.connect(path) as c:
        assert c.execute("PRAGMA integrity_check(1)").fetchall() == [("ok",)]
    c.close()
    store = Storage(path)
    assert store.fault is not None and "schema" in store.fault
    assert store.moved_to == f"{path}.corrupt-0"
