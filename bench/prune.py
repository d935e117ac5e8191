"""``mailtally prune`` at provider scale (issue 9).

Builds a store of N accounts with rows for the last ``--recent`` days (inside
retention) and ``--old`` days just past retention, written directly through the
store API in bulk (each user's day rows, and its week and month rows summed in
memory, one insert each: minutes, not the hours ingesting that history takes),
then times:

* ``prune`` with nothing to remove (the old days left out),
* ``prune`` with the old days to remove,

each while another connection inserts a row every 5 ms with a 30 s busy
timeout, and reports the longest that writer waited for the lock.

    .venv/bin/python bench/prune.py --accounts 100000 --recent 30 --old 365 [--dir DIR]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from mailtally.history import UserState, encode_state
from mailtally.periods import KINDS, Kind, Periods
from mailtally.prune import PruneResult, prune_store
from mailtally.store import Store, open_store
from mailtally.store.base import COMPANY, DOMAIN, FLOW_COLUMNS, GAUGE_COLUMNS, LAST_COLUMNS, USER

RETENTION_DAYS, RETENTION_MONTHS = 400, 49


def build(
    store: Store,
    accounts: int,
    days: Iterable[date],
    *,
    domains: int = 100,
    report_every: int = 7,
    progress: Callable[[str], None] = lambda _: None,
) -> list[int]:
    """One company, ``domains`` domains, ``accounts`` accounts, and for each
    account and day of ``days`` a day row (week and month rows summed), the
    domain's and the company's rows, a gauge change on each domain's first day,
    and a quota report every ``report_every``-th day.  Returns the user ids."""
    periods = Periods("UTC")
    days = sorted(days)
    with store.write() as q:
        cid = q.insert_company("Scale Hosting", 0)
        dids = [q.insert_domain(cid, f"d{i}.example", 0, "{}") for i in range(domains)]
        state = encode_state(UserState())
        users = [
            (q.insert_user(cid, dids[i % domains], f"u{i}@d{i % domains}.example", None, 0, state),
             dids[i % domains])
            for i in range(accounts)
        ]  # fmt: skip
    nf, nl = len(FLOW_COLUMNS), len(LAST_COLUMNS)
    uids = [u for u, _ in users]
    step = 2000  # accounts per transaction
    for lo in range(0, accounts, step):
        part = users[lo : lo + step]
        rows: list[tuple[Any, ...]] = []
        sums: dict[tuple[str, int, str, str], list[int]] = {}
        reports: list[tuple[int, int, int, int, int]] = []
        for n, d in enumerate(days):
            start = periods.period_of("day", d).start
            keys = (
                periods.period_of("day", d).key,
                periods.period_of("week", d).key,
                periods.period_of("month", d).key,
            )
            for uid, did in part:
                values = [1 + (uid + n) % 5] * nf
                lasts = [start + uid % 86400] * nl
                rows.append((cid, USER, uid, "day", keys[0], *values, *lasts))
                for kind, key in zip(KINDS[1:], keys[1:], strict=True):
                    acc = sums.setdefault((USER, uid, kind, key), [0] * nf + [0] * nl)
                    acc[:nf] = [a + v for a, v in zip(acc[:nf], values, strict=True)]
                    acc[nf:] = lasts
                for scope, sid in ((DOMAIN, did), (COMPANY, cid)):
                    for kind, key in zip(KINDS, keys, strict=True):
                        acc = sums.setdefault((scope, sid, kind, key), [0] * (nf + nl))
                        acc[:nf] = [a + v for a, v in zip(acc[:nf], values, strict=True)]
                if n % report_every == 0:
                    reports.append((cid, uid, start + 3600, n, 1000 * n + uid))
        rows += [(cid, s, sid, kind, key, *v) for (s, sid, kind, key), v in sums.items()]
        with store.write() as q:
            q.add_flow_rows(rows)  # upserts: domain and company rows add up across parts
            q.put_storage_reports(reports)
        progress(f"{min(lo + step, accounts)}/{accounts} accounts")
    gauge = [0] * len(GAUGE_COLUMNS)
    gauge[GAUGE_COLUMNS.index("users_mailbox")] = accounts // domains
    with store.write() as q:
        for d in days[:1]:
            for kind in KINDS:
                key = periods.period_of(kind, d).key
                q.conn.executemany(
                    q._gauge_upsert,
                    [(cid, DOMAIN, did, kind, key, *gauge) for did in dids]
                    + [(cid, COMPANY, cid, kind, key, *[v * domains for v in gauge])],
                )
    return uids


def retention_cutoffs(today: date) -> tuple[dict[Kind, str], int]:
    """The cutoffs and storage moment ``mailtally prune`` uses (UTC, default retention)."""
    periods = Periods("UTC")
    day_cut = today - timedelta(days=RETENTION_DAYS)
    m = today.year * 12 + today.month - 1 - RETENTION_MONTHS
    oldest = {
        "day": periods.period_of("day", day_cut),
        "week": periods.period_of("week", day_cut),
        "month": periods.period_of("month", date(m // 12, m % 12 + 1, 1)),
    }
    return {k: p.key for k, p in oldest.items()}, min(p.start for p in oldest.values())  # type: ignore[misc]


class Writer(threading.Thread):
    """Another connection inserting a row every 5 ms; records its longest wait."""

    def __init__(self, path: str, busy_ms: int = 30000) -> None:
        super().__init__(daemon=True)
        self.conn = sqlite3.connect(
            path, isolation_level=None, timeout=busy_ms / 1000, check_same_thread=False
        )
        self.stop = threading.Event()
        self.waits: list[float] = []
        self.failures: list[str] = []

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            t0 = time.perf_counter()
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                self.waits.append(time.perf_counter() - t0)
                self.conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) "
                    "DO UPDATE SET value = excluded.value",
                    ("bench_writer", str(n)),
                )
                self.conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                self.failures.append(str(exc))
            n += 1
            time.sleep(0.005)
        self.conn.close()


def timed_prune(store: Store, path: str, cutoffs: dict[Kind, str], storage_before: int, **kw: Any):
    writer = Writer(path)
    writer.start()
    t0 = time.perf_counter()
    result: PruneResult = prune_store(store, cutoffs, storage_before, **kw)
    seconds = time.perf_counter() - t0
    writer.stop.set()
    writer.join()
    return seconds, result, max(writer.waits, default=0.0), len(writer.waits), writer.failures


def waited(wait: float, n: int, fails: list[str]) -> str:
    return f"writer waited at most {wait * 1000:.1f} ms over {n} writes, {len(fails)} failed"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--recent", type=int, default=30, help="days inside retention")
    ap.add_argument("--old", type=int, default=365, help="days just past retention")
    ap.add_argument("--old-accounts", type=int, default=None,
                    help="accounts of the store with old days (default: --accounts)")  # fmt: skip
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    today = datetime.now(UTC).date()
    recent = [today - timedelta(days=i) for i in range(args.recent)]
    old = [today - timedelta(days=RETENTION_DAYS + 1 + i) for i in range(args.old)]
    cutoffs, storage_before = retention_cutoffs(today)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = str(Path(tmp) / "prune.sqlite3")
        store = open_store(f"sqlite:///{path}")
        t0 = time.perf_counter()
        build(store, args.accounts, recent, progress=lambda s: print(f"  recent: {s}", end="\r"))
        print(f"built {args.accounts:,} accounts x {args.recent} days "
              f"in {time.perf_counter() - t0:.0f} s")  # fmt: skip
        for label in ("first prune, nothing to remove", "again, nothing to remove"):
            s, r, wait, n, fails = timed_prune(store, path, cutoffs, storage_before)
            print(f"{label}: {s:.3f} s, {r.transactions} write transactions, "
                  + waited(wait, n, fails))  # fmt: skip
        if args.old:
            store.close()
            Path(path).unlink()
            for suffix in ("-wal", "-shm"):
                Path(path + suffix).unlink(missing_ok=True)
            store = open_store(f"sqlite:///{path}")
            t0 = time.perf_counter()
            old_accounts = args.old_accounts or args.accounts
            build(store, old_accounts, recent + old,
                  progress=lambda s: print(f"  recent+old: {s}", end="\r"))  # fmt: skip
            print(f"built {old_accounts:,} accounts x {args.recent}+{args.old} days "
                  f"in {time.perf_counter() - t0:.0f} s")  # fmt: skip
            s, r, wait, n, fails = timed_prune(store, path, cutoffs, storage_before)
            removed = sum(r.removed.values())
            print(f"{args.old} days to remove: {s:.1f} s, {removed:,} flow rows removed "
                  f"({removed / s:,.0f}/s), {sum(r.folded.values())} gauge rows folded, "
                  f"{r.transactions} write transactions (longest {r.longest_hold * 1000:.1f} ms), "
                  + waited(wait, n, fails))  # fmt: skip
            s, r, wait, n, fails = timed_prune(store, path, cutoffs, storage_before)
            print(f"then nothing to remove: {s:.3f} s, {r.transactions} write transactions")
        store.close()


if __name__ == "__main__":
    main()
