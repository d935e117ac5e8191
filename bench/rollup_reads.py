"""Read side of 'open week/month summed at read time' (session 12 rollup, bench-only).

    .venv/bin/python bench/rollup_reads.py STORE.sqlite3 [N_USERS]

On a copy of the 400-day fixture: for the open month (and week) of its last
day, the row by key (what is read today) against the SUM of the user's day
rows (what would be read if users' open week/month rows were not written):
(a) one user's row; (a') the whole user answer by month/week
(summary.user_summary_text, flow_texts patched for the open period);
(b) a domain's top-10 users (Queries.flow_top against a SUM ... GROUP BY user);
(c) the company's top-10 users, the same.
Modes: 'shared' = one reader connection (the store's pragmas: 4 MB cache),
random objects; 'fresh' = a new connection per sample (schema loaded first,
not timed): SQLite's cache cold, the OS's warm.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from mailtally import summary
from mailtally.periods import Periods
from mailtally.store.base import FLOW_COLUMNS, KIND_CODES, LAST_COLUMNS, USER, Queries
from mailtally.store.sqlite import DIALECT, READER_CACHE_KIB, _connect
from mailtally.tree.scopes import Target

PATH = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 300
LAST = date(2026, 11, 28)
NOW = int(datetime(2026, 11, 28, 23, 59, 59, tzinfo=UTC).timestamp())
MONTH = "2026-11"
WEEK = "20261123-20261129"
MONTH_DAYS = [(date(2026, 11, 1) + timedelta(days=i)).strftime("%Y%m%d") for i in range(28)]
WEEK_DAYS = [(date(2026, 11, 23) + timedelta(days=i)).strftime("%Y%m%d") for i in range(6)]
OPEN = {("month", MONTH): MONTH_DAYS, ("week", WEEK): WEEK_DAYS}
COL = "messages_in_ham"


def reader():
    conn = _connect(PATH)
    conn.execute(f"PRAGMA cache_size = -{READER_CACHE_KIB}")
    conn.execute("PRAGMA query_only = ON")
    conn.execute("SELECT 1 FROM meta LIMIT 1").fetchall()  # the schema, not timed
    return conn


def marks(n):
    return ", ".join("?" * n)


ROW_COLS = ", ".join(FLOW_COLUMNS + LAST_COLUMNS)
SUM_COLS = ", ".join([f"SUM({c})" for c in FLOW_COLUMNS] + [f"MAX({c})" for c in LAST_COLUMNS])


def a_row(conn, uid, kind, key):
    return conn.execute(
        f"SELECT {ROW_COLS} FROM flows WHERE kind = ? AND period = ? AND scope = ? "
        "AND scope_id = ?",
        (KIND_CODES[kind], key, USER, uid),
    ).fetchall()


def a_sum(conn, uid, kind, key):
    days = OPEN[kind, key]
    return conn.execute(
        f"SELECT {SUM_COLS} FROM flows WHERE kind = 0 AND period IN ({marks(len(days))}) "
        "AND scope = ? AND scope_id = ? HAVING COUNT(*) > 0",
        (*days, USER, uid),
    ).fetchall()


# flow_texts with the open period summed from day rows (a second statement)
_orig_flow_texts = Queries.flow_texts


def flow_texts_summed(self, scope, scope_id, kind, keys, texts):
    keys = list(keys)
    days = OPEN.get((kind, keys[-1])) if keys and scope == USER else None
    if days is None:
        return _orig_flow_texts(self, scope, scope_id, kind, keys, texts)
    rows = _orig_flow_texts(self, scope, scope_id, kind, keys[:-1], texts) if keys[:-1] else []
    printfs = ", ".join(
        "printf(?, " + ", ".join(f"NULLIF(SUM({c}), 0)" for c in cols) + ")" for _, cols in texts
    )
    lasts = ", ".join(f"MAX({c})" for c in LAST_COLUMNS)
    rows += self._all(
        f"SELECT ?, {printfs}, {lasts} FROM flows WHERE kind = 0 AND period IN "
        f"({marks(len(days))}) AND scope = ? AND scope_id = ? HAVING COUNT(*) > 0",
        keys[-1],
        *(fmt for fmt, _ in texts),
        *days,
        scope,
        scope_id,
    )
    return rows


def answer(conn, periods, uid, kind, summed):
    q = Queries(conn, DIALECT)
    Queries.flow_texts = flow_texts_summed if summed else _orig_flow_texts
    try:
        t = Target("user", uid, f"u{uid}", 1, (uid - 1) // 1000 + 1, createtime=0)
        return summary.user_summary_text(q, periods, t, kind, NOW)
    finally:
        Queries.flow_texts = _orig_flow_texts


KEYS = {"month": (MONTH, MONTH_DAYS), "week": (WEEK, WEEK_DAYS)}
#: the open month as the closed weeks wholly inside it (rolled up) + its other days
HYB_WEEKS = ["20261102-20261108", "20261109-20261115", "20261116-20261122"]
HYB_DAYS = ["20261101", *WEEK_DAYS]


def b_top(conn, company_id, domain_id, kind="month"):
    return Queries(conn, DIALECT).flow_top(
        company_id, domain_id, "users", "messages.in_ham", kind, KEYS[kind][0], 10
    )


def b_sum(conn, company_id, domain_id, kind="month"):
    days = KEYS[kind][1]
    return conn.execute(
        f"SELECT o.address, SUM(f.{COL}) AS v FROM users o CROSS JOIN flows f "
        "WHERE o.domain_id = ? AND o.status = 'active' AND f.kind = 0 "
        f"AND f.period IN ({marks(len(days))}) AND f.scope = ? AND f.scope_id = o.id "
        "AND f.company_id = ? GROUP BY o.id HAVING v > 0 ORDER BY v DESC, o.address LIMIT 10",
        (domain_id, *days, USER, company_id),
    ).fetchall()


def b_hyb(conn, company_id, domain_id):
    part = (
        f"SELECT f.scope_id AS id, f.{COL} AS v FROM users o CROSS JOIN flows f "
        "WHERE o.domain_id = ? AND o.status = 'active' AND f.kind = ? "
        "AND f.period IN ({}) AND f.scope = ? AND f.scope_id = o.id AND f.company_id = ?"
    )
    return conn.execute(
        f"SELECT o.address, SUM(p.v) AS total FROM ({part.format(marks(len(HYB_DAYS)))} UNION ALL "
        f"{part.format(marks(len(HYB_WEEKS)))}) p JOIN users o ON o.id = p.id "
        "GROUP BY p.id HAVING total > 0 ORDER BY total DESC, o.address LIMIT 10",
        (domain_id, 0, *HYB_DAYS, USER, company_id, domain_id, 1, *HYB_WEEKS, USER, company_id),
    ).fetchall()


def c_top(conn, company_id, _, kind="month"):
    return Queries(conn, DIALECT).flow_top(
        company_id, None, "users", "messages.in_ham", kind, KEYS[kind][0], 10
    )


def c_sum(conn, company_id, _, kind="month"):
    days = KEYS[kind][1]
    return conn.execute(
        f"WITH s AS (SELECT scope_id, SUM(f.{COL}) AS v FROM flows f WHERE f.kind = 0 "
        f"AND f.period IN ({marks(len(days))}) AND f.scope = ? AND f.company_id = ? "
        "GROUP BY scope_id) SELECT o.address, s.v FROM s JOIN users o ON o.id = s.scope_id "
        "WHERE o.status = 'active' AND s.v > 0 ORDER BY s.v DESC, o.address LIMIT 10",
        (*days, USER, company_id),
    ).fetchall()


def c_hyb(conn, company_id, _):
    part = (
        f"SELECT scope_id, {COL} AS v FROM flows f WHERE f.kind = ? AND f.period IN ({{}}) "
        "AND f.scope = ? AND f.company_id = ?"
    )
    return conn.execute(
        "WITH s AS (SELECT scope_id AS scope_id, SUM(v) AS v FROM "
        f"({part.format(marks(len(HYB_DAYS)))} "
        f"UNION ALL {part.format(marks(len(HYB_WEEKS)))}) GROUP BY scope_id) "
        "SELECT o.address, s.v FROM s JOIN users o ON o.id = s.scope_id "
        "WHERE o.status = 'active' AND s.v > 0 ORDER BY s.v DESC, o.address LIMIT 10",
        (0, *HYB_DAYS, USER, company_id, 1, *HYB_WEEKS, USER, company_id),
    ).fetchall()


SNAP_START = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())


def d_rows(conn, domain_id):
    return Queries(conn, DIALECT).snapshot_accounts(
        "d", domain_id, 0, 1000, "month", MONTH, SNAP_START, NOW
    )


def d_sum(conn, domain_id):
    # the page without its flow rows (a period no row has), then the page's
    # accounts' day rows of the open month summed, by account
    page = Queries(conn, DIALECT).snapshot_accounts(
        "d", domain_id, 0, 1000, "month", "none", SNAP_START, NOW
    )
    ids = [r[0] for r in page]
    sums = conn.execute(
        f"SELECT scope_id, {', '.join(f'SUM({c})' for c in FLOW_COLUMNS)} FROM flows "
        f"WHERE kind = 0 AND period IN ({marks(len(MONTH_DAYS))}) AND scope = ? "
        f"AND scope_id IN ({marks(len(ids))}) GROUP BY scope_id",
        (*MONTH_DAYS, USER, *ids),
    ).fetchall()
    by = {r[0]: r[1:] for r in sums}
    return [tuple(r[:9]) + tuple(by.get(r[0], (None,) * len(FLOW_COLUMNS))) for r in page]


def stats(name, xs):
    xs = sorted(xs)
    p99 = xs[min(len(xs) - 1, round(0.99 * (len(xs) - 1)))]
    print(
        f"{name:44} n={len(xs):4}  median {statistics.median(xs) * 1e3:8.3f} ms  "
        f"p99 {p99 * 1e3:8.3f} ms  max {xs[-1] * 1e3:8.3f} ms",
        flush=True,
    )


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def run(label, pairs, objs, mode, reps=1):
    """pairs: [(name, fn)] alternated per object; mode shared|fresh."""
    times = {name: [] for name, _ in pairs}
    shared = reader() if mode == "shared" else None
    for _ in range(reps):
        for i, o in enumerate(objs):
            # the first of a pair warms pages for the second: alternate who goes first
            for name, fn in pairs if i % 2 == 0 else pairs[::-1]:
                conn = shared or reader()
                dt, _out = timed(fn, conn, *o)
                times[name].append(dt)
                if conn is not shared:
                    conn.close()
    if shared:
        shared.close()
    for name, _ in pairs:
        stats(f"{label} {name} [{mode}]", times[name])


def main():
    import os

    print("load", Path("/proc/loadavg").read_text().strip())
    rnd = random.Random(12)
    conn = reader()
    uids = [r[0] for r in conn.execute("SELECT id FROM users WHERE status = 'active'")]
    doms = [r[0] for r in conn.execute("SELECT id FROM domains WHERE deletetime IS NULL")]
    conn.close()
    periods = Periods("UTC")
    users = rnd.sample(uids, N)
    # check: the sums equal the rows written today (the fixture writes both)
    conn = reader()
    for uid in users[:50]:
        for kind, key in (("month", MONTH), ("week", WEEK)):
            r, s = a_row(conn, uid, kind, key), a_sum(conn, uid, kind, key)
            assert r == s, (uid, kind, r, s)
        assert answer(conn, periods, uid, "month", False) == answer(
            conn, periods, uid, "month", True
        )
        assert answer(conn, periods, uid, "week", False) == answer(conn, periods, uid, "week", True)
    for d in doms[:5]:
        assert b_top(conn, 1, d) == b_sum(conn, 1, d) == b_hyb(conn, 1, d), d
        assert b_top(conn, 1, d, "week") == b_sum(conn, 1, d, "week"), d
        assert [tuple(r) for r in d_rows(conn, d)] == d_sum(conn, d), d
    assert c_top(conn, 1, None) == c_sum(conn, 1, None) == c_hyb(conn, 1, None)
    assert c_top(conn, 1, None, "week") == c_sum(conn, 1, None, "week")
    conn.close()
    print("checked: sums == rows, answers identical, tops identical")
    which = set(os.environ.get("PARTS", "a,ans,b,c").split(","))
    for mode in ("shared", "fresh"):
        if "a" in which:
            for kind, key in (("month", MONTH), ("week", WEEK)):
                objs = [(u, kind, key) for u in rnd.sample(uids, N)]
                run(f"(a) user {kind} {key}", [("row", a_row), ("sum", a_sum)], objs, mode)
        if "ans" in which:
            for kind in ("month", "week"):
                objs = [(periods, u, kind) for u in rnd.sample(uids, N)]
                run(
                    f"(a') user answer by {kind}",
                    [
                        ("rows", lambda c, p, u, k: answer(c, p, u, k, False)),
                        ("summed", lambda c, p, u, k: answer(c, p, u, k, True)),
                    ],
                    objs,
                    mode,
                )
        if "b" in which:
            objs = [(1, d) for d in rnd.sample(doms, len(doms))]
            run(
                "(b) domain top-10 users month",
                [("rows", b_top), ("sum", b_sum)],
                objs,
                mode,
                reps=3 if mode == "shared" else 1,
            )
        if "bw" in which:
            objs = [(1, d, "week") for d in rnd.sample(doms, len(doms))]
            run(
                "(b) domain top-10 users week",
                [("rows", b_top), ("sum", b_sum)],
                objs,
                mode,
                reps=3 if mode == "shared" else 1,
            )
        if "bh" in which:
            objs = [(1, d) for d in rnd.sample(doms, len(doms))]
            run(
                "(b) domain top-10 users month",
                [("rows", b_top), ("weeks+days", b_hyb)],
                objs,
                mode,
                reps=3 if mode == "shared" else 1,
            )
        if "d" in which:
            objs = [(d,) for d in rnd.sample(doms, len(doms))]
            run("(d) domain snapshot page month", [("rows", d_rows), ("sum", d_sum)], objs, mode)
        if "cw" in which:
            objs = [(1, None, "week")] * (10 if mode == "shared" else 5)
            run("(c) company top-10 users week", [("rows", c_top), ("sum", c_sum)], objs, mode)
        if "ch" in which:
            objs = [(1, None)] * (10 if mode == "shared" else 5)
            run(
                "(c) company top-10 users month",
                [("rows", c_top), ("weeks+days", c_hyb)],
                objs,
                mode,
            )
        if "c" in which:
            objs = [(1, None)] * (10 if mode == "shared" else 5)
            run("(c) company top-10 users month", [("rows", c_top), ("sum", c_sum)], objs, mode)
    print("load", Path("/proc/loadavg").read_text().strip())


main()
