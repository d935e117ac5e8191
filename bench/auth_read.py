"""What the credential check of every request costs the store (issue 13): the
point read of a name's version and lockout (``Queries.auth_state``, through
``read_now(single=True)`` as auth.py does), ``PRAGMA data_version`` (the other
cheap "did anything change" signal SQLite offers: a statement as well), and
the store's change mark (``SQLiteStore.change_mark``: 48 bytes of the mapped
WAL index, no statement), each CALLS times in this thread::

    .venv/bin/python bench/auth_read.py STORE [--calls 20000]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from mailtally.store import Queries, open_store


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", help="a store file (only read)")
    ap.add_argument("--calls", type=int, default=20000)
    args = ap.parse_args()
    store = open_store(f"sqlite:///{args.store}")

    def state(q: Queries) -> Any:
        return q.auth_state("nobody@example.com", None)

    def data_version(q: Queries) -> Any:
        return q.conn.execute("PRAGMA data_version").fetchone()

    def timed(label: str, fn: Callable[[], object]) -> None:
        fn()
        start = time.thread_time()
        for _ in range(args.calls):
            fn()
        print(f"{label}: {(time.thread_time() - start) / args.calls * 1e6:.2f} µs")

    for _ in range(2):
        timed("auth_state point read", lambda: store.read_now(state, single=True))
        timed("PRAGMA data_version", lambda: store.read_now(data_version, single=True))
        timed("change mark", store.change_mark)
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
