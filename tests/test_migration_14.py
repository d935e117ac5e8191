"""Migration 14: ``flows`` partitioned by kind on PostgreSQL, keyed (kind,
period, scope, scope_id, company_id) with no second index, the week and month
partitions at fillfactor 50; nothing on SQLite.

A store at schema 13 holding day, week and month rows of every account, domain
and company (and base rows, as prune leaves them) holds the same rows once
migrated, and answers every stats_summary and stats_top with the same bytes;
an ingest's update of week and month rows is then HOT on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import NOW, OPERATOR_CREDS, PG_VARIABLE, PGSchemas, cheap_config
from mailtally.api import create_app
from mailtally.periods import FixedClock, _day_key, _month_key, _week_key
from mailtally.store import Store, open_store
from mailtally.store.base import COMPANY, DOMAIN, FLOW_COLUMNS, LAST_COLUMNS, USER, Queries
from test_floods import post
from test_migration import answers
from test_migration_13 import schema_url, up_to
from test_migration_15 import at_schema_14

DAYS = 45
#: a company summary's flows stats_top ranks by (a sample: the statement is one per column)
METRICS = ("messages.in_ham", "messages.out_size", "logins.imap4")


def _deltas(ids: list[tuple[int, int]], salt: int) -> list[tuple[Any, ...]]:
    """USER_DELTA rows for each (id, company id) on each of the DAYS days to NOW:
    counts that differ by id, day and column, lasts that differ by id and day."""
    today = date.fromtimestamp(NOW)
    out = []
    for back in range(DAYS):
        d = today - timedelta(days=back)
        for n, (sid, cid) in enumerate(ids):
            counts = [(sid * 7 + back * 3 + c * 5 + salt) % 13 for c in range(len(FLOW_COLUMNS))]
            lasts = [NOW - back * 86400 - n * 60 - c for c in range(len(LAST_COLUMNS))]
            out.append((_day_key(d), sid, _week_key(d), _month_key(d), cid, *counts, *lasts))
    return out


def _fill(store: Store) -> None:
    """Flow rows of the DAYS days to NOW for every account, domain and company,
    and base rows (period '') for some accounts."""
    with store.write() as q:
        users = [(int(r[0]), int(r[1])) for r in q._all("SELECT id, company_id FROM users")]
        domains = [(int(r[0]), int(r[1])) for r in q._all("SELECT id, company_id FROM domains")]
        companies = [(int(r[0]), int(r[0])) for r in q._all("SELECT id FROM companies")]
        q.add_user_flows(_deltas(users, 0), one_day=False)
        rows = []
        for scope, ids, salt in ((DOMAIN, domains, 1), (COMPANY, companies, 2)):
            rows += [(r[0], scope, *r[2:]) for r in Queries.user_flow_rows(_deltas(ids, salt))]
        zeros = [0] * len(FLOW_COLUMNS)
        rows += [
            (cid, USER, uid, kind, "", *zeros, *[NOW - 90 * 86400 + uid] * len(LAST_COLUMNS))
            for uid, cid in users[::3]
            for kind in ("day", "week", "month")
        ]
        q.add_flow_rows(rows)


def _rows(store: Store) -> str:
    """A SHA-256 of every flows row (key and counts) in key order, and their number."""
    cols = ", ".join(FLOW_COLUMNS + LAST_COLUMNS)
    with store.read() as q:
        rows = q._all(
            f"SELECT company_id, scope, scope_id, kind, period, {cols} FROM flows "
            "ORDER BY kind, period, scope, scope_id"
        )
    return f"{len(rows)} {hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()}"


def _tops(store: Store) -> dict[str, str]:
    """The SHA-256 of every stats_top answer: each company (of domains, of users)
    and domain (of users), each kind, METRICS, limits 1 and 10."""
    with store.read() as q:
        objects = [("company", r[0]) for r in q._all("SELECT name FROM companies")]
        objects += [("domain", r[0]) for r in q._all("SELECT name FROM domains")]
    app = create_app(store, cheap_config(), FixedClock(NOW))

    async def ask_all() -> dict[str, str]:
        out = {}
        async with app.router.lifespan_context(app):
            for type_, name in objects:
                for of in ("domains", "users") if type_ == "company" else ("users",):
                    for by in ("day", "week", "month"):
                        for metric in METRICS:
                            for limit in (1, 10):
                                request = {
                                    "credentials": OPERATOR_CREDS,
                                    "type": type_,
                                    "object": name,
                                    "of": of,
                                    "by": by,
                                    "metric": metric,
                                    "limit": limit,
                                }
                                status, body = await post(app, "stats_top", request)
                                assert status == 200, body
                                key = f"{type_} {name} {of} {by} {metric} {limit}"
                                out[key] = hashlib.sha256(body).hexdigest()
        return out

    return asyncio.run(ask_all())


def test_a_schema_13_store_answers_the_same_bytes_after_migration_14(
    backend: str, platform_file: Path, tmp_path: Path, request, monkeypatch
) -> None:
    with monkeypatch.context() as m:
        if backend == "sqlite":
            at_schema_14(m)  # (lastlogin in users, as before SQLite's 15)
            up_to(m, 13)
            url = schema_url(13, backend, platform_file, tmp_path, request)
        else:
            up_to(m, 13)
            if not os.environ.get(PG_VARIABLE):
                pytest.skip(f"PostgreSQL cases: set {PG_VARIABLE}")
            schemas = PGSchemas(os.environ[PG_VARIABLE], f"mailtally_m14_{os.getpid()}")
            request.addfinalizer(schemas.close)
            url = schemas.load(platform_file)
        store = open_store(url)
        try:
            assert store.schema_version() == 13
            _fill(store)
            rows = _rows(store)
            before = answers(store) | _tops(store)
        finally:
            store.close()
    store = open_store(url)
    try:
        # (and 15, a no-op on PostgreSQL, lastlogin's own table on SQLite, and later ones)
        latest = store.latest_migration
        assert store.schema_version() == latest
        assert store.applied_migrations == tuple(range(14, latest + 1))
        assert _rows(store) == rows
        after = answers(store) | _tops(store)
        if backend == "postgresql":
            with store.read() as q:
                # one index (the key) on each partition, none left of flows_scope
                indexes = q._all(
                    "SELECT tablename, indexdef FROM pg_indexes "
                    "WHERE tablename LIKE 'flows%%' AND schemaname = current_schema() "
                    "ORDER BY tablename"
                )
            assert [t for t, _ in indexes] == ["flows", "flows_day", "flows_month", "flows_week"]
            assert all("(kind, period, scope, scope_id, company_id)" in d for _, d in indexes)
    finally:
        store.close()
    assert int(rows.split()[0]) > 900
    assert len(before) > 150
    assert after.keys() == before.keys()
    assert [k for k in before if after[k] != before[k]] == []


def test_an_ingests_updates_of_week_and_month_rows_are_hot(backend: str, fresh_store) -> None:
    """Two days' counts for 600 accounts (rows packed into many pages): the
    second day's adds to the week and month rows leave every index alone
    (PostgreSQL's heap-only tuples, counted in the writing transaction)."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL's heap")
    nf, nl = len(FLOW_COLUMNS), len(LAST_COLUMNS)
    # (2026-01-13 and 14: one week, one month)
    days = [(d, "20260112-20260118", "2026-01") for d in ("20260113", "20260114")]
    ids = range(1, 601)
    with fresh_store.write() as q:
        q.add_user_flows(
            [(days[0][0], i, *days[0][1:], 1, *[1] * nf, *[NOW] * nl) for i in ids], one_day=True
        )
    with fresh_store.write() as q:
        q.add_user_flows(
            [(days[1][0], i, *days[1][1:], 1, *[2] * nf, *[NOW] * nl) for i in ids], one_day=True
        )
        hot = {
            t: q._one(
                "SELECT pg_stat_get_xact_tuples_updated(?::regclass), "
                "pg_stat_get_xact_tuples_hot_updated(?::regclass)",
                t,
                t,
            )
            for t in ("flows_week", "flows_month", "flows_day")
        }
    assert hot == {"flows_week": (600, 600), "flows_month": (600, 600), "flows_day": (0, 0)}
    with fresh_store.read() as q:
        assert q.flows(USER, 7, "week", ["20260112-20260118"])[0][1 : 1 + nf] == (3,) * nf
