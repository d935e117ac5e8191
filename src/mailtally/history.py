"""Gauge history: how each account contributes to its domain's gauges over time.

An account's contribution (``users.mailbox``, ``services.imap4``, ``storage.*``,
...) is a step function of time, fixed by its versions (user_versions), its
quota reports (storage_reports) and its purge time.  Any change — a new
version, a late report, an import dated in the past — is applied as::

    with UserChange(q, periods, user_id, since=t) as change:
        ...write the new version / report...

which evaluates the contribution from ``t`` on before and after the write and
adds the difference, period by period, to the ``gauges`` rows of the account's
domains and company.  So the stored gauge changes always sum to the truth, and
a past period's gauges are what they were at its end.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable
from operator import add
from types import TracebackType
from typing import Any

import msgspec

from mailtally.metrics import SERVICES
from mailtally.periods import KINDS, Periods
from mailtally.store.base import COMPANY, DOMAIN, GAUGE_COLUMNS, GaugeRow, Queries

__all__ = ["UserChange", "UserState", "add_storage_reports"]


class UserState(msgspec.Struct, forbid_unknown_fields=False):
    """One version of an account's attributes (stored as JSON)."""

    type: str = "mailbox"
    workgroup: str = "staff"
    name: str = ""
    services: dict[str, str] = msgspec.field(default_factory=dict)
    delivery_local: bool = True
    delivery_forward: bool = False
    delivery_autorespond: bool = False
    delivery_filter: bool = False
    forward_recipients: list[str] = msgspec.field(default_factory=list)
    quota: int = 0
    aliases: list[str] = msgspec.field(default_factory=list)
    deletetime: int | None = None


_encode = msgspec.json.Encoder().encode
_decode_state = msgspec.json.Decoder(UserState).decode


def encode_state(state: UserState) -> str:
    return _encode(state).decode()


def decode_state(text: str) -> UserState:
    return _decode_state(text)


_COL = {c: i for i, c in enumerate(GAUGE_COLUMNS)}
_SERVICE_COLS = [_COL[f"services_{s}"] for s in SERVICES]
_WIDTH = len(GAUGE_COLUMNS)

#: (items, size) gauge columns of an account's storage: [deleted?, live?]
_STORAGE_COLS = (
    (_COL["deleted_users_storage_items_stored"], _COL["deleted_users_storage_current_size"]),
    (_COL["storage_items_stored"], _COL["storage_current_size"]),
)

Vector = list[int]
Contribution = dict[int, Vector]  # domain_id -> gauge vector


def contribution(
    state: UserState | None,
    items: int,
    nbytes: int,
    home_domain: int,
    domain_of: Callable[[str], int],
) -> Contribution:
    """What one account adds to each domain's gauges while in ``state``."""
    if state is None:
        return {}
    v = [0] * _WIDTH
    out: Contribution = {home_domain: v}
    for col, service in zip(_SERVICE_COLS, SERVICES, strict=True):
        if state.services.get(service, "enabled") == "enabled":
            v[col] = 1
    if state.deletetime is None:
        v[_COL[f"users_{state.type}"]] = 1
        v[_COL["storage_items_stored"]] = items
        v[_COL["storage_current_size"]] = nbytes
        for alias in state.aliases:
            d = domain_of(alias)
            out.setdefault(d, [0] * _WIDTH)[_COL["users_alias"]] += 1
    else:
        v[_COL["users_deleted"]] = 1
        v[_COL["deleted_users_storage_items_stored"]] = items
        v[_COL["deleted_users_storage_current_size"]] = nbytes
    return out


class _Timeline:
    """An account's contribution from ``since`` on, as (time, contribution) steps."""

    def __init__(
        self, q: Queries, user_id: int, home_domain: int, since: int, purgetime: int | None
    ) -> None:
        versions = [
            (t, decode_state(s), home_domain if d is None else int(d))
            for t, s, d in q.user_timeline(user_id, since)
        ]
        reports = q.storage_reports(user_id, since)
        alias_domains: dict[str, int] = {}

        def domain_of(address: str) -> int:
            if address not in alias_domains:
                row = q.resolve_address(address)
                if row is not None:
                    alias_domains[address] = row[1]
                else:
                    dom = q.domain_by_name(address.rpartition("@")[2])
                    alias_domains[address] = dom[0] if dom else home_domain
            return alias_domains[address]

        times = sorted(
            {since}
            | {t for t, _, _ in versions if t > since}
            | {t for t, _, _ in reports if t > since}
            | ({purgetime} if purgetime is not None and purgetime > since else set())
        )
        v_times = [t for t, _, _ in versions]
        r_times = [t for t, _, _ in reports]
        self.steps: list[tuple[int, Contribution]] = []
        for t in times:
            if purgetime is not None and t >= purgetime:
                self.steps.append((t, {}))
                continue
            vi = bisect_right(v_times, t) - 1
            ri = bisect_right(r_times, t) - 1
            state, home = (versions[vi][1], versions[vi][2]) if vi >= 0 else (None, home_domain)
            items, nbytes = (reports[ri][1], reports[ri][2]) if ri >= 0 else (0, 0)
            self.steps.append((t, contribution(state, items, nbytes, home, domain_of)))

    def at(self, t: int) -> Contribution:
        i = bisect_right([s[0] for s in self.steps], t) - 1
        return self.steps[i][1] if i >= 0 else {}


class UserChange:
    """Context manager that turns a change of one account into gauge changes."""

    def __init__(
        self, q: Queries, periods: Periods, user_id: int, since: int, purgetime: int | None = None
    ) -> None:
        self.q = q
        self.periods = periods
        self.user_id = user_id
        self.since = since
        self.purgetime = purgetime
        row = q.user_by_id(user_id)
        self.company_id = int(row[1]) if row else 0
        self.home_domain = int(row[2]) if row else 0
        self.exists = row is not None
        self._before: _Timeline | None = None

    def __enter__(self) -> UserChange:
        if self.exists:
            self._before = _Timeline(
                self.q, self.user_id, self.home_domain, self.since, self._current_purgetime()
            )
        return self

    def _current_purgetime(self) -> int | None:
        return self.q.user_purgetime(self.user_id)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            return
        if not self.exists:  # created inside the block
            row = self.q.user_by_id(self.user_id)
            self.company_id, self.home_domain = int(row[1]), int(row[2])
        after = _Timeline(
            self.q, self.user_id, self.home_domain, self.since, self._current_purgetime()
        )
        before = self._before
        times = {t for t, _ in after.steps}
        if before is not None:
            times |= {t for t, _ in before.steps}
        deltas = _deltas(before, after, sorted(times))
        write_deltas(self.q, self.periods, self.company_id, deltas)


def _deltas(
    before: _Timeline | None, after: _Timeline, times: list[int]
) -> list[tuple[int, int, Vector]]:
    """(time, domain_id, change) where after − before changes its value."""
    out: list[tuple[int, int, Vector]] = []
    prev: dict[int, Vector] = {}
    for t in times:
        a = after.at(t)
        b = before.at(t) if before else {}
        diff: dict[int, Vector] = {}
        for d in set(a) | set(b):
            va, vb = a.get(d), b.get(d)
            diff[d] = [(va[i] if va else 0) - (vb[i] if vb else 0) for i in range(_WIDTH)]
        for d in set(diff) | set(prev):
            now_v = diff.get(d, [0] * _WIDTH)
            was_v = prev.get(d, [0] * _WIDTH)
            change = [x - y for x, y in zip(now_v, was_v, strict=True)]
            if any(change):
                out.append((t, d, change))
        prev = diff
    return out


def write_deltas(
    q: Queries, periods: Periods, company_id: int, deltas: list[tuple[int, int, Vector]]
) -> None:
    """Add (time, domain_id, change) to the domain and company rows of every kind."""
    if not deltas:
        return
    # Summed per domain and day first: a batch of quota reports holds thousands of
    # changes of a few domains and days, each to be added to six rows.  (The rows
    # come out in the same order as when each change is added to its six.)
    by_day: dict[tuple[int, tuple[str, str, str]], Vector] = {}
    for t, domain_id, change in deltas:
        k_day = (domain_id, periods.keys(t))
        row = by_day.get(k_day)
        by_day[k_day] = change if row is None else list(map(add, row, change))
    acc: dict[tuple[str, int, str, str], Vector] = {}
    for (domain_id, keys), change in by_day.items():
        for kind, key in zip(KINDS, keys, strict=True):
            for scope, sid in ((DOMAIN, domain_id), (COMPANY, company_id)):
                k = (scope, sid, kind, key)
                row = acc.get(k)
                # (a vector is never changed in place: one may be shared by rows)
                acc[k] = change if row is None else list(map(add, row, change))
    q.add_gauges(
        GaugeRow(company_id, scope, sid, kind, key, v)
        for (scope, sid, kind, key), v in acc.items()
        if any(v)
    )


class _End:
    """Where an account's history ends: its latest version and latest report."""

    __slots__ = ("company_id", "domain_id", "live", "purged", "report", "version_time")

    def __init__(self, row: Any) -> None:
        _id, company_id, domain_id, purgetime, vtime, vstate, rtime, items, nbytes = row
        self.company_id, self.domain_id = int(company_id), int(domain_id)
        self.purged = purgetime is not None
        self.version_time = None if vtime is None else int(vtime)
        # of the latest version only whether it is deleted (None: no version yet);
        # a batch holds one of these per account: 100,000 decoded states were 50 MB
        self.live = None if vstate is None else decode_state(vstate).deletetime is None
        self.report = None if rtime is None else (int(rtime), int(items), int(nbytes))

    def appends(self, t: int) -> bool:
        """Is a report at ``t`` at the end of this history (nothing dated after it)?"""
        return (
            not self.purged
            and (self.version_time is None or self.version_time <= t)
            and (self.report is None or self.report[0] <= t)
        )

    def storage_change(self, items: int, nbytes: int) -> Vector | None:
        """What a report appended now changes in the home domain's gauges."""
        if self.live is None:
            return None  # no version yet: the account contributes nothing
        old_items, old_bytes = (self.report[1], self.report[2]) if self.report else (0, 0)
        v = [0] * _WIDTH
        items_col, size_col = _STORAGE_COLS[self.live]
        v[items_col] = items - old_items
        v[size_col] = nbytes - old_bytes
        return v if any(v) else None


def add_storage_reports(
    q: Queries, periods: Periods, reports: list[tuple[int, int, int, int, int]]
) -> None:
    """Store quota reports ``(company_id, user_id, time, items, bytes)``, oldest first,
    and the gauge changes they make.

    A report dated after everything in its account's history — the usual case,
    today's report — changes only the storage gauges of the account's home
    domain, from its time on: that change is computed from where the history
    ends (one query for all the batch's accounts) and written with the others,
    one upsert per (scope, period).  Any other report (dated before a later
    version or report, or of a purged account) goes through :class:`UserChange`,
    which evaluates the account's history again; both give the same gauges.
    """
    if not reports:
        return
    ends = {int(row[0]): _End(row) for row in q.storage_ends(r[1] for r in reports)}
    deltas: dict[int, list[tuple[int, int, Vector]]] = defaultdict(list)
    # Appended reports are written together (one executemany, not thousands of
    # executes), before anything reads the reports back: a UserChange does.
    appended: list[tuple[int, int, int, int, int]] = []
    for company_id, user_id, t, items, nbytes in reports:
        end = ends.get(user_id)
        if end is not None and end.appends(t):
            appended.append((company_id, user_id, t, items, nbytes))
            change = end.storage_change(items, nbytes)
            if change is not None:
                deltas[end.company_id].append((t, end.domain_id, change))
            end.report = (t, items, nbytes)
            continue
        ends.pop(user_id, None)  # changed in its middle: its end is read again if needed
        q.put_storage_reports(appended)
        appended.clear()
        with UserChange(q, periods, user_id, since=t):
            q.put_storage_report(company_id, user_id, t, items, nbytes)
    q.put_storage_reports(appended)
    for company_id, changes in deltas.items():
        write_deltas(q, periods, company_id, changes)
