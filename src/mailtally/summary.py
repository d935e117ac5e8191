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
from collections.abc import Sequence
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
    "user_summary_text",
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


#: the ``logins.last_*`` members from LAST_COLUMNS (the order UserLogins shows them)
_LAST_IDX = tuple(
    LAST_COLUMNS.index(k) for k in _names(UserLogins)[len(_names(UserLogins)) - len(LAST_COLUMNS) :]
)


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


# -- a user period as JSON text -------------------------------------------------------
# A user answer is built as text, not as structs that are then encoded: a count or
# a time (digits, letters, ':' and spaces: nothing JSON escapes) is put as it is,
# SQLite writes a row's counts as the members they are (Queries.flow_texts), and
# every other member is encoded by msgspec, once per version or quota report.  The
# bytes are those of the ``UserPeriod`` structs encoded by msgspec
# (tests/test_summary_text.py compares the two).
def _part_of(name: str, members: slice) -> type[msgspec.Struct]:
    """A struct of the ``members`` of UserPeriod (their names, types and order)."""
    fields = msgspec.structs.fields(UserPeriod)[members]
    return msgspec.defstruct(name, [(f.name, f.type) for f in fields], bases=(_Part,))


_LOGINS_AT = _names(UserPeriod).index("logins")
#: the members of UserPeriod between ``messages`` and ``logins``, and after ``logins``
_Middle = _part_of("_Middle", slice(1, _LOGINS_AT))
_Tail = _part_of("_Tail", slice(_LOGINS_AT + 1, None))
assert _names(UserPeriod) == ("messages", *_names(_Middle), "logins", *_names(_Tail))
_encode = msgspec.json.Encoder().encode


def _members(part: msgspec.Struct) -> str:
    """The JSON members of ``part``, as msgspec writes them, without the braces."""
    return _encode(part)[1:-1].decode()


def _quoted(names: Sequence[str]) -> str:
    """A format of JSON members ``names``, each a string put with ``%s``."""
    return ",".join(f'"{n}":"%s"' for n in names)


_N_LOGIN_COUNTS = len(_names(UserLogins)) - len(LAST_COLUMNS)
#: a period's message counts and UserLogins' counts, as its flow row gives them
#: (SQLite's printf and Python's % both read ``%s``; SQLite's NULL is "")
_MESSAGES_TEXT = (
    _quoted(_names(UserMessages)),
    tuple(f"messages_{k}" for k in _names(UserMessages)),
)
_LOGINS_TEXT = (
    _quoted(_names(UserLogins)[:_N_LOGIN_COUNTS]),
    tuple(f"logins_{k}" for k in _names(UserLogins)[:_N_LOGIN_COUNTS]),
)
_TEXTS = (_MESSAGES_TEXT, _LOGINS_TEXT)
assert {c for _, cols in _TEXTS for c in cols} == set(FLOW_COLUMNS)
#: the counts of a period without a flow row: every one ""
_NO_TEXTS = tuple(fmt % (("",) * len(cols)) for fmt, cols in _TEXTS)
#: UserLogins' last_* members
_LASTS_FORMAT = _quoted(_names(UserLogins)[_N_LOGIN_COUNTS:])


def _latest(lasts: tuple[int, ...], row: tuple[Any, ...]) -> tuple[int, ...]:
    """The later of each last_* time of ``lasts`` and of a flow_texts row:
    ``tuple(map(max, lasts, row[3:]))`` unrolled (the builtin parses its arguments
    at each call: most of the time of a row, when written so)."""
    a0, a1, a2, a3, a4 = lasts
    _, _, _, b0, b1, b2, b3, b4 = row
    return (
        b0 if b0 > a0 else a0,
        b1 if b1 > a1 else a1,
        b2 if b2 > a2 else a2,
        b3 if b3 > a3 else a3,
        b4 if b4 > a4 else a4,
    )


assert len(LAST_COLUMNS) == 5 and len(_TEXTS) == 2  # (_latest's shapes)
assert tuple(range(len(LAST_COLUMNS))) == _LAST_IDX  # (user_summary_text's texts)


def user_summary_text(q: Queries, periods: Periods, t: Target, by: Kind, now: int) -> str:
    """The user shape (reference Example 2), as the JSON text of the answer's
    ``summary`` object: ``{"20261128":{...},...}``, periods oldest first.

    Built once per cache miss, so it is the cold path of every user's first
    request: what depends only on the account's version is worked out once per
    version, a last_* time is formatted once however many periods show it, and a
    period that shows nothing new (no counts, and the same version, report and
    last_* times as the one before) is that same text again.
    """
    window = window_of(periods, by, now, t.createtime)
    if not window:
        return "{}"
    flows = {r[0]: r for r in q.flow_texts(USER, t.id, by, [p.key for p in window], _TEXTS)}
    lasts = tuple(q.lasts_before(USER, t.id, by, window[0].key))
    since = window[0].start
    versions = q.user_versions(t.id, since)
    v_times = [v[0] for v in versions] if len(versions) > 1 else None
    middles: dict[int, tuple[str, _Version]] = {}  # version -> (its text, its members)
    reports = q.storage_reports(t.id, since)
    r_times = [r[0] for r in reports]
    createtime = format_time(t.createtime)
    formatted: dict[int, str] = {0: ""}  # time -> format_time(time)
    # the last_* texts (UserLogins' order is LAST_COLUMNS': _LAST_IDX), each
    # formatted when its time moves, not in every period that shows it
    texts = []
    for ts in lasts:
        text = formatted.get(ts)
        if text is None:
            text = formatted[ts] = format_time(ts)
        texts.append(text)
    last_text = _LASTS_FORMAT % tuple(texts)
    tail = ""
    tail_of = (-2, -2)  # (report, version) of ``tail``
    empty: str | None = None  # the last period made without counts
    empty_of: tuple[Any, ...] = ()  # and what it showed
    out: list[str] = []
    append = out.append
    for p in window:
        moment = p.end - 1
        if moment > now:
            moment = now
        vi = 0
        if v_times is not None:
            vi = bisect_right(v_times, moment) - 1
            if vi < 0:
                vi = 0
        ri = bisect_right(r_times, moment) - 1 if r_times else -1
        row = flows.get(p.key)
        if row is None:
            if empty is not None and empty_of == (vi, ri, lasts):
                append(f'"{p.key}":{empty}')
                continue
        else:
            latest = _latest(lasts, row)
            if latest != lasts:  # (usually one or two of them moved)
                for i, ts in enumerate(latest):
                    if ts != lasts[i]:
                        text = formatted.get(ts)
                        if text is None:
                            text = formatted[ts] = format_time(ts)
                        texts[i] = text
                lasts = latest
                last_text = _LASTS_FORMAT % tuple(texts)
        middle = middles.get(vi)
        if middle is None:
            state = decode_state(versions[vi][1]) if versions else UserState()
            f = _version(state)
            text = _members(
                _Middle(f.services, f.delivery, f.forward, createtime, f.workgroup, f.account_type)
            )
            middle = middles[vi] = (text, f)
        if tail_of != (ri, vi):
            tail_of = (ri, vi)
            items, nbytes = (reports[ri][1], reports[ri][2]) if ri >= 0 else (0, 0)
            f = middle[1]
            storage = UserStorage(str(items), f.allowed_size, str(nbytes))
            tail = _members(_Tail(storage, f.deletetime))
        messages, logins = _NO_TEXTS if row is None else row[1:3]
        text = f'{{"messages":{{{messages}}},{middle[0]},"logins":{{{logins},{last_text}}},{tail}}}'
        append(f'"{p.key}":{text}')
        if row is None:
            empty, empty_of = text, (vi, ri, lasts)
    return "{" + ",".join(out) + "}"


_user_periods = msgspec.json.Decoder(dict[str, UserPeriod]).decode


def user_summary(
    q: Queries, periods: Periods, t: Target, by: Kind, now: int
) -> dict[str, UserPeriod]:
    """The user shape (reference Example 2) as structs: :func:`user_summary_text` read
    back (for the command line; the API sends the text)."""
    return _user_periods(user_summary_text(q, periods, t, by, now))  # type: ignore[no-any-return]


def stats_summary(
    q: Queries, periods: Periods, t: Target, by: Kind, now: int
) -> dict[str, UserPeriod] | dict[str, CompanyPeriod]:
    """The periods of ``t``'s answer (a user's shape, or a company's or domain's)."""
    if t.type == "user":
        return user_summary(q, periods, t, by, now)
    scope = COMPANY if t.type == "company" else DOMAIN
    return company_summary(q, periods, scope, t.id, t.createtime, by, now)


assert len(GAUGE_COLUMNS) == len(GAUGES)
