"""search_users over one big domain, or without a domain over a whole company
(``--scope company``, a company admin's search) or platform (``--scope
platform``, an operator's): the first, middle and last page for every sort,
both directions, with and without criteria (issue 10: under 50 ms).  With
``--others``, search_domains in every sort, search_workgroups over 1,000
workgroups and search_companies over 1,000 companies too.

    python bench/search.py bench/out/search/store.sqlite3 [--repeat 5] \
        [--scope domain|company|platform] [--others]

The store must be a copy (the script changes it: it soft-deletes 1,000
accounts and moves 10,000 into ten workgroups, through the tree's own actions,
so that ``deleted``, ``delete_time`` and ``workgroup`` have something to find;
``--others`` adds 1,000 workgroups to the biggest domain and 1,000 companies).
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
from typing import Any, get_args

import msgspec

from mailtally.access import Grant, Obj
from mailtally.api.common import Credentials
from mailtally.api.search import (
    CompanySort,
    DomainCriteria,
    DomainSort,
    DomainSortKey,
    Range,
    SearchCompaniesRequest,
    SearchDomainsRequest,
    SearchUsersRequest,
    SearchWorkgroupsRequest,
    UserCriteria,
    UserSort,
    WorkgroupCriteria,
    WorkgroupSort,
    find_companies,
    find_domains,
    find_users,
    find_workgroups,
)
from mailtally.periods import Periods
from mailtally.store import open_store
from mailtally.tree import Ctx, Principal, do_change_user, do_delete_user

OPERATOR = Principal(name="bench", operator=True)
SORTS = ("user", "createtime", "lastlogin", "type", "workgroup", "delete_time")
LIMIT = 100


def prepare(store: Any) -> None:
    """1,000 soft-deleted accounts and 10 workgroups of 1,000, unless done."""
    with store.read() as q:
        done = q._one("SELECT COUNT(*) FROM users WHERE status = 'deleted'")[0]
        rows = q._all("SELECT address FROM users ORDER BY id")
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


def prepare_others(store: Any, domain_id: int, company_id: int) -> None:
    """1,000 workgroups in the domain (its accounts spread over them, through
    the tree's actions) and 999 more companies of a domain each, unless done."""
    with store.read() as q:
        if q._one("SELECT COUNT(*) FROM companies")[0] >= 1000:
            return
        rows = q._all("SELECT address FROM users WHERE domain_id = ? ORDER BY id", domain_id)
    now = int(time.time())
    with store.write() as q:
        ctx = Ctx(q, Periods(), now, OPERATOR, client="bench")
        for i in range(1000):
            q.add_workgroup(company_id, domain_id, f"team{i:04}")
        for i, (address,) in enumerate(rows):
            if i % 10 != 1:  # those are in wg0..wg9 already
                do_change_user(ctx, address, {"workgroup": f"team{i % 1000:04}"}, False, None)
        for i in range(999):
            cid = q.insert_company(f"Bench company {i:03}", now)
            q.insert_domain(cid, f"bench{i:03}.example", now, "{}")


def run(
    store: Any, req: Any, find: Any = find_users, who: Principal = OPERATOR
) -> tuple[float, float, int]:
    """(wall ms, CPU ms of this process, total_count) of one search."""
    t, c = time.perf_counter(), time.process_time()
    with store.read() as q:
        answer = find(q, who, req)
    msgspec.json.encode(answer)
    return (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000, answer.total_count


def pages(store: Any, make: Any, find: Any, who: Principal, repeat: int) -> tuple[int, list[Any]]:
    """total_count, and (median wall, median CPU) of the first, middle and last page."""
    total = run(store, make(0), find, who)[2]
    cells = []
    for first in (0, max(total // 2 - LIMIT // 2, 0), max(total - LIMIT, 0)):
        runs = [run(store, make(first), find, who) for _ in range(repeat)]
        cells.append((statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)))
    return total, cells


def others(store: Any, domain: str, company: str, repeat: int) -> None:
    """search_domains of the company in every sort; search_workgroups of the
    domain; search_companies: first, middle and last page of 100."""
    creds = Credentials(user="bench", password="x")
    print("\n| search | sort | direction | matching | first page | middle page | last page |")
    print("|---|---|---|---:|---:|---:|---:|")
    searches: list[tuple[str, Any, tuple[str, ...], Any]] = [
        (
            "search_domains (company)",
            find_domains,
            tuple(k for k in get_args(DomainSortKey) if k != "delete_time"),
            lambda by, way, first: SearchDomainsRequest(
                credentials=creds,
                criteria=DomainCriteria(company=company),
                range=Range(first=first, limit=LIMIT),
                sort=DomainSort(by=by, direction=way),
            ),
        ),
        (
            f"search_workgroups ({domain})",
            find_workgroups,
            ("workgroup", "users"),
            lambda by, way, first: SearchWorkgroupsRequest(
                credentials=creds,
                criteria=WorkgroupCriteria(domain=domain),
                range=Range(first=first, limit=LIMIT),
                sort=WorkgroupSort(by=by, direction=way),
            ),
        ),
        (
            "search_companies",
            find_companies,
            ("company", "id", "domains", "users"),
            lambda by, way, first: SearchCompaniesRequest(
                credentials=creds,
                range=Range(first=first, limit=LIMIT),
                sort=CompanySort(by=by, direction=way),
            ),
        ),
    ]
    for label, find, sorts, make in searches:
        for by in sorts:
            for way in ("ascending", "descending"):
                total, cells = pages(
                    store,
                    lambda f, by=by, way=way, make=make: make(by, way, f),
                    find,
                    OPERATOR,
                    repeat,
                )
                print(
                    f"| {label} | {by} | {way} | {total:,} | "
                    + " | ".join(f"{w:.1f} ({c:.1f})" for w, c in cells)
                    + " |"
                )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("store")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--scope", choices=("domain", "company", "platform"), default="domain")
    ap.add_argument("--others", action="store_true")
    args = ap.parse_args()
    store = open_store(f"sqlite:///{os.path.abspath(args.store)}")
    with store.read() as q:
        domain_id, domain, company_id, company, n = q._one(
            "SELECT d.id, d.name, c.id, c.name, COUNT(*) FROM domains d "
            "JOIN users u ON u.domain_id = d.id JOIN companies c ON c.id = d.company_id "
            "GROUP BY d.id ORDER BY COUNT(*) DESC LIMIT 1"
        )
        in_company = q._one("SELECT COUNT(*) FROM users WHERE company_id = ?", company_id)[0]
    prepare(store)
    if args.others:
        prepare_others(store, domain_id, company_id)
        others(store, domain, company, args.repeat)
        return
    # a company admin (its role, as load_principal would make it), or the operator
    who = OPERATOR
    if args.scope == "company":
        who = Principal(
            name="bench@company",
            company_id=company_id,
            grants=(Grant("company", Obj("company", company_id)),),
            company_roles={company_id: frozenset({"company"})},
        )
    creds = Credentials(user="bench", password="x")
    criteria_sets: dict[str, dict[str, Any]] = {
        "-": {},
        "match u1*": {"match": "u1*"},
        "match u4242*": {"match": "u4242*"},
        "type forward": {"type": "forward"},
        "workgroup wg3": {"workgroup": "wg3"},
        "deleted": {"deleted": True},
    }
    where = {
        "domain": f"domain {domain}: {n:,} accounts",
        "company": f"company {company} (a company admin, no domain): {in_company:,} accounts",
        "platform": "every account (an operator, no domain)",
    }[args.scope]
    print(f"{where}; median of {args.repeat} runs, ms: wall (CPU of the process)\n")
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
                        criteria=UserCriteria(
                            domain=domain if args.scope == "domain" else None, **crit
                        ),
                        fields=["createtime", "lastlogin", "type", "workgroup", "status"],
                        range=Range(first=first, limit=LIMIT),
                        sort=UserSort(by=by, direction=direction),  # type: ignore[arg-type]
                    )

                total, cells = pages(store, req, find_users, who, args.repeat)
                worst = max(worst, *(w for w, _ in cells))
                worst_cpu = max(worst_cpu, *(c for _, c in cells))
                print(
                    f"| {label} | {by} | {direction} | {total:,} | "
                    + " | ".join(f"{w:.1f} ({c:.1f})" for w, c in cells)
                    + " |"
                )
    print(f"\nslowest page: {worst:.1f} ms wall, {worst_cpu:.1f} ms CPU\n")
    with store.read() as q:
        scope, scope_params, type_ = {
            "domain": ("domain_id = ? AND ", [domain_id], "type"),
            "company": ("company_id = ? AND ", [company_id], "(type || '')"),
            "platform": ("", [], "(type || '')"),
        }[args.scope]
        for by in ("user", "lastlogin", "workgroup"):
            plan = q._all(
                f"EXPLAIN QUERY PLAN SELECT id FROM users WHERE {scope}status = ? "
                f"AND {type_} = ? ORDER BY {by + ' DESC, ' if by != 'user' else ''}address DESC, "
                "id DESC LIMIT 100 OFFSET 50000",
                *scope_params,
                "active",
                "forward",
            )
            print(f"plan, type criterion, sort by {by}: {[r[-1] for r in plan]}")
        page = q._one("PRAGMA page_size")[0]
        page_count = q._one("PRAGMA page_count")[0]
        try:
            sizes = q._all(
                "SELECT name, SUM(pgsize) FROM dbstat WHERE name LIKE 'users%' "
                "OR name IN ('workgroups', 'addresses_domain', 'domain_counts') "
                "GROUP BY name ORDER BY name"
            )
        except Exception:  # dbstat is a compile-time option of SQLite
            sizes = []
    print(f"\nstore: {page * page_count / 1e6:,.1f} MB")
    for name, size in sizes:
        print(f"  {name}: {size / 1e6:,.1f} MB")


if __name__ == "__main__":
    main()
