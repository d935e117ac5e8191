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

from dataclasses import dataclass, field

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
from mailtally.history import UserChange
from mailtally.periods import KINDS, Periods
from mailtally.store.base import (
    COMPANY,
    DOMAIN,
    FLOW_COLUMNS,
    LAST_COLUMNS,
    USER,
    FlowRow,
    Queries,
)

__all__ = ["RecordResult", "Resolver", "record_events"]

_F = {c: i for i, c in enumerate(FLOW_COLUMNS)}
_L = {c: i for i, c in enumerate(LAST_COLUMNS)}
_NF, _NL = len(FLOW_COLUMNS), len(LAST_COLUMNS)

#: (user_id or None, domain_id, company_id)
Owner = tuple[int | None, int, int]


@dataclass(slots=True)
class RecordResult:
    """What :func:`record_events` did with a batch."""

    counted: int = 0
    #: events whose address is outside the tenant tree (not counted)
    ignored: int = 0
    ignored_addresses: dict[str, int] = field(default_factory=dict)


class Resolver:
    """Addresses → owners, cached for the life of one ingestion run.

    The cache must be dropped (``clear``) when the tree changes; a log ingester
    makes a new resolver per batch transaction.
    """

    def __init__(self, q: Queries) -> None:
        self.q = q
        self._users: dict[str, Owner | None] = {}
        self._domains: dict[str, tuple[int, int] | None] = {}

    def clear(self) -> None:
        self._users.clear()
        self._domains.clear()

    def user(self, address: str) -> Owner | None:
        """The account an address (own or alias) delivers to, or None."""
        key = address.lower()
        if key in self._users:
            return self._users[key]
        row = self.q.resolve_address(key)
        owner = None if row is None else (int(row[0]), int(row[1]), int(row[2]))
        if owner is not None:
            # an alias may live in another domain of the company: count for the
            # real user's own domain
            user = self.q.user_by_id(owner[0])
            owner = (owner[0], int(user[2]), int(user[1]))
        self._users[key] = owner
        return owner

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

    def add(
        self, owner: Owner, ts: int, adds: tuple[tuple[int, int], ...], last: int | None
    ) -> None:
        key = (owner, self.periods.keys(ts))
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = [0] * (_NF + _NL)
        for col, n in adds:
            cell[col] += n
        if last is not None and ts > cell[_NF + last]:
            cell[_NF + last] = ts

    def rows(self) -> list[FlowRow]:
        rows: dict[tuple[str, int, str, str], FlowRow] = {}
        for ((user_id, domain_id, company_id), keys), cell in self.cells.items():
            scopes: list[tuple[str, int]] = [(DOMAIN, domain_id), (COMPANY, company_id)]
            if user_id is not None:
                scopes.append((USER, user_id))
            for kind, period in zip(KINDS, keys, strict=True):
                for scope, sid in scopes:
                    k = (scope, sid, kind, period)
                    row = rows.get(k)
                    if row is None:
                        row = rows[k] = FlowRow(
                            company_id, scope, sid, kind, period, [0] * _NF, [0] * _NL
                        )
                    values = row.values
                    for i in range(_NF):
                        values[i] += cell[i]
                    if scope == USER:
                        lasts = row.lasts
                        for i in range(_NL):
                            if cell[_NF + i] > lasts[i]:
                                lasts[i] = cell[_NF + i]
        return list(rows.values())


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
_LAST_LOGIN = {s: _L[f"last_{s}"] for s in ("imap4", "pop3", "webmail")}
_LAST_IN, _LAST_RELAY = _L["last_smtpin"], _L["last_smtprelay"]


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

    def ignore(address: str) -> None:
        res.ignored += 1
        res.ignored_addresses[address] = res.ignored_addresses.get(address, 0) + 1

    for ev in events:
        if isinstance(ev, StorageReport):
            reports.append(ev)
            continue
        if isinstance(ev, MessageDenied):
            owner = resolve.user(ev.recipient)
            if owner is None:
                dom = resolve.domain(ev.recipient)
                if dom is None:
                    ignore(ev.recipient)
                    continue
                owner = (None, dom[0], dom[1])
            tally.add(owner, ev.time, ((_DENIED, ev.count),), None)
            res.counted += 1
            continue
        owner = resolve.user(ev.user)
        if owner is None:
            ignore(ev.user)
            continue
        n = ev.count
        if isinstance(ev, MessageIn):
            if ev.spam:
                tally.add(owner, ev.time, ((_IN_SPAM, n),), _LAST_IN)
            else:
                tally.add(owner, ev.time, ((_IN_HAM, n), (_IN_SIZE, ev.size)), _LAST_IN)
        elif isinstance(ev, MessageOut):
            adds = ((_OUT_MSG, n), (_OUT_RCPT, ev.recipients), (_OUT_SIZE, ev.size))
            tally.add(owner, ev.time, adds, _LAST_RELAY)
        elif isinstance(ev, Login):
            tally.add(owner, ev.time, ((_LOGIN[ev.service], n),), _LAST_LOGIN[ev.service])
        elif isinstance(ev, Forward):
            tally.add(owner, ev.time, ((_FORWARD, n),), None)
        elif isinstance(ev, Autoresponse):
            tally.add(owner, ev.time, ((_AUTORESPOND, n),), None)
        elif isinstance(ev, ApiAuth):
            tally.add(owner, ev.time, ((_AUTH[ev.method], n),), None)
        else:  # pragma: no cover - the Event union is closed
            raise TypeError(f"not an event: {ev!r}")
        res.counted += 1
    q.add_flows(tally.rows())

    for rep in sorted(reports, key=lambda r: r.time):
        owner = resolve.user(rep.user)
        if owner is None or owner[0] is None:
            ignore(rep.user)
            continue
        with UserChange(q, periods, owner[0], since=rep.time):
            q.put_storage_report(owner[2], owner[0], rep.time, rep.items, rep.bytes)
        res.counted += 1
    if res.counted:
        q.bump_generation()
    return res
