"""Copy a SQLite store's rows into an empty PostgreSQL store, by COPY (issue 13's
100,000-account figures: the fixture's tree and 30 days of counts on PostgreSQL
without running synth again)::

    .venv/bin/python bench/pg_copy_sqlite.py STORE.sqlite3 postgresql://…/DB

The two schemas have the same tables and columns (migrations 0010-…, twins), so
every table is copied column by column, parents first (foreign keys), then the
identity sequences moved past the copied ids and the tables ANALYZEd.  The
SQLite file is opened (and so migrated to today's schema) first: give it a copy.
"""

from __future__ import annotations

import sqlite3
import sys
import time

import psycopg

from mailtally.store import open_store

PARENTS = ("companies", "domains")


def main(sqlite_file: str, url: str) -> None:
    open_store(f"sqlite:///{sqlite_file}").close()  # (migrated to today's schema)
    open_store(url).close()  # (PostgreSQL's migrations applied)
    src = sqlite3.connect(sqlite_file)
    with psycopg.connect(url) as pg:
        tables = sorted(
            (
                r[0]
                for r in pg.execute(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
                )
            ),
            key=lambda t: (t not in PARENTS, PARENTS.index(t) if t in PARENTS else 0, t),
        )
        if pg.execute("SELECT count(*) FROM users").fetchone()[0]:
            sys.exit(f"{url}: not an empty store")
        for table in tables:
            if table == "user_logins":
                continue  # (PostgreSQL's own, migration 13: its triggers fill it from users)
            if not _has_table(src, table):
                continue  # (flows' partitions, migration 14: filled through flows)
            t0 = time.monotonic()
            # (users.lastlogin is user_logins' on PostgreSQL: copied after)
            cols = [r[1] for r in src.execute(f"PRAGMA table_info({table})") if r[1] != "lastlogin"]
            cur = src.execute(f"SELECT {', '.join(cols)} FROM {table}")
            skip = cols.index("key") if table == "meta" else -1
            n = 0
            with pg.cursor() as c, c.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
                for row in cur:
                    if skip >= 0 and row[skip] == "schema_version":
                        continue
                    cp.write_row(row)
                    n += 1
            print(f"{table}: {n:,} rows in {time.monotonic() - t0:.1f} s", file=sys.stderr)
        if "user_logins" in tables:
            pg.execute("CREATE TEMP TABLE logins (id BIGINT, lastlogin BIGINT)")
            with pg.cursor() as c, c.copy("COPY logins (id, lastlogin) FROM STDIN") as cp:
                # (SQLite's user_logins since its migration 15, users' before)
                logins = "users" if _has_column(src, "users", "lastlogin") else "user_logins"
                for row in src.execute(f"SELECT id, lastlogin FROM {logins} WHERE lastlogin <> 0"):
                    cp.write_row(row)
            pg.execute(
                "UPDATE user_logins l SET lastlogin = t.lastlogin FROM logins t WHERE l.id = t.id"
            )
        for table, column in pg.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND is_identity = 'YES'"
        ).fetchall():
            pg.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                f"COALESCE(MAX({column}), 0) + 1, false) FROM {table}"
            )
        pg.commit()
        pg.autocommit = True
        pg.execute("VACUUM ANALYZE")
    src.close()


def _has_table(conn: sqlite3.Connection, table: str) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    return found is not None


def _has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    return any(r[1] == column for r in conn.execute(f"PRAGMA table_info({table})"))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
