"""Migration 13: ``users.lastlogin`` in a narrow table of its own on PostgreSQL
(``user_logins``, kept beside ``users`` by triggers), nothing on SQLite.

A store made at schema 12, with last logins in ``users``, answers every
``stats_summary`` and every ``search_users`` page (each sort, both directions,
by domain and platform-wide, with criteria) the same bytes once migrated; and
``user_logins`` then follows what tree actions change in ``users``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import NOW, OPERATOR_CREDS, PG_VARIABLE, cheap_config
from mailtally.api import create_app
from mailtally.periods import FixedClock
from mailtally.store import Store, base, open_store, postgres, sqlite
from test_floods import post
from test_migration import answers
from test_migration_15 import USER_ROWS_14, before_15

SORTS = ("user", "createtime", "lastlogin", "type", "workgroup", "delete_time")


def up_to(monkeypatch: pytest.MonkeyPatch, version: int) -> None:
    """Open stores with the migrations up to ``version`` only."""
    for module in (sqlite, postgres):
        monkeypatch.setattr(
            module, "migrations", lambda b="": [m for m in base.migrations(b) if m[0] <= version]
        )


def _at_schema_12(monkeypatch: pytest.MonkeyPatch) -> None:
    """Open stores as the code of schema 12 did: no migration 13, and
    ``lastlogin`` read from ``users`` on both backends."""
    up_to(monkeypatch, 12)
    monkeypatch.setattr(base.Queries, "_LOGINS", "users")
    for queries in (base.Queries, postgres.PGQueries):
        monkeypatch.setattr(queries, "_USER_ROWS", USER_ROWS_14)


def schema_url(version: int, backend: str, platform_file: Path, tmp_path: Path, request) -> str:
    """A store at schema ``version`` holding the test platform's rows (the
    caller has patched ``migrations`` to stop there).  SQLite: the platform's
    file turned back to the layout before migration 15, labelled ``version``
    (13 and 14 are no-ops there)."""
    if backend == "sqlite":
        path = tmp_path / "t.sqlite3"
        shutil.copyfile(platform_file, path)
        before_15(path, version)  # (13 and 14 change nothing on SQLite)
        return f"sqlite:///{path}"
    import psycopg

    url = os.environ.get(PG_VARIABLE)
    if not url:
        pytest.skip(f"PostgreSQL cases: set {PG_VARIABLE}")
    schema = f"mailtally_m{version}_{os.getpid()}"
    admin = psycopg.connect(url, autocommit=True)
    admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    admin.execute(f"CREATE SCHEMA {schema}")

    def drop() -> None:
        admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.close()

    request.addfinalizer(drop)
    sep = "&" if "?" in url else "?"
    url = f"{url}{sep}options=-csearch_path%3D{schema}"
    open_store(url).close()  # (the tables of the patched migrations)
    src = sqlite3.connect(platform_file)
    with psycopg.connect(url) as pg:
        for table in ("companies", "domains"):  # (what foreign keys point at: first)
            _copy(src, pg, table)
        tables = pg.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (schema,),
        ).fetchall()
        for (table,) in tables:
            if table not in ("companies", "domains"):
                _copy(src, pg, table)
        for table, column in pg.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND is_identity = 'YES'",
            (schema,),
        ).fetchall():
            pg.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                f"COALESCE(MAX({column}), 0) + 1, false) FROM {table}"
            )
    src.close()
    return url


def _copy(src: sqlite3.Connection, pg: Any, table: str) -> None:
    # the columns both have (the schema is at an older migration than the file)
    theirs = {
        r[0]
        for r in pg.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s",
            (table,),
        )
    }
    cur = src.execute(f"SELECT * FROM {table} LIMIT 0")
    cols = [d[0] for d in cur.description if d[0] in theirs]
    cur = src.execute(f"SELECT {', '.join(cols)} FROM {table}")
    rows = [r for r in cur if table != "meta" or r[cols.index("key")] != "schema_version"]
    if rows:
        with pg.cursor() as c:
            c.executemany(
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})",
                rows,
            )


def searches(store: Store) -> dict[str, str]:
    """The SHA-256 of every search_users answer: each sort and direction, by
    domain and platform-wide, with and without criteria, in pages of 2."""
    with store.read() as q:
        domains = [r[0] for r in q.conn.execute("SELECT name FROM domains")]
    app = create_app(store, cheap_config(), FixedClock(NOW))
    fields = ["createtime", "forward", "lastlogin", "status", "type", "workgroup"]
    scopes: list[dict[str, Any]] = [{}, {"type": "mailbox"}, {"match": "*a*"}]
    scopes += [{"domain": d} for d in domains] + [{"domain": d, "match": "*e*"} for d in domains]
    scopes += [{"domain": d, "workgroup": "staff"} for d in domains]

    async def ask_all() -> dict[str, str]:
        out = {}
        async with app.router.lifespan_context(app):
            for criteria in scopes:
                for by in SORTS:
                    for way in ("ascending", "descending"):
                        for first in range(0, 14, 2):
                            request = {
                                "credentials": OPERATOR_CREDS,
                                "criteria": criteria,
                                "fields": fields,
                                "sort": {"by": by, "direction": way},
                                "range": {"first": first, "limit": 2},
                            }
                            status, body = await post(app, "search_users", request)
                            assert status == 200, body
                            out[f"{criteria} {by} {way} {first}"] = hashlib.sha256(body).hexdigest()
        return out

    return asyncio.run(ask_all())


def test_a_schema_12_store_answers_the_same_bytes_after_migration_13(
    backend: str, platform_file: Path, tmp_path: Path, request, monkeypatch
) -> None:
    with monkeypatch.context() as m:
        _at_schema_12(m)
        url = schema_url(12, backend, platform_file, tmp_path, request)
        store = open_store(url)
        try:
            assert store.schema_version() == 12
            with store.write() as q:
                ids = [r[0] for r in q._all("SELECT id FROM users ORDER BY address")]
                # last logins as schema 12's ingest left them: some never, two
                # alike (the page order falls back to the address), the rest apart
                for n, uid in enumerate(ids):
                    t = 0 if n % 4 == 0 else NOW - 3600 * (1 if n in (1, 2) else n)
                    q._run("UPDATE users SET lastlogin = ? WHERE id = ?", t, uid)
            before = answers(store) | searches(store)
        finally:
            store.close()
    store = open_store(url)
    try:
        shipped = base.migrations("postgres" if backend == "postgresql" else "")
        assert store.applied_migrations == tuple(n for n, _ in shipped if n >= 13)
        assert store.schema_version() == shipped[-1][0]
        after = answers(store) | searches(store)
    finally:
        store.close()
    assert len(before) > 1000
    assert after.keys() == before.keys()
    assert [k for k in before if after[k] != before[k]] == []


def test_user_logins_follow_the_accounts(backend: str, fresh_store: Store, platform) -> None:
    """What search_users reads of an account with its last login (user_logins,
    written by triggers: PostgreSQL's migration 13, SQLite's 15) is the
    account's, after every tree action."""
    with fresh_store.write() as q:
        uid, domain_id, company_id, _ = q.resolve_address("bob@acme.com")
        other = q._one("SELECT id FROM domains WHERE name = 'acme.net'")[0]
        q.raise_lastlogins([(uid, NOW - 60)])
        q.rename_user(uid, "robert@acme.net", other)
        q.update_user_state(uid, q._one("SELECT state FROM users WHERE id = ?", uid)[0])
        new = q.insert_user(company_id, domain_id, "new@acme.com", None, NOW, "{}")
        q.purge_user(uid, NOW)
    with fresh_store.read() as q:
        cols = "id, domain_id, status, address, type, workgroup"
        users = q._all(f"SELECT {cols} FROM users ORDER BY id")
        mirrored = q._all(f"SELECT {cols} FROM {q._LOGINS} ORDER BY id")
        logins = dict(q._all(f"SELECT id, lastlogin FROM {q._LOGINS}"))
    assert mirrored == users
    assert (uid, other, "purged", "robert@acme.net") == tuple(
        next(r for r in users if r[0] == uid)[:4]
    )
    assert logins[uid] == NOW - 60 and logins[new] == 0
