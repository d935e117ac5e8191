"""Migration 15: ``users.lastlogin`` in a narrow table of its own on SQLite
(``user_logins``, WITHOUT ROWID, kept beside ``users`` by triggers), as
PostgreSQL's migration 13 did; nothing on PostgreSQL.

A SQLite store made before it, with last logins in ``users``, answers every
``stats_summary`` and every ``search_users`` page (each sort, both directions,
by domain and platform-wide, with criteria) the same bytes once migrated; and
``user_logins`` then follows what tree actions change in ``users``.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from conftest import NOW
from mailtally.store import Store, base, open_store, sqlite
from test_migration import answers

#: search_users' rows as the code of schema 14 read them: lastlogin was users'
USER_ROWS_14 = (
    "SELECT id, address, createtime, type, workgroup, deletetime, lastlogin, state "
    "FROM users WHERE id IN ({ids})"
)


def before_15(path: Path, version: int) -> None:
    """Turn a SQLite store file of today's schema into one of schema ``version``
    (12 to 14, which are alike on SQLite: 13 changed nothing there):
    ``lastlogin`` back in ``users`` with its index, no user_logins (and no
    ``tokens.made_by``, migration 16's, nor ``users.password_set_by``, 17's)."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("ALTER TABLE users DROP COLUMN password_set_by")
        conn.execute("DROP INDEX tokens_made_by")
        conn.execute("ALTER TABLE tokens DROP COLUMN made_by")
        conn.execute("ALTER TABLE users ADD COLUMN lastlogin BIGINT NOT NULL DEFAULT 0")
        conn.execute(
            "UPDATE users SET lastlogin = (SELECT l.lastlogin FROM user_logins l "
            "WHERE l.id = users.id)"
        )
        for trigger in ("insert", "update", "delete"):
            conn.execute(f"DROP TRIGGER users_logins_{trigger}")
        conn.execute("DROP TABLE user_logins")
        conn.execute(
            "CREATE INDEX users_by_lastlogin "
            "ON users (domain_id, status, lastlogin, address, id, type, workgroup)"
        )
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    conn.close()


def at_schema_14(m: pytest.MonkeyPatch) -> None:
    """Open SQLite stores as the code of schema 14 did: no migration 15, and
    ``lastlogin`` read and raised in ``users``."""
    m.setattr(sqlite, "migrations", lambda b="": [x for x in base.migrations(b) if x[0] < 15])
    m.setattr(base.Queries, "_LOGINS", "users")
    m.setattr(base.Queries, "_USER_ROWS", USER_ROWS_14)

    def raise_lastlogins(q: base.Queries, logins) -> None:
        q.conn.executemany(
            "UPDATE users SET lastlogin = ? WHERE id = ? AND lastlogin < ?",
            ((t, uid, t) for uid, t in logins),
        )

    m.setattr(base.Queries, "raise_lastlogins", raise_lastlogins)


def test_a_schema_14_sqlite_store_answers_the_same_bytes_after_migration_15(
    platform_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_migration_13 import searches

    path = tmp_path / "t.sqlite3"
    shutil.copyfile(platform_file, path)
    before_15(path, 14)
    with monkeypatch.context() as m:
        at_schema_14(m)
        store = open_store(f"sqlite:///{path}")
        try:
            assert store.schema_version() == 14
            with store.write() as q:
                ids = [r[0] for r in q._all("SELECT id FROM users ORDER BY address")]
                # last logins as schema 14's ingest raised them: some never, two
                # alike (the page order falls back to the address), the rest apart
                q.raise_lastlogins(
                    (uid, NOW - 3600 * (1 if n in (1, 2) else n))
                    for n, uid in enumerate(ids)
                    if n % 4
                )
            before = answers(store) | searches(store)
            with store.read() as q:
                logins = q._all("SELECT id, lastlogin FROM users ORDER BY id")
        finally:
            store.close()
    store = open_store(f"sqlite:///{path}")
    try:
        latest = store.latest_migration  # (15, and any later one)
        assert store.schema_version() == latest
        assert store.applied_migrations == tuple(range(15, latest + 1))
        after = answers(store) | searches(store)
        with store.read() as q:
            assert q._all("SELECT id, lastlogin FROM user_logins ORDER BY id") == logins
            columns = [r[1] for r in q._all("PRAGMA table_info(users)")]
            plan = " ".join(
                str(r[-1])
                for r in q._all(
                    "EXPLAIN QUERY PLAN SELECT id FROM user_logins WHERE domain_id = 1 "
                    "AND status = 'active' ORDER BY lastlogin, address, id LIMIT 2"
                )
            )
    finally:
        store.close()
    assert len({t for _, t in logins}) > 3
    assert "lastlogin" not in columns
    assert "COVERING INDEX user_logins_by_lastlogin" in plan
    assert len(before) > 1000
    assert after.keys() == before.keys()
    assert [k for k in before if after[k] != before[k]] == []


def _mirror(store: Store) -> tuple[list, list, dict[int, int]]:
    with store.read() as q:
        cols = "id, domain_id, status, address, type, workgroup"
        users = q._all(f"SELECT {cols} FROM users ORDER BY id")
        mirrored = q._all(f"SELECT {cols} FROM user_logins ORDER BY id")
        logins = dict(q._all("SELECT id, lastlogin FROM user_logins"))
    return users, mirrored, logins


def test_user_logins_follow_insert_rename_move_delete_restore_purge(
    backend: str, fresh_store: Store, platform
) -> None:
    """user_logins' copy of an account's search columns is the account's after
    every tree action, and its last login stays through all of them."""
    with fresh_store.write() as q:
        uid, domain_id, company_id, _ = q.resolve_address("bob@acme.com")
        other = q._one("SELECT id FROM domains WHERE name = 'acme.net'")[0]
        q.raise_lastlogins([(uid, NOW - 60), (uid, NOW - 120)])
        new = q.insert_user(company_id, domain_id, "new@acme.com", None, NOW, "{}")
    users, mirrored, logins = _mirror(fresh_store)
    assert mirrored == users and logins[uid] == NOW - 60 and logins[new] == 0

    with fresh_store.write() as q:
        q.rename_user(uid, "robert@acme.com", domain_id)  # renamed in its domain
        q.rename_user(new, "new@acme.net", other)  # moved to another domain
        state = json.loads(q._one("SELECT state FROM users WHERE id = ?", uid)[0])
        q.update_user_state(uid, json.dumps(state | {"deletetime": NOW, "type": "forward"}))
    users, mirrored, _ = _mirror(fresh_store)
    assert mirrored == users
    row = next(r for r in mirrored if r[0] == uid)
    assert row[1:5] == (domain_id, "deleted", "robert@acme.com", "forward")
    assert next(r for r in mirrored if r[0] == new)[1:4] == (other, "active", "new@acme.net")

    with fresh_store.write() as q:
        q.update_user_state(uid, json.dumps(state))  # restored
    users, mirrored, logins = _mirror(fresh_store)
    assert mirrored == users and next(r for r in mirrored if r[0] == uid)[2] == "active"

    with fresh_store.write() as q:
        q.purge_user(uid, NOW)
        q.raise_lastlogins([(new, NOW - 10)])
    users, mirrored, logins = _mirror(fresh_store)
    assert mirrored == users and next(r for r in mirrored if r[0] == uid)[2] == "purged"
    assert logins[uid] == NOW - 60 and logins[new] == NOW - 10


@pytest.mark.sqlite_only
def test_a_deleted_account_row_takes_its_login_row_with_it(
    backend: str, fresh_store: Store, platform
) -> None:
    """No statement deletes an account's row; were one to, its user_logins row
    goes too (SQLite: a trigger; PostgreSQL: ON DELETE CASCADE)."""
    with fresh_store.write() as q:
        _, domain_id, company_id, _ = q.resolve_address("bob@acme.com")
        uid = q.insert_user(company_id, domain_id, "brief@acme.com", None, NOW, "{}")
        assert q._one("SELECT COUNT(*) FROM user_logins WHERE id = ?", uid)[0] == 1
        q._run("DELETE FROM addresses WHERE user_id = ?", uid)
        q._run("DELETE FROM users WHERE id = ?", uid)
    users, mirrored, _ = _mirror(fresh_store)
    assert mirrored == users and uid not in [r[0] for r in mirrored]
