"""search_users over one big domain: the first, middle and last page for every
sort, both directions, with and without criteria (issue 10: under 50 ms).

    python bench/search.py bench/out/search/store.sqlite3 [--repeat 5]

The store must be a copy (the script changes it: it soft-deletes 1,000
accounts and moves 10,000 into ten workgroups, through the tree's own actions,
so that ``deleted``, ``delete_time`` and ``workgroup`` have something to find).
Each cell is the median of ``--repeat`` runs of what the view does inside its
read session — scope, count, page, rows, answer — plus encoding the answer
(no HTTP).  Prints a Markdown table, the plans SQLite chose, and the store's
size with the search indexes' share.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import msgspec

from mailtally.api.common import Credentials
from mailtally.api.search import Range, SearchUsersRequest, UserCriteria, UserSort, find_users
from mailtally.periods import Periods
from mailtally.store import open_store
from mailtally.tree import Ctx, Principal, do_change_user, do_delete_user

OPERATOR = Principal(name="bench", operator=True)
SORTS = ("user", "createtime", "lastlogin", "type", "workgroup", "delete_time")
LIMIT = 100


def prepare(store: Any, domain_id: int) -> None:
    """1,000 soft-deleted accounts and 10 workgroups of 1,000, unless done."""
    with store.read() as q:
        done = q._one("SELECT COUNT(*) FROM users WHERE status = 'deleted'")[0]
        rows = q._all("SELECT address FROM users WHERE domain_id = ? ORDER BY id", domain_id)
    if done:
        return
    addresses = [r[0] for r in rows]
    periods = Periods()
    now = int(time.time())
    with store.write() as q:
        ctx = Ctx(q, periods, now, OPERATOR, client="bench")
        for i, address in enumerate(addresses[1::10][:10_000]):
            do_change_user(ctx, address, {"workgroup": f"wg{i % 10}"}, False, None)
        for address in addresses[5::100][:1_000]:
            do_delete_user(ctx, address)


def run(store: Any, req: SearchUsersRequest) -> tuple[float, float, int]:
    """(wall ms, CPU ms of this process, total_count) of one search."""
    t, c = time.perf_counter(), time.process_time()
    with store.read() as q:
        answer = find_users(q, OPERATOR, req)
    msgspec.json.encode(answer)
    return (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000, answer.total_count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("store")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    store = open_store(f"sqlite:///{os.path.abspath(args.store)}")
    with store.read() as q:
        domain_id, domain, n = q._one(
            "SELECT d.id, d.name, COUNT(*) FROM domains d JOIN users u ON u.domain_id = d.id "
            "GROUP BY d.id ORDER BY COUNT(*) DESC LIMIT 1"
        )
    prepare(store, domain_id)
    creds = Credentials(user="bench", password="x")
    criteria_sets: dict[str, dict[str, Any]] = {
        "-": {},
        "match u1*": {"match": "u1*"},
        "match u4242*": {"match": "u4242*"},
        "type forward": {"type": "forward"},
        "workgroup wg3": {"workgroup": "wg3"},
        "deleted": {"deleted": True},
    }
    print(
        f"domain {domain}: {n:,} accounts; median of {args.repeat} runs, ms: "
        "wall (CPU of the process)\n"
    )
    print("| criteria | sort | direction | matching | first page | middle page | last page |")
    print("|---|---|---|---:|---:|---:|---:|")
    worst = worst_cpu = 0.0
    for label, crit in criteria_sets.items():
        for by in SORTS:
            if by == "delete_time" and not crit.get("deleted"):
                continue
            for direction in ("ascending", "descending"):

                def req(
                    first: int,
                    crit: dict[str, Any] = crit,
                    by: str = by,
                    direction: str = direction,
                ) -> SearchUsersRequest:
                    return SearchUsersRequest(
                        credentials=creds,
                        criteria=UserCriteria(domain=domain, **crit),
                        fields=["createtime", "lastlogin", "type", "workgroup", "status"],
                        range=Range(first=first, limit=LIMIT),
                        sort=UserSort(by=by, direction=direction),  # type: ignore[arg-type]
                    )

                total = run(store, req(0))[2]
                cells = []
                for first in (0, max(total // 2 - LIMIT // 2, 0), max(total - LIMIT, 0)):
                    runs = [run(store, req(first)) for _ in range(args.repeat)]
                    wall = statistics.median(r[0] for r in runs)
                    cpu = statistics.median(r[1] for r in runs)
                    cells.append(f"{wall:.1f} ({cpu:.1f})")
                    worst = max(worst, wall)
                    worst_cpu = max(worst_cpu, cpu)
                print(f"| {label} | {by} | {direction} | {total:,} | " + " | ".join(cells) + " |")
    print(f"\nslowest page: {worst:.1f} ms wall, {worst_cpu:.1f} ms CPU\n")
    with store.read() as q:
        for by in ("user", "lastlogin", "workgroup"):
            plan = q._all(
                "EXPLAIN QUERY PLAN SELECT id FROM users WHERE domain_id = ? AND status = ? "
                f"AND type = ? ORDER BY {by + ' DESC, ' if by != 'user' else ''}address DESC, "
                "id DESC LIMIT 100 OFFSET 50000",
                domain_id,
                "active",
                "forward",
            )
            print(f"plan, type criterion, sort by {by}: {[r[-1] for r in plan]}")
        page = q._one("PRAGMA page_size")[0]
        pages = q._one("PRAGMA page_count")[0]
        try:
            sizes = q._all(
                "SELECT name, SUM(pgsize) FROM dbstat WHERE name LIKE 'users%' "
                "OR name = 'workgroups' OR name = 'addresses_domain' GROUP BY name ORDER BY name"
            )
        except Exception:  # dbstat is a compile-time option of SQLite
            sizes = []
    print(f"\nstore: {page * pages / 1e6:,.1f} MB")
    for name, size in sizes:
        print(f"  {name}: {size / 1e6:,.1f} MB")


if __name__ == "__main__":
    main()
