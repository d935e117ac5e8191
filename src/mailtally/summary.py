"""``stats_summary`` answers, built from the store (SPEC §5).

A company or domain reads two small ranges — its flow rows and its gauge
changes for the window — and never its users.  A user additionally reads its
versions and quota reports since the window began, to answer "as of the
period's end".
"""

from __future__ import annotations

from bisect import bisect_right
from operator import itemgetter
from typing import Any, NamedTuple

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

__all__ = ["company_summary", "stats_summary", "user_summary", "window_of"]

_NF = len(FLOW_COLUMNS)
_COMPANY_FLOW_IDX = [FLOW_COLUMNS.index(m.replace(".", "_")) for m in COMPANY_FLOWS]
_MSG_IDX = [FLOW_COLUMNS.index(f"messages_{k}") for k in MESSAGE_FLOWS]


def window_of(periods: Periods, by: Kind, now: int, createtime: int) -> list[Period]:
    """The window's periods, without those that ended before the object existed."""
    return [p for p in periods.window(by, now) if p.end > createtime]


def _split(metrics: tuple[str, ...], values: list[int]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for metric, v in zip(metrics, values, strict=True):
        group, _, key = metric.partition(".")
        out.setdefault(group, {})[key] = v
    return out


def company_summary(
    q: Queries, periods: Periods, scope: str, scope_id: int, createtime: int, by: Kind, now: int
) -> dict[str, Any]:
    """The company/domain shape: every value an integer (reference Example 1)."""
    window = window_of(periods, by, now, createtime)
    if not window:
        return {}
    first, last = window[0].key, window[-1].key
    flows = {r[0]: r for r in q.flows(scope, scope_id, by, [p.key for p in window])}
    changes = {r[0]: r for r in q.gauges(scope, scope_id, by, first, last)}
    level = q.gauges_before(scope, scope_id, by, first)
    zero_flows = [0] * len(COMPANY_FLOWS)
    out: dict[str, Any] = {}
    for p in window:
        change = changes.get(p.key)
        if change is not None:
            level = [a + b for a, b in zip(level, change[1:], strict=True)]
        row = flows.get(p.key)
        fvals = [row[1 + i] for i in _COMPANY_FLOW_IDX] if row is not None else zero_flows
        body = _split(COMPANY_FLOWS, fvals)
        gauges = _split(GAUGES, level)
        out[p.key] = {
            "messages": body["messages"],
            "services": gauges["services"],
            "deleted_users": gauges["deleted_users"],
            "users": gauges["users"],
            "logins": body["logins"],
            "storage": gauges["storage"],
        }
    return out


def _count(n: int) -> str:
    return str(n) if n else ""


#: the user shape's ``messages`` and ``logins`` counts: their keys, and a getter
#: of their texts from a period's count texts (FLOW_COLUMNS order)
_LOGIN_KEYS = (*LOGIN_SERVICES, "auth_token", "auth_password")
_LOGIN_TEXTS = itemgetter(*(FLOW_COLUMNS.index(f"logins_{k}") for k in _LOGIN_KEYS))
_MSG_TEXTS = itemgetter(*_MSG_IDX)
#: the ``logins.last_*`` times: their keys, and a getter of them from LAST_COLUMNS
_LAST_KEYS = tuple(f"last_{k}" for k in ("imap4", "pop3", "webmail", "smtprelay", "smtpin"))
_LAST_TIMES = itemgetter(*(LAST_COLUMNS.index(k) for k in _LAST_KEYS))
_NO_COUNTS = ("",) * _NF


class _VersionFields(NamedTuple):
    """The members of a user-shape period that come from the account's version."""

    services: dict[str, str]
    delivery: dict[str, str]
    forward: str
    workgroup: str
    account_type: str
    allowed_size: str
    deletetime: str


def _version_fields(state: UserState) -> _VersionFields:
    return _VersionFields(
        services={s: state.services.get(s, "enabled") for s in SERVICES},
        delivery={
            "autoresponder": "1" if state.delivery_autorespond else "0",
            "fonly": "1" if state.delivery_forward and not state.delivery_local else "0",
        },
        forward=",".join(state.forward_recipients),
        workgroup=state.workgroup,
        account_type=state.type,
        allowed_size=str(state.quota),
        deletetime=format_time(state.deletetime),
    )


def user_summary(q: Queries, periods: Periods, t: Target, by: Kind, now: int) -> dict[str, Any]:
    """The user shape: every leaf a string (reference Example 2).

    Built once per cache miss, so it is the cold path of every user's first
    request (the Python here costs more than the queries): what depends only on
    the account's version is worked out once per version, and a last_* time is
    formatted once however many periods show it.
    """
    window = window_of(periods, by, now, t.createtime)
    if not window:
        return {}
    flows = {r[0]: r for r in q.flows(USER, t.id, by, [p.key for p in window])}
    lasts = tuple(q.lasts_before(USER, t.id, by, window[0].key))
    since = window[0].start
    versions = q.user_versions(t.id, since)
    v_times = [v[0] for v in versions]
    states: dict[int, _VersionFields] = {}
    reports = q.storage_reports(t.id, since)
    r_times = [r[0] for r in reports]
    createtime = format_time(t.createtime)
    shown: tuple[int, ...] | None = None  # the last_* times of ``last_texts``
    last_texts: list[str] = []
    formatted: dict[int, str] = {0: ""}  # time -> format_time(time)
    out: dict[str, Any] = {}
    for p in window:
        moment = min(p.end - 1, now)
        row = flows.get(p.key)
        if row is not None:
            texts: Any = [str(v) if v else "" for v in row[1 : 1 + _NF]]
            lasts = tuple(map(max, lasts, row[1 + _NF :]))
        else:
            texts = _NO_COUNTS
        vi = bisect_right(v_times, moment) - 1
        if vi < 0:
            vi = 0
        fields = states.get(vi)
        if fields is None:
            state = decode_state(versions[vi][1]) if versions else UserState()
            fields = states[vi] = _version_fields(state)
        ri = bisect_right(r_times, moment) - 1
        items, nbytes = (reports[ri][1], reports[ri][2]) if ri >= 0 else (0, 0)
        if lasts != shown:  # (usually one or two of them moved)
            shown = lasts
            last_texts = []
            for ts in _LAST_TIMES(lasts):
                text = formatted.get(ts)
                if text is None:
                    text = formatted[ts] = format_time(ts)
                last_texts.append(text)
        logins = dict(zip(_LOGIN_KEYS, _LOGIN_TEXTS(texts), strict=True))
        logins.update(zip(_LAST_KEYS, last_texts, strict=True))
        out[p.key] = {
            "messages": dict(zip(MESSAGE_FLOWS, _MSG_TEXTS(texts), strict=True)),
            "services": dict(fields.services),
            "delivery": dict(fields.delivery),
            "forward": fields.forward,
            "createtime": createtime,
            "workgroup": fields.workgroup,
            "account_type": fields.account_type,
            "logins": logins,
            "storage": {
                "items_stored": str(items),
                "allowed_size": fields.allowed_size,
                "current_size": str(nbytes),
            },
            "deletetime": fields.deletetime,
        }
    return out


def stats_summary(q: Queries, periods: Periods, t: Target, by: Kind, now: int) -> dict[str, Any]:
    if t.type == "user":
        return user_summary(q, periods, t, by, now)
    scope = COMPANY if t.type == "company" else DOMAIN
    return company_summary(q, periods, scope, t.id, t.createtime, by, now)


assert len(GAUGE_COLUMNS) == len(GAUGES)
