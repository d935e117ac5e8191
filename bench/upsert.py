"""The upsert path at provider scale: the counter writes of one day of every account.

Builds what ingest writes for a day in which every account of the store had
some traffic — each user's delta (``Queries.add_user_flows``: its day, week
and month rows and its lastlogin) and the domain and company rows they sum
into (``add_flow_rows``), with ``record._Tally``, the code ingest uses — and
times them in one write transaction, which is then rolled back, so the store
is left as it was and the runs are alike.  The day is the one after the
newest day in the store: new day rows, and week and month rows that mostly
exist already (what a day's ingest does).

    .venv/bin/python bench/upsert.py bench/out/COPY.sqlite3 [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from mailtally.periods import Periods
from mailtally.record import _Tally
from mailtally.store import open_store
from mailtally.store.base import FLOW_COLUMNS, LAST_COLUMNS


class _RollBack(Exception):
    pass


def io_bytes() -> tuple[int, int]:
    """Bytes this process has read and written through system calls so far
    (SQLite's page reads and writes: a count, unlike a time on a loaded machine)."""
    text = Path("/proc/self/io").read_text()
    fields = dict(line.split(": ") for line in text.splitlines())
    return int(fields["rchar"]), int(fields["wchar"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db", help="path of a store (a copy: it is opened, so migrated)")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    store = open_store(f"sqlite:///{args.db}")
    periods = Periods("UTC")
    with store.read() as q:
        users = q.conn.execute("SELECT id, domain_id, company_id FROM users ORDER BY id").fetchall()
        newest = q.conn.execute(
            "SELECT MAX(period) FROM flows WHERE scope = 'c' AND length(period) = 8"
        ).fetchone()[0]
    day = date(int(newest[:4]), int(newest[4:6]), int(newest[6:])) + timedelta(days=1)
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    tally = _Tally(periods)
    nf = len(FLOW_COLUMNS)
    for uid, did, cid in users:
        cell = [0] * (nf + len(LAST_COLUMNS))
        tally.cells[(uid, did, cid), tally.keys(start + uid % 86400)] = cell
        for i in range(nf):
            cell[i] = 1 + (uid + i) % 4 if i % 3 else 0  # some zero columns, as real days have
        cell[nf + uid % len(LAST_COLUMNS)] = start + uid % 86400
    deltas, one_day = tally.user_deltas()
    rows = list(tally.scope_rows())
    print(f"{len(users):,} accounts on {day}: {len(deltas):,} users' deltas, {len(rows):,} rows")
    times, cpu, io = [], [], []
    for _ in range(args.runs):
        try:
            with store.write() as q:
                t0, c0, (r0, w0) = time.perf_counter(), time.process_time(), io_bytes()
                q.add_user_flows(deltas, one_day=one_day)
                q.add_flow_rows(rows, in_key_order=True)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                r1, w1 = io_bytes()
                io.append(f"{(r1 - r0) / 2**20:,.0f}/{(w1 - w0) / 2**20:,.0f}")
                raise _RollBack
        except _RollBack:
            pass
    store.close()
    runs = ", ".join(f"{t:.2f} s" for t in times)
    best = min(times)
    n = len(deltas) * 3 + len(rows)  # (a user's delta: its day, week and month rows)
    print(f"writes: {runs} (rolled back); best {n / best:,.0f} rows/s, "
          f"{best / n * 1e6:.1f} µs per row; median "
          f"{n / statistics.median(times):,.0f} rows/s; CPU (user+sys) "
          + ", ".join(f"{c:.2f} s" for c in cpu)
          + "; MiB read/written " + ", ".join(io))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
