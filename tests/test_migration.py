"""Migration 0004 (the counter tables as WITHOUT ROWID, kind as a small integer)
on a store that the previous release built.

The store is built at schema 3 for real: the migration runner stops there
(``SQLiteStore(schema=3)``), and the store is filled through the real paths
— the demo platform (14 months of ``record_events``, quota reports, deleted
accounts), then a synthesized log with its quota reports, ingested by the
compiled or the pure-Python path — with the statements of schema 3: until
migration 0004, ``Queries`` wrote and read ``kind`` as its name, and
:func:`schema_3_statements` puts exactly those statements back (everything
else is today's code).

* Every ``stats_summary`` (every user, domain and company, by day, week and
  month) answers the same bytes through the API after the migration as before.
* A migrated store keeps counting: an event adds to the very row it added to
  before.
* Re-opening a migrated store migrates nothing again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    INGEST_MODES,
    OPERATOR,
    OPERATOR_CREDS,
    OPERATOR_PASSWORD,
    add_operator,
    cheap_config,
    hasher_for,
    table_rows,
    use_ingest_mode,
)
from mailtally.api import create_app
from mailtally.demo import build_demo
from mailtally.events import Login
from mailtally.periods import KINDS, FixedClock, Periods
from mailtally.record import record_events
from mailtally.store import Store, open_store
from mailtally.store import base as store_base
from mailtally.store.sqlite import SQLiteStore
from test_floods import post
from test_ingest_e2e import synth_and_ingest

#: the log: 20 days from Monday 26 January 2026 (weeks and months on both sides)
LOG_START, LOG_DAYS = date(2026, 1, 26), 20
NOW = int(datetime(2026, 2, 15, 12, tzinfo=UTC).timestamp())
COUNTER_TABLES = ("flows", "gauges", "storage_reports")


@contextmanager
def schema_3_statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``Queries`` as it was before migration 0004: kinds written and read by name."""
    with monkeypatch.context() as mp:
        mp.setattr(store_base, "KIND_CODES", {k: k for k in KINDS})
        mp.setattr(store_base, "_KIND_CODE", "?")
        mp.setattr(store_base, "_FLOW_UPSERT", store_base._flow_upsert())
        mp.setattr(store_base, "_GAUGE_UPSERT", store_base._gauge_upsert())
        yield


def answers(store: Store) -> dict[tuple[str, str, str], bytes]:
    """The body of every stats_summary, as the API sends it.

    Straight into the ASGI app on one event loop (the TestClient's thread hops
    cost ten times the answers themselves on a loaded machine)."""
    with store.read() as q:
        objects = [("company", r[0]) for r in q.conn.execute("SELECT name FROM companies")]
        objects += [("domain", r[0]) for r in q.conn.execute("SELECT name FROM domains")]
        objects += [("user", r[0]) for r in q.conn.execute("SELECT address FROM users")]
    app = create_app(store, cheap_config(), FixedClock(NOW))

    async def ask_all() -> dict[tuple[str, str, str], bytes]:
        out = {}
        async with app.router.lifespan_context(app):
            for type_, name in objects:
                for by in KINDS:
                    request = {"credentials": OPERATOR_CREDS, "type": type_, "object": name}
                    status, body = await post(app, "stats_summary", request | {"by": by})
                    assert status == 200, body
                    out[(type_, name, by)] = body
        return out

    return asyncio.run(ask_all())


@pytest.fixture(scope="module")
def demo_at_schema_3(tmp_path_factory) -> Path:
    """The demo platform (14 months of counts, quota reports, deleted accounts) at schema 3."""
    path = tmp_path_factory.mktemp("schema3-demo") / "store.sqlite3"
    with pytest.MonkeyPatch.context() as mp, schema_3_statements(mp):
        store = SQLiteStore(path, schema=3)
        try:
            assert store.schema_version() == 3
            add_operator(store, hasher_for(cheap_config()), OPERATOR, OPERATOR_PASSWORD)
            build_demo(store, Periods("UTC"), hasher_for(cheap_config()), NOW)
        finally:
            store.close()
    return path


@pytest.fixture(scope="module", params=INGEST_MODES, ids=lambda m: f"ingest-{m}")
def schema_3_store(
    request, demo_at_schema_3, tmp_path_factory
) -> Iterator[tuple[Path, dict[Any, bytes]]]:
    """A store file at schema 3: the demo, and a log ingested on one path; and
    every stats_summary answer it gives."""
    path = tmp_path_factory.mktemp(f"schema3-{request.param}") / "store.sqlite3"
    path.write_bytes(demo_at_schema_3.read_bytes())
    with pytest.MonkeyPatch.context() as mp, schema_3_statements(mp):
        store = SQLiteStore(path, schema=3)
        try:
            use_ingest_mode(mp, request.param)
            synth_and_ingest(store, path.parent / "logs", 5, 4000, LOG_DAYS, LOG_START)
            before = answers(store)
        finally:
            store.close()
    yield path, before


def migrated_copy(schema_3_store, tmp_path: Path) -> tuple[Path, dict[Any, bytes]]:
    path, before = schema_3_store
    copy = tmp_path / "store.sqlite3"
    copy.write_bytes(path.read_bytes())
    return copy, before


def test_the_store_was_built_at_schema_3_with_every_kind_of_row(schema_3_store) -> None:
    path, _before = schema_3_store
    store = SQLiteStore(path, schema=3)
    try:
        with store.read() as q:
            kinds = {r[0] for r in q.conn.execute("SELECT DISTINCT kind FROM flows")}
            deleted = q.conn.execute("SELECT SUM(users_deleted) FROM gauges").fetchone()[0]
            reports = q.conn.execute("SELECT COUNT(*) FROM storage_reports").fetchone()[0]
            months = q.conn.execute(
                "SELECT COUNT(DISTINCT period) FROM flows WHERE kind = 'month'"
            ).fetchone()[0]
            sql = q.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'flows'").fetchone()
        assert kinds == {"day", "week", "month"}
        assert deleted > 0 and reports > 0 and months > 12
        assert "WITHOUT ROWID" not in sql[0]
    finally:
        store.close()


def test_every_summary_answers_the_same_bytes_after_the_migration(schema_3_store, tmp_path) -> None:
    path, before = migrated_copy(schema_3_store, tmp_path)
    store = open_store(f"sqlite:///{path}")
    try:
        assert store.schema_version() == 4
        after = answers(store)
    finally:
        store.close()
    assert after.keys() == before.keys()
    assert len(before) > 3 * 300
    different = [k for k in before if after[k] != before[k]]
    assert different == []


def test_a_migrated_store_keeps_counting_into_the_same_rows(schema_3_store, tmp_path) -> None:
    path, _before = migrated_copy(schema_3_store, tmp_path)
    store = open_store(f"sqlite:///{path}")
    periods = Periods("UTC")
    when = int(datetime(2026, 2, 10, 9, tzinfo=UTC).timestamp())
    keys = dict(zip(KINDS, periods.keys(when), strict=True))
    try:
        with store.read() as q:
            user_id = q.conn.execute(
                "SELECT scope_id FROM flows WHERE scope = 'u' AND kind = ? AND period = ? "
                "AND logins_imap4 > 0 LIMIT 1",
                (store_base.KIND_CODES["day"], keys["day"]),
            ).fetchone()[0]
            address = q.user_by_id(user_id)[3]
            rows = q.conn.execute("SELECT COUNT(*) FROM flows").fetchone()[0]

            def imap4() -> list[int]:
                return [
                    q.flows("u", user_id, kind, keys[kind], keys[kind])[0][
                        1 + store_base.FLOW_COLUMNS.index("logins_imap4")
                    ]
                    for kind in KINDS
                ]

            counted = imap4()
        with store.write() as q:
            result = record_events(
                q, periods, [Login(time=when, user=address, service="imap4", count=3)]
            )
        assert result.counted == 3
        with store.read() as q:
            assert imap4() == [n + 3 for n in counted]
            assert q.conn.execute("SELECT COUNT(*) FROM flows").fetchone()[0] == rows
    finally:
        store.close()


def test_reopening_a_migrated_store_changes_nothing(schema_3_store, tmp_path) -> None:
    path, _before = migrated_copy(schema_3_store, tmp_path)
    open_store(f"sqlite:///{path}").close()

    def state(store: Store) -> tuple[Any, ...]:
        with store.read() as q:
            schema = q.conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
        return store.schema_version(), schema, table_rows(store, *COUNTER_TABLES)

    store = open_store(f"sqlite:///{path}")
    try:
        first = state(store)
        assert first[0] == 4
        assert all("WITHOUT ROWID" in sql for name, sql in first[1] if name in COUNTER_TABLES)
    finally:
        store.close()
    store = open_store(f"sqlite:///{path}")
    try:
        assert state(store) == first
    finally:
        store.close()
