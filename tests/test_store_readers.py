"""The store's reader connections (issue 9): a few, shared by every thread.

* a reading session takes one of at most ``max_readers`` connections; past that
  it waits for one to be given back (it never opens another);
* every session is one snapshot, and a session begun after a commit sees it;
* the API reads on the store's own threads, at most ``READER_THREADS`` at once,
  however many requests miss the cache together;
* but a stats_summary that missed its cache reads in the event loop's thread, on
  one connection of its own, unless that would wait (its connection in use, a
  lock held elsewhere): then on the store's threads, with the same answer;
* closing the store closes every connection, those in use as their sessions end.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from typing import Any

import pytest

from conftest import ok
from mailtally.api import stats
from mailtally.store import StoreBusy, open_store
from mailtally.store.sqlite import READER_THREADS, SQLiteStore
from test_floods import answer, post


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    assert isinstance(s, SQLiteStore)
    yield s
    s.close()


def _set(store: SQLiteStore, key: str, value: str) -> None:
    with store.write() as q:
        q.set_meta(key, value)


def test_readers_are_bounded_and_wait_for_a_connection(store):
    _set(store, "k", "v")
    bound = store.max_readers
    inside = threading.Semaphore(0)
    release = threading.Event()
    conns: set[int] = set()
    most = 0
    lock = threading.Lock()
    now_in = 0

    def reader() -> None:
        nonlocal most, now_in
        with store.read() as q:
            with lock:
                now_in += 1
                most = max(most, now_in)
                conns.add(id(q.conn))
            assert q.meta("k") == "v"
            inside.release()
            assert release.wait(30)
            with lock:
                now_in -= 1

    threads = [threading.Thread(target=reader) for _ in range(bound + 3)]
    for t in threads:
        t.start()
    for _ in range(bound):
        assert inside.acquire(timeout=30)
    # every connection is in use: the other three wait, and open none
    assert not inside.acquire(timeout=0.3)
    assert store.open_readers == bound
    release.set()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    assert most == bound
    assert len(conns) == bound  # the waiting sessions got the connections given back
    assert store.open_readers == bound


def test_each_session_is_one_snapshot_and_later_sessions_see_commits(store):
    _set(store, "k", "1")
    with store.read() as q:
        assert q.meta("k") == "1"
        _set(store, "k", "2")  # committed while the session is open
        assert q.meta("k") == "1"  # the session keeps its snapshot
    # every later session sees the commit, on whichever connection it gets
    for _ in range(2 * store.max_readers):
        with store.read() as q:
            assert q.meta("k") == "2"
    seen: list[str | None] = []

    def other_thread() -> None:
        with store.read() as q:
            seen.append(q.meta("k"))

    _set(store, "k", "3")
    t = threading.Thread(target=other_thread)
    t.start()
    t.join(30)
    assert seen == ["3"]


def test_reading_runs_on_the_store_threads(store):
    _set(store, "k", "v")
    names: list[str] = []

    def fn(q: Any) -> str | None:
        names.append(threading.current_thread().name)
        return q.meta("k")

    async def many() -> list[str | None]:
        return await asyncio.gather(*(store.reading(fn) for _ in range(20)))

    assert asyncio.run(many()) == ["v"] * 20
    assert all(n.startswith("mailtally-store") for n in names), names
    assert len(set(names)) <= READER_THREADS


def test_closing_the_store_closes_every_connection(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    _set(store, "k", "v")
    conns: list[Any] = []
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:  # a session still open when the store is closed
        with store.read() as q:
            conns.append(q.conn)
            held.set()
            assert release.wait(30)
            assert q.meta("k") == "v"  # it ends normally

    async def reads() -> None:
        await asyncio.gather(*(store.reading(lambda q: conns.append(q.conn)) for _ in range(8)))

    t = threading.Thread(target=holder)
    t.start()
    assert held.wait(30)
    asyncio.run(reads())
    with store.read() as q:
        conns.append(q.conn)
    store.close()
    release.set()
    t.join(30)
    assert store.open_readers == 0
    for conn in {id(c): c for c in conns}.values():
        with pytest.raises(sqlite3.ProgrammingError):
            conn.execute("SELECT 1")
    with pytest.raises(sqlite3.ProgrammingError), store.read():
        pass
    assert not (tmp_path / "c.sqlite3-wal").exists()  # the last connection is gone


def test_read_now_reads_in_this_thread_on_a_connection_of_its_own(store):
    _set(store, "k", "1")
    seen: list[tuple[Any, str]] = []

    def fn(q: Any) -> str | None:
        seen.append((q.conn, threading.current_thread().name))
        return q.meta("k")

    assert store.read_now(fn) == "1"
    _set(store, "k", "2")  # each call is a new snapshot
    assert store.read_now(fn) == "2"
    with store.read() as q:
        pool_conn = q.conn
    assert seen[0][0] is seen[1][0] is not pool_conn
    assert {name for _, name in seen} == {threading.current_thread().name}
    assert store.open_readers == 1  # the pool's one; read_now's is its own


def test_read_now_says_busy_instead_of_waiting(store):
    _set(store, "k", "v")
    inside, release = threading.Event(), threading.Event()

    def holding(q: Any) -> str | None:
        inside.set()
        assert release.wait(30)
        return q.meta("k")

    held: list[str | None] = []
    t = threading.Thread(target=lambda: held.append(store.read_now(holding)))
    t.start()
    assert inside.wait(30)
    with pytest.raises(StoreBusy):  # its connection is in use: at once, not after it
        store.read_now(lambda q: q.meta("k"))
    release.set()
    t.join(30)
    assert held == ["v"]

    def locked(q: Any) -> None:  # what SQLite says of a lock held elsewhere
        q.meta("k")
        exc = sqlite3.OperationalError("database is locked")
        exc.sqlite_errorcode = sqlite3.SQLITE_BUSY
        raise exc

    with pytest.raises(StoreBusy):
        store.read_now(locked)
    with pytest.raises(sqlite3.OperationalError, match="no such table"):  # other errors are not
        store.read_now(lambda q: q.conn.execute("SELECT * FROM no_such_table"))
    _set(store, "k", "w")  # the sessions cut short ended: the next one sees the commit
    assert store.read_now(lambda q: q.meta("k")) == "w"
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        store.read_now(lambda q: q.meta("k"))


SUMMARIES = [
    {"type": t, "object": o, "by": by}
    for t, o in (
        ("user", "alice@acme.com"),
        ("user", "al@acme.net"),
        ("user", "carol@acme.net"),
        ("domain", "acme.com"),
        ("company", "Acme"),
    )
    for by in ("day", "week", "month")
]


def test_summary_misses_read_in_the_event_loop_and_fall_back_to_the_threads(
    platform, service, app, call, monkeypatch
):
    """A miss reads in the event loop's thread (no store thread, no pool
    connection); when that would wait, on the store's threads: the same bytes."""
    where: list[str] = []
    real = stats.summary_body

    def noting(svc, q, t, by, now):
        where.append(threading.current_thread().name)
        return real(svc, q, t, by, now)

    monkeypatch.setattr(stats, "summary_body", noting)
    ok(call("echo"))  # the operator's password is verified once, before
    creds = {"user": "root", "password": "operator-secret"}

    async def ask() -> list[bytes]:
        out = []
        for r in SUMMARIES:
            status, body = await post(app, "stats_summary", {"credentials": creds, **r})
            assert status == 200 and b'"success":true' in body, body
            out.append(body)
        return out

    inline = asyncio.run(ask())
    assert set(where) == {threading.current_thread().name}  # (asyncio.run's loop)
    assert len(where) == len(SUMMARIES) - 3  # al@acme.net is alice: her answers, cached

    def busy(fn: Any, single: bool = False) -> Any:
        raise StoreBusy

    service.summary_cache.clear()
    service.summary_names.clear()
    where.clear()
    monkeypatch.setattr(service.store, "read_now", busy)
    assert asyncio.run(ask()) == inline
    assert where and all(n.startswith("mailtally-store") for n in where), where


def test_concurrent_misses_through_the_app_stay_within_the_bound(
    platform, service, app, call, monkeypatch
):
    """Thirty requests for different objects miss the cache together while the
    event loop's own reader would wait: their store work runs on the store's
    threads, never more at once than the bound."""
    store = service.store

    def busy(fn: Any, single: bool = False) -> Any:
        raise StoreBusy

    monkeypatch.setattr(store, "read_now", busy)
    lock = threading.Lock()
    running = 0
    most = 0
    threads: set[str] = set()
    gate = threading.Event()
    real = stats.summary_body

    def slow(svc, q, t, by, now):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            threads.add(threading.current_thread().name)
        try:
            assert gate.wait(30)
            return real(svc, q, t, by, now)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(stats, "summary_body", slow)
    users = ["alice@acme.com", "bob@acme.com", "carol@acme.net", "zed@other.com"]
    requests = [
        {"type": "user", "object": u, "by": by} for u in users for by in ("day", "week", "month")
    ]
    requests += [{"type": "domain", "object": d, "by": "day"} for d in ("acme.com", "acme.net")]
    requests += [{"type": "company", "object": c, "by": "month"} for c in ("Acme", "Other")]
    creds = {"user": "root", "password": "operator-secret"}
    ok(call("echo"))  # the operator's password is verified once, before

    async def together() -> list[tuple[int, bytes]]:
        tasks = [
            asyncio.create_task(post(app, "stats_summary", {"credentials": creds, **r}))
            for r in requests
        ]
        for _ in range(200):
            await asyncio.sleep(0.01)
            if running >= READER_THREADS:
                break
        await asyncio.sleep(0.2)  # (more would start now if they could)
        assert running == READER_THREADS
        assert store.open_readers <= store.max_readers
        gate.set()
        return await asyncio.gather(*tasks)

    results = asyncio.run(together())
    assert all(answer(r)["success"] for r in results), results
    assert most == READER_THREADS
    assert all(n.startswith("mailtally-store") for n in threads), threads
    assert store.open_readers <= store.max_readers


# -- the change mark (auth.py reads a name's state only when it moved) ----------------


def test_the_change_mark_moves_with_every_commit_of_any_connection(store, tmp_path):
    """Another store on the same file stands for another process: each of its
    commits, and each of this store's own, changes the mark; reads and
    checkpoints that commit nothing leave it as it was."""
    other = open_store(store.url)
    try:
        marks = [store.change_mark()]
        assert marks[0] is not None and len(marks[0]) == 48
        for i, s in enumerate([other, store, other, other, store] * 2):
            _set(s, "k", str(i))
            marks.append(store.change_mark())
            assert other.change_mark() == marks[-1]  # one header, shared
            with store.read() as q:  # a read moves nothing
                q.meta("k")
            assert store.change_mark() == marks[-1]
        assert len(set(marks)) == len(marks)
        # a checkpoint that empties the WAL: the next commit restarts it from
        # its first frame (new salts), and that still reads as a change
        other._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = store.change_mark()
        _set(other, "k", "after the checkpoint")
        assert store.change_mark() not in (before, *marks)
    finally:
        other.close()
    store.close()
    assert store.change_mark() is None  # closed: no mark, every read is made


def test_no_change_mark_without_a_wal_index():
    memory = SQLiteStore(":memory:")
    try:
        assert memory.change_mark() is None
    finally:
        memory.close()


def _shm_locks(path: str) -> list[str]:
    """This process's POSIX locks on the store's ``-shm`` file (Linux's /proc/locks)."""
    inode = os.stat(path + "-shm").st_ino
    pid = str(os.getpid())
    with open("/proc/locks") as f:
        rows = [line.split() for line in f if "->" not in line]
    # (without the line's ordinal: it moves as other processes' locks come and go)
    return [" ".join(r[1:]) for r in rows if r[4] == pid and r[5].split(":")[-1] == str(inode)]


@pytest.mark.skipif(not os.path.exists("/proc/locks"), reason="Linux's /proc/locks")
def test_the_change_mark_leaves_sqlites_locks_on_the_shm_file(store):
    """Closing any descriptor of a file drops every POSIX lock the process holds
    on it: the mark's mapping must not, or the next process to open the store
    takes itself for the first, truncates the -shm and rebuilds the WAL index
    under this one's readers (a SIGBUS, found in review)."""
    path = store.url.removeprefix("sqlite:///")
    held = _shm_locks(path)
    assert held  # (SQLite's own: every connection holds one while it is open)
    assert store.change_mark() is not None
    assert _shm_locks(path) == held
    other = open_store(store.url)  # a second store of this process maps the same file
    assert other.change_mark() == store.change_mark()
    other.close()
    assert _shm_locks(path) == held
    _set(store, "k", "still")
    assert store.change_mark() is not None
