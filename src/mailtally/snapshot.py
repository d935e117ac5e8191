"""Per-user CSV snapshots of a company or domain for one period (SPEC §6).

``stats_list`` offers the periods (:func:`snapshot_list`); ``stats_snapshot``
names one (:func:`find_period`) and gets a link whose download, like
``mailtally snapshot``, is :class:`SnapshotCSV`: a header row, one row per
account of the object that existed in the period (live and soft-deleted),
and, when the object counted something no account row holds, one last
``unattributed`` row, so that every column adds up exactly to what
``stats_summary`` reports for the object and period.

A row carries every flow of the account summed over the period and, for every
gauge, the account's own contribution at the period's end — the same
:func:`mailtally.history.contribution` whose changes the object's gauges sum —
so ``users.mailbox`` is 1 for a live mailbox, ``services.imap4`` 1 when IMAP is
enabled, ``storage.*`` its quota report in force then (``deleted_users.*``
once it is soft-deleted).

The rows are read a page of :data:`PAGE` accounts at a time (a keyset by
account id, :meth:`Queries.snapshot_accounts`) and written as they come: a
company of 100,000 accounts is never held in memory, and each page is a
short read of its own.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from functools import lru_cache
from operator import add
from typing import Any

from mailtally.errors import BAD_REQUEST, OMAError
from mailtally.history import contribution, decode_state
from mailtally.metrics import FLOWS, GAUGES
from mailtally.periods import KINDS, Kind, Period, Periods
from mailtally.store.base import COMPANY, DOMAIN, FLOW_COLUMNS, Queries
from mailtally.tree import Target

__all__ = [
    "HEADER",
    "LINK_SECONDS",
    "PAGE",
    "SNAPSHOT_PERIODS",
    "SnapshotCSV",
    "find_period",
    "snapshot_list",
]

#: How many periods of each kind stats_list offers (the current one included).
SNAPSHOT_PERIODS: dict[Kind, int] = {"day": 90, "week": 52, "month": 48}
#: How long a stats_snapshot link works.
LINK_SECONDS = 15 * 60
#: Accounts read per page of a download.
PAGE = 1000

#: The CSV's columns: who, then every flow, then every gauge (SPEC §3's names),
#: then the account's allowed size (the user summary's ``storage.allowed_size``).
HEADER: tuple[str, ...] = (
    "address",
    "domain",
    "workgroup",
    "account_type",
    "createtime",
    "deletetime",
    *FLOWS,
    *GAUGES,
    "storage.allowed_size",
)
_NF, _NG = len(FLOWS), len(GAUGES)
#: the type of the row that holds what the object counted beyond its accounts
UNATTRIBUTED = "unattributed"
#: A UTF-8 byte order mark: Excel reads a CSV without one in the locale's
#: legacy code page (README "Decisions").
BOM = "\ufeff"


def listed(periods: Periods, kind: Kind, now: int, createtime: int) -> list[Period]:
    """The periods of ``kind`` stats_list offers for an object created at
    ``createtime``, newest first."""
    window = periods.window(kind, now, SNAPSHOT_PERIODS[kind])
    return [p for p in reversed(window) if p.end > createtime]


def snapshot_list(periods: Periods, now: int, createtime: int) -> dict[str, list[str]]:
    """``snapshots`` of stats_list: month, week and day keys, newest first."""
    return {k: [p.key for p in listed(periods, k, now, createtime)] for k in reversed(KINDS)}


_DATE_FORMS: tuple[tuple[re.Pattern[str], Kind], ...] = (
    (re.compile(r"(\d{4})(\d{2})(\d{2})"), "day"),
    (re.compile(r"(\d{4})-(\d{2})-(\d{2})"), "day"),
    (re.compile(r"(\d{4})(\d{2})(\d{2})-\d{8}"), "week"),
    (re.compile(r"(\d{4})-(\d{2})"), "month"),
)
DATE_HELP = (
    "must be a period stats_list lists (YYYYMMDD, YYYYMMDD-YYYYMMDD from Monday to Sunday, "
    "YYYY-MM) or a day as YYYY-MM-DD"
)


def parse_date(periods: Periods, text: str) -> Period:
    """The period a ``date`` names; error 5 naming ``date`` if none."""
    for pattern, kind in _DATE_FORMS:
        m = pattern.fullmatch(text)
        if m is None:
            continue
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3)) if kind != "month" else 1
        try:
            p = periods.period_of(kind, date(y, mo, d))
        except ValueError:
            break
        # a week must name its own Monday and Sunday
        if kind != "week" or p.key == text:
            return p
        break
    raise OMAError(BAD_REQUEST, f"field 'date' {DATE_HELP}", {"date": DATE_HELP})


def find_period(periods: Periods, text: str, now: int, createtime: int) -> Period:
    """The period ``date`` names, if stats_list offers it for the object (else error 5)."""
    p = parse_date(periods, text)
    if any(o.key == p.key for o in listed(periods, p.kind, now, createtime)):
        return p
    n = SNAPSHOT_PERIODS[p.kind]
    reason = (
        f"'{text}' is not a {p.kind} stats_list offers for this object "
        f"(the last {n} {p.kind}s, from its creation on)"
    )
    raise OMAError(BAD_REQUEST, f"field 'date': {reason}", {"date": reason})


class SnapshotCSV:
    """The CSV of one object and period, produced a page at a time::

        csv = SnapshotCSV(target, period, now)
        out = csv.header()
        after = 0
        while (page := csv.page(q, after)) is not None:
            text, after = page
        out += csv.tail(q)

    Each call may use a session of its own.  The sums of the rows written so
    far are kept (one vector), so that :meth:`tail` can add the row of what
    the object counted beyond its accounts.
    """

    def __init__(self, target: Target, period: Period, now: int) -> None:
        self.target = target
        self.period = period
        #: the gauges are read as they were at this moment (as stats_summary does)
        self.moment = min(period.end - 1, now)
        self.scope = COMPANY if target.type == "company" else DOMAIN
        if target.type == "company":
            self._alias_place: Callable[[str], int] = _everywhere
        else:
            suffix = "@" + target.name
            self._alias_place = lambda a: _HERE if a.endswith(suffix) else _ELSEWHERE
        self.flow_sums = [0] * _NF
        self.gauge_sums = [0] * _NG
        self.rows = 0

    def header(self) -> str:
        return BOM + _lines([HEADER])

    def page(self, q: Queries, after: int, limit: int = PAGE) -> tuple[str, int] | None:
        """The rows of the accounts after id ``after`` (text, last id), or None at the end."""
        p = self.period
        found = q.snapshot_accounts(
            self.scope, self.target.id, after, limit, p.kind, p.key, p.start, self.moment
        )
        if not found:
            return None
        rows = [self._row(r) for r in found]
        self.rows += len(rows)
        # the page's columns summed at once (a row at a time cost more than the row)
        counts = [sum(c) for c in zip(*(r[6 : 6 + _NF + _NG] for r in rows), strict=True)]
        self.flow_sums = list(map(add, self.flow_sums, counts[:_NF]))
        self.gauge_sums = list(map(add, self.gauge_sums, counts[_NF:]))
        return _lines(rows), int(found[-1][0])

    def _row(self, r: Any) -> list[Any]:
        _id, address, domain, createtime, purgetime, current, state_then, items, nbytes = r[:9]
        flows = [v or 0 for v in r[9 : 9 + _NF]]
        # the version in force at the period's end (none yet: it counted nothing)
        state = None if state_then is None else decode_state(state_then)
        shown = state if state is not None else decode_state(current)
        purged = purgetime is not None and purgetime <= self.moment
        gauges = _NO_GAUGES
        if not purged and state is not None:
            # what the account adds to the object's gauges: ``_HERE`` holds its
            # own and its aliases in the object (a domain's: in that domain)
            gauges = contribution(state, items or 0, nbytes or 0, _HERE, self._alias_place)[_HERE]
        return [
            _text(address),
            domain,  # (a DNS name: begins with a letter or digit)
            _text(shown.workgroup),
            shown.type,
            _rfc3339(int(createtime)),
            _rfc3339(shown.deletetime),
            *flows,
            *gauges,
            shown.quota,
        ]

    def totals(self, q: Queries) -> tuple[list[int], list[int]]:
        """The object's flows and gauges for the period, as stats_summary reads them."""
        t, p = self.target, self.period
        row = q.flows(self.scope, t.id, p.kind, [p.key])
        flows = [int(v) for v in row[0][1 : 1 + _NF]] if row else [0] * _NF
        gauges = q.gauges_before(self.scope, t.id, p.kind, p.key)
        for change in q.gauges(self.scope, t.id, p.kind, p.key, p.key):
            gauges = list(map(add, gauges, change[1:]))
        return flows, gauges

    def tail(self, q: Queries) -> str:
        """The ``unattributed`` row: what the object counted that no account
        row holds (rejects for unknown addresses of a domain; a domain's alias
        addresses of accounts of other domains, or an account renamed out of it
        since), or "" when the rows already add up."""
        flows, gauges = self.totals(q)
        rest_f = [a - b for a, b in zip(flows, self.flow_sums, strict=True)]
        rest_g = [a - b for a, b in zip(gauges, self.gauge_sums, strict=True)]
        if not any(rest_f) and not any(rest_g):
            return ""
        domain = self.target.name if self.target.type == "domain" else ""
        return _lines([["", domain, "", UNATTRIBUTED, "", "", *rest_f, *rest_g, ""]])

    def lines(self, q: Queries) -> Iterator[str]:
        """The whole CSV in one session (the command line)."""
        yield self.header()
        after = 0
        while (got := self.page(q, after)) is not None:
            text, after = got
            yield text
        yield self.tail(q)


_HERE, _ELSEWHERE = 0, 1
_NO_GAUGES = [0] * _NG


def _rfc3339(ts: int | None) -> str:
    """``2026-11-28T10:00:00Z`` (as get_user's attributes), or "" for none."""
    if ts is None:
        return ""
    day, second = divmod(ts, 86400)
    minutes = second // 60
    return f"{_utc_date(day)}T{minutes // 60:02d}:{minutes % 60:02d}:{second % 60:02d}Z"


@lru_cache(maxsize=4096)
def _utc_date(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


#: what a spreadsheet takes for the start of a formula (CSV injection)
_FORMULA_START = frozenset("=+-@\t\r")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _text(name: str) -> str:
    """A name as a cell a spreadsheet shows as text, never runs as a formula:
    one that begins like a formula (``=cmd|'/c calc'!a0@acme.com`` is a valid
    address; a workgroup may be ``=HYPERLINK("…"&A2)``) gets a ``'`` in front,
    as the dashboard's own CSV does (README "Dashboard").  Names a tenant's
    admin chose reach a company admin's or the provider's spreadsheet here."""
    if name[:1] in _FORMULA_START and _NUMBER.fullmatch(name) is None:
        return "'" + name
    return name


def _everywhere(address: str) -> int:
    """A company's snapshot: every alias of its accounts is in it."""
    return _HERE


def _lines(rows: list[Any]) -> str:
    """RFC 4180: CRLF line ends, fields quoted when they hold a comma, a quote
    or a line end (and their quotes doubled)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()


assert len(FLOW_COLUMNS) == _NF
