"""stats_top at provider scale (issue 12): the top N users of a company or of a
domain, and the top domains of a company, for one day, week and month.

    python bench/top.py bench/out/top/store.sqlite3 [--repeat 5] [--limit 10]

The store must be a copy (opening it migrates it).  "Now" is noon of the newest
day the store has rows for.  Each cell is the median of ``--repeat`` runs of
what the view does inside its read session (scope, the one statement, the
answer) plus encoding the answer (no HTTP).  Prints a Markdown table and the
plan SQLite chose for the users-of-a-domain statement.
"""

from __future__ import annotations

import argparse
import statistics
import time
from types import SimpleNamespace
from typing import Any

import msgspec

from mailtally.api.common import Credentials
from mailtally.api.top import StatsTopRequest, find_top
from mailtally.periods import FixedClock, Periods
from mailtally.store import open_store
from mailtally.tree import Principal

OPERATOR = Principal(name="bench", operator=True)
CREDS = Credentials(user="bench", password="x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--limit", type=int, default=10)
    args = ap.parse_args()
    store = open_store(f"sqlite:///{args.store}")
    periods = Periods("UTC")
    with store.read() as q:
        newest = q.conn.execute("SELECT MAX(period) FROM flows WHERE kind = 0").fetchone()[0]
        company = q.conn.execute("SELECT name FROM companies ORDER BY id LIMIT 1").fetchone()[0]
        domain, users = q.conn.execute(
            "SELECT d.name, COUNT(*) FROM domains d JOIN users u ON u.domain_id = d.id "
            "GROUP BY d.id ORDER BY 2 DESC LIMIT 1"
        ).fetchone()
        accounts = q.conn.execute("SELECT COUNT(*) FROM users").fetchone()[0]
    y, m, d = int(newest[:4]), int(newest[4:6]), int(newest[6:8])
    now = int(time.mktime((y, m, d, 12, 0, 0, 0, 0, 0)) - time.timezone)
    svc: Any = SimpleNamespace(clock=FixedClock(now), periods=periods)
    encode = msgspec.json.Encoder().encode
    print(f"store: {accounts:,} accounts; company {company!r}; domain {domain} ({users:,})")
    print(f"now: {newest} 12:00 UTC; limit {args.limit}; median of {args.repeat}\n")
    print("| list | day | week | month |")
    print("|---|---|---|---|")
    cases = (
        ("users of the company", {"type": "company", "object": company, "of": "users"}),
        (f"users of {domain}", {"type": "domain", "object": domain, "of": "users"}),
        ("domains of the company", {"type": "company", "object": company, "of": "domains"}),
    )
    for label, request in cases:
        cells = []
        for by in ("day", "week", "month"):
            req = StatsTopRequest(
                credentials=CREDS,
                by=by,
                limit=args.limit,
                metric="messages.in_ham",
                **request,  # type: ignore[arg-type]
            )
            times, cpu = [], []
            for _ in range(args.repeat):
                t0, c0 = time.perf_counter(), time.process_time()
                with store.read() as q:
                    answer = find_top(svc, q, OPERATOR, req)
                encode(answer)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            assert answer.top, (label, by)
            wall, used = statistics.median(times) * 1000, statistics.median(cpu) * 1000
            cells.append(f"{wall:.1f} ms ({used:.1f} CPU)")
        print(f"| {label} | {' | '.join(cells)} |")
    with store.read() as q:
        plan = q.conn.execute(
            "EXPLAIN QUERY PLAN SELECT o.address, f.messages_in_ham FROM users o "
            "CROSS JOIN flows f WHERE o.domain_id = ? AND o.status = 'active' "
            "AND f.kind = ? AND f.period = ? AND f.scope = ? AND f.scope_id = o.id "
            "AND f.company_id = ? AND f.messages_in_ham > 0 "
            "ORDER BY f.messages_in_ham DESC, o.address LIMIT ?",
            (1, 0, newest, "u", 1, 10),
        ).fetchall()
    print("\nplan (users of a domain):")
    for row in plan:
        print("   ", row[-1])
    store.close()


if __name__ == "__main__":
    main()
