"""The one path by which events become counts.

Log ingestion, ``ingest_events``, the API's own authentication counter and the
demo all call :func:`record_events` inside a write transaction; it resolves
each event's address (aliases to their real user), adds flows to the user, its
domain and its company for the day, week and month containing the event, and
applies quota reports to the gauge history.  Flows are summed in memory first
and written with one upsert per (scope, period), so a batch of a million log
lines is a few thousand row writes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from operator import add, itemgetter
from typing import Any

from mailtally.events import (
    ApiAuth,
    Autoresponse,
    Event,
    Forward,
    Login,
    MessageDenied,
    MessageIn,
    MessageOut,
    StorageReport,
)
from mailtally.history import add_storage_reports
from mailtally.periods import KINDS, Periods
from mailtally.store.base import (
    COMPANY,
    DOMAIN,
    FLOW_COLUMNS,
    LAST_COLUMNS,
    Queries,
)

__all__ = ["REMEMBER_MAX", "RecordResult", "Resolver", "record_events"]

_F = {c: i for i, c in enumerate(FLOW_COLUMNS)}
_L = {c: i for i, c in enumerate(LAST_COLUMNS)}
_NF, _NL = len(FLOW_COLUMNS), len(LAST_COLUMNS)
_SECOND, _DAY_USER = itemgetter(1), itemgetter(0, 1)

#: (user_id or None, domain_id, company_id)
Owner = tuple[int | None, int, int]


@dataclass(slots=True)
class RecordResult:
    """What :func:`record_events` did with a batch.

    Events are counted by their ``count``: an event that sums several (the
    ingester sums a batch's events per account, kind and day) counts as those.
    """

    counted: int = 0
    #: events whose address is outside the tenant tree (not counted)
    ignored: int = 0
    ignored_addresses: dict[str, int] = field(default_factory=dict)
    #: what record_events' ``meanwhile`` returned
    meanwhile: object = None

    def ignore(self, address: str, count: int = 1) -> None:
        """``count`` events of ``address``, outside the tree, not counted."""
        self.ignored += count
        self.ignored_addresses[address] = self.ignored_addresses.get(address, 0) + count


#: addresses a resolver that has not read the whole tree remembers at most (those
#: of the tree and those outside it alike); past it, it forgets the oldest half
REMEMBER_MAX = 200_000


class Resolver:
    """Addresses → owners, cached.

    The cache is only right while the tree stays the same: the log ingester
    keeps a resolver across its batch transactions (setting ``q`` to each) as
    long as ``Queries.tree_version`` says nothing changed, and makes a new one
    when it did.

    It knows an address in one of three ways: the whole tree read at once
    (:meth:`preload`: then an address it does not hold is in no account, and is
    not asked for), the addresses of a batch asked together (:meth:`learn`, one
    statement per few hundred), or one address asked alone.  Addresses are held
    once, with their owner (a tuple shared by an account's addresses); an alias
    also keeps its account's own address (:meth:`canonical`).  Unless the whole
    tree was read, at most ``limit`` addresses are remembered, answers of "in
    no account" included.
    """

    def __init__(self, q: Queries, limit: int = REMEMBER_MAX) -> None:
        self.q = q
        self.limit = limit
        self._users: dict[str, Owner | None] = {}
        #: the account's own address, for those of ``_users`` that are aliases
        self._canonical: dict[str, str] = {}
        self._domains: dict[str, tuple[int, int] | None] = {}
        #: every address of the tree has been remembered: others are not asked for
        self.complete = False

    def __len__(self) -> int:
        """Addresses remembered (those in no account included)."""
        return len(self._users)

    def preload(self, rows: Iterable[tuple[str, int, int, int, str]]) -> None:
        """Remember every address of the tree (``Queries.accounts()``): none is asked
        for again, and an address not among them is in no account."""
        users, canonical = self._users, self._canonical
        # (a loop of its own, not _keep: 100,000 rows at provider scale)
        for address, user_id, domain_id, company_id, own in rows:
            users[address] = (user_id, domain_id, company_id)
            if own != address:
                canonical[address] = own
        self.complete = True

    def _keep(self, row: tuple[str, int, int, int, str]) -> Owner:
        address, user_id, domain_id, company_id, own = row
        # an account's addresses share its owner tuple, and an address that is the
        # account's own is not kept twice
        owner = self._users.get(own)
        if owner is None or owner[0] != user_id:
            owner = (user_id, domain_id, company_id)
        self._users[address] = owner
        if own != address:
            self._canonical[address] = own
        return owner

    def _forget_some(self, coming: int = 1) -> None:
        """Make room for ``coming`` addresses: past ``limit``, forget the oldest ones
        down to half of it (a log names ever new addresses)."""
        if self.complete or len(self._users) + coming <= self.limit:
            return
        drop = len(self._users) - max(0, min(self.limit // 2, self.limit - coming))
        for key in list(itertools.islice(self._users, drop)):
            del self._users[key]
            self._canonical.pop(key, None)

    def learn(self, addresses: Iterable[str]) -> None:
        """Ask for those of ``addresses`` not yet known, together (one statement per
        ``Queries.ACCOUNTS_OF_CHUNK``), so that :meth:`user` asks for none of them."""
        if self.complete:
            return
        users = self._users
        wanted = {a.lower() for a in addresses}
        unknown = wanted - users.keys()
        if not unknown:
            return
        self._forget_some(len(unknown))
        unknown = list(wanted - users.keys())  # (what was forgotten is asked again)
        for row in self.q.accounts_of(unknown):
            self._keep(row)
        for key in unknown:
            users.setdefault(key, None)

    def user(self, address: str) -> Owner | None:
        """The account an address (own or alias) delivers to, or None."""
        key = address.lower()
        users = self._users
        if key in users:
            return users[key]
        if self.complete:
            return None
        self._forget_some()
        row = self.q.account_of(key)
        # an address in no account is kept as one in an account is, from a
        # stand-in row, then marked missing (rule 3: ingest_events answers
        # another tenant's address and a missing one in the same time)
        found = row is not None
        if row is None:
            row = (0, 0, 0, key)
        # an alias may live in another domain of the company: count for the
        # real user's own domain
        owner = self._keep((key, int(row[0]), int(row[1]), int(row[2]), str(row[3])))
        if not found:
            users[key] = None
            return None
        return owner

    def known(self) -> dict[str, Owner | None]:
        """The owners remembered, by lower-case address: when the whole tree was
        read, an address (in lower case) absent from it is in no account, and
        :meth:`user` need not be asked; else empty (ask :meth:`user`)."""
        return self._users if self.complete else _NOTHING_KNOWN

    def tables(self) -> tuple[dict[str, Owner | None], dict[str, str]] | None:
        """When the whole tree was read: (owners by lower-case address, the account's
        own address by alias), from which the compiled joiner answers :meth:`canonical`
        itself (``_fastlog.Joiner.resolve_tables``); else None.  (Read, never written,
        while the tree is complete.)"""
        return (self._users, self._canonical) if self.complete else None

    def canonical(self, address: str) -> str | None:
        """The own address (lower case) of the account ``address`` reaches, or None."""
        key = address.lower()
        owner = self._users.get(key, _UNSEEN) if self.complete else self.user(key)
        if owner is None or owner is _UNSEEN:
            return None
        return self._canonical.get(key, key)

    def domain(self, address: str) -> tuple[int, int] | None:
        """(domain_id, company_id) of the address's domain, if it is one of ours."""
        name = address.rpartition("@")[2].lower()
        if name not in self._domains:
            row = self.q.domain_by_name(name)
            # (a missing domain's ids are built from a stand-in, then dropped: rule 3)
            ids = row or _NO_DOMAIN_IDS
            found = (int(ids[0]), int(ids[1]))
            self._domains[name] = None if row is None else found
        return self._domains[name]


_NOTHING_KNOWN: dict[str, Owner | None] = {}
#: what a missing domain's (id, company_id) are read as before it is dropped
#: (Resolver.domain)
_NO_DOMAIN_IDS = (0, 0)


class _Tally:
    """Flow counts summed in memory, then written as one row per (scope, period).

    Events are first summed per (owner, day): a batch holds many events of one
    user and day, and only the sums are expanded to the user's, domain's and
    company's day, week and month rows.
    """

    def __init__(self, periods: Periods) -> None:
        self.periods = periods
        #: (owner, period keys) -> [flow values..., last times...]
        self.cells: dict[tuple[Owner, tuple[str, str, str]], list[int]] = {}
        #: period keys by quarter hour (Periods.keys caches too, but a dict here
        #: saves two calls per event on the ingestion path)
        self.keys_by_bucket: dict[int, tuple[str, str, str]] = {}

    def keys(self, ts: int) -> tuple[str, str, str]:
        """The (day, week, month) keys of ``ts``, remembered by quarter hour in
        :attr:`keys_by_bucket` (which record_events reads first)."""
        bucket = ts // 900
        keys = self.keys_by_bucket.get(bucket)
        if keys is None:
            keys = self.periods.bucket_keys(bucket)
            if keys is None:  # a quarter hour with a midnight in it: this second's own
                return self.periods.keys(ts)
            self.keys_by_bucket[bucket] = keys
        return keys

    def scope_rows(self) -> Iterator[tuple[Any, ...]]:
        """The cells summed into their domains' and companies' rows, each as
        :meth:`Queries.add_flow_rows` takes it, in the flows table's key order
        (kind, period, scope, scope_id: migration 0007) — the days, then the
        weeks, then the months, and in each period its company and domain rows
        by id — so the store writes each period's rows into pages side by side.
        The sums are column sums (``zip``) of their cells.  (The users' own rows
        are written from :meth:`user_deltas`.)"""
        return chain.from_iterable(self._row_lists())

    def user_deltas(self) -> tuple[list[tuple[Any, ...]], bool]:
        """The cells of users as :meth:`Queries.add_user_flows` takes them — (day,
        user_id, week, month, company_id, *cell), one per user and day, the
        same delta for its day, week and month rows — by (day, user_id), and
        whether the batch is of one day (then no user has two cells in one week
        or month).  (In key order, SQLite's temporary table of them is written
        a third faster: 69,000 deltas, 0.45 s instead of 0.66.)"""
        one_day = len({keys[0] for _, keys in self.cells}) <= 1
        deltas = [
            (keys[0], user_id, keys[1], keys[2], company_id, *cell)
            for ((user_id, _, company_id), keys), cell in self.cells.items()
            if user_id is not None
        ]
        # (one day: the ids alone, an int key compared without a Python call)
        deltas.sort(key=_SECOND if one_day else _DAY_USER)
        keys = {d[1] for d in deltas} if one_day else {(d[0], d[1]) for d in deltas}
        if len(keys) < len(deltas):
            deltas = _merged(deltas)
        return deltas, one_day

    def _row_lists(self) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of :meth:`scope_rows`, a list per (kind, period)."""
        # (company, domain, day keys) -> its cells
        domain_days: dict[tuple[int, int, tuple[str, str, str]], list[list[int]]] = {}
        for ((_user_id, domain_id, company_id), keys), cell in self.cells.items():
            group = domain_days.get((company_id, domain_id, keys))
            if group is None:
                domain_days[company_id, domain_id, keys] = [cell]
            else:
                group.append(cell)
        no_lasts = (0,) * _NL
        # (kind's index in the day keys, period) -> (scope, id) -> (company, sums)
        scopes: dict[tuple[int, str], dict[tuple[str, int], tuple[int, list[int]]]] = {}
        for (cid, did, keys), cells in domain_days.items():
            values = _combine(cells)[:_NF]
            for k, period in enumerate(keys):
                rows = scopes.setdefault((k, period), {})
                for key in ((COMPANY, cid), (DOMAIN, did)):
                    acc = rows.get(key)
                    rows[key] = (cid, values if acc is None else list(map(add, acc[1], values)))
        del domain_days
        for (k, period), rows in sorted(scopes.items()):  # day, week, month (KIND_CODES)
            kind = KINDS[k]
            yield [
                (cid, scope, sid, kind, period, *values, *no_lasts)
                for (scope, sid), (cid, values) in sorted(rows.items())
            ]


def _merged(deltas: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """``deltas`` (sorted by day and user) with those of one user and day made one:
    a user's cells under two owners (its domain or company told differently within
    a batch) are one row in the store."""
    out: list[tuple[Any, ...]] = []
    for d in deltas:
        if out and out[-1][:2] == d[:2]:
            prev = out[-1]
            out[-1] = (*prev[:5], *_combine([list(prev[5:]), list(d[5:])]))
        else:
            out.append(d)
    return out


def _combine(cells: list[list[int]], nf: int = _NF) -> list[int]:
    """Cells summed: flow values (the first ``nf``) added, last times the latest."""
    if len(cells) == 1:
        return cells[0]
    cols = list(zip(*cells, strict=True))
    return [sum(c) for c in cols[:nf]] + [max(c) for c in cols[nf:]]


_IN_HAM, _IN_SIZE, _IN_SPAM = _F["messages_in_ham"], _F["messages_in_size"], _F["messages_in_spam"]
_DENIED = _F["messages_denied"]
_OUT_MSG, _OUT_RCPT, _OUT_SIZE = (
    _F["messages_out_msg_count"],
    _F["messages_out_rcpt_count"],
    _F["messages_out_size"],
)
_FORWARD, _AUTORESPOND = _F["messages_forward_count"], _F["messages_autorespond_count"]
_LOGIN = {s: _F[f"logins_{s}"] for s in ("imap4", "pop3", "webmail")}
_AUTH = {"password": _F["logins_auth_password"], "token": _F["logins_auth_token"]}
# (last times are kept after the flow values in a cell: their indices there)
_LAST_LOGIN = {s: _NF + _L[f"last_{s}"] for s in ("imap4", "pop3", "webmail")}
_LAST_IN, _LAST_RELAY = _NF + _L["last_smtpin"], _NF + _L["last_smtprelay"]
_UNSEEN: Any = object()
#: the cell columns _fastlog.tally_events adds to, in the order it takes them
_TALLY_COLUMNS = (
    _IN_HAM,
    _IN_SIZE,
    _IN_SPAM,
    _DENIED,
    _OUT_MSG,
    _OUT_RCPT,
    _OUT_SIZE,
    _FORWARD,
    _AUTORESPOND,
    *_LOGIN.values(),
    _LAST_IN,
    _LAST_RELAY,
    *_LAST_LOGIN.values(),
)
#: every kind of event, the most frequent first
_KINDS = (
    MessageIn,
    MessageOut,
    Login,
    MessageDenied,
    Forward,
    Autoresponse,
    ApiAuth,
    StorageReport,
)


def _tally_events(
    events: Iterable[Event],
    tally: _Tally,
    resolve: Resolver,
    res: RecordResult,
    reports: list[StorageReport],
) -> None:
    """Add ``events`` to the cells of ``tally`` (storage reports go to ``reports``,
    events outside the tree to ``res.ignored``).  The reference of
    ``_fastlog.tally_events``, which counts the usual events of a log batch the
    same way, and leaves the others to this."""
    ignore = res.ignore
    cells = tally.cells
    keys_of = tally.keys_by_bucket
    # the owners of addresses as the event spells them: first the resolver's own
    # table when it holds the whole tree (the joiner hands over canonical, lower
    # case addresses: one lookup, no lower() nor call), else the resolver itself
    known = resolve.known()
    user_of = resolve.user
    width = _NF + _NL
    for ev in events:
        # type() is exact for every event the ingester makes; a subclass (an
        # ``ingest_events`` caller's own) is looked up by isinstance once
        kind = type(ev)
        if kind not in _KINDS:
            kind = next((k for k in _KINDS if isinstance(ev, k)), None)  # type: ignore[assignment]
            if kind is None:
                raise TypeError(f"not an event: {ev!r}")
        if kind is StorageReport:
            reports.append(ev)  # type: ignore[arg-type]
            continue
        n, ts = ev.count, ev.time
        # the owner's cell for the day, inlined (this loop runs once per summed
        # event: a hundred thousand per batch at provider scale)
        keys = keys_of.get(ts // 900)
        if keys is None:
            keys = tally.keys(ts)
        if kind is MessageDenied:
            owner = user_of(ev.recipient)  # type: ignore[union-attr]
            if owner is None:
                dom = resolve.domain(ev.recipient)  # type: ignore[union-attr]
                if dom is None:
                    ignore(ev.recipient, n)  # type: ignore[union-attr]
                    continue
                owner = (None, dom[0], dom[1])
            key = (owner, keys)
            cell = cells.get(key)
            if cell is None:
                cell = cells[key] = [0] * width
            cell[_DENIED] += n
            res.counted += n
            continue
        address = ev.user  # type: ignore[union-attr]
        owner = known.get(address, _UNSEEN)
        if owner is _UNSEEN:
            owner = user_of(address)
        if owner is None:
            ignore(address, n)
            continue
        key = (owner, keys)
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = [0] * width
        last: int | None
        if kind is MessageIn:
            if ev.spam:  # type: ignore[union-attr]
                cell[_IN_SPAM] += n
            else:
                cell[_IN_HAM] += n
                cell[_IN_SIZE] += ev.size  # type: ignore[union-attr]
            last = _LAST_IN
        elif kind is MessageOut:
            cell[_OUT_MSG] += n
            cell[_OUT_RCPT] += ev.recipients  # type: ignore[union-attr]
            cell[_OUT_SIZE] += ev.size  # type: ignore[union-attr]
            last = _LAST_RELAY
        elif kind is Login:
            cell[_LOGIN[ev.service]] += n  # type: ignore[union-attr]
            last = _LAST_LOGIN[ev.service]  # type: ignore[union-attr]
        elif kind is Forward:
            cell[_FORWARD] += n
            last = None
        elif kind is Autoresponse:
            cell[_AUTORESPOND] += n
            last = None
        else:  # ApiAuth (_KINDS is the closed Event union)
            cell[_AUTH[ev.method]] += n  # type: ignore[union-attr]
            last = None
        if last is not None and ts > cell[last]:
            cell[last] = ts
        res.counted += n


def record_events(
    q: Queries,
    periods: Periods,
    events: list[Event] | tuple[Event, ...],
    resolver: Resolver | None = None,
    compiled: bool | None = None,
    bump: bool = True,
    meanwhile: Callable[[], object] | None = None,
) -> RecordResult:
    """Count ``events`` inside the open write session ``q``.

    Events whose address is not in the tree are ignored (reported in the
    result); ``ingest_events`` validates its batch beforehand so that it has
    none.  Storage reports are applied in time order per user so that a late
    report lands in the past without disturbing newer ones.

    ``compiled``: count the usual events with the compiled twin of
    :func:`_tally_events` (default: when it is built and not switched off).
    ``bump``: mark every cached summary stale (meta ``generation``) when
    anything was counted; the API's own auth counts say instead whose
    summaries they change (api/service.py).
    ``meanwhile``: work that does not touch the store, done while it writes the
    users' rows (:meth:`Queries.add_user_flows`); its result is ``meanwhile`` of
    the result (the ingester encodes its joiner's state there).
    """
    res = RecordResult()
    resolve = resolver or Resolver(q)
    tally = _Tally(periods)
    reports: list[StorageReport] = []
    if not resolve.complete:
        # the batch's addresses not yet known, asked together (not one query each)
        resolve.learn(
            ev.recipient if isinstance(ev, MessageDenied) else getattr(ev, "user", "")
            for ev in events
        )
    rest = events
    if compiled is None:
        from mailtally.ingest.files import compiled_available  # (files imports this module)

        compiled = compiled_available()
    if compiled:
        from mailtally.ingest import _fastlog

        # the usual events of known addresses, counted in C (the same cells: the
        # twin of _tally_events, tests/test_tally_events.py); the others below
        counted, rest = _fastlog.tally_events(
            events if isinstance(events, list) else list(events),
            resolve.known(),
            tally.cells,
            tally.keys_by_bucket,
            periods.bucket_keys,
            _TALLY_COLUMNS,
            _NF + _NL,
        )
        res.counted += counted
    _tally_events(rest, tally, resolve, res, reports)
    deltas, one_day = tally.user_deltas()

    # the company and domain rows are summed (and the caller's work done) while
    # the store writes the users' (SQLite: in another thread, without the GIL)
    def scope_rows() -> tuple[list[tuple[Any, ...]], object]:
        return list(tally.scope_rows()), None if meanwhile is None else meanwhile()

    done = q.add_user_flows(deltas, one_day=one_day, meanwhile=scope_rows)
    del deltas
    assert done is not None
    rows, res.meanwhile = done
    q.add_flow_rows(rows, in_key_order=True)

    storage: list[tuple[int, int, int, int, int]] = []
    for rep in sorted(reports, key=lambda r: r.time):
        owner = resolve.user(rep.user)
        if owner is None or owner[0] is None:
            res.ignore(rep.user)
            continue
        storage.append((owner[2], owner[0], rep.time, rep.items, rep.bytes))
        res.counted += 1
    add_storage_reports(q, periods, storage)
    if res.counted and bump:
        q.bump_generation()
    return res
