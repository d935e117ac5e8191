"""The embedded store: one SQLite file in WAL mode.

* One writer connection, guarded by a lock, so that writers queue instead of
  failing with ``database is locked``; other processes (``mailtally ingest``)
  wait for it through ``busy_timeout``.
* One reader connection per thread: in WAL mode readers see the last committed
  state and neither block the writer nor are blocked by it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mailtally.store.base import MIGRATION_STEPS, Dialect, Queries, Store, migrations

__all__ = ["SQLiteStore"]

DIALECT = Dialect(name="sqlite", placeholder="?", greatest="max")


def _connect(path: str) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction is
    # exactly the `with store.write()` block and nothing else.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA cache_size = -65536")
    return conn


class SQLiteStore(Store):
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.url = f"sqlite:///{self.path}"
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._writer = _connect(self.path)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._migrate()

    def _migrate(self) -> None:
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                has_meta = conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
                ).fetchone()
                current = 0
                if has_meta:
                    row = conn.execute(
                        "SELECT value FROM meta WHERE key = 'schema_version'"
                    ).fetchone()
                    current = int(row[0]) if row else 0
                for number, script in migrations():
                    if number <= current:
                        continue
                    for statement in _statements(script):
                        conn.execute(statement)
                    if number in MIGRATION_STEPS:
                        MIGRATION_STEPS[number](Queries(conn, DIALECT))
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (str(number),),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path)
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    @contextmanager
    def read(self) -> Iterator[Queries]:
        conn = self._reader()
        # One snapshot for the whole session, so that a summary never mixes two
        # states of the database.
        conn.execute("BEGIN")
        try:
            yield Queries(conn, DIALECT)
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[Queries]:
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield Queries(conn, DIALECT)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        with self._write_lock:
            self._writer.close()


def _statements(script: str) -> list[str]:
    """Split a migration into statements (ours never put ';' inside literals)."""
    lines = [ln for ln in script.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
