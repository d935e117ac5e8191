"""The cold path of ``stats_summary``: what a request costs when the cache misses.

The server keeps each encoded answer until something it shows may have changed,
so the wrk figures of bench/api.sh measure mostly the warm path.  This times the
work a miss costs, without HTTP: a read session on the store, the target lookup,
:func:`mailtally.summary.stats_summary` and the JSON encoding — the same calls the
server makes — N times per request kind, and prints a markdown table.

    .venv/bin/python bench/summary_cold.py sqlite:///bench/out/demo.sqlite3 [-n 50]

At provider scale (issue 9), every object kind by every period kind, and each
timed user request for a different user (``--spread``: none of them asked
before, so their rows are not in SQLite's page cache either)::

    .venv/bin/python bench/summary_cold.py sqlite:///STORE --all-kinds --spread \
        --company "Company 1" --domain d1.example --user u1@d1.example
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


def time_calls(fn, n: int, clock=time.perf_counter) -> list[float]:
    """Milliseconds per call of ``fn``, ``n`` times (after one untimed call)."""
    fn()
    out = []
    for _ in range(n):
        t0 = clock()
        fn()
        out.append((clock() - t0) * 1000)
    return out


def spread_users(store, n: int) -> list[str]:
    """``n`` addresses of accounts spread evenly over the ids."""
    with store.read() as q:
        ids = q.ids("users")
        step = max(1, len(ids) // n)
        return [q.user_by_id(i)[3] for i in ids[::step][:n]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db", help="store URL, e.g. sqlite:///bench/out/demo.sqlite3")
    ap.add_argument("-n", type=int, default=50, help="timed calls per kind (default 50)")
    ap.add_argument("--company", default=KINDS[0][2])
    ap.add_argument("--domain", default=KINDS[1][2])
    ap.add_argument("--user", default=KINDS[2][2])
    ap.add_argument("--all-kinds", action="store_true", help="each object by day, week and month")
    ap.add_argument("--spread", action="store_true", help="a different user for each request")
    ap.add_argument("--no-argon2", action="store_true", help="leave out the password check")
    ap.add_argument("--cpu", action="store_true", help="CPU time, not wall (on a loaded machine)")
    ap.add_argument(
        "--steps",
        action="store_true",
        help="SQLite VM steps per request (a progress handler), not time: what the queries cost",
    )
    args = ap.parse_args()
    objects = {"company": args.company, "domain": args.domain, "user": args.user}
    if args.all_kinds:
        kinds = [
            (f"{t} by {by}", t, objects[t], by) for t in objects for by in ("day", "week", "month")
        ]
    else:
        kinds = [(label, t, objects[t], by) for label, t, _, by in KINDS]

    store = open_store(args.db)
    with store.read() as q:
        zone = q.meta("timezone") or "UTC"
    periods = Periods(zone)
    encode = msgspec.json.Encoder().encode
    now = Clock().now()

    clock, unit = (time.process_time, "CPU ms") if args.cpu else (time.perf_counter, "ms")
    steps = [0]
    if args.steps:  # the "clock" is the VM steps counted so far (as thousands: "ms")
        clock, unit = (lambda: steps[0] / 1000), "VM steps"
    print(f"| cold path ({args.n} calls each) | median {unit} | mean {unit} | min {unit} | bytes |")
    print("|---|---:|---:|---:|---:|")
    users = iter(spread_users(store, args.n * 3 + 3) if args.spread else [])
    for label, type_, name, by in kinds:
        size = 0

        def one(type_=type_, name=name, by=by) -> None:
            nonlocal size
            if type_ == "user" and args.spread:
                name = next(users)
            with store.read() as q:
                if args.steps:

                    def step() -> int:
                        steps[0] += 1
                        return 0

                    q.conn.set_progress_handler(step, 1)
                t = find_target(q, type_, name)
                assert t is not None, name
                body = encode({"success": True, "summary": stats_summary(q, periods, t, by, now)})
                if args.steps:  # (SQLite's: PostgreSQL's store has no progress handler)
                    q.conn.set_progress_handler(None, 1)
            size = len(body)

        ms = time_calls(one, args.n, clock)
        print(
            f"| stats_summary {label} | {statistics.median(ms):.2f} "
            f"| {statistics.fmean(ms):.2f} | {min(ms):.2f} | {size} |"
        )

    if args.no_argon2:
        store.close()
        return 0
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
