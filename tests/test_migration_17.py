"""Migration 17: an account's password names the admin that chose it
(``users.password_set_by``), so that a grant or an alias beyond that admin's
rights ends the password (tests/test_attack_chains2.py).

A store of schema 16 keeps every password, with no setter: they count as the
accounts' own (a grant leaves them), and its answers are the same bytes
(test_migration.py migrates a store through every migration and compares
every ``stats_summary``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from test_migration import answers, migrated_from


def test_a_schema_16_store_keeps_its_passwords_without_a_setter(
    platform_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.sqlite3"
    path.write_bytes(platform_file.read_bytes())
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("ALTER TABLE users DROP COLUMN password_set_by")
        conn.execute("UPDATE meta SET value = '16' WHERE key = 'schema_version'")
        hashes = conn.execute("SELECT id, password_hash FROM users ORDER BY id").fetchall()
    conn.close()
    store, before = migrated_from(path, 16, monkeypatch)
    try:
        assert answers(store) == before
        with store.write() as q:
            rows = q._all("SELECT id, password_hash, password_set_by FROM users ORDER BY id")
            assert [(r[0], r[1]) for r in rows] == hashes
            assert {r[2] for r in rows} == {None}
            assert all(q.password_setter(r[0]) is None for r in rows)
    finally:
        store.close()
