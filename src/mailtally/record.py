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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from operator import add
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
    USER,
    Queries,
)

__all__ = ["REMEMBER_MAX", "RecordResult", "Resolver", "record_events"]

_F = {c: i for i, c in enumerate(FLOW_COLUMNS)}
_L = {c: i for i, c in enumerate(LAST_COLUMNS)}
_NF, _NL = len(FLOW_COLUMNS), len(LAST_COLUMNS)

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
        if row is None:
            users[key] = None
            return None
        # an alias may live in another domain of the company: count for the
        # real user's own domain
        return self._keep((key, int(row[0]), int(row[1]), int(row[2]), str(row[3])))

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
            self._domains[name] = None if row is None else (int(row[0]), int(row[1]))
        return self._domains[name]


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
        self._keys: dict[int, tuple[str, str, str]] = {}

    def cell(self, owner: Owner, ts: int) -> list[int]:
        """The sums of ``owner`` for the day of ``ts``: flow values, then last times."""
        bucket = ts // 900
        keys = self._keys.get(bucket)
        if keys is None:
            keys = self.periods.bucket_keys(bucket)
            if keys is None:  # a quarter hour with a midnight in it: this second's own
                keys = self.periods.keys(ts)
            else:
                self._keys[bucket] = keys
        key = (owner, keys)
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = [0] * (_NF + _NL)
        return cell

    def rows(self) -> Iterator[tuple[Any, ...]]:
        """The cells expanded to their user, domain and company rows, each as
        :meth:`Queries.add_flow_rows` takes it, one at a time (a batch of 100,000
        accounts makes 300,000 rows: they go to the store as they are made, never
        held together).

        They come in the flows table's key order (kind, period, scope, scope_id:
        migration 0007) — the days, then the weeks, then the months, and in each
        period its company, domain and user rows by id — so the store writes
        each period's rows of every account into pages side by side, each page
        once.  A cell is its user's day row as it is; a user's week and month
        rows are sums of its cells only when the batch holds several of its days,
        and the domain and company sums are column sums (``zip``) of their cells.
        """
        # (company, domain, day keys) -> its cells
        domain_days: dict[tuple[int, int, tuple[str, str, str]], list[list[int]]] = {}
        users: list[tuple[int, tuple[str, str, str], int, list[int]]] = []
        for ((user_id, domain_id, company_id), keys), cell in self.cells.items():
            group = domain_days.get((company_id, domain_id, keys))
            if group is None:
                domain_days[company_id, domain_id, keys] = [cell]
            else:
                group.append(cell)
            if user_id is not None:
                users.append((user_id, keys, company_id, cell))
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
        for k, kind in enumerate(KINDS):  # as in the day keys and KIND_CODES: day, week, month
            users.sort(key=lambda u, k=k: (u[1][k], u[0]))
            i, n = 0, len(users)
            for (_k, period), rows in sorted(scopes.items()):
                if _k != k:
                    continue
                for (scope, sid), (cid, values) in sorted(rows.items()):
                    yield (cid, scope, sid, kind, period, *values, *no_lasts)
                while i < n and users[i][1][k] == period:
                    user_id, _keys, cid, cell = users[i]
                    j = i + 1
                    while j < n and users[j][0] == user_id and users[j][1][k] == period:
                        j += 1
                    if j == i + 1:  # the usual case: one day of the user in the period
                        yield (cid, USER, user_id, kind, period, *cell)
                    else:
                        yield (
                            cid,
                            USER,
                            user_id,
                            kind,
                            period,
                            *_combine([u[3] for u in users[i:j]]),
                        )
                    i = j


def _combine(cells: list[list[int]]) -> list[int]:
    """Cells summed: flow values added, last times the latest."""
    if len(cells) == 1:
        return cells[0]
    cols = list(zip(*cells, strict=True))
    return [sum(c) for c in cols[:_NF]] + [max(c) for c in cols[_NF:]]


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
#: a flow row's last IMAP, POP3 and webmail login (rows are (company_id, scope,
#: scope_id, kind, period, *flows, *lasts))
_ROW_LOGINS = tuple(5 + _NF + _L[f"last_{s}"] for s in ("imap4", "pop3", "webmail"))


def _noting_last_logins(
    rows: Iterator[tuple[Any, ...]], out: list[tuple[int, int]]
) -> Iterator[tuple[Any, ...]]:
    """The rows as they come, noting in ``out`` the (user_id, latest login) of
    each account whose day row names a login: what raises ``users.lastlogin``,
    which search_users sorts by (the flows' last_* columns say it too, but only
    period by period).  Noted on the way, because the rows are streamed to the
    store, never held."""
    for row in rows:
        if row[1] == USER and row[3] == "day":
            t = max(row[i] for i in _ROW_LOGINS)
            if t:
                out.append((row[2], t))
        yield row


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


def record_events(
    q: Queries,
    periods: Periods,
    events: list[Event] | tuple[Event, ...],
    resolver: Resolver | None = None,
) -> RecordResult:
    """Count ``events`` inside the open write session ``q``.

    Events whose address is not in the tree are ignored (reported in the
    result); ``ingest_events`` validates its batch beforehand so that it has
    none.  Storage reports are applied in time order per user so that a late
    report lands in the past without disturbing newer ones.
    """
    res = RecordResult()
    resolve = resolver or Resolver(q)
    tally = _Tally(periods)
    reports: list[StorageReport] = []

    def ignore(address: str, count: int = 1) -> None:
        res.ignored += count
        res.ignored_addresses[address] = res.ignored_addresses.get(address, 0) + count

    if not resolve.complete:
        # the batch's addresses not yet known, asked together (not one query each)
        resolve.learn(
            ev.recipient if isinstance(ev, MessageDenied) else getattr(ev, "user", "")
            for ev in events
        )
    cell_of = tally.cell
    user_of = resolve.user
    # owners by the address as the event spells it: a batch's summed events name
    # each address once per kind and day, and the resolver lower()s every time
    owners: dict[str, Owner | None] = {}
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
        if kind is MessageDenied:
            owner = user_of(ev.recipient)  # type: ignore[union-attr]
            if owner is None:
                dom = resolve.domain(ev.recipient)  # type: ignore[union-attr]
                if dom is None:
                    ignore(ev.recipient, ev.count)  # type: ignore[union-attr]
                    continue
                owner = (None, dom[0], dom[1])
            cell_of(owner, ev.time)[_DENIED] += ev.count
            res.counted += ev.count
            continue
        address = ev.user  # type: ignore[union-attr]
        owner = owners.get(address, _UNSEEN)
        if owner is _UNSEEN:
            owner = owners[address] = user_of(address)
        if owner is None:
            ignore(ev.user, ev.count)  # type: ignore[union-attr]
            continue
        n, ts = ev.count, ev.time
        # The sums are added straight into the owner's cell for the day (this loop
        # runs once per summed event: tens of thousands per batch).
        cell = cell_of(owner, ts)
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
    last_logins: list[tuple[int, int]] = []
    q.add_flow_rows(_noting_last_logins(tally.rows(), last_logins), in_key_order=True)
    q.raise_lastlogins(last_logins)

    storage: list[tuple[int, int, int, int, int]] = []
    for rep in sorted(reports, key=lambda r: r.time):
        owner = resolve.user(rep.user)
        if owner is None or owner[0] is None:
            ignore(rep.user)
            continue
        storage.append((owner[2], owner[0], rep.time, rep.items, rep.bytes))
        res.counted += 1
    add_storage_reports(q, periods, storage)
    if res.counted:
        q.bump_generation()
    return res
