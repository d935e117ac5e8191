"""The cold path of ``stats_summary``: what a request costs when the cache misses.

The server keeps each encoded answer until something it shows may have changed,
so the wrk figures of bench/api.sh measure mostly the warm path.  This times the
work a miss costs, without HTTP: a read session on the store, the target lookup,
:func:`mailtally.summary.stats_summary` and the JSON encoding — the same calls the
server makes — N times per request kind, and prints a markdown table.

    .venv/bin/python bench/summary_cold.py sqlite:///bench/out/demo.sqlite3 [-n 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import msgspec

from mailtally.auth import make_hasher
from mailtally.config import AuthSettings
from mailtally.periods import Clock, Periods
from mailtally.store import open_store
from mailtally.summary import stats_summary
from mailtally.tree import find_target

# (label, type, object, by) — the request kinds of bench/api.sh
KINDS = [
    ("company by month", "company", "Example Hosting", "month"),
    ("domain by day", "domain", "example.com", "day"),
    ("user by day", "user", "alice@example.com", "day"),
]


def time_calls(fn, n: int) -> list[float]:
    """Milliseconds per call of ``fn``, ``n`` times (after one untimed call)."""
    fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db", help="store URL, e.g. sqlite:///bench/out/demo.sqlite3")
    ap.add_argument("-n", type=int, default=50, help="timed calls per kind (default 50)")
    args = ap.parse_args()

    store = open_store(args.db)
    with store.read() as q:
        zone = q.meta("timezone") or "UTC"
    periods = Periods(zone)
    encode = msgspec.json.Encoder().encode
    now = Clock().now()

    print(f"| cold path ({args.n} calls each) | median ms | mean ms | min ms | bytes |")
    print("|---|---:|---:|---:|---:|")
    for label, type_, name, by in KINDS:
        size = 0

        def one(type_=type_, name=name, by=by) -> None:
            nonlocal size
            with store.read() as q:
                t = find_target(q, type_, name)
                assert t is not None, name
                body = encode({"success": True, "summary": stats_summary(q, periods, t, by, now)})
            size = len(body)

        ms = time_calls(one, args.n)
        print(
            f"| stats_summary {label} | {statistics.median(ms):.2f} "
            f"| {statistics.fmean(ms):.2f} | {min(ms):.2f} | {size} |"
        )

    # The other cold cost: the first request with a password pays one argon2id
    # check (the default profile); every repeat is an HMAC lookup.
    a = AuthSettings()
    hasher = make_hasher(a.argon2_time_cost, a.argon2_memory_kib, a.argon2_parallelism)
    stored = hasher.hash("demo-password")
    ms = time_calls(lambda: hasher.verify(stored, "demo-password"), max(5, args.n // 10))
    print(
        f"| argon2id password check (first request only) | {statistics.median(ms):.2f} "
        f"| {statistics.fmean(ms):.2f} | {min(ms):.2f} | |"
    )
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
