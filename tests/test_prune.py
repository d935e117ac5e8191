"""Retention (``mailtally prune``, :mod:`mailtally.prune`) on real stores.

* A synthesized platform and log, ingested on both paths (compiled and pure
  Python), answers every ``stats_summary`` of every period kept exactly as
  before the prune: flows, folded last_* times and gauges, and storage from the
  quota reports left.
* Quota reports older than the oldest kept period are gone, except each
  account's report in force at its start.
* A prune with nothing to remove changes nothing and opens no write transaction.

Those on both backends (the ingested store is copied into PostgreSQL);
on SQLite only, what is SQLite's own:

* Pruning a store of many old rows leaves the write lock free often enough that
  another connection with a 200 ms busy timeout never fails to write.
* Prune's statements seek the primary key (SQLite's query plans).
"""

from __future__ import annotations

import importlib.util
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from conftest import INGEST_MODES, OPERATOR_CREDS, cheap_config, make_call, run_sql, table_rows
from mailtally.api import create_app
from mailtally.periods import KINDS, FixedClock, Kind, Periods
from mailtally.prune import prune_store
from mailtally.store import Store, open_store
from mailtally.store.base import KIND_CODES
from test_ingest_e2e import synthesized_run

_spec = importlib.util.spec_from_file_location(
    "bench_prune", Path(__file__).parent.parent / "bench" / "prune.py"
)
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

PRUNED_TABLES = ("flows", "gauges", "storage_reports")

#: six days from Thursday 26 February 2026: a month, a week and four days end
#: before the cutoffs below, so each kind has rows to remove and rows to keep
START = date(2026, 2, 26)
CUTOFFS: dict[Kind, str] = {"day": "20260302", "week": "20260302-20260308", "month": "2026-03"}
#: the start of the oldest period kept (1 March, the month's)
STORAGE_BEFORE = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())


@pytest.fixture(scope="module", params=INGEST_MODES, ids=lambda m: f"ingest-{m}")
def ingested(request, tmp_path_factory):
    """A synthesized platform and six days of log, ingested with one of the two paths."""
    yield from synthesized_run(((5, 5000, 6, START), request.param), tmp_path_factory, "postfix")


def answers(store: Store, truth: dict[str, Any], now: int) -> dict[tuple[str, str, str], Any]:
    """Every stats_summary of every company, domain and user, by every kind."""
    objects = [("company", c) for c in truth["companies"]]
    objects += [("domain", d) for d in truth["domains"]]
    objects += [("user", u) for u in truth["users"]]
    with TestClient(create_app(store, cheap_config(), FixedClock(now))) as client:
        call = make_call(client, OPERATOR_CREDS)
        out = {}
        for type_, name in objects:
            for kind in KINDS:
                answer = call("stats_summary", type=type_, object=name, by=kind)
                assert answer["success"], answer
                out[(type_, name, kind)] = answer["summary"]
    return out


def old_rows(store: Store) -> dict[str, int]:
    """Rows of each kind older than its cutoff (the folded '' rows aside)."""
    with store.read() as q:
        return {
            f"{table} {kind}": run_sql(
                q,
                f"SELECT COUNT(*) FROM {table} WHERE kind = ? AND period > '' AND period < ?",
                (KIND_CODES[kind], CUTOFFS[kind]),
            ).fetchone()[0]
            for table in ("flows", "gauges")
            for kind in KINDS
        }


def reports_left(rows: list[Any]) -> list[Any]:
    """The quota reports a prune to STORAGE_BEFORE must leave: for each account,
    the one in force at STORAGE_BEFORE (the latest at or before it) and all later."""
    in_force: dict[int, int] = {}
    for _cid, uid, t, *_ in rows:
        if t <= STORAGE_BEFORE:
            in_force[uid] = max(in_force.get(uid, t), t)
    return [r for r in rows if r[2] >= in_force.get(r[1], r[2])]


@pytest.fixture
def pruned_store(request, ingested, backend: str, tmp_path: Path) -> Iterator[Store]:
    """A copy of the ingested store on the test's backend (each test prunes its own;
    on PostgreSQL one of the two ingest modes is enough: they made the same rows)."""
    if backend == "postgresql" and "python" in request.node.callspec.id:
        pytest.skip("prune on PostgreSQL: the compiled run's store")
    copy = tmp_path / "copy.sqlite3"
    src, dst = sqlite3.connect(ingested[0].path), sqlite3.connect(copy)
    try:
        src.backup(dst)  # (a consistent copy of a store in use: its WAL too)
    finally:
        src.close()
        dst.close()
    if backend == "sqlite":
        url = f"sqlite:///{copy}"
    else:
        url = request.getfixturevalue("pg_schemas").load(copy)
    with open_store(url) as store:
        yield store


def test_prune_keeps_every_answer_of_the_periods_kept(ingested, pruned_store: Store) -> None:
    _store, truth, _platform, _paths, _report = ingested
    store = pruned_store
    now = truth["end_ts"] + 60
    assert truth["start_ts"] < STORAGE_BEFORE < truth["end_ts"]
    before = answers(store, truth, now)
    rows_before = table_rows(store, *PRUNED_TABLES)
    old = old_rows(store)
    # every kind has flow rows to remove, and the domains' and companies' gauges some
    for kind in KINDS:
        assert old[f"flows {kind}"] > 0, old
    assert old["gauges day"] > 0, old

    result = prune_store(store, CUTOFFS, STORAGE_BEFORE)

    assert old_rows(store) == dict.fromkeys(old, 0)
    assert sum(result.removed.values()) == sum(v for k, v in old.items() if k.startswith("flows"))
    assert sum(result.folded.values()) == sum(v for k, v in old.items() if k.startswith("gauges"))
    after = answers(store, truth, now)
    kept = 0
    for key, summary in before.items():
        kind = key[2]
        for period, body in summary.items():
            if period >= CUTOFFS[kind]:
                kept += 1
                assert after[key][period] == body, (key, period)
    assert kept > 3 * len(truth["users"])

    reports = rows_before["storage_reports"]
    left = table_rows(store, "storage_reports")["storage_reports"]
    assert sorted(left) == sorted(reports_left(reports))
    assert len(left) < len(reports)  # there were older reports to drop
    assert result.reports == len(reports) - len(left)

    # a second prune has nothing to remove: nothing changes, no write transaction
    rows = table_rows(store, *PRUNED_TABLES)
    again = prune_store(store, CUTOFFS, STORAGE_BEFORE)
    assert again.transactions == 0
    assert sum(again.removed.values()) + sum(again.folded.values()) + again.reports == 0
    assert table_rows(store, *PRUNED_TABLES) == rows
    assert answers(store, truth, now) == after


def test_nothing_older_than_retention_removes_nothing(store_url: str) -> None:
    store = open_store(store_url)
    try:
        today = date(2026, 11, 29)
        bench.build(store, 30, [today - timedelta(days=i) for i in range(10)], domains=3)
        cutoffs, storage_before = bench.retention_cutoffs(today)
        rows = table_rows(store, *PRUNED_TABLES)
        first = prune_store(store, cutoffs, storage_before)
        # the first prune finds no quota report to remove, and marks that it looked
        assert sum(first.removed.values()) + sum(first.folded.values()) + first.reports == 0
        assert table_rows(store, *PRUNED_TABLES) == rows
        again = prune_store(store, cutoffs, storage_before)
        assert again.transactions == 0
    finally:
        store.close()


def kept_rows(q: Any, user_id: int, kind: Kind, first: str) -> list[Any]:
    """An account's flow rows of ``kind`` from period ``first`` on (a test's scan)."""
    return q.conn.execute(
        "SELECT * FROM flows WHERE kind = ? AND period >= ? AND scope = 'u' AND scope_id = ? "
        "ORDER BY period",
        (KIND_CODES[kind], first, user_id),
    ).fetchall()


def test_a_writer_gets_the_lock_between_batches(tmp_path) -> None:
    path = str(tmp_path / "store.sqlite3")
    store = open_store(f"sqlite:///{path}")
    try:
        today = date(2026, 11, 29)
        periods = Periods("UTC")
        days = [today - timedelta(days=i) for i in range(3)]
        days += [today - timedelta(days=401 + i) for i in range(40)]
        uids = bench.build(store, 300, days, domains=4)
        cutoffs, storage_before = bench.retention_cutoffs(today)
        first_kept = {k: periods.period_of(k, today).key for k in KINDS}

        def state() -> list[Any]:
            """What a kept period reads: its rows, and the last_* times and gauge
            values at the start of the first kept period (where folds go)."""
            with store.read() as q:
                users = [
                    (q.lasts_before("u", u, k, first_kept[k]), kept_rows(q, u, k, cutoffs[k]))
                    for u in uids[::37]
                    for k in KINDS
                ]
                scopes = [
                    (q.gauges_before(s, i, k, first_kept[k]), q.gauges(s, i, k, cutoffs[k], "9"))
                    for s, i in (("c", 1), ("d", 2))
                    for k in KINDS
                ]
            return users + scopes

        seen = state()
        writer = bench.Writer(path, busy_ms=200)
        writer.start()
        try:
            result = prune_store(store, cutoffs, storage_before, batch_rows=200, max_hold=0.01)
        finally:
            writer.stop.set()
            writer.join()
        assert sum(result.removed.values()) > 300 * 40
        assert result.transactions > 20
        assert writer.failures == []
        assert len(writer.waits) > 10  # it did write while the prune ran
        assert state() == seen
        with store.read() as q:
            for k in KINDS:
                assert q.old_periods(k, cutoffs[k]) == []
    finally:
        store.close()


def test_prune_statements_seek_the_primary_key(tmp_path) -> None:
    """What prune runs is a range of the primary key: flows (kind, period, scope,
    scope_id) a run of one old period's scope kind, gauges (scope, scope_id, kind,
    period) one scope's old periods; and finding the old periods is a seek."""
    store = open_store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        with store.read() as q:
            statements = [
                (
                    "DELETE FROM flows WHERE kind = ? AND period = ? AND scope = ? "
                    "AND scope_id > ? AND scope_id <= ?",
                    (KIND_CODES["day"], "20260101", "u", 0, 1000),
                    "kind=? AND period=? AND scope=? AND scope_id>? AND scope_id<?",
                ),
                (
                    "SELECT period FROM flows WHERE kind = ? AND period > ? AND period < ? "
                    "ORDER BY period LIMIT 1",
                    (KIND_CODES["day"], "", "20260101"),
                    "kind=? AND period>? AND period<?",
                ),
                (
                    "DELETE FROM gauges WHERE scope = ? AND scope_id = ? AND kind = ? "
                    "AND period > '' AND period < ?",
                    ("d", 1, KIND_CODES["day"], "20260101"),
                    "scope=? AND scope_id=? AND kind=? AND period>? AND period<?",
                ),
            ]
            for sql, params, search in statements:
                detail = " ".join(
                    r[-1] for r in q.conn.execute("EXPLAIN QUERY PLAN " + sql, params)
                )
                assert "USING PRIMARY KEY" in detail, detail
                assert search in detail, detail
            plan = q.conn.execute(
                "EXPLAIN QUERY PLAN DELETE FROM storage_reports WHERE user_id = ? AND time < "
                "(SELECT MAX(time) FROM storage_reports WHERE user_id = ? AND time <= ?)",
                (1, 1, 0),
            ).fetchall()
            assert all("SCAN" not in r[-1] for r in plan), plan
            # finding the accounts: one pass over users, seeks into storage_reports
            plan = q.conn.execute(
                "EXPLAIN QUERY PLAN SELECT u.id FROM users u WHERE "
                "(SELECT MIN(time) FROM storage_reports WHERE user_id = u.id) < "
                "(SELECT MAX(time) FROM storage_reports WHERE user_id = u.id AND time <= ?)",
                (0,),
            ).fetchall()
            scans = [r[-1] for r in plan if "SCAN" in r[-1]]
            assert scans and all("storage_reports" not in d for d in scans), plan
    finally:
        store.close()
