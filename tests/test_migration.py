"""Migrations 0004–0007 on a store that the release before them built.

``tests/data/schema3/`` holds a store made by commit 760122a (schema 3: the
counter tables as rowid tables, ``kind`` as its name) — the demo platform (14
months of counts, quota reports, deleted accounts) and a 20-day synthesized
log ingested by the compiled path — as an SQL dump, and the SHA-256 of every
``stats_summary`` body that release's API answered for it (``make.py`` there
says how both were made).  Built by the old code, not by today's code put back
into the old shape, so the test compares two releases.

* Every ``stats_summary`` (every user, domain and company, by day, week and
  month) answers the same bytes through the API after the migrations.
* A migrated store keeps counting: an event adds to the very row it added to
  before.
* Re-opening a migrated store migrates nothing again.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import OPERATOR_CREDS, cheap_config, table_rows
from mailtally.api import create_app
from mailtally.events import Login
from mailtally.periods import KINDS, FixedClock, Periods
from mailtally.record import record_events
from mailtally.store import Store, open_store
from mailtally.store import base as store_base
from test_floods import post

DATA = Path(__file__).parent / "data" / "schema3"
#: the time the answers were taken at (make.py's NOW)
NOW = int(datetime(2026, 2, 15, 12, tzinfo=UTC).timestamp())
COUNTER_TABLES = ("flows", "gauges", "storage_reports")
LATEST = store_base.migrations()[-1][0]


def migrated_from(
    path: Path, version: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[Store, dict[str, str]]:
    """Open the SQLite store file ``path`` (already turned back to schema
    ``version``) as the code of that schema did, take its :func:`answers`, then
    open it as today's code does (migrating it): (the open store, the answers
    before).  The caller closes the store."""
    from mailtally.store import sqlite

    with monkeypatch.context() as m:
        m.setattr(
            sqlite,
            "migrations",
            lambda b="": [x for x in store_base.migrations(b) if x[0] <= version],
        )
        store = open_store(f"sqlite:///{path}")
        try:
            assert store.schema_version() == version
            before = answers(store)
        finally:
            store.close()
    store = open_store(f"sqlite:///{path}")
    assert store.schema_version() == store.latest_migration > version
    assert version + 1 in store.applied_migrations
    return store, before


def answers(store: Store) -> dict[str, str]:
    """The SHA-256 of the body of every stats_summary, as the API sends it.

    Straight into the ASGI app on one event loop (the TestClient's thread hops
    cost ten times the answers themselves on a loaded machine)."""
    with store.read() as q:
        objects = [("company", r[0]) for r in q.conn.execute("SELECT name FROM companies")]
        objects += [("domain", r[0]) for r in q.conn.execute("SELECT name FROM domains")]
        objects += [("user", r[0]) for r in q.conn.execute("SELECT address FROM users")]
    app = create_app(store, cheap_config(), FixedClock(NOW))

    async def ask_all() -> dict[str, str]:
        out = {}
        async with app.router.lifespan_context(app):
            for type_, name in objects:
                for by in KINDS:
                    request = {"credentials": OPERATOR_CREDS, "type": type_, "object": name}
                    status, body = await post(app, "stats_summary", request | {"by": by})
                    assert status == 200, body
                    out[f"{type_} {name} {by}"] = hashlib.sha256(body).hexdigest()
        return out

    return asyncio.run(ask_all())


@pytest.fixture(scope="module")
def schema_3_store(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The old release's store as a file, and the answers it gave."""
    path = tmp_path_factory.mktemp("schema3") / "store.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(gzip.decompress((DATA / "store.sql.gz").read_bytes()).decode())
    conn.close()
    return path, json.loads((DATA / "answers.json").read_text())


def migrated_copy(schema_3_store, tmp_path: Path) -> tuple[Path, dict[Any, bytes]]:
    path, before = schema_3_store
    copy = tmp_path / "store.sqlite3"
    copy.write_bytes(path.read_bytes())
    return copy, before


def test_the_store_was_built_at_schema_3_with_every_kind_of_row(schema_3_store) -> None:
    path, _before = schema_3_store
    q = sqlite3.connect(path)
    try:
        version = q.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        kinds = {r[0] for r in q.execute("SELECT DISTINCT kind FROM flows")}
        deleted = q.execute("SELECT SUM(users_deleted) FROM gauges").fetchone()[0]
        reports = q.execute("SELECT COUNT(*) FROM storage_reports").fetchone()[0]
        months = q.execute(
            "SELECT COUNT(DISTINCT period) FROM flows WHERE kind = 'month'"
        ).fetchone()[0]
        sql = q.execute("SELECT sql FROM sqlite_master WHERE name = 'flows'").fetchone()
    finally:
        q.close()
    assert version == ("3",)
    assert kinds == {"day", "week", "month"}
    assert deleted > 0 and reports > 0 and months > 12
    assert "WITHOUT ROWID" not in sql[0]


def test_every_summary_answers_the_same_bytes_after_the_migration(schema_3_store, tmp_path) -> None:
    path, before = migrated_copy(schema_3_store, tmp_path)
    store = open_store(f"sqlite:///{path}")
    try:
        assert store.schema_version() == LATEST
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
                    q.flows("u", user_id, kind, [keys[kind]])[0][
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
        assert first[0] == LATEST
        assert all("WITHOUT ROWID" in sql for name, sql in first[1] if name in COUNTER_TABLES)
        keys = {
            name: sql.split("PRIMARY KEY")[1] for name, sql in first[1] if name in COUNTER_TABLES
        }
        # 0007: flows period first (an ingest's rows side by side), the others as 0004 made them
        assert keys["flows"].startswith(" (kind, period, scope, scope_id)"), keys
        assert keys["gauges"].startswith(" (scope, scope_id, kind, period)"), keys
    finally:
        store.close()
    store = open_store(f"sqlite:///{path}")
    try:
        assert state(store) == first
    finally:
        store.close()
