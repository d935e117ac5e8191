"""rollup_reads.py's (a), (a'), (b), (c) on PostgreSQL (session 12 rollup, bench-only):

    .venv/bin/python bench/rollup_reads_pg.py postgresql://.../DB [N_USERS]

DB: a copy of the 100k fixture (30 days; open month 2026-11 = 28 days, open
week 20261123-20261129 = 6 days), schema 15.  Each sample is one read session
of the store's pool (store.read()), the statements as in rollup_reads.py, in
the dialect's SQL (Queries._all: ? -> %s, printf -> format).
"""

import random
import sys
import time
from pathlib import Path

URL = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 200
src = (
    Path(__file__.replace("rollup_reads_pg.py", "rollup_reads.py"))
    .read_text()
    .replace("\nmain()\n", "\n")
)
ns: dict = {"__name__": "rollup_reads"}
sys_argv, sys.argv = sys.argv, ["x", "unused"]
exec(compile(src, "rollup_reads.py", "exec"), ns)
sys.argv = sys_argv
from mailtally.store import open_store  # noqa: E402

g = type("G", (), ns)
M, MD, W, WD, COL, USER = g.MONTH, g.MONTH_DAYS, g.WEEK, g.WEEK_DAYS, g.COL, g.USER
ROW, SUMS = g.ROW_COLS, g.SUM_COLS
marks = g.marks


def a_row(q, uid, kind, key):
    return q._all(
        f"SELECT {ROW} FROM flows WHERE kind = ? AND period = ? AND scope = ? AND scope_id = ?",
        {"month": 2, "week": 1}[kind],
        key,
        USER,
        uid,
    )


def a_sum(q, uid, kind, key):
    days = MD if kind == "month" else WD
    return q._all(
        f"SELECT {SUMS} FROM flows WHERE kind = 0 AND period IN ({marks(len(days))}) "
        "AND scope = ? AND scope_id = ? HAVING COUNT(*) > 0",
        *days,
        USER,
        uid,
    )


def b_top(q, d):
    return q.flow_top(1, d, "users", "messages.in_ham", "month", M, 10)


def b_sum(q, d):
    return [
        tuple(r)
        for r in q._all(
            f"SELECT o.address, SUM(f.{COL}) AS v FROM users o JOIN flows f ON f.scope_id = o.id "
            "WHERE o.domain_id = ? AND o.status = 'active' AND f.kind = 0 "
            f"AND f.period IN ({marks(len(MD))}) AND f.scope = ? AND f.company_id = ? "
            f"GROUP BY o.id, o.address HAVING SUM(f.{COL}) > 0 ORDER BY v DESC, o.address LIMIT 10",
            d,
            *MD,
            USER,
            1,
        )
    ]


def c_top(q, _):
    return q.flow_top(1, None, "users", "messages.in_ham", "month", M, 10)


def c_sum(q, _):
    return [
        tuple(r)
        for r in q._all(
            f"WITH s AS (SELECT scope_id, SUM(f.{COL}) AS v FROM flows f WHERE f.kind = 0 "
            f"AND f.period IN ({marks(len(MD))}) AND f.scope = ? AND f.company_id = ? "
            "GROUP BY scope_id) SELECT o.address, s.v FROM s JOIN users o ON o.id = s.scope_id "
            "WHERE o.status = 'active' AND s.v > 0 ORDER BY s.v DESC, o.address LIMIT 10",
            *MD,
            USER,
            1,
        )
    ]


stats = g.stats


def run(store, label, pairs, objs):
    times = {n: [] for n, _ in pairs}
    for i, o in enumerate(objs):
        for n, fn in pairs if i % 2 == 0 else pairs[::-1]:
            with store.read() as q:
                t = time.perf_counter()
                fn(q, *o)
                times[n].append(time.perf_counter() - t)
    for n, _ in pairs:
        stats(f"{label} {n} [pg]", times[n])


def main():
    print("load", Path("/proc/loadavg").read_text().strip())
    store = open_store(URL)
    rnd = random.Random(12)
    with store.read() as q:
        uids = [r[0] for r in q._all("SELECT id FROM users WHERE status = 'active'")]
        doms = [r[0] for r in q._all("SELECT id FROM domains WHERE deletetime IS NULL")]
        for u in rnd.sample(uids, 30):
            for kind, key in (("month", M), ("week", W)):
                assert [tuple(r) for r in a_row(q, u, kind, key)] == [
                    tuple(r) for r in a_sum(q, u, kind, key)
                ], u
        for d in doms[:5]:
            assert [tuple(r) for r in b_top(q, d)] == b_sum(q, d), d
        assert [tuple(r) for r in c_top(q, None)] == c_sum(q, None)
    print("checked: sums == rows, tops identical")
    for kind, key in (("month", M), ("week", W)):
        run(
            store,
            f"(a) user {kind} {key}",
            [("row", a_row), ("sum", a_sum)],
            [(u, kind, key) for u in rnd.sample(uids, N)],
        )
    run(
        store,
        "(b) domain top-10 users month",
        [("rows", b_top), ("sum", b_sum)],
        [(d,) for d in rnd.sample(doms, len(doms))] * 2,
    )
    run(store, "(c) company top-10 users month", [("rows", c_top), ("sum", c_sum)], [(None,)] * 6)
    store.close()
    print("load", Path("/proc/loadavg").read_text().strip())


main()
