"""search_users sorted by last login, timed on a store (migration 13, issue 13):

    .venv/bin/python bench/lastlogin_search.py URL [ROUNDS]

Pages of 100 sorted by ``lastlogin`` both ways, of one domain (first page, the
middle, with a criterion, with a pattern) and of the whole company (sorted in
SQL: no index orders a company by last login), straight through
``Queries.search_users`` in one read session each; prints the median and best
milliseconds of each and a digest of every answer, so that two stores (before
and after a migration) can be compared for the same pages as well as their
time.  Run it with another checkout's ``src`` on PYTHONPATH for "before".
"""

from __future__ import annotations

import hashlib
import statistics
import sys
import time

from mailtally.store import open_store

CASES = {
    "domain, first page": dict(first=0, type_=None, workgroup=None, match=None),
    "domain, middle page": dict(first=450, type_=None, workgroup=None, match=None),
    "domain, type=mailbox": dict(first=0, type_="mailbox", workgroup=None, match=None),
    "domain, match u1*": dict(first=0, type_=None, workgroup=None, match="u1*"),
    "company, first page": dict(first=0, type_=None, workgroup=None, match=None, company=True),
}


def main(url: str, rounds: int = 20) -> None:
    store = open_store(url)
    digest = hashlib.sha256()
    with store.read() as q:
        domain_id, company_id = q._one("SELECT id, company_id FROM domains ORDER BY id LIMIT 1")
    for name, case in CASES.items():
        case = dict(case)
        company = case.pop("company", False)
        times = []
        for descending in (False, True) * rounds:
            t0 = time.perf_counter()
            with store.read() as q:
                total, rows = q.search_users(
                    domain_id=None if company else domain_id,
                    company_id=company_id if company else None,
                    deleted=False,
                    sort="lastlogin",
                    descending=descending,
                    limit=100,
                    **case,
                )
            times.append((time.perf_counter() - t0) * 1000)
            digest.update(repr((total, [tuple(r) for r in rows])).encode())
        print(f"{name}: median {statistics.median(times):.2f} ms, best {min(times):.2f} ms")
    print(f"answers: {digest.hexdigest()[:16]}")
    store.close()


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(sys.argv[1], *(int(a) for a in sys.argv[2:]))
