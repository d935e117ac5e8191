"""The batched writes PostgreSQL's store does in one statement where SQLite's
runs one per row (store/postgres.py): the same rows on both backends, and the
array literals they are sent as read back exactly."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from conftest import NOW
from mailtally.store import Store, base
from mailtally.store.base import FLOW_COLUMNS, LAST_COLUMNS


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
        for ints in ([0, -1, 2**62, -(2**62), 2**63 - 1, -(2**63), 8, 256], [7], []):
            sent = _array(ints, False)  # (binary: every byte of each value placed)
            assert conn.execute("SELECT %s::bigint[]", (sent,)).fetchone()[0] == ints


@pytest.mark.parametrize("bad", [[1, None], [1.5], [2**63]])
def test_an_int_array_of_anything_but_64_bit_ints_fails_before_it_is_sent(bad) -> None:
    from mailtally.store.postgres import _array

    with pytest.raises((TypeError, OverflowError)):
        _array(bad, False)


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
    nf, nl = len(FLOW_COLUMNS), len(LAST_COLUMNS)
    half = (1, "u", bob, "day", "20260114", *[2**62] * nf, *[0] * nl)
    if backend == "postgresql":
        with fresh_store.write() as q:
            q.add_flow_rows([half])
    with pytest.raises(error), fresh_store.write() as q:
        q.raise_lastlogins([(alice, NOW - 100)])  # fine, sent
        if backend == "postgresql":
            # the second half of 2**63, added by the server: past bigint, it fails there
            q.add_flow_rows([half])
        else:
            q.raise_lastlogins([(bob, 2**70)])  # past 64 bits: sqlite3 refuses to bind it
        q.tree_version()  # a read: waits for both
    with fresh_store.read() as q:
        got = dict(q._all(f"SELECT id, lastlogin FROM {q._LOGINS} WHERE id IN (?, ?)", alice, bob))
    assert got == {alice: 0, bob: 0}
    with fresh_store.write() as q:  # the store writes on afterwards
        q.raise_lastlogins([(alice, NOW - 5)])
    with fresh_store.read() as q:
        assert q._one(f"SELECT lastlogin FROM {q._LOGINS} WHERE id = ?", alice)[0] == NOW - 5


def _delta(
    day: str, week: str, user: int, company: int, k: int, login: int
) -> tuple[int | str, ...]:
    """A USER_DELTA of ``user``: flow i is k * (i + 1), last_imap4 ``login``."""
    values = [k * (i + 1) for i in range(len(FLOW_COLUMNS))]
    lasts = [login if c == "last_imap4" else 0 for c in LAST_COLUMNS]
    return (day, user, week, "2026-11", company, *values, *lasts)


def test_flow_rows_of_one_key_in_one_batch_are_added_together(fresh_store: Store, platform) -> None:
    """One batch naming a key three times (PostgreSQL: merged before its one
    statement, which may not change a row twice) adds all three, onto the row
    already there; lasts the latest; the other keys of the batch as given."""
    alice, cid = _user(fresh_store, "alice@acme.com")
    bob, _ = _user(fresh_store, "bob@acme.com")
    nf = len(FLOW_COLUMNS)

    def row(uid: int, k: int, last: int) -> tuple[Any, ...]:
        return (
            cid,
            "u",
            uid,
            "day",
            "20260114",
            *[k * (i + 1) for i in range(nf)],
            last,
            0,
            0,
            0,
            0,
        )

    with fresh_store.write() as q:
        q.add_flow_rows([row(alice, 100, NOW - 900)])
    with fresh_store.write() as q:
        q.add_flow_rows(
            [
                row(alice, 1, NOW - 50),
                row(bob, 7, NOW - 5),
                row(alice, 2, NOW - 70),
                row(alice, 4, 0),
            ]
        )
    with fresh_store.read() as q:
        got = {uid: q.flows("u", uid, "day", ["20260114"]) for uid in (alice, bob)}
    assert got[alice] == [("20260114", *[107 * (i + 1) for i in range(nf)], NOW - 50, 0, 0, 0, 0)]
    assert got[bob] == [("20260114", *[7 * (i + 1) for i in range(nf)], NOW - 5, 0, 0, 0, 0)]


@pytest.mark.parametrize("threaded", [False, True], ids=("inline", "threaded"))
def test_user_flows_from_deltas_add_to_day_week_and_month(
    fresh_store: Store, platform, monkeypatch: pytest.MonkeyPatch, threaded: bool
) -> None:
    """add_user_flows (SQLite: a temporary table and INSERT … SELECT, in a thread
    past THREAD_DELTAS deltas) adds each delta to its user's day, week and month
    rows — a week's or month's days summed, lasts the latest — onto the rows
    already there, and raises lastlogin only upwards."""
    monkeypatch.setattr(base, "THREAD_DELTAS", 1 if threaded else 10**9)
    alice, cid = _user(fresh_store, "alice@acme.com")
    bob, bcid = _user(fresh_store, "bob@acme.com")
    nf = len(FLOW_COLUMNS)
    with fresh_store.write() as q:  # rows already there: added to
        q.add_flow_rows([(cid, "u", alice, "month", "2026-11", *[10] * nf, NOW - 50, 0, 0, 0, 0)])
        q.raise_lastlogins([(bob, NOW - 100)])
    deltas = [
        _delta("20261123", "20261123-20261129", alice, cid, 1, NOW - 300),
        _delta("20261124", "20261123-20261129", alice, cid, 2, NOW - 200),
        _delta("20261130", "20261130-20261206", alice, cid, 3, 0),
        _delta("20261124", "20261123-20261129", bob, bcid, 5, NOW - 900),
    ]
    with fresh_store.write() as q:
        assert q.add_user_flows(deltas, one_day=False, meanwhile=lambda: "done") == "done"
    with fresh_store.read() as q:

        def row(user: int, kind: str, period: str) -> tuple[int, ...]:
            (got,) = q.flows("u", user, kind, [period])
            assert got[0] == period
            return tuple(got[1:])

        def sums(k: int, extra: int = 0) -> tuple[int, ...]:
            return tuple(k * (i + 1) + extra for i in range(nf))

        assert row(alice, "day", "20261124") == (*sums(2), NOW - 200, 0, 0, 0, 0)
        assert row(alice, "week", "20261123-20261129") == (*sums(3), NOW - 200, 0, 0, 0, 0)
        assert row(alice, "week", "20261130-20261206") == (*sums(3), 0, 0, 0, 0, 0)
        assert row(alice, "month", "2026-11") == (*sums(6, 10), NOW - 50, 0, 0, 0, 0)
        assert row(bob, "month", "2026-11") == (*sums(5), NOW - 900, 0, 0, 0, 0)
        got = dict(q._all(f"SELECT id, lastlogin FROM {q._LOGINS} WHERE id IN (?, ?)", alice, bob))
    assert got == {alice: NOW - 200, bob: NOW - 100}
    # the same deltas again, each day alone (one_day): the same rows, doubled
    with fresh_store.write() as q:
        for d in deltas:
            q.add_user_flows([d], one_day=True)
    with fresh_store.read() as q:
        assert row(alice, "week", "20261123-20261129") == (*sums(6), NOW - 200, 0, 0, 0, 0)
        assert row(alice, "month", "2026-11") == (*sums(12, 10), NOW - 50, 0, 0, 0, 0)


@pytest.mark.parametrize("count", [1, 39, 40, 41, 83])
def test_user_flows_of_many_deltas_are_each_deltas_rows(
    fresh_store: Store, platform, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    """However many deltas — one, fewer than a block of DELTAS_PER_INSERT (SQLite
    binds them 40 to a statement, the rest one by one), a block, a block and
    more — each user gets exactly its delta's day, week and month rows (those of
    the reference expansion, user_flow_rows), and lastlogin its login.
    (PostgreSQL copies the deltas in pieces of COPY_ROWS: 40 here, the same
    edges.)"""
    monkeypatch.setattr(base, "THREAD_DELTAS", 1)
    pg = sys.modules.get("mailtally.store.postgres")  # (imported if the store is one)
    if pg is not None:
        monkeypatch.setattr(pg, "COPY_ROWS", 40)
    alice, cid = _user(fresh_store, "alice@acme.com")
    others = [10_000 + i for i in range(count - 1)]  # (flows name ids, not accounts)
    deltas = [
        _delta("20261124", "20261123-20261129", uid, cid, k, NOW - k if uid == alice else 0)
        for k, uid in enumerate([alice, *others], 1)
    ]
    with fresh_store.write() as q:
        assert q.add_user_flows(deltas, one_day=True, meanwhile=lambda: count) == count
    expected = {(r[3], r[4], r[2]): tuple(r[5:]) for r in base.Queries.user_flow_rows(deltas)}
    assert len(expected) == 3 * count
    with fresh_store.read() as q:
        for (kind, period, uid), values in expected.items():
            assert [tuple(r) for r in q.flows("u", uid, kind, [period])] == [(period, *values)]
        assert q._one(f"SELECT lastlogin FROM {q._LOGINS} WHERE id = ?", alice)[0] == NOW - 1


def test_user_flows_wait_for_their_writer_when_the_meanwhile_work_fails(
    fresh_store: Store, platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``meanwhile`` raises is raised once the statements are done, and the
    transaction is rolled back whole: nothing of the deltas stays."""
    monkeypatch.setattr(base, "THREAD_DELTAS", 1)
    alice, cid = _user(fresh_store, "alice@acme.com")

    def fail() -> None:
        raise RuntimeError("meanwhile")

    with pytest.raises(RuntimeError, match="meanwhile"), fresh_store.write() as q:
        q.add_user_flows(
            [_delta("20261124", "20261123-20261129", alice, cid, 1, NOW)],
            one_day=True,
            meanwhile=fail,
        )
    with fresh_store.read() as q:
        assert q.flows("u", alice, "day", ["20261124"]) == []
        assert q._one(f"SELECT lastlogin FROM {q._LOGINS} WHERE id = ?", alice)[0] != NOW


@pytest.mark.parametrize("threaded", [False, True], ids=("inline", "threaded"))
def test_a_days_user_rows_inserted_then_added_to(
    fresh_store: Store, platform, monkeypatch: pytest.MonkeyPatch, threaded: bool
) -> None:
    """A day's first batch makes its users' rows (PostgreSQL: a plain INSERT,
    the day having none: a row already there would fail it, never be counted
    twice); the same day's next batch adds to them — in the same transaction
    and in the next — and to the week's and month's rows each time, lasts the
    latest; a day with only a domain's row is still a day without user rows."""
    monkeypatch.setattr(base, "THREAD_DELTAS", 1 if threaded else 10**9)
    alice, cid = _user(fresh_store, "alice@acme.com")
    bob, _ = _user(fresh_store, "bob@acme.com")
    nf = len(FLOW_COLUMNS)
    day, week = "20261124", "20261123-20261129"
    with fresh_store.write() as q:
        q.add_flow_rows([(cid, "d", 1, "day", day, *[1] * nf, 0, 0, 0, 0, 0)])
        q.add_flow_rows([(cid, "u", alice, "week", week, *[10] * nf, NOW - 5, 0, 0, 0, 0)])
    first = [_delta(day, week, alice, cid, 1, NOW - 100), _delta(day, week, bob, cid, 2, 0)]
    with fresh_store.write() as q:
        q.add_user_flows(first, one_day=True, meanwhile=lambda: None)
        q.add_user_flows(first[:1], one_day=True, meanwhile=lambda: None)
    with fresh_store.write() as q:
        q.add_user_flows([_delta(day, week, bob, cid, 4, NOW - 1)], one_day=True)

    def sums(k: int, extra: int = 0) -> tuple[int, ...]:
        return tuple(k * (i + 1) + extra for i in range(nf))

    with fresh_store.read() as q:
        got = {
            (uid, kind): [tuple(r) for r in q.flows("u", uid, kind, [period])]
            for uid in (alice, bob)
            for kind, period in (("day", day), ("week", week), ("month", "2026-11"))
        }
    assert got[alice, "day"] == [(day, *sums(2), NOW - 100, 0, 0, 0, 0)]
    assert got[alice, "week"] == [(week, *sums(2, 10), NOW - 5, 0, 0, 0, 0)]
    assert got[alice, "month"] == [("2026-11", *sums(2), NOW - 100, 0, 0, 0, 0)]
    for kind, period in (("day", day), ("week", week), ("month", "2026-11")):
        assert got[bob, kind] == [(period, *sums(6), NOW - 1, 0, 0, 0, 0)]


def test_the_joiner_state_is_saved_with_lz4_where_the_server_has_it(
    fresh_store: Store, backend: str
) -> None:
    """PostgreSQL's writers store text out of line with lz4 (store/postgres.py,
    ``_configure_writer``): the joiner's state of each commit, megabytes at
    100,000 accounts, reads back the same; a server without lz4 keeps pglz."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL's compression of stored text")
    import random

    rnd = random.Random(1)
    state = "".join(f'"{rnd.getrandbits(64):x}":[{rnd.getrandbits(30)}],' for _ in range(40_000))
    with fresh_store.write() as q:
        q.save_ingest_state("joiner/lz4", state)
        has_lz4 = q._one(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        )[0]
    with fresh_store.read() as q:
        assert q.ingest_state("joiner/lz4") == state
        (method,) = q._one(
            "SELECT pg_column_compression(state) FROM ingest_state WHERE name = ?", "joiner/lz4"
        )
    assert method == ("lz4" if has_lz4 else "pglz")


@pytest.mark.parametrize("threaded", [False, True])
def test_logins_are_worked_out_only_for_a_writer_that_takes_them(
    fresh_store: Store, platform, backend: str, monkeypatch: pytest.MonkeyPatch, threaded: bool
) -> None:
    """PostgreSQL's one-day batch raises lastlogin from its temporary table and
    declines the handed-off logins: nobody works them out (0.06 s of GIL at
    100,000 accounts); SQLite's writer takes them. lastlogin rises on both."""
    monkeypatch.setattr(base, "THREAD_DELTAS", 1 if threaded else 10**9)
    calls: list[int] = []
    real = base.delta_logins
    monkeypatch.setattr(base, "delta_logins", lambda d: calls.append(1) or real(d))
    alice, cid = _user(fresh_store, "alice@acme.com")
    day, week = "20261124", "20261123-20261129"
    with fresh_store.write() as q:
        q.add_user_flows(
            [_delta(day, week, alice, cid, 1, NOW - 7)], one_day=True, meanwhile=lambda: None
        )
    with fresh_store.read() as q:
        assert q._one(f"SELECT lastlogin FROM {q._LOGINS} WHERE id = ?", alice)[0] == NOW - 7
    assert len(calls) == (0 if backend == "postgresql" else 1)
