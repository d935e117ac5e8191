"""The batched writes PostgreSQL's store does in one statement where SQLite's
runs one per row (store/postgres.py): the same rows on both backends, and the
array literals they are sent as read back exactly."""

from __future__ import annotations

import pytest

from conftest import NOW
from mailtally.store import Store


def _user(store: Store, address: str) -> tuple[int, int]:
    """(user id, company id) of ``address``."""
    with store.read() as q:
        row = q.resolve_address(address)
    assert row is not None
    return int(row[0]), int(row[2])


def test_storage_reports_of_one_key_twice_keep_the_last(fresh_store: Store, platform) -> None:
    uid, cid = _user(fresh_store, "alice@acme.com")
    bob, _ = _user(fresh_store, "bob@acme.com")
    with fresh_store.write() as q:
        q.put_storage_reports(
            [
                (cid, uid, NOW - 100, 1, 10),
                (cid, bob, NOW - 100, 7, 70),
                (cid, uid, NOW - 100, 2, 20),  # the same key again: this one stays
                (cid, uid, NOW - 50, 3, 30),
            ]
        )
    with fresh_store.write() as q:  # a later batch replaces one report, adds another
        q.put_storage_reports([(cid, uid, NOW - 50, 4, 40), (cid, uid, NOW - 10, 5, 50)])
    with fresh_store.read() as q:
        assert q.storage_reports(uid, 0) == [
            (NOW - 100, 2, 20),
            (NOW - 50, 4, 40),
            (NOW - 10, 5, 50),
        ]
        assert q.storage_reports(bob, 0) == [(NOW - 100, 7, 70)]


def test_lastlogins_only_rise(fresh_store: Store, platform) -> None:
    alice, _ = _user(fresh_store, "alice@acme.com")
    bob, _ = _user(fresh_store, "bob@acme.com")
    with fresh_store.write() as q:
        q.raise_lastlogins([(alice, NOW - 100), (bob, NOW - 100)])
    with fresh_store.write() as q:  # bob's earlier login leaves his later one
        q.raise_lastlogins([(alice, NOW - 5), (bob, NOW - 500)])
    with fresh_store.read() as q:
        # (users' column on SQLite, user_logins' on PostgreSQL: migration 13)
        got = dict(q._all(f"SELECT id, lastlogin FROM {q._LOGINS} WHERE id IN (?, ?)", alice, bob))
    assert got == {alice: NOW - 5, bob: NOW - 100}


@pytest.mark.parametrize(
    "texts",
    [
        ["", "day", "2026-11-30"],
        ['a"b', "back\\slash", "x,y", "{z}", "NULL", " padded ", "é"],
    ],
)
def test_text_array_literals_read_back_exactly(pg_schemas, texts: list[str]) -> None:
    import psycopg

    from mailtally.store.postgres import _array

    with psycopg.connect(pg_schemas.url) as conn:
        assert conn.execute("SELECT %s::text[]", (_array(texts, True),)).fetchone()[0] == texts
        ints = [0, -1, 2**62, -(2**62)]
        assert conn.execute("SELECT %s::bigint[]", (_array(ints, False),)).fetchone()[0] == ints


def test_a_failed_write_sent_without_waiting_fails_its_session(
    fresh_store: Store, platform, backend: str
) -> None:
    """The counter writes are sent without waiting for the server (store/postgres.py,
    pipelined): one that fails still fails the session, and none of its writes
    stays, those sent before it included."""
    alice, _ = _user(fresh_store, "alice@acme.com")
    bob, _ = _user(fresh_store, "bob@acme.com")
    error: type[BaseException] = OverflowError  # (sqlite3 binding a too-large int)
    if backend == "postgresql":
        import psycopg

        error = psycopg.errors.NumericValueOutOfRange
    with pytest.raises(error), fresh_store.write() as q:
        q.raise_lastlogins([(alice, NOW - 100)])  # fine, sent
        q.raise_lastlogins([(bob, 2**70)])  # past bigint: fails on the server (or the cast)
        q.tree_version()  # a read: waits for both
    with fresh_store.read() as q:
        got = dict(q._all(f"SELECT id, lastlogin FROM {q._LOGINS} WHERE id IN (?, ?)", alice, bob))
    assert got == {alice: 0, bob: 0}
    with fresh_store.write() as q:  # the store writes on afterwards
        q.raise_lastlogins([(alice, NOW - 5)])
    with fresh_store.read() as q:
        assert q._one(f"SELECT lastlogin FROM {q._LOGINS} WHERE id = ?", alice)[0] == NOW - 5
