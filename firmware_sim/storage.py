"""Non-volatile memory of the pump: its state and an append-only event log, in SQLite.

One file per pump (``":memory:"`` in tests). :meth:`Storage.commit` writes the new state and the
new events in one transaction, so a change is either fully stored or not at all; the pump calls
it before any command returns.

Integrity (checked at every start-up, see :mod:`firmware_sim.store_seal`): every event row
carries a SHA-256 hash chained over all rows before it, and the state row carries a seal, a
SHA-256 (HMAC-SHA256 when the store is given a ``key``) over the state text - which holds the
device profile with its drug limits - the number of events and the head of the hash chain.
Any change to a stored value, a lost or reordered row, a truncated log or a missing state row
is therefore detected, as is everything SQLite itself notices (``PRAGMA integrity_check``, which also compares every index with its table).

A file that fails any check (not SQLite, another schema, wrong magic, bad JSON, seal or chain
mismatch, a 0-byte file, a state row gone) never raises: :attr:`Storage.fault` then says why
and where the bad file was moved (``<name>.corrupt-N``, kept for analysis), and a fresh store is
created in its place; the pump reads ``fault`` and starts STOPPED with the MEMORY_ERROR alarm.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Iterable

from .store_seal import GENESIS, StoreCorrupt, chain_next, seal_of

log = logging.getLogger(__name__)

MAGIC = "intrapump-store"
SCHEMA_VERSION = 2
_TABLES = {"meta", "state", "events"}
# to_json(value) -> str: json.dumps(value) without its reference-cycle check (the stored values
# are plain trees), which is most of its cost for the small objects committed many times a day
to_json = json.JSONEncoder(check_circular=False).encode


def _schema(conn: sqlite3.Connection) -> tuple[tuple[Any, ...], ...]:
    """Every row of the schema table, in a fixed order."""
    return tuple(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master "
                                 "ORDER BY type, name"))


@functools.cache
def _expected_schema() -> tuple[tuple[Any, ...], ...]:
    """The schema rows of a store as :meth:`Storage._create` writes it (computed once)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        Storage._create(conn)
        return _schema(conn)
    finally:
        conn.close()


@dataclass(frozen=True)
class Event:
    """One log entry: ``index`` (0-based, gapless), pump run time ``time_ms``, ``kind``, details."""

    index: int
    time_ms: int
    kind: str
    details: dict[str, Any] = field(default_factory=dict)


class Storage:
    """SQLite-backed state + event log with integrity checks. ``path`` is a file name or
    ``":memory:"``; ``key`` (optional bytes) turns the state seal into an HMAC."""

    def __init__(self, path: str | os.PathLike[str] = ":memory:", key: bytes | None = None) -> None:
        self.path = str(path)
        self.key = key
        self.fault: str | None = None
        self.moved_to: str | None = None
        self._state_text: str | None = None
        self._head = GENESIS
        self._next_index = 0
        try:
            self._conn = self._open(self.path, existing=True)
        except Exception as e:  # noqa: BLE001 - whatever is wrong, the content is not trusted
            self.fault = f"{type(e).__name__}: {e}" if not isinstance(e, StoreCorrupt) else str(e)
            self.moved_to = self._move_aside()
            if self.moved_to:
                self.fault += f"; the file was moved aside to {self.moved_to}"
            log.error("store %s unusable (%s); starting a fresh store", self.path, self.fault)
            self._state_text, self._head, self._next_index = None, GENESIS, 0
            self._conn = self._open(self.path, existing=False)

    # -- opening -------------------------------------------------------------------------------
    def _open(self, path: str, existing: bool) -> sqlite3.Connection:
        if existing and path != ":memory:" and os.path.exists(path) \
                and os.path.getsize(path) == 0:
            raise StoreCorrupt("the state file is empty (0 bytes): the stored pump is gone")
        # the pump is built in one thread and served from another (the device serialises access)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not tables:
                self._create(conn)
            elif tables != _TABLES:
                raise StoreCorrupt(f"foreign schema (tables {sorted(tables)})")
            else:
                self._verify(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _create(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN")
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("CREATE TABLE state (id INTEGER PRIMARY KEY CHECK (id = 1), "
                     "json TEXT NOT NULL, seal TEXT NOT NULL)")
        conn.execute("CREATE TABLE events (idx INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, "
                     "kind TEXT NOT NULL, details TEXT NOT NULL, chain TEXT NOT NULL)")
        conn.execute("INSERT INTO meta VALUES ('magic', ?), ('schema', ?)",
                     (MAGIC, str(SCHEMA_VERSION)))
        conn.execute("COMMIT")

    def _verify(self, conn: sqlite3.Connection) -> None:
        """Check everything stored; set the in-memory head; raise StoreCorrupt on any doubt."""
        check = conn.execute("PRAGMA integrity_check(1)").fetchall()
        if check != [("ok",)]:
            raise StoreCorrupt(f"SQLite integrity check: {check[0][0]}")
        # SQLite's own check does not compare the schema rows with anything: a changed type or
        # statement there (say 'index' read as 'hndex') is found only by comparing them
        if _schema(conn) != _expected_schema():
            raise StoreCorrupt("the schema differs from the one this store writes")
        meta = dict(conn.execute("SELECT key, value FROM meta"))
        if meta.get("magic") != MAGIC or meta.get("schema") != str(SCHEMA_VERSION):
            raise StoreCorrupt(f"wrong magic/schema {meta.get('magic')!r}/{meta.get('schema')!r}")
        if set(meta) - {"magic", "schema", "has_state"} or meta.get("has_state", "1") != "1":
            raise StoreCorrupt(f"unexpected meta data {sorted(meta)}")
        head, count = GENESIS, 0
        for idx, time_ms, kind, details, chain in conn.execute(
                "SELECT idx, time_ms, kind, details, chain FROM events ORDER BY idx"):
            if idx != count:
                raise StoreCorrupt(f"event log has a gap or bad index at entry {count}")
            head = chain_next(head, idx, time_ms, kind, details)
            if chain != head:
                raise StoreCorrupt(f"event log hash chain broken at entry {idx}")
            count += 1
        rows = conn.execute("SELECT id, json, seal FROM state").fetchall()
        if not rows:
            if "has_state" in meta or count:
                raise StoreCorrupt("the state row is missing")
            return  # created, never committed: a fresh pump
        if len(rows) != 1 or rows[0][0] != 1 or "has_state" not in meta:
            raise StoreCorrupt("the state table is inconsistent")
        _, text, seal = rows[0]
        if not isinstance(text, str) or seal != seal_of(self.key, text, count, head):
            raise StoreCorrupt("state seal mismatch: the stored state or event log was changed")
        if not isinstance(json.loads(text), dict):
            raise StoreCorrupt("state is not a JSON object")
        self._state_text, self._head, self._next_index = text, head, count

    def _move_aside(self) -> str | None:
        if self.path == ":memory:" or not os.path.exists(self.path):
            return None
        n = 0
        while os.path.exists(f"{self.path}.corrupt-{n}"):
            n += 1
        target = f"{self.path}.corrupt-{n}"
        os.replace(self.path, target)
        for suffix in ("-journal", "-wal", "-shm"):
            if os.path.exists(self.path + suffix):
                os.replace(self.path + suffix, target + suffix)
        return target

    # -- API -----------------------------------------------------------------------------------
    def load_state(self) -> dict[str, Any] | None:
        """The last committed state (a JSON object, verified at start-up), or None for a fresh
        store."""
        return None if self._state_text is None else json.loads(self._state_text)

    def commit(self, state: dict[str, Any] | str | None,
               events: Iterable[tuple[int, str, dict[str, Any]]] = ()) -> list[Event]:
        """Atomically store ``state`` (unless None; a JSON object, or its JSON text already
        encoded) and append ``events`` ((time_ms, kind, details) tuples), re-sealing the state
        over the new chain head; returns the stored :class:`Event` objects with their indexes.
        Raises ValueError when the very first commit carries no state."""
        idx = self._next_index
        out = [Event(idx + i, t, kind, det) for i, (t, kind, det) in enumerate(events)]
        text = self._state_text if state is None else (
            state if isinstance(state, str) else to_json(state))
        if text is None:
            raise ValueError("the first commit of a store must carry a state")
        head = self._head
        rows = []
        for e in out:
            details = to_json(e.details)
            head = chain_next(head, e.index, e.time_ms, e.kind, details)
            rows.append((e.index, e.time_ms, e.kind, details, head))
        c = self._conn
        c.execute("BEGIN")
        try:
            if rows:
                c.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", rows)
            if self._state_text is None:
                c.execute("INSERT OR REPLACE INTO meta VALUES ('has_state', '1')")
            c.execute("INSERT OR REPLACE INTO state VALUES (1, ?, ?)",
                      (text, seal_of(self.key, text, idx + len(out), head)))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        self._next_index = idx + len(out)
        self._state_text, self._head = text, head
        return out

    def event_count(self) -> int:
        """Number of events in the log."""
        return self._next_index

    def read_events(self, start_index: int = 0, count: int = 100) -> list[Event]:
        """Up to ``count`` events from ``start_index`` on, oldest first."""
        if start_index < 0 or count < 0:
            raise ValueError("start_index and count must be >= 0")
        rows = self._conn.execute("SELECT idx, time_ms, kind, details FROM events WHERE idx >= ? "
                                  "ORDER BY idx LIMIT ?", (start_index, count))
        out = []
        for i, t, k, d in rows:
            try:
                det = json.loads(d)
            except ValueError:
                det = {"unreadable": d}
            out.append(Event(i, t, k, det))
        return out

    def close(self) -> None:
        """Close the database (committed data is already on disk)."""
        self._conn.close()

    def __enter__(self) -> "Storage":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
