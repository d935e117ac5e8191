"""Retention: drop flow rows past retention, fold gauge rows, thin quota reports.

``mailtally prune`` runs beside ingest and the API, which need the store's one
write lock, so pruning must neither hold it long nor scan what it keeps:

* **What to remove is found by primary-key seeks**, never by a scan.
  ``flows`` is keyed (kind, period, scope, scope_id) (migration 0007), so the
  old periods of a kind are found by one seek each (and one more), and each
  one's rows are a range per scope kind, dropped a bounded run at a time: with
  nothing to prune the cost is three seeks, whatever the number of accounts or
  days kept.  ``gauges`` (domains and companies only) are keyed (scope,
  scope_id, kind, period): one seek per domain and company and kind.
* **Bounded transactions.**  Scopes are pruned a few at a time: a write
  transaction ends after ``batch_rows`` rows or ``max_hold`` seconds, and the
  lock is then left free for ``pause`` seconds, longer than the longest sleep
  of SQLite's busy handler between its retries (25 ms for the first 100 ms),
  so a writer waiting on it (ingest, the API's auth-count flush) gets in.
  Each transaction folds exactly the rows it deletes, so a reader sees the
  same sums and maxima before, between and after them, and an interrupted
  prune finds what is left next time.
* **Quota reports** (``storage_reports``) older than the oldest kept period
  are dropped, except each account's report in force at that period's start
  (the latest at or before it): a summary or a gauge recomputation asks for
  the report in force at its window's start and every later one, so every
  answer from that moment on is unchanged.  The accounts with such reports are found by
  one read (two primary-key seeks per account, no write lock); the moment
  pruned to is kept in ``meta`` (``storage_pruned_before``): it moves once a
  month, and until it does not even that read is made.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from mailtally.periods import KINDS, Kind, Period, Periods
from mailtally.store.base import COMPANY, DOMAIN, USER, Store

if TYPE_CHECKING:
    from mailtally.config import Config

__all__ = ["PruneResult", "prune_command", "prune_store"]

#: meta key: the moment quota reports were last pruned to
STORAGE_MARK = "storage_pruned_before"


@dataclass(slots=True)
class PruneResult:
    removed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    folded: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    reports: int = 0
    #: write transactions opened, and the longest one held the lock (seconds)
    transactions: int = 0
    longest_hold: float = 0.0


@dataclass(slots=True)
class _Task:
    #: None: the account's quota reports (scope '': set the mark)
    kind: Kind | None
    scope: str
    #: the gauges' scope, or the account of the quota reports
    scope_id: int = 0
    #: flows: the old period whose rows of this scope kind go, and the last
    #: scope_id dropped so far (a period's rows go a bounded run at a time)
    period: str | None = None
    after: int = 0


def _tasks(store: Store, cutoffs: dict[Kind, str], storage_before: int) -> Iterator[_Task]:
    """What to prune, found with reads only (no write lock held)."""
    with store.read() as q:
        domains = q.ids("domains")
        companies = q.ids("companies")
        plan: list[tuple[Kind, list[str], list[tuple[str, int]]]] = []
        for kind in KINDS:
            before = cutoffs[kind]
            gauges = [(DOMAIN, d) for d in domains] + [(COMPANY, c) for c in companies]
            old = [g for g in gauges if q.has_old_gauges(*g, kind, before)]
            plan.append((kind, q.old_periods(kind, before), old))
        walk_reports = q.meta(STORAGE_MARK) != str(storage_before)
        report_users = q.storage_to_prune(storage_before) if walk_reports else []
    for kind, periods, old_gauges in plan:
        for period in periods:
            yield from (_Task(kind, scope, period=period) for scope in (USER, DOMAIN, COMPANY))
        yield from (_Task(kind, scope, sid) for scope, sid in old_gauges)
    yield from (_Task(None, USER, u) for u in report_users)
    if walk_reports:  # the mark, set once the accounts found are done
        yield _Task(None, "")


def prune_store(
    store: Store,
    cutoffs: dict[Kind, str],
    storage_before: int,
    *,
    batch_rows: int = 1000,
    max_hold: float = 0.025,
    pause: float = 0.03,
) -> PruneResult:
    """Drop rows of each kind older than ``cutoffs[kind]`` (a period key) and
    quota reports no answer from ``storage_before`` on reads (see the module
    docstring), in write transactions of at most ``batch_rows`` rows or
    ``max_hold`` seconds (one scope at least), ``pause`` seconds apart."""
    result = PruneResult()
    tasks = _tasks(store, cutoffs, storage_before)
    task = next(tasks, None)
    while task is not None:
        if result.transactions:
            time.sleep(pause)
        with store.write() as q:
            start = time.perf_counter()
            rows = 0
            while task is not None:
                if task.kind is None and not task.scope:
                    q.set_meta(STORAGE_MARK, str(storage_before))
                elif task.kind is None:
                    n = q.prune_storage_reports(task.scope_id, storage_before)
                    result.reports += n
                    rows += n + 1
                elif task.period is not None:
                    removed, last = q.prune_flows(
                        task.kind, task.period, task.scope, task.after, batch_rows - rows
                    )
                    result.removed[task.kind] += removed
                    rows += removed + 1  # +1: a seek costs too
                    if last is not None:  # more of the period left: the next run
                        task.after = last
                        if rows >= batch_rows or time.perf_counter() - start >= max_hold:
                            break
                        continue
                else:
                    folded = q.prune_gauges(
                        task.scope, task.scope_id, task.kind, cutoffs[task.kind]
                    )
                    result.folded[task.kind] += folded
                    rows += folded + 1
                task = next(tasks, None)
                if rows >= batch_rows or time.perf_counter() - start >= max_hold:
                    break
        hold = time.perf_counter() - start  # the commit included
        result.transactions += 1
        result.longest_hold = max(result.longest_hold, hold)
    return result


def prune_command(store: Store, config: Config, now: int, batch_rows: int = 1000) -> list[str]:
    """``mailtally prune``: prune ``store`` (closed at the end) to ``config``'s
    retention as of ``now``; the lines it reports.  Without click: the command
    line's fast path (mailtally.entry) runs it as ``mailtally.cli`` does."""
    periods = Periods(config.timezone)
    today = periods.local_date(now)
    day_cut = today - timedelta(days=config.retention.days)
    y, m = today.year, today.month - config.retention.months
    while m < 1:
        y, m = y - 1, m + 12
    oldest: dict[Kind, Period] = {
        "day": periods.period_of("day", day_cut),
        "week": periods.period_of("week", day_cut),
        "month": periods.period_of("month", date(y, m, 1)),
    }
    cutoffs = {kind: p.key for kind, p in oldest.items()}
    # the report in force at the start of the oldest kept period is kept
    storage_before = min(p.start for p in oldest.values())
    try:
        result = prune_store(store, cutoffs, storage_before, batch_rows=batch_rows)
    finally:
        store.close()
    lines = []
    total = result.reports
    for kind, before in cutoffs.items():
        removed, folded = result.removed[kind], result.folded[kind]
        total += removed + folded
        lines.append(f"{kind}: {removed} flow rows removed, {folded} gauge rows folded "
                     f"(before {before})")  # fmt: skip
    lines.append(f"storage: {result.reports} quota reports removed (before "
                 f"{datetime.fromtimestamp(storage_before, UTC):%Y-%m-%d %H:%M} UTC, the one "
                 f"in force then kept)")  # fmt: skip
    lines.append(f"pruned {total} rows at {datetime.fromtimestamp(now, UTC):%Y-%m-%d %H:%M} UTC")
    return lines
