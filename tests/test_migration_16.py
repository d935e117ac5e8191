"""Migration 16: a token names the admin that made it (``tokens.made_by``), so
that the tokens an admin made go when it loses the rights it made them with.

A store of schema 15 keeps every token it holds, with no maker (they run out
as before); its answers are the same bytes (test_migration.py migrates a store
through every migration and compares every ``stats_summary``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from test_migration import answers, migrated_from


def test_a_schema_15_store_keeps_its_tokens_without_a_maker(
    platform_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.sqlite3"
    path.write_bytes(platform_file.read_bytes())
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("ALTER TABLE users DROP COLUMN password_set_by")  # (migration 17's)
        conn.execute("DROP INDEX tokens_made_by")
        conn.execute("ALTER TABLE tokens DROP COLUMN made_by")
        conn.execute("UPDATE meta SET value = '15' WHERE key = 'schema_version'")
        conn.execute(
            "INSERT INTO tokens (token_hash, company_id, principal, expires, kind, user_id) "
            "VALUES ('h1', 1, 'bob@acme.com', 9999999999, 'oma', 7)"
        )
    conn.close()
    store, before = migrated_from(path, 15, monkeypatch)
    try:
        assert answers(store) == before
        with store.write() as q:
            assert q._all("SELECT principal, kind, user_id, made_by FROM tokens") == [
                ("bob@acme.com", "oma", 7, None)
            ]
            assert q.drop_tokens_made_by([7]) == 0  # (a token of no maker stays)
            assert q.token("h1") == ("bob@acme.com", 9999999999, "oma")
            plan = " ".join(
                str(r[-1])
                for r in q._all("EXPLAIN QUERY PLAN DELETE FROM tokens WHERE made_by = 3")
            )
            assert "tokens_made_by" in plan
    finally:
        store.close()
