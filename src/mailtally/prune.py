"""Retention: drop flow rows past retention, fold gauge rows, thin quota reports.

``mailtally prune`` runs beside ingest and the API, which need the store's one
write lock, so pruning must neither hold it long nor scan what it keeps:

* **What to remove is found by primary-key seeks**, never by a scan.  The
  tables are keyed (scope, scope_id, kind, period), so a scope's rows of one
  kind older than a cutoff are one range.  Every user's or domain's flow row
  is summed into its company's row of the same kind and period (``record``
  writes all three), so a company without old rows proves its users and
  domains have none: with nothing to prune, the cost is a few seeks per
  company and domain, whatever the number of accounts or days kept.
  Gauges are checked per domain as well (a domain's change can sum to nothing
  at its company).  No index is added: the tables stay as large as they are.
* **Bounded transactions.**  Scopes are pruned a few at a time: a write
  transaction ends after ``batch_rows`` rows or ``max_hold`` seconds, and the
  lock is then left free for ``pause`` seconds, longer than the longest sleep
  of SQLite's busy handler between its retries (25 ms for the first 100 ms),
  so a writer waiting on it (ingest, the API's auth-count flush) gets in.
  Each transaction folds exactly the rows it deletes, so a reader sees the
  same sums and maxima before, between and after them; a company's own rows
  go last, so an interrupted prune still finds what is left next time.
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

from mailtally.periods import KINDS, Kind
from mailtally.store.base import COMPANY, DOMAIN, USER, Store

__all__ = ["PruneResult", "prune_store"]

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


@dataclass(frozen=True, slots=True)
class _Task:
    kind: Kind | None  # None: the account's quota reports (scope '': set the mark)
    scope: str
    scope_id: int


def _tasks(store: Store, cutoffs: dict[Kind, str], storage_before: int) -> Iterator[_Task]:
    """What to prune, found with reads only (no write lock held)."""
    with store.read() as q:
        domains = q.ids("domains")
        companies = q.ids("companies")
        plan: list[tuple[Kind, bool, list[int], list[int]]] = []
        for kind in KINDS:
            before = cutoffs[kind]
            users_old = any(q.has_old("flows", COMPANY, c, kind, before) for c in companies)
            old_domains = [
                d
                for d in domains
                if q.has_old("flows", DOMAIN, d, kind, before)
                or q.has_old("gauges", DOMAIN, d, kind, before)
            ]
            old_companies = [
                c
                for c in companies
                if q.has_old("flows", COMPANY, c, kind, before)
                or q.has_old("gauges", COMPANY, c, kind, before)
            ]
            plan.append((kind, users_old, old_domains, old_companies))
        walk_reports = q.meta(STORAGE_MARK) != str(storage_before)
        report_users = q.storage_to_prune(storage_before) if walk_reports else []
        users = q.ids("users") if any(p[1] for p in plan) else []
    for kind, users_old, old_domains, old_companies in plan:
        if users_old:
            yield from (_Task(kind, USER, u) for u in users)
        yield from (_Task(kind, DOMAIN, d) for d in old_domains)
        yield from (_Task(kind, COMPANY, c) for c in old_companies)
    yield from (_Task(None, USER, u) for u in report_users)
    if walk_reports:  # the mark, set once the accounts found are done
        yield _Task(None, "", 0)


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
                else:
                    removed, folded = q.prune_scope(
                        task.scope, task.scope_id, task.kind, cutoffs[task.kind]
                    )
                    result.removed[task.kind] += removed
                    result.folded[task.kind] += folded
                    rows += removed + folded + 1  # +1: a seek costs too
                task = next(tasks, None)
                if rows >= batch_rows or time.perf_counter() - start >= max_hold:
                    break
        hold = time.perf_counter() - start  # the commit included
        result.transactions += 1
        result.longest_hold = max(result.longest_hold, hold)
    return result
