"""History written straight as counts: the days before the log, for provider-scale stores.

A 400-day history of 100,000 accounts is billions of log lines: too many to write
and read back in minutes.  :func:`write_history` gives every account a plain day
of mail for each of the ``days`` days before the log (received ham and spam,
submissions, IMAP/POP3/webmail logins, forwards for forward-only accounts) and
writes the rows those days make straight into ``flows``: each account's day rows,
its week and month rows (their sums, and the latest of its last_* times), and its
domain's and company's day, week and month rows (sums, no last_* times) — the rows
:func:`mailtally.record.record_events` makes of the same days' events, without the
events, the resolver or an upsert (``tests/test_synth_scale.py`` builds a platform
both ways and compares every row and every answer).

40 million account-days are too many to draw one by one in Python (a dozen draws a
day: about 8 µs).  So the days are drawn once per kind of account (forward-only;
mailbox by IMAP or POP3, with or without webmail) and week of the history:
:data:`PATTERNS` patterns of a week each, with their week's sums and their months'
parts already added up (:class:`HistoryDays`).  An account picks one pattern a week
with a byte of its own random source (from the seed and its address, so the days do
not depend on the order they are written in); its day and week rows are the
pattern's under its own key, its month rows the sums of its weeks' parts, and its
domain's days the patterns' days times how many of the domain's accounts picked
them.  Every day still has the distribution of the model above; an account's history
is one of 32^weeks.  An account created during the history counts from its first
whole day (its first week drawn apart).

The rows are made company by company, domain by domain, account by account (in id
order), each account's days then months then weeks, then its domain's rows, then its
company's; each transaction's chunk of them (:data:`TX_ROWS`) is sorted into the
flows key's order (kind, period, scope, scope_id: migration 0007) before it is
written, so it lands as one run of a few hundred accounts in each period, not as
rows scattered over the whole table (bench/RESULTS.md, "flows keyed period first").
Memory holds the patterns, one chunk of rows (:data:`TX_ROWS`, one write
transaction) and one domain's and one company's day sums, and the rows go through
:meth:`~mailtally.store.base.Queries.insert_flow_rows`: plain INSERTs, since synth
writes the past of a platform it has just created — a row already there fails the
build, never adds twice.  History writes no gauges: the accounts' gauges over those
days are those of their creation (the tree's, written by ``create_in_store``), and
there are no quota reports before the log's first day.

The platform's own random source is not touched, so a platform without history
writes the same log, byte for byte, as before.  The same days go into the truth
(:class:`~.truth.Truth`, negative day indices, before the log's first day) unless
``with_truth`` is off.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from itertools import chain, groupby
from operator import add, mul

from mailtally.periods import Periods
from mailtally.store import Store
from mailtally.store.base import (
    COMPANY,
    DOMAIN,
    FLOW_COLUMNS,
    LAST_COLUMNS,
    USER,
    flow_row_key,
)

from .platform import DAY, SUser
from .truth import (
    FORWARD,
    IMAP4,
    IN_HAM,
    IN_SIZE,
    IN_SPAM,
    L_IMAP4,
    L_POP3,
    L_SMTPIN,
    L_SMTPRELAY,
    L_WEBMAIL,
    OUT_MSG,
    OUT_RCPT,
    OUT_SIZE,
    POP3,
    WEBMAIL,
    Truth,
)

#: week patterns drawn for each kind of account and week; an account picks one a week
#: with a byte of its own random source (so a power of two, at most 256)
PATTERNS = 32
#: rows written per write transaction, about (whole accounts)
TX_ROWS = 200_000

# A flow row is (company_id, scope, scope_id, kind, period, *FLOW_COLUMNS,
# *LAST_COLUMNS); a day of a pattern is its tail, (period, *values, *lasts), which
# _draw_day() writes as literal tuples in this column order, for speed: it must be
# the store's.
_ROW_COLUMNS = (
    "messages_autorespond_count",
    "messages_in_size",
    "messages_out_msg_count",
    "messages_in_spam",
    "messages_out_size",
    "messages_forward_count",
    "messages_in_ham",
    "messages_out_rcpt_count",
    "messages_denied",
    "logins_imap4",
    "logins_pop3",
    "logins_webmail",
    "logins_auth_password",
    "logins_auth_token",
    "last_imap4",
    "last_pop3",
    "last_webmail",
    "last_smtprelay",
    "last_smtpin",
)
assert FLOW_COLUMNS + LAST_COLUMNS == _ROW_COLUMNS, "synth.history writes flow rows by position"
_NF = len(FLOW_COLUMNS)  # in a tail: values at 1.._NF, last times after them
_NO_LASTS = (0,) * len(LAST_COLUMNS)
_HEAD = 4  # a row is (company_id, scope, scope_id, kind) + a tail


def _at(column: str) -> int:
    """The index of ``column`` in a tail."""
    return 1 + _ROW_COLUMNS.index(column)


#: (index in a row, truth metric) of every flow a history day has
TRUTH_FLOWS = tuple(
    (_HEAD + _at(c), m)
    for c, m in (
        ("messages_in_ham", IN_HAM),
        ("messages_in_size", IN_SIZE),
        ("messages_in_spam", IN_SPAM),
        ("messages_out_msg_count", OUT_MSG),
        ("messages_out_rcpt_count", OUT_RCPT),
        ("messages_out_size", OUT_SIZE),
        ("messages_forward_count", FORWARD),
        ("logins_imap4", IMAP4),
        ("logins_pop3", POP3),
        ("logins_webmail", WEBMAIL),
    )
)
#: (index in a row, truth last) of every last_* time
TRUTH_LASTS = tuple(
    (_HEAD + _at(c), k)
    for c, k in (
        ("last_imap4", L_IMAP4),
        ("last_pop3", L_POP3),
        ("last_webmail", L_WEBMAIL),
        ("last_smtprelay", L_SMTPRELAY),
        ("last_smtpin", L_SMTPIN),
    )
)
#: the tail indices whose sum is a day's events (each event's count)
_EVENT_COUNTS = tuple(
    _at(c)
    for c in (
        "messages_in_ham",
        "messages_in_spam",
        "messages_forward_count",
        "messages_out_msg_count",
        "logins_imap4",
        "logins_pop3",
        "logins_webmail",
    )
)

Owner = tuple[int, int, int]  # (user_id, domain_id, company_id)
Row = tuple[int | str, ...]
Kind = tuple[str, bool, bool]  # (type, pop3, webmail)
#: a week of an account: its day tails, its week's tail, its months' parts (tails
#: keyed by month, one or two), and the events it counts
Week = tuple[tuple[Row, ...], Row, tuple[Row, ...], int]


def _draw_day(rnd: Callable[[], float], kind: Kind, t: int, key: str) -> Row | None:
    """One day of mail and logins of an account of ``kind`` for the day starting at
    ``t``: its tail (``key``, *values, *last times), or None for a day without any.
    ``lo + int(rnd() * (hi - lo + 1))`` draws lo..hi."""
    account_type, pop3, webmail = kind
    ham = int(rnd() * 13)
    if ham:
        size = ham * (4_000 + int(rnd() * 76_001))
        t_in = t + 28_800 + int(rnd() * 43_201)
    else:
        size = t_in = 0
    spam = int(rnd() * 4)
    if spam:
        ts = t + int(rnd() * DAY)
        if ts > t_in:
            t_in = ts
    if account_type == "forward":
        if not (ham or spam):
            return None
        return (key, 0, size, 0, spam, 0, ham, ham, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, t_in)
    sent = int(rnd() * 5)
    if sent:
        rcpt = sent + int(rnd() * (sent + 1))
        out_size = sent * (2_000 + int(rnd() * 38_001))
        t_out = t + 28_800 + int(rnd() * 43_201)
    else:
        rcpt = out_size = t_out = 0
    logins = int(rnd() * 7)
    t_login = t + int(rnd() * DAY) if logins else 0
    web = int(rnd() * 3) if webmail else 0
    t_web = t + int(rnd() * DAY) if web else 0
    if not (ham or spam or sent or logins or web):
        return None
    if pop3:
        return (key, 0, size, sent, spam, out_size, 0, ham, rcpt, 0, 0, logins, web, 0, 0,
                0, t_login, t_web, t_out, t_in)  # fmt: skip
    return (key, 0, size, sent, spam, out_size, 0, ham, rcpt, 0, logins, 0, web, 0, 0,
            t_login, 0, t_web, t_out, t_in)  # fmt: skip


def _total(tails: list[Row] | tuple[Row, ...], lasts: bool = True) -> list[int]:
    """The sums of the tails' values and (``lasts``) the latest of their last times."""
    if len(tails) == 1:
        return list(tails[0][1:]) if lasts else list(tails[0][1 : 1 + _NF])
    cols = list(zip(*tails, strict=True))
    sums = list(map(sum, cols[1 : 1 + _NF]))  # type: ignore[arg-type]
    return sums + list(map(max, cols[1 + _NF :])) if lasts else sums  # type: ignore[arg-type]


def _week(tails: list[Row], week: str, month_of: dict[str, str]) -> Week | None:
    """A week of ``tails`` (its days with mail or logins, in order), or None without any."""
    if not tails:
        return None
    months = tuple(
        (month, *_total(list(group)))
        for month, group in groupby(tails, lambda d: month_of[d[0]])  # type: ignore[index]
    )
    events = sum(d[i] for d in tails for i in _EVENT_COUNTS)  # type: ignore[misc]
    return tuple(tails), (week, *_total(tails)), months, events


class HistoryDays:
    """The days of a history: ``days`` days before ``start``, their period keys, its
    weeks (cut at its ends), and the week patterns each kind of account picks from."""

    def __init__(self, periods: Periods, start: int, days: int, seed: int) -> None:
        self.seed = seed
        self.first = start - days * DAY
        self.keys: list[str] = []
        self.week_of: dict[str, str] = {}
        self.month_of: dict[str, str] = {}
        self.start_of: dict[str, int] = {}
        for i in range(days):
            t = self.first + i * DAY
            day, week, month = periods.keys(t)
            self.keys.append(day)
            self.week_of[day], self.month_of[day], self.start_of[day] = week, month, t
        #: (week key, index of its first day, of the day after its last)
        self.weeks: list[tuple[str, int, int]] = []
        for week, group in groupby(range(days), lambda i: self.week_of[self.keys[i]]):
            span = list(group)
            self.weeks.append((week, span[0], span[-1] + 1))
        self._patterns: dict[Kind, list[list[Week | None]]] = {}
        self._columns: dict[Kind, list[tuple[str, list[tuple[int, ...]]] | None]] = {}

    def patterns(self, kind: Kind) -> list[list[Week | None]]:
        """For each week, the :data:`PATTERNS` weeks an account of ``kind`` may have."""
        found = self._patterns.get(kind)
        if found is None:
            rnd = random.Random(f"history-{self.seed}-{'-'.join(map(str, kind))}").random
            found = self._patterns[kind] = [
                [self.week(kind, rnd, week, lo, hi) for _ in range(PATTERNS)]
                for week, lo, hi in self.weeks
            ]
        return found

    def columns(self, kind: Kind) -> list[tuple[str, list[tuple[int, ...]]] | None]:
        """For each day, its key and each value's column over the patterns of its week
        (0 where a pattern has no such day), so that the day's sums over a domain's
        accounts are each column times how many picked each pattern; None for a day
        no pattern has."""
        found = self._columns.get(kind)
        if found is None:
            found = self._columns[kind] = []
            zeros = (0,) * _NF
            for (_week, lo, hi), patterns in zip(self.weeks, self.patterns(kind), strict=True):
                by_key = [{d[0]: d[1 : 1 + _NF] for d in p[0]} if p else {} for p in patterns]
                for key in self.keys[lo:hi]:
                    days = [b.get(key, zeros) for b in by_key]
                    has = any(d is not zeros for d in days)
                    found.append((key, list(zip(*days, strict=True))) if has else None)
        return found

    def week(
        self, kind: Kind, rnd: Callable[[], float], week: str, lo: int, hi: int
    ) -> Week | None:
        days = (_draw_day(rnd, kind, self.first + i * DAY, self.keys[i]) for i in range(lo, hi))
        return _week([d for d in days if d is not None], week, self.month_of)


def kind_of(u: SUser) -> Kind | None:
    """Which patterns an account picks from; None for a filter-only account (its mail
    is relayed to the customer's server and counted by their log)."""
    if u.type == "filter":
        return None
    return (u.type, False, False) if u.type == "forward" else (u.type, u.pop3, u.webmail)


def account_weeks(h: HistoryDays, u: SUser) -> Iterator[tuple[int, int, Week]]:
    """(week index, pattern picked or -1, week) of every week account ``u`` has mail or
    logins in.  A week with its creation in it counts from its first whole day on
    (drawn apart: -1)."""
    kind = kind_of(u)
    if kind is None:
        return
    table = h.patterns(kind)
    picks = random.Random(f"history-{h.seed}-{u.address}").randbytes(len(table))
    i0 = max(0, -(-(u.createtime - h.first) // DAY))  # the first day that starts after creation
    mask = PATTERNS - 1
    for s, ((week, lo, hi), patterns, b) in enumerate(zip(h.weeks, table, picks, strict=True)):
        if hi <= i0:
            continue
        j = b & mask
        found = patterns[j]
        if found is None:
            continue
        if lo < i0:  # the week it was created in: its days from then on
            first = h.keys[i0]
            found = _week([d for d in found[0] if d[0] >= first], week, h.month_of)  # type: ignore[operator]
            if found is None:
                continue
            j = -1
        yield s, j, found


def account_days(h: HistoryDays, u: SUser, owner: Owner) -> list[Row]:
    """The day rows of account ``u`` over the days of ``h`` (those with mail or logins)."""
    head = (owner[2], USER, owner[0], "day")
    return [head + d for _s, _j, w in account_weeks(h, u) for d in w[0]]


class _Sums:
    """A domain's or company's day sums: added up from the patterns its accounts picked
    (``picks``: kind -> week -> pattern -> accounts) and days added one by one."""

    def __init__(self) -> None:
        self.days: dict[str, list[int]] = {}
        self.picks: dict[Kind, list[list[int]]] = {}

    def add(self, key: str, values: list[int] | tuple[int, ...]) -> None:
        old = self.days.get(key)
        self.days[key] = list(values) if old is None else list(map(add, old, values))

    def settle(self, h: HistoryDays) -> dict[str, list[int]]:
        """The day sums, the picks added in."""
        for kind, weeks in self.picks.items():
            columns = h.columns(kind)
            for (_week, lo, hi), counts in zip(h.weeks, weeks, strict=True):
                if not any(counts):
                    continue
                for day in columns[lo:hi]:
                    if day is not None:
                        self.add(day[0], [sum(map(mul, counts, c)) for c in day[1]])
        self.picks.clear()
        return self.days


def _scope_rows(
    cid: int, scope: str, sid: int, days: dict[str, list[int]], h: HistoryDays
) -> list[Row]:
    """A domain's or company's day, month and week rows (in key order) from its day sums."""
    tails = [(k, *days[k], *_NO_LASTS) for k in sorted(days)]
    out: list[Row] = [(cid, scope, sid, "day", *d) for d in tails]
    for kind, of in (("month", h.month_of), ("week", h.week_of)):
        for key, group in groupby(tails, lambda d, of=of: of[d[0]]):  # type: ignore[misc]
            out.append((cid, scope, sid, kind, key, *_total(list(group), False), *_NO_LASTS))
    return out


def history_rows(
    h: HistoryDays,
    truth: Truth | None,
    users: list[SUser],
    owners: dict[str, Owner],
    counted: list[int],
) -> Iterator[list[Row]]:
    """The flow rows of :func:`write_history`, an account (then a domain, a company)
    at a time, in key order; ``counted[0]`` grows by the events they sum (each
    event's count), and ``truth`` (if any) gets every account's days."""
    # company -> its domains -> their accounts, each in id order
    tree: dict[int, dict[int, list[SUser]]] = {}
    for u in users:
        _uid, did, cid = owners[u.address]
        tree.setdefault(cid, {}).setdefault(did, []).append(u)
    n_weeks = len(h.weeks)
    for cid in sorted(tree):
        company = _Sums()
        for did in sorted(tree[cid]):
            domain = _Sums()
            for u in sorted(tree[cid][did], key=lambda u: owners[u.address][0]):
                uid = owners[u.address][0]
                kind = kind_of(u)
                if kind is None:
                    continue
                picks = domain.picks.get(kind)
                if picks is None:
                    picks = domain.picks[kind] = [[0] * PATTERNS for _ in range(n_weeks)]
                head = (cid, USER, uid, "day")
                days: list[Row] = []
                weeks: list[Row] = []
                months: dict[str, list[Row]] = {}
                for s, j, (tails, week, parts, events) in account_weeks(h, u):
                    days += [head + d for d in tails]
                    weeks.append(week)
                    for part in parts:
                        months.setdefault(part[0], []).append(part)  # type: ignore[arg-type]
                    counted[0] += events
                    if j >= 0:
                        picks[s][j] += 1
                    else:
                        for d in tails:
                            domain.add(d[0], d[1 : 1 + _NF])  # type: ignore[arg-type]
                if truth is not None:
                    for r in days:
                        t = h.start_of[r[4]]  # type: ignore[index]
                        for at, m in TRUTH_FLOWS:
                            if r[at]:
                                truth.flow(u, t, m, r[at])  # type: ignore[arg-type]
                        for at, k in TRUTH_LASTS:
                            if r[at]:
                                truth.last(u, r[at], k)  # type: ignore[arg-type]
                days += [(cid, USER, uid, "month", m, *_total(p)) for m, p in months.items()]
                days += [(cid, USER, uid, "week", *w) for w in weeks]
                yield days
            for key, values in domain.settle(h).items():
                company.add(key, values)
            yield _scope_rows(cid, DOMAIN, did, domain.days, h)
        yield _scope_rows(cid, COMPANY, cid, company.days, h)


def write_history(
    store: Store,
    periods: Periods,
    truth: Truth,
    users: list[SUser],
    start: int,
    days: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
    with_truth: bool = True,
) -> int:
    """Write ``days`` days of counts before ``start`` for ``users`` into the store and
    (with ``with_truth``) into ``truth``; return how many events (summed) they count.

    ``users`` must be in the store (their ids are read once), without flow rows in
    those days (a platform synth has just created).  Without ``with_truth`` the days
    go into the store only (a benchmark's year of 100,000 accounts: its truth would
    not fit in memory).  ``progress`` is told the rows written so far after each
    transaction.
    """
    with store.read() as q:
        owners = {
            address: (int(uid), int(did), int(cid))
            for address, uid, did, cid, own in q.accounts()
            if address == own
        }
    missing = [u.address for u in users if u.address not in owners]
    if missing:
        raise RuntimeError(f"history: addresses not in the tree: {missing[:5]}")
    counted = [0]
    written = 0
    pending: list[list[Row]] = []
    n_pending = 0

    def flush() -> None:
        nonlocal written, n_pending
        with store.write() as q:
            q.insert_flow_rows(sorted(chain.from_iterable(pending), key=flow_row_key))
        written += n_pending
        pending.clear()
        n_pending = 0
        if progress is not None:
            progress(written)

    h = HistoryDays(periods, start, days, seed)
    for rows in history_rows(h, truth if with_truth else None, users, owners, counted):
        pending.append(rows)
        n_pending += len(rows)
        if n_pending >= TX_ROWS:
            flush()
    if n_pending:
        flush()
    if counted[0]:
        with store.write() as q:
            q.bump_generation()  # as record_events does: cached answers are stale
    return counted[0]
