"""Bytes per account-day of a store, by table (issue 9's "at most 120").

Reads the file with SQLite's dbstat: each table's pages with those of its
indexes, the free pages, the file's size; divided by accounts (live users) x
``--days``.  Read-only (``--vacuum`` measures a VACUUMed copy next to it).

    .venv/bin/python bench/store_bytes.py bench/out/x/store.sqlite3 --days 31 [--vacuum]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
from pathlib import Path


def by_table(path: str) -> tuple[int, dict[str, tuple[int, int]], int, int]:
    """(file bytes, {table: (bytes with its indexes, rows)}, free bytes, accounts)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0] * page
        owner = dict(conn.execute("SELECT name, tbl_name FROM sqlite_master"))
        sizes: dict[str, int] = {}
        for name, size in conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
            table = owner.get(name, name)  # sqlite_schema is its own
            sizes[table] = sizes.get(table, 0) + size
        out = {}
        for table, size in sizes.items():
            rows = 0
            if table in owner.values() and not table.startswith("sqlite_"):
                rows = conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
            out[table] = (size, rows)
        accounts = conn.execute("SELECT COUNT(*) FROM users").fetchone()[0]
    finally:
        conn.close()
    return pages * page, out, free, accounts


def report(path: str, days: int, accounts: int | None) -> None:
    size, tables, free, users = by_table(path)
    account_days = (accounts or users) * days
    print(f"{path}: {size / 2**20:,.1f} MiB, {size / account_days:.1f} bytes per account-day "
          f"({accounts or users:,} accounts x {days} days)")  # fmt: skip
    print("| table (with its indexes) | rows | MiB | bytes per account-day | bytes per row |")
    print("|---|---:|---:|---:|---:|")
    for table, (b, rows) in sorted(tables.items(), key=lambda kv: -kv[1][0]):
        if b / account_days < 0.05:
            continue
        per_row = f"{b / rows:.1f}" if rows else ""
        print(f"| {table} | {rows:,} | {b / 2**20:,.1f} | {b / account_days:.1f} | {per_row} |")
    if free:
        print(f"| (free pages) | | {free / 2**20:,.1f} | {free / account_days:.1f} | |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db", help="path of the store's SQLite file")
    ap.add_argument("--days", type=int, required=True, help="days of counts the store holds")
    ap.add_argument("--accounts", type=int, default=None, help="default: rows of users")
    ap.add_argument("--vacuum", action="store_true", help="also measure a VACUUMed copy")
    args = ap.parse_args()
    report(args.db, args.days, args.accounts)
    if args.vacuum:
        copy = str(Path(args.db).with_suffix(".vacuumed.sqlite3"))
        shutil.copyfile(args.db, copy)
        conn = sqlite3.connect(copy)
        conn.execute("VACUUM")
        conn.close()
        print()
        report(copy, args.days, args.accounts)
        Path(copy).unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
