"""bench/ingest_phases.py plus the time of each write transaction's COMMIT
(with SQLite's auto-checkpoint) and the WAL's size at that commit.
Session 12 rollup measurement (bench-only)."""

import os
import sys
import time
from contextlib import contextmanager

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingest_phases

from mailtally.store import sqlite as sq

orig = sq.SQLiteStore.write.__wrapped__  # the generator function


@contextmanager
def write(self):
    with self._write_lock:
        conn = self._writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            from mailtally.store.base import Queries

            yield Queries(conn, sq.DIALECT)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        path = sys.argv[1] + "-wal"
        before = os.stat(path).st_size if os.path.exists(path) else 0
        t = time.perf_counter()
        conn.execute("COMMIT")
        wall = time.perf_counter() - t
        after = os.stat(path).st_size if os.path.exists(path) else 0
        print(
            f"COMMIT {wall:.3f} s; WAL before commit {before / 1e6:.1f} MB, "
            f"after {after / 1e6:.1f} MB"
        )


sq.SQLiteStore.write = write
ingest_phases.main()
