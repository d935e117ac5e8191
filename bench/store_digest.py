"""Row-by-row digests of what ingest counts, to compare two stores (issue 9).

    .venv/bin/python bench/store_digest.py STORE.sqlite3...

For each store: the row count and a SHA-256 of every row of ``flows`` and
``gauges`` in key order, and of (id, lastlogin) of every account by id (from
``user_logins`` since SQLite's migration 15, from ``users`` before).  Two stores that
ingested the same logs from the same start must print the same lines.
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys

QUERIES = {
    "flows": "SELECT * FROM flows ORDER BY kind, period, scope, scope_id",
    "gauges": "SELECT * FROM gauges ORDER BY scope, scope_id, kind, period",
    "lastlogin": "SELECT id, lastlogin FROM {logins} ORDER BY id",
}


def main() -> None:
    for path in sys.argv[1:]:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        parts = []
        new = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'user_logins'").fetchone()
        for name, sql in QUERIES.items():
            sql = sql.format(logins="user_logins" if new else "users")
            digest = hashlib.sha256()
            n = 0
            for row in conn.execute(sql):
                digest.update(repr(row).encode())
                n += 1
            parts.append(f"{name} {n} {digest.hexdigest()[:16]}")
        print(path, " | ".join(parts))
        conn.close()


if __name__ == "__main__":
    main()
