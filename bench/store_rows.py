"""Row-by-row digests of what ingest counts, on either backend (issue 13).

    .venv/bin/python bench/store_rows.py STORE.sqlite3 postgresql://…/DB ...

As bench/store_digest.py (SQLite only), through :func:`mailtally.store.open_store`:
for each store the row count and a SHA-256 of every ``flows`` and ``gauges`` row
(key and counts, in the same key order on both) and of every account's
``lastlogin`` by id (``user_logins`` on both: migrations 13 and 15).  Stores
that ingested the same logs from the same start print the same lines; the exit
status is 1 when they differ.
"""

from __future__ import annotations

import hashlib
import sys

from mailtally.store import open_store
from mailtally.store.base import FLOW_COLUMNS, GAUGE_COLUMNS, LAST_COLUMNS


def digests(url: str) -> list[str]:
    flows = ", ".join(FLOW_COLUMNS + LAST_COLUMNS)
    queries = {
        "flows": f"SELECT company_id, scope, scope_id, kind, period, {flows} FROM flows "
        "ORDER BY kind, period, scope, scope_id",
        "gauges": f"SELECT company_id, scope, scope_id, kind, period, {', '.join(GAUGE_COLUMNS)} "
        "FROM gauges ORDER BY scope, scope_id, kind, period",
        "lastlogin": "SELECT id, lastlogin FROM {logins} ORDER BY id",
    }
    out = []
    with open_store(url) as store, store.read() as q:
        for name, sql in queries.items():
            digest, n = hashlib.sha256(), 0
            for row in q._all(sql.format(logins=q._LOGINS)):
                digest.update(
                    repr(tuple(int(v) if not isinstance(v, str) else v for v in row)).encode()
                )
                n += 1
            out.append(f"{name} {n} {digest.hexdigest()[:16]}")
    return out


def main() -> None:
    results = [digests(url) for url in sys.argv[1:]]
    for url, lines in zip(sys.argv[1:], results, strict=True):
        print(url.rsplit("@", 1)[-1], *lines, sep="  ")
    if any(r != results[0] for r in results):
        sys.exit("store_rows.py: the stores differ")


if __name__ == "__main__":
    main()
