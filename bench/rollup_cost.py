"""Cost of rolling up the users' rows of a closed week / month from their day
rows (session 12 rollup, bench-only): in a transaction on a copy, the users'
rows of the period deleted, then rebuilt by one INSERT ... SELECT ... GROUP BY
from the day rows (timed), compared with what was there, then ROLLBACK."""

import sys
import time
from datetime import date, timedelta
from pathlib import Path

from mailtally.store.base import FLOW_COLUMNS, KIND_CODES, LAST_COLUMNS, USER
from mailtally.store.sqlite import _connect

conn = _connect(sys.argv[1])
COLS = ", ".join(FLOW_COLUMNS + LAST_COLUMNS)
SUMS = ", ".join([f"SUM({c})" for c in FLOW_COLUMNS] + [f"MAX({c})" for c in LAST_COLUMNS])


def days(first, n):
    return [(first + timedelta(days=i)).strftime("%Y%m%d") for i in range(n)]


for kind, key, ds in (
    ("week", "20261116-20261122", days(date(2026, 11, 16), 7)),
    ("month", "2026-10", days(date(2026, 10, 1), 31)),
):
    code = KIND_CODES[kind]
    for _rep in range(3):
        print("load", Path("/proc/loadavg").read_text().strip())
        conn.execute("BEGIN IMMEDIATE")
        before = conn.execute(
            f"SELECT scope_id, {COLS} FROM flows WHERE kind = ? AND period = ? AND scope = ? "
            "ORDER BY scope_id",
            (code, key, USER),
        ).fetchall()
        t = time.perf_counter()
        n = conn.execute(
            "DELETE FROM flows WHERE kind = ? AND period = ? AND scope = ?", (code, key, USER)
        ).rowcount
        t_del = time.perf_counter() - t
        t = time.perf_counter()
        marks = ", ".join("?" * len(ds))
        conn.execute(
            f"INSERT INTO flows (company_id, scope, scope_id, kind, period, {COLS}) "
            f"SELECT MIN(company_id), scope, scope_id, {code}, ?, {SUMS} FROM flows "
            f"WHERE kind = 0 AND period IN ({marks}) AND scope = ? "
            "GROUP BY scope_id ORDER BY scope_id",
            (key, *ds, USER),
        )
        t_ins = time.perf_counter() - t
        after = conn.execute(
            f"SELECT scope_id, {COLS} FROM flows WHERE kind = ? AND period = ? AND scope = ? "
            "ORDER BY scope_id",
            (code, key, USER),
        ).fetchall()
        conn.execute("ROLLBACK")
        print(
            f"{kind} {key}: {n} rows deleted {t_del:.3f} s; rolled up from {len(ds)} days: "
            f"{len(after)} rows in {t_ins:.3f} s; identical to the rows written: {before == after}"
        )
conn.close()
