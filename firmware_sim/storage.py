"""Non-volatile memory of the pump: its state and an append-only event log, in SQLite.

One file per pump (``":memory:"`` in tests). :meth:`Storage.commit` writes the new state and the
new events in one transaction, so a change is either fully stored or not at all; the pump calls
it before any command returns.

A file that is not an intrapump store (not SQLite, another schema, wrong magic, bad JSON) never
raises: :attr:`Storage.fault` then says why, the bad file is renamed aside (``<name>.corrupt-N``)
to keep it for analysis and a fresh store is created in its place; the pump reads ``fault`` and
starts STOPPED with the MEMORY_ERROR alarm.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Iterable

log = logging.getLogger(__name__)

MAGIC = "intrapump-store"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Event:
    """One log entry: ``index`` (0-based, gapless), pump run time ``time_ms``, ``kind``, details."""

    index: int
    time_ms: int
    kind: str
    details: dict[str, Any] = field(default_factory=dict)


class StoreCorrupt(Exception):
    """Internal: the store's content cannot be trusted."""


class Storage:
    """SQLite-backed state + event log. ``path`` is a file name or ``":memory:"``."""

    def __init__(self, path: str | os.PathLike[str] = ":memory:") -> None:
        self.path = str(path)
        self.fault: str | None = None
        try:
            self._conn = self._open(self.path)
        except (sqlite3.DatabaseError, StoreCorrupt, ValueError, OSError) as e:
            self.fault = f"{type(e).__name__}: {e}"
            log.error("store %s unusable (%s); starting a fresh store", self.path, self.fault)
            self._move_aside()
            self._conn = self._open(self.path)
        self._next_index = self._count()

    # -- opening -------------------------------------------------------------------------------
    def _open(self, path: str) -> sqlite3.Connection:
        # the pump is built in one thread and served from another (the device serialises access)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not tables:
                with conn:
                    conn.execute("BEGIN")
                    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                    conn.execute("CREATE TABLE state (id INTEGER PRIMARY KEY CHECK (id = 1), "
                                 "json TEXT NOT NULL)")
                    conn.execute("CREATE TABLE events (idx INTEGER PRIMARY KEY, time_ms INTEGER "
                                 "NOT NULL, kind TEXT NOT NULL, details TEXT NOT NULL)")
                    conn.execute("INSERT INTO meta VALUES ('magic', ?), ('schema', ?)",
                                 (MAGIC, str(SCHEMA_VERSION)))
                    conn.execute("COMMIT")
            elif tables != {"meta", "state", "events"}:
                raise StoreCorrupt(f"foreign schema (tables {sorted(tables)})")
            meta = dict(conn.execute("SELECT key, value FROM meta"))
            if meta.get("magic") != MAGIC or meta.get("schema") != str(SCHEMA_VERSION):
                raise StoreCorrupt(f"wrong magic/schema {meta.get('magic')!r}/{meta.get('schema')!r}")
            n = conn.execute("SELECT COUNT(*), COALESCE(MAX(idx), -1) FROM events").fetchone()
            if n[0] != n[1] + 1:
                raise StoreCorrupt("event log has gaps")
            row = conn.execute("SELECT json FROM state WHERE id = 1").fetchone()
            if row is not None:
                obj = json.loads(row[0])
                if not isinstance(obj, dict):
                    raise StoreCorrupt("state is not a JSON object")
        except BaseException:
            conn.close()
            raise
        return conn

    def _move_aside(self) -> None:
        if self.path == ":memory:" or not os.path.exists(self.path):
            return
        n = 0
        while os.path.exists(f"{self.path}.corrupt-{n}"):
            n += 1
        os.replace(self.path, f"{self.path}.corrupt-{n}")
        for suffix in ("-journal", "-wal", "-shm"):
            if os.path.exists(self.path + suffix):
                os.replace(self.path + suffix, f"{self.path}.corrupt-{n}{suffix}")

    def _count(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]

    # -- API -----------------------------------------------------------------------------------
    def load_state(self) -> dict[str, Any] | None:
        """The last committed state (a JSON object), or None for a fresh store."""
        row = self._conn.execute("SELECT json FROM state WHERE id = 1").fetchone()
        return None if row is None else json.loads(row[0])

    def commit(self, state: dict[str, Any] | str | None,
               events: Iterable[tuple[int, str, dict[str, Any]]] = ()) -> list[Event]:
        """Atomically store ``state`` (unless None; a JSON object, or its JSON text already
        encoded) and append ``events`` ((time_ms, kind, details) tuples); returns the stored
        :class:`Event` objects with their indexes."""
        idx = self._next_index
        out = [Event(idx + i, t, kind, det) for i, (t, kind, det) in enumerate(events)]
        c = self._conn
        c.execute("BEGIN")
        try:
            if out:
                c.executemany("INSERT INTO events VALUES (?, ?, ?, ?)",
                              [(e.index, e.time_ms, e.kind, json.dumps(e.details)) for e in out])
            if state is not None:
                text = state if isinstance(state, str) else json.dumps(state)
                c.execute("INSERT OR REPLACE INTO state VALUES (1, ?)", (text,))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        self._next_index = idx + len(out)
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
