"""The embedded store: one SQLite file in WAL mode.

* One writer connection, guarded by a lock, so that writers queue instead of
  failing with ``database is locked``; other processes (``mailtally ingest``)
  wait for it through ``busy_timeout``.
* A few reader connections (:data:`READERS`), shared by every thread that
  reads: a reading session takes an idle one (or opens one, up to the bound)
  and gives it back when it ends; past the bound it waits for one.  In WAL mode
  readers see the last committed state and neither block the writer nor are
  blocked by it.  Each holds a modest page cache (:data:`READER_CACHE_KIB`):
  SQLite drops a reader's cache whenever another connection commits (the API
  writes its auth counts every second), so a large one buys little and costs
  its size per connection — with one connection per thread (Starlette's pool
  has up to 40 threads) it was most of ``serve``'s memory.
* Async callers (the API) read through :meth:`Store.reading`: on the store's
  own threads, at most :data:`READER_THREADS` at once, so that store work never
  takes more threads (and malloc arenas) than that.
* The API's hottest read, a ``stats_summary`` that missed its cache, is done in
  the event loop's own thread (:meth:`SQLiteStore.read_now`) on one more
  connection of its own, which never waits for a lock: a read that would wait
  is done on the store's threads instead.  Such a read is mostly Python holding
  the GIL, so a thread bought it no parallelism; and Python's sqlite3 module
  lets the GIL go for every column of every row it reads (600 times for a
  user's 30 days), so a reader thread and the event loop woke each other some
  600 times a request: a third of the server's CPU (bench/RESULTS.md).
"""

from __future__ import annotations

import mmap
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from mailtally.store.base import (
    MIGRATION_STEPS,
    Dialect,
    Queries,
    ReadingThreads,
    Store,
    StoreBusy,
    migrations,
)

__all__ = ["READERS", "READER_THREADS", "SQLiteStore"]

T = TypeVar("T")

DIALECT = Dialect(name="sqlite", placeholder="?", greatest="max")

#: Reader connections open at most, across every thread.  The store's own
#: threads (:data:`READER_THREADS`) take at most that many; the rest serve
#: readers on other threads (argon2 checks, the API's background tasks, the CLI)
#: without waiting behind them.
READERS = 4
#: Threads running :meth:`SQLiteStore.reading` (the API's reads).  A summary is
#: mostly Python holding the GIL: more threads than cores only queue for it.
READER_THREADS = 2
#: Page cache per reader connection, KiB (the writer keeps SQLite's larger
#: setting of :func:`_connect`: ingest's upserts revisit its pages).
READER_CACHE_KIB = 4 * 1024
#: Page cache of :meth:`SQLiteStore.read_now`'s one connection, KiB: it builds
#: every uncached ``stats_summary``, about 55 primary-key seeks in ``flows`` a user
#: answer.  At 100,000 accounts × 400 days that table has five levels and ~12,800
#: interior pages (its interior cells hold whole rows: it is ``WITHOUT ROWID``);
#: with 4 MiB its fourth level does not stay cached, and a user answer makes 87
#: ``pread``s (0.23-0.37 ms of system time); 58 with 16 MiB, 53 with 24 MiB.
#: Measured under load (5-9), 16 MiB cut one worker's CPU a request by 10-14% but
#: raised it by 8-20% with ``--workers 2`` in four pairs of sweeps (two private
#: copies of the interior pages, where ``pread`` copies from the one page cache
#: both share), and 24 MiB took two workers' RSS to 293 MB: kept at 4 MiB until a
#: quiet run says otherwise (bench/RESULTS.md, session 9).
READ_NOW_CACHE_KIB = READER_CACHE_KIB
#: Bytes of the WAL-index header that :meth:`SQLiteStore.change_mark` reads: the
#: first of its two copies (SQLite's wal.c, "WAL-INDEX FORMAT": ``WalIndexHdr``,
#: 48 bytes, of which ``iChange``, ``mxFrame`` and the salts move with every commit).
WAL_INDEX_HEADER = 48


class _ShmMap:
    """A store file's ``-shm`` mapped for :meth:`SQLiteStore.change_mark`, with
    the descriptor it was opened by and how many stores of this process use it."""

    def __init__(self, fd: int, mapping: mmap.mmap | None) -> None:
        self.fd, self.mapping, self.stores = fd, mapping, 0


#: The ``-shm`` files this process mapped, by (device, inode).  A descriptor of
#: one is closed only when no store of this process uses it any more: closing
#: *any* descriptor of a file drops every POSIX lock the process holds on it
#: (fcntl(2)), SQLite's own locks on the ``-shm`` among them, and without them
#: the next process to open the store takes itself for the first, truncates the
#: ``-shm`` and rebuilds the WAL index under this one's readers (a SIGBUS;
#: found in review, session 10).  So one descriptor per file, opened once.
_SHM_MAPS: dict[tuple[int, int], _ShmMap] = {}
_SHM_LOCK = threading.Lock()


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
    def __init__(self, path: str | Path, readers: int = READERS) -> None:
        if readers < READER_THREADS:
            raise ValueError(f"readers: at least {READER_THREADS}")
        self.path = str(path)
        self.url = f"sqlite:///{self.path}"
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._writer = _connect(self.path)
        #: WAL mode (``:memory:`` and some file systems refuse it): the ``-shm`` file
        self._wal = str(self._writer.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal"
        self.max_readers = readers
        #: guards the pool below; notified when a connection is given back
        self._pool = threading.Condition()
        self._idle: list[sqlite3.Connection] = []  # most recently used last
        self._readers: list[sqlite3.Connection] = []  # every open reader
        self._opening = 0  # readers being opened (counted against the bound)
        self._closed = False
        #: the threads of :meth:`reading`, started with the first call
        self._reads = ReadingThreads(READER_THREADS, sqlite3.ProgrammingError)
        #: read_now's connection (opened with the first call) and who holds it
        self._now: sqlite3.Connection | None = None
        self._now_lock = threading.Lock()
        #: the store's ``-shm`` file mapped (change_mark), False once it cannot be
        self._shm: mmap.mmap | bool | None = None
        #: its entry in _SHM_MAPS, given back at close
        self._shm_key: tuple[int, int] | None = None
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
                applied = []
                for number, script in migrations():
                    self.latest_migration = number
                    if number <= current:
                        continue
                    applied.append(number)
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
            self.applied_migrations = tuple(applied)

    @property
    def open_readers(self) -> int:
        """Reader connections open now (idle or in use): never above :attr:`max_readers`
        (:meth:`read_now`'s own is not one of them)."""
        with self._pool:
            return len(self._readers) + self._opening

    def _open_reader(self, cache_kib: int = READER_CACHE_KIB) -> sqlite3.Connection:
        conn = _connect(self.path)
        try:
            conn.execute(f"PRAGMA cache_size = -{cache_kib}")
            conn.execute("PRAGMA query_only = ON")
        except BaseException:
            conn.close()
            raise
        return conn

    def _take(self) -> sqlite3.Connection:
        """An idle reader connection, a new one within the bound, or the next one
        given back."""
        with self._pool:
            while not self._idle and len(self._readers) + self._opening >= self.max_readers:
                if self._closed:
                    break
                self._pool.wait()
            if self._closed:
                raise sqlite3.ProgrammingError("the store is closed")
            if self._idle:
                return self._idle.pop()  # the most recently used: its cache is warm
            self._opening += 1
        try:
            conn = self._open_reader()
        except BaseException:
            with self._pool:
                self._opening -= 1
                self._pool.notify()
            raise
        with self._pool:
            self._opening -= 1
            self._readers.append(conn)
        return conn

    def _give_back(self, conn: sqlite3.Connection) -> None:
        with self._pool:
            if self._closed:  # closed while it was in use
                conn.close()
                self._readers.remove(conn)
            else:
                self._idle.append(conn)
            self._pool.notify()

    @contextmanager
    def read(self) -> Iterator[Queries]:
        conn = self._take()
        try:
            # One snapshot for the whole session, so that a summary never mixes
            # two states of the database.
            conn.execute("BEGIN")
            try:
                yield Queries(conn, DIALECT)
            finally:
                conn.execute("COMMIT")
        finally:
            self._give_back(conn)

    async def reading(self, fn: Callable[[Queries], T]) -> T:
        return await self._reads.run(self._session, fn)

    def read_now(self, fn: Callable[[Queries], T], single: bool = False) -> T:
        # One connection, used by one caller at a time: another thread (or event
        # loop) reading with it meanwhile is told busy, not made to wait.
        if not self._now_lock.acquire(blocking=False):
            raise StoreBusy
        try:
            if self._closed:
                raise sqlite3.ProgrammingError("the store is closed")
            conn = self._now
            if conn is None:
                conn = self._now = self._open_reader(READ_NOW_CACHE_KIB)
                # no busy handler: told at once of a lock another connection
                # holds, so that the event loop never sleeps waiting for one
                conn.execute("PRAGMA busy_timeout = 0")
            if not single:
                conn.execute("BEGIN")
            try:
                return fn(Queries(conn, DIALECT))
            except sqlite3.OperationalError as exc:
                # a lock another connection holds (WAL recovery, a checkpoint's
                # reset): the store's threads wait for it, the event loop does not
                if exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:
                    raise StoreBusy from exc
                raise
            finally:
                if not single:
                    conn.execute("COMMIT")
        finally:
            self._now_lock.release()

    def change_mark(self) -> bytes | None:
        """The WAL-index header's first copy, as the ``-shm`` file every
        connection to the store shares holds it: a commit, by any connection of
        any process, rewrites it (its ``mxFrame`` grows, or a restarted WAL has
        new salts, and ``iChange`` counts the commits) before the commit
        returns, and SQLite's own readers decide from it whether their cached
        pages are stale.  Reading it is a copy of 48 bytes of memory: no
        statement, no lock, no system call (0.2 µs against 13 µs for the
        smallest read, bench/RESULTS.md session 10).  The copy written last is
        read, so a commit still being published reads as the state before it,
        which is what a read would have seen; a torn copy only reads as a
        change.  The file stays the same while this store's writer connection
        is open (SQLite removes it only with the last connection)."""
        shm = self._shm
        if shm is None:
            with _SHM_LOCK:  # (close() gives the mapping back under it)
                if self._shm is None and not self._closed:
                    self._shm = self._map_shm()
                shm = self._shm
        if not isinstance(shm, mmap.mmap) or self._closed:
            return None
        try:
            return shm[:WAL_INDEX_HEADER]
        except ValueError:  # (closed meanwhile, with the store)
            return None

    def _map_shm(self) -> mmap.mmap | bool:
        """This file's ``-shm`` from _SHM_MAPS, mapped by the first store of
        this process to ask (never by opening a second descriptor of it);
        called with _SHM_LOCK held."""
        if self.path == ":memory:" or not self._wal:
            return False
        path = self.path + "-shm"
        try:
            st = os.stat(path)
        except OSError:
            return False
        key = (st.st_dev, st.st_ino)
        entry = _SHM_MAPS.get(key)
        if entry is None:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return False
            opened = os.fstat(fd)
            # (replaced between stat and open: the one opened is kept, under its own key)
            key = (opened.st_dev, opened.st_ino)
            try:
                mapping: mmap.mmap | None = mmap.mmap(fd, WAL_INDEX_HEADER, prot=mmap.PROT_READ)
            except (OSError, ValueError):  # (not yet as long as its header)
                mapping = None
            entry = _SHM_MAPS.setdefault(key, _ShmMap(fd, mapping))
        entry.stores += 1
        self._shm_key = key
        return entry.mapping if entry.mapping is not None else False

    def _unmap_shm(self) -> None:
        """Give back this store's use of _SHM_MAPS' entry; the last store of
        the process to use it closes it (its connections are closed by then)."""
        with _SHM_LOCK:
            key, self._shm_key, self._shm = self._shm_key, None, False
            if key is None:
                return
            entry = _SHM_MAPS[key]
            entry.stores -= 1
            if entry.stores == 0:
                del _SHM_MAPS[key]
                if entry.mapping is not None:
                    entry.mapping.close()
                os.close(entry.fd)

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
        """Close every connection: the idle readers now, the ones in use as their
        sessions end (waiting readers are refused)."""
        self._reads.close()
        with self._pool:
            self._closed = True
            for conn in self._idle:
                conn.close()
                self._readers.remove(conn)
            self._idle.clear()
            self._pool.notify_all()
        with self._now_lock:
            if self._now is not None:
                self._now.close()
                self._now = None
        with self._write_lock:
            self._writer.close()
            self._unmap_shm()


def _statements(script: str) -> list[str]:
    """Split a migration into statements (ours never put ';' inside literals;
    a trigger's body, whose statements end in ';' too, is kept whole until its
    END: sqlite3.complete_statement says where a statement ends)."""
    lines = [ln for ln in script.splitlines() if not ln.strip().startswith("--")]
    out, pending = [], ""
    for piece in "\n".join(lines).split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                out.append(pending.strip()[:-1].strip())
            pending = ""
    if pending.strip(" \n;"):
        out.append(pending.strip(" \n;"))
    return out
