"""``stats_summary`` answers, built from the store (SPEC §5).

A company or domain reads two small ranges — its flow rows and its gauge
changes for the window — and never its users.  A user additionally reads its
versions and quota reports since the window began, to answer "as of the
period's end".

The periods are typed (:class:`UserPeriod`, :class:`CompanyPeriod`): the types
are the API document's schema of the method's answer (``GET /api/openapi.json``,
api/stats.py) and what is encoded.  A struct encodes its members' names from a table made
once, where a dict's keys were encoded again in every period of every answer;
its members are given by position, and it is not tracked by the cycle collector
(``gc=False``: it holds only text, numbers and other such structs).
"""

from __future__ import annotations

from bisect import bisect_right
from operator import itemgetter
from typing import Any

import msgspec

from mailtally.history import UserState, decode_state
from mailtally.metrics import COMPANY_FLOWS, GAUGES, LOGIN_SERVICES, MESSAGE_FLOWS, SERVICES
from mailtally.periods import Kind, Period, Periods, format_time
from mailtally.store.base import (
    COMPANY,
    DOMAIN,
    FLOW_COLUMNS,
    GAUGE_COLUMNS,
    LAST_COLUMNS,
    USER,
    Queries,
)
from mailtally.tree import Target

__all__ = [
    "CompanyPeriod",
    "UserPeriod",
    "company_summary",
    "stats_summary",
    "user_summary",
    "window_of",
]


class _Part(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    """A member of a period of an answer (positional, untracked; closed in the
    API document, as every answer is)."""


# -- the user shape: every leaf a string (reference Example 2) ------------------------
class UserMessages(_Part):
    """The period's message counts (SPEC §3 ``messages.*``); ``""`` for none."""

    autorespond_count: str
    in_size: str
    out_msg_count: str
    in_spam: str
    out_size: str
    forward_count: str
    in_ham: str
    out_rcpt_count: str
    denied: str


class UserServices(_Part):
    """Each service's state as of the period's end: enabled, disabled or suspended."""

    smtprelay: str
    smtpin: str
    imap4: str
    pop3: str
    webmail: str


class UserDelivery(_Part):
    """``"1"`` or ``"0"``: an autoresponder; forwarding only (no local delivery)."""

    autoresponder: str
    fonly: str


class UserLogins(_Part):
    """The period's logins per service, the API's own authentications, and the
    latest login (or delivery) of each kind up to the period's end, as
    ``Thu Jul 21 17:46:22 2011 UTC`` (``""``: none)."""

    imap4: str
    pop3: str
    webmail: str
    auth_token: str
    auth_password: str
    last_imap4: str
    last_pop3: str
    last_webmail: str
    last_smtprelay: str
    last_smtpin: str


class UserStorage(_Part):
    """The quota report in force at the period's end, and the quota (bytes)."""

    items_stored: str
    allowed_size: str
    current_size: str


class UserPeriod(_Part):
    """A user's period, as of its end."""

    messages: UserMessages
    services: UserServices
    delivery: UserDelivery
    forward: str
    createtime: str
    workgroup: str
    account_type: str
    logins: UserLogins
    storage: UserStorage
    deletetime: str


# -- the company and domain shape: every value an integer (reference Example 1) --------
class CompanyMessages(_Part):
    """The period's message counts (SPEC §3 ``messages.*``)."""

    autorespond_count: int
    in_size: int
    out_msg_count: int
    in_spam: int
    out_size: int
    forward_count: int
    in_ham: int
    out_rcpt_count: int
    denied: int


class CompanyServices(_Part):
    """Accounts with each service enabled at the period's end."""

    smtprelay: int
    smtpin: int
    imap4: int
    pop3: int
    webmail: int


class DeletedUsers(_Part):
    """What soft-deleted accounts still store at the period's end."""

    storage_items_stored: int
    storage_current_size: int


class CompanyUsers(_Part):
    """Accounts at the period's end: live ones by type, soft-deleted ones, aliases."""

    filter: int
    forward: int
    deleted: int
    mailbox: int
    alias: int


class CompanyLogins(_Part):
    """The period's logins per service."""

    imap4: int
    pop3: int
    webmail: int


class CompanyStorage(_Part):
    """What live accounts store at the period's end."""

    items_stored: int
    current_size: int


class CompanyPeriod(_Part):
    """A company's or a domain's period, as of its end."""

    messages: CompanyMessages
    services: CompanyServices
    deleted_users: DeletedUsers
    users: CompanyUsers
    logins: CompanyLogins
    storage: CompanyStorage


def _names(tp: type[msgspec.Struct]) -> tuple[str, ...]:
    return tp.__struct_fields__


# The structs are given their members by position, in the catalogue's order: the
# same names in the same order, or the answers would change (metrics.py is the SPEC's).
assert _names(UserMessages) == _names(CompanyMessages) == MESSAGE_FLOWS
assert _names(UserServices) == _names(CompanyServices) == SERVICES
assert _names(UserLogins)[:3] == _names(CompanyLogins) == LOGIN_SERVICES
assert (
    *(f"messages.{k}" for k in MESSAGE_FLOWS),
    *(f"logins.{k}" for k in LOGIN_SERVICES),
) == COMPANY_FLOWS
assert (
    *(f"services.{k}" for k in _names(CompanyServices)),
    *(f"deleted_users.{k}" for k in _names(DeletedUsers)),
    *(f"users.{k}" for k in _names(CompanyUsers)),
    *(f"storage.{k}" for k in _names(CompanyStorage)),
) == GAUGES

_NF = len(FLOW_COLUMNS)
_NM = len(MESSAGE_FLOWS)
_NL = len(LOGIN_SERVICES)
#: where each group of GAUGES ends
_G_SERVICES = len(SERVICES)
_G_DELETED = _G_SERVICES + 2
_G_USERS = _G_DELETED + 5


def window_of(periods: Periods, by: Kind, now: int, createtime: int) -> list[Period]:
    """The window's periods, without those that ended before the object existed."""
    return [p for p in periods.window(by, now) if p.end > createtime]


def company_summary(
    q: Queries, periods: Periods, scope: str, scope_id: int, createtime: int, by: Kind, now: int
) -> dict[str, CompanyPeriod]:
    """The company/domain shape: every value an integer (reference Example 1)."""
    window = window_of(periods, by, now, createtime)
    if not window:
        return {}
    first, last = window[0].key, window[-1].key
    flows = {r[0]: r for r in q.flows(scope, scope_id, by, [p.key for p in window])}
    changes = {r[0]: r for r in q.gauges(scope, scope_id, by, first, last)}
    level = q.gauges_before(scope, scope_id, by, first)
    no_flows = (0,) * _NF
    out: dict[str, CompanyPeriod] = {}
    gauges: tuple[Any, ...] | None = None
    for p in window:
        change = changes.get(p.key)
        if change is not None:
            level = [a + b for a, b in zip(level, change[1:], strict=True)]
            gauges = None
        if gauges is None:  # the gauge members, made again only when a change moved them
            gauges = (
                CompanyServices(*level[:_G_SERVICES]),
                DeletedUsers(*level[_G_SERVICES:_G_DELETED]),
                CompanyUsers(*level[_G_DELETED:_G_USERS]),
                CompanyStorage(*level[_G_USERS:]),
            )
        row = flows.get(p.key)
        f = row[1:] if row is not None else no_flows
        services, deleted_users, users, storage = gauges
        out[p.key] = CompanyPeriod(
            CompanyMessages(*f[:_NM]),
            services,
            deleted_users,
            users,
            CompanyLogins(*f[_NM : _NM + _NL]),
            storage,
        )
    return out


#: the flow row's columns (after its period): the counts, then the last_* times
_LAST_AT = 1 + _NF
#: the ``logins.last_*`` members from LAST_COLUMNS (the order UserLogins shows them)
_LAST_IDX = tuple(
    LAST_COLUMNS.index(k) for k in _names(UserLogins)[len(_names(UserLogins)) - len(LAST_COLUMNS) :]
)
#: the count texts' positions (FLOW_COLUMNS order) of UserLogins' counts
_LOGIN_IDX = tuple(FLOW_COLUMNS.index(f"logins_{k}") for k in _names(UserLogins)[:5])
assert _LOGIN_IDX[:_NL] == tuple(range(_NM, _NM + _NL))
assert FLOW_COLUMNS[:_NM] == tuple(f"messages_{k}" for k in MESSAGE_FLOWS)
#: a period's counts as texts: formatted together (one C call, not one str() a
#: count), then split; a count of zero is shown as "" (a dict lookup, in C)
_COUNTS_FORMAT = "|".join(["%d"] * _NF)
_ZERO_TEXT = {"0": ""}.get
_LOGIN_TEXTS = itemgetter(*_LOGIN_IDX)
_NO_MESSAGES = UserMessages(*("",) * _NM)
_NO_LOGIN_COUNTS = ("",) * 5


class _Version(msgspec.Struct, gc=False):
    """The members of a user-shape period that come from the account's version."""

    services: UserServices
    delivery: UserDelivery
    forward: str
    workgroup: str
    account_type: str
    allowed_size: str
    deletetime: str


def _version(state: UserState) -> _Version:
    get = state.services.get
    return _Version(
        UserServices(*(get(s, "enabled") for s in SERVICES)),
        UserDelivery(
            "1" if state.delivery_autorespond else "0",
            "1" if state.delivery_forward and not state.delivery_local else "0",
        ),
        ",".join(state.forward_recipients),
        state.workgroup,
        state.type,
        str(state.quota),
        format_time(state.deletetime),
    )


def user_summary(
    q: Queries, periods: Periods, t: Target, by: Kind, now: int
) -> dict[str, UserPeriod]:
    """The user shape: every leaf a string (reference Example 2).

    Built once per cache miss, so it is the cold path of every user's first
    request (the Python here costs more than the queries): what depends only on
    the account's version is worked out once per version, a last_* time is
    formatted once however many periods show it, and a period that shows
    nothing new (no counts, and the same version, report and last_* times as the
    one before) is that same period again.
    """
    window = window_of(periods, by, now, t.createtime)
    if not window:
        return {}
    flows = {r[0]: r for r in q.flows(USER, t.id, by, [p.key for p in window])}
    lasts = tuple(q.lasts_before(USER, t.id, by, window[0].key))
    since = window[0].start
    versions = q.user_versions(t.id, since)
    v_times = [v[0] for v in versions]
    fields_of: dict[int, _Version] = {}
    reports = q.storage_reports(t.id, since)
    r_times = [r[0] for r in reports]
    createtime = format_time(t.createtime)
    shown: tuple[int, ...] | None = None  # the last_* times of ``last_texts``
    last_texts: tuple[str, ...] = ()
    formatted: dict[int, str] = {0: ""}  # time -> format_time(time)
    storage: UserStorage | None = None
    storage_of = (-2, -2)  # (report, version) of ``storage``
    empty: UserPeriod | None = None  # the last period made without counts
    empty_of: tuple[Any, ...] = ()  # and what it showed
    out: dict[str, UserPeriod] = {}
    for p in window:
        moment = p.end - 1
        if moment > now:
            moment = now
        vi = bisect_right(v_times, moment) - 1 if len(v_times) > 1 else 0
        if vi < 0:
            vi = 0
        ri = bisect_right(r_times, moment) - 1
        row = flows.get(p.key)
        if row is None and empty is not None and empty_of == (vi, ri, lasts):
            out[p.key] = empty
            continue
        if row is not None:
            lasts = tuple(map(max, lasts, row[_LAST_AT:]))
        if lasts != shown:  # (usually one or two of them moved)
            shown = lasts
            texts = []
            for i in _LAST_IDX:
                ts = lasts[i]
                text = formatted.get(ts)
                if text is None:
                    text = formatted[ts] = format_time(ts)
                texts.append(text)
            last_texts = tuple(texts)
        fields = fields_of.get(vi)
        if fields is None:
            state = decode_state(versions[vi][1]) if versions else UserState()
            fields = fields_of[vi] = _version(state)
        if storage_of != (ri, vi):
            storage_of = (ri, vi)
            items, nbytes = (reports[ri][1], reports[ri][2]) if ri >= 0 else (0, 0)
            storage = UserStorage(str(items), fields.allowed_size, str(nbytes))
        if row is not None:
            c = (_COUNTS_FORMAT % row[1:_LAST_AT]).split("|")
            c = list(map(_ZERO_TEXT, c, c))
            messages = UserMessages(*c[:_NM])
            logins = UserLogins(*_LOGIN_TEXTS(c), *last_texts)
        else:
            messages = _NO_MESSAGES
            logins = UserLogins(*_NO_LOGIN_COUNTS, *last_texts)
        period = out[p.key] = UserPeriod(
            messages,
            fields.services,
            fields.delivery,
            fields.forward,
            createtime,
            fields.workgroup,
            fields.account_type,
            logins,
            storage,  # type: ignore[arg-type]
            fields.deletetime,
        )
        if row is None:
            empty, empty_of = period, (vi, ri, lasts)
    return out


def stats_summary(
    q: Queries, periods: Periods, t: Target, by: Kind, now: int
) -> dict[str, UserPeriod] | dict[str, CompanyPeriod]:
    """The periods of ``t``'s answer (a user's shape, or a company's or domain's)."""
    if t.type == "user":
        return user_summary(q, periods, t, by, now)
    scope = COMPANY if t.type == "company" else DOMAIN
    return company_summary(q, periods, scope, t.id, t.createtime, by, now)


assert len(GAUGE_COLUMNS) == len(GAUGES)
