"""The storage interface: one object that hides connections, threads and locks.

Callers ask the store for a *reading* or a *writing* session::

    with store.read() as q:
        user = q.user_by_address("alice@example.com")

    with store.write() as q:          # one transaction, committed on exit
        q.add_flow_rows(rows)

Both yield a :class:`Queries` bound to a connection; every SQL statement of the
project lives in that class, written once for SQLite and PostgreSQL (the
dialects differ only in placeholders and a few functions, see :class:`Dialect`).
A backend (``sqlite.py``, ``postgres.py``) supplies connections and the
transaction discipline.
"""

from __future__ import annotations

import abc
import functools
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import chain, islice
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from mailtally.metrics import FLOWS, GAUGES, LAST_TIMES, column
from mailtally.names import company_key

__all__ = [
    "DEFAULT_SOURCE",
    "FLOW_COLUMNS",
    "GAUGE_COLUMNS",
    "KIND_CODES",
    "LAST_COLUMNS",
    "Dialect",
    "GaugeRow",
    "Handoff",
    "Queries",
    "Store",
    "delta_logins",
    "flow_row_key",
]

FLOW_COLUMNS: tuple[str, ...] = tuple(column(m) for m in FLOWS)
LAST_COLUMNS: tuple[str, ...] = tuple(f"last_{k}" for k in LAST_TIMES)
GAUGE_COLUMNS: tuple[str, ...] = tuple(column(m) for m in GAUGES)

T = TypeVar("T")

#: The ingest source of ``mailtally ingest`` without ``--source`` (and of every file
#: read before sources existed: migration 0012).
DEFAULT_SOURCE = "default"

# scope codes in the flows and gauges tables
USER, DOMAIN, COMPANY = "u", "d", "c"

#: How the flows and gauges tables store a period's kind (migration 0004): as a
#: small integer, which costs a row 0 or 1 byte where 'month' cost 5.  Callers
#: name kinds as the SPEC does; the writes translate in SQL (:data:`_KIND_CODE`),
#: the reads pass ``KIND_CODES[kind]``.
KIND_CODES: dict[str, int] = {"day": 0, "week": 1, "month": 2}
_KIND_CODE = "CASE ? " + " ".join(f"WHEN '{k}' THEN {v}" for k, v in KIND_CODES.items()) + " END"


@dataclass(slots=True)
class GaugeRow:
    """Gauge changes to add to one (scope, period)."""

    company_id: int
    scope: str
    scope_id: int
    kind: str
    period: str
    values: list[int]  # in GAUGE_COLUMNS order


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Cursor: ...
    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> Any: ...


@dataclass(frozen=True, slots=True)
class Dialect:
    """The few places where SQLite and PostgreSQL SQL differ."""

    name: str
    placeholder: str  # "?" or "%s"
    greatest: str  # "max" or "GREATEST"
    #: (what, by what) replaced in every statement: PostgreSQL's unique keys
    #: lead with company_id (its migrations: Citus distributes by it), so an
    #: upsert names that key
    rewrites: tuple[tuple[str, str], ...] = ()

    def sql(self, text: str) -> str:
        if self.placeholder == "?":
            return text
        return _translate(self, text)


@functools.lru_cache(maxsize=4096)
def _translate(dialect: Dialect, text: str) -> str:
    """``text`` in a ``%s`` dialect (psycopg): a literal ``%`` doubled, each
    ``?`` a placeholder (our statements hold no ``?`` in a literal), the
    dialect's rewrites made.  Cached: the same few hundred statements are
    translated once per process, not once per request."""
    out = text.replace("%", "%%").replace("?", dialect.placeholder)
    for what, by in dialect.rewrites:
        out = out.replace(what, by)
    return out


#: a flat flow row's columns, as add_flow_rows and insert_flow_rows take them
_FLOW_ROW = ("company_id", "scope", "scope_id", "kind", "period", *FLOW_COLUMNS, *LAST_COLUMNS)


def _flow_upsert() -> str:
    cols = _FLOW_ROW
    adds = [f"{c} = flows.{c} + excluded.{c}" for c in FLOW_COLUMNS]
    maxes = [f"{c} = {{greatest}}(flows.{c}, excluded.{c})" for c in LAST_COLUMNS]
    return (
        f"INSERT INTO flows ({', '.join(cols)}) VALUES ({_values(len(cols))}) "
        f"ON CONFLICT (kind, period, scope, scope_id) DO UPDATE SET {', '.join(adds + maxes)}"
    )


#: a user's delta for one day, as :meth:`Queries.add_user_flows` takes it: the
#: keys, then the values and lasts of a flat flow row
USER_DELTA = ("day", "user_id", "week", "month", "company_id", *FLOW_COLUMNS, *LAST_COLUMNS)
#: the temporary table add_user_flows writes the deltas into (keyed as the day
#: rows are written: a scan of it in key order is their order in flows)
_DELTAS_TABLE = (
    "CREATE TEMP TABLE IF NOT EXISTS user_deltas ("
    + ", ".join(
        f"{c} {'TEXT' if c in ('day', 'week', 'month') else 'INTEGER'} NOT NULL" for c in USER_DELTA
    )
    + ", PRIMARY KEY (day, user_id)) WITHOUT ROWID"
)
_DELTAS_INSERT = (
    f"INSERT INTO user_deltas ({', '.join(USER_DELTA)}) VALUES ({', '.join('?' * len(USER_DELTA))})"
)
#: deltas bound per statement into ``user_deltas`` (960 values: under the 999 of
#: SQLite builds before 3.32): one step per 40 rows instead of one each, a fifth
#: less CPU for 69,000 deltas, all of it with the GIL held (bench/RESULTS.md,
#: session 10)
DELTAS_PER_INSERT = 40
_DELTAS_INSERT_BLOCK = _DELTAS_INSERT + (", (" + ", ".join("?" * len(USER_DELTA)) + ")") * (
    DELTAS_PER_INSERT - 1
)


#: fewer deltas than this are upserted in the caller's thread (a thread costs
#: more than their statements)
THREAD_DELTAS = 1000
_DELTA_LOGINS = tuple(USER_DELTA.index(f"last_{s}") for s in ("imap4", "pop3", "webmail"))


class Handoff(Generic[T]):
    """A value one thread gives and another waits for (``concurrent.futures.Future``
    without its import: it brings ``logging``, ~15 ms of an ingest's start-up)."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._given = False
        self._value: T | None = None
        #: False once the taker has said it will not take: the giver may skip the work
        self.wanted = True

    def give(self, value: T) -> None:
        if not self._ready.is_set():
            self._value, self._given = value, True
            self._ready.set()

    def withdraw(self) -> None:
        """Nothing will be given (if nothing was): :meth:`take` raises."""
        self._ready.set()

    def take(self) -> T:
        self._ready.wait()
        if not self._given:
            raise RuntimeError("withdrawn: nothing was given")
        return self._value  # type: ignore[return-value]


def delta_logins(deltas: Iterable[Sequence[Any]]) -> list[tuple[int, int]]:
    """(user_id, latest login) of each account whose deltas (USER_DELTA) name a
    login, by id: what :meth:`Queries.add_user_flows` raises ``users.lastlogin`` to."""
    imap4, pop3, webmail = _DELTA_LOGINS
    latest: dict[int, int] = {}
    for d in deltas:
        t = max(d[imap4], d[pop3], d[webmail])
        if t and t > latest.get(d[1], 0):
            latest[d[1]] = t
    return sorted(latest.items())


def _user_flows_from_deltas(kind: str, grouped: bool) -> str:
    """The upsert of the users' ``kind`` rows from ``user_deltas``: each row as it
    is, or (``grouped``: a user has several days of one week or month) summed per
    (period, user), flows added and lasts the latest."""
    col = kind  # (user_deltas' day, week and month columns are named as the kinds)
    if grouped:
        values = [f"SUM({c})" for c in FLOW_COLUMNS] + [f"MAX({c})" for c in LAST_COLUMNS]
        select = (
            f"SELECT MIN(company_id), '{USER}', user_id, {KIND_CODES[kind]}, {col}, "
            f"{', '.join(values)} FROM user_deltas WHERE true "
            f"GROUP BY {col}, user_id ORDER BY {col}, user_id"
        )
    else:
        select = (
            f"SELECT company_id, '{USER}', user_id, {KIND_CODES[kind]}, {col}, "
            f"{', '.join(FLOW_COLUMNS + LAST_COLUMNS)} FROM user_deltas WHERE true "
            "ORDER BY day, user_id"
        )
    adds = [f"{c} = flows.{c} + excluded.{c}" for c in FLOW_COLUMNS]
    maxes = [f"{c} = max(flows.{c}, excluded.{c})" for c in LAST_COLUMNS]
    return (
        f"INSERT INTO flows ({', '.join(_FLOW_ROW)}) {select} "
        f"ON CONFLICT (kind, period, scope, scope_id) DO UPDATE SET {', '.join(adds + maxes)}"
    )


def _values(n: int) -> str:
    """The VALUES of a counter row's n columns, the 4th (kind) given by name."""
    return ", ".join(["?", "?", "?", _KIND_CODE] + ["?"] * (n - 4))


def _marks(n: int) -> str:
    """n placeholders, for an IN list."""
    return ", ".join(["?"] * n)


def _gauge_upsert() -> str:
    cols = ("company_id", "scope", "scope_id", "kind", "period", *GAUGE_COLUMNS)
    adds = [f"{c} = gauges.{c} + excluded.{c}" for c in GAUGE_COLUMNS]
    return (
        f"INSERT INTO gauges ({', '.join(cols)}) VALUES ({_values(len(cols))}) "
        f"ON CONFLICT (scope, scope_id, kind, period) DO UPDATE SET {', '.join(adds)}"
    )


#: a flat flow row's key, in the flows table's order (migration 0007): (kind,
#: period, scope, scope_id), the kind by its code (KIND_CODES orders day, week, month)
def flow_row_key(row: Sequence[Any]) -> tuple[int, str, str, int]:
    return (KIND_CODES[row[3]], row[4], row[1], row[2])


def _flow_insert(n: int) -> str:
    one = f"({_values(len(_FLOW_ROW))})"
    return f"INSERT INTO flows ({', '.join(_FLOW_ROW)}) VALUES {', '.join([one] * n)}"


#: a credential version bump (Queries.bump_credentials): VALUES or a SELECT of
#: (kind, key, version), then the conflict clause
_BUMP_VALUES = "INSERT INTO auth_state (kind, key, version) VALUES ('n', ?, 1)"
_BUMP_SELECT = "INSERT INTO auth_state (kind, key, version) SELECT"
_BUMP_CONFLICT = "ON CONFLICT (kind, key) DO UPDATE SET version = auth_state.version + 1"

_FLOW_UPSERT = _flow_upsert()
#: rows per statement of Queries.insert_flow_rows (measured: 25 is the fastest)
INSERT_ROWS = 25
_GAUGE_UPSERT = _gauge_upsert()
_FLOW_SELECT = f"SELECT period, {', '.join(FLOW_COLUMNS + LAST_COLUMNS)} FROM flows"
_GAUGE_SUMS = ", ".join(f"SUM({c})" for c in GAUGE_COLUMNS)
_LAST_MAXES = ", ".join(f"MAX({c})" for c in LAST_COLUMNS)


#: a text of Queries.flow_texts: a printf format (bound as a parameter) and the
#: count columns it formats, in order
Text = tuple[str, tuple[str, ...]]


@functools.lru_cache(maxsize=64)
def _flow_texts_select(texts: tuple[tuple[str, ...], ...], n: int) -> str:
    """Queries.flow_texts' statement for these columns of its texts and ``n``
    period keys (made once per shape, not once per answer)."""
    if not {c for cols in texts for c in cols} <= set(FLOW_COLUMNS):
        raise ValueError(texts)
    printfs = ("printf(?, " + ", ".join(f"NULLIF({c}, 0)" for c in cols) + ")" for cols in texts)
    return (
        f"SELECT period, {', '.join(printfs)}, {', '.join(LAST_COLUMNS)} FROM flows "
        f"WHERE kind = ? AND period IN ({_marks(n)}) AND scope = ? AND scope_id = ? "
        "ORDER BY period"
    )


#: search_users' sort keys -> the column (each has its index, migration 5)
USER_SORTS = {
    "user": "address",
    "createtime": "createtime",
    "lastlogin": "lastlogin",
    "type": "type",
    "workgroup": "workgroup",
    "delete_time": "deletetime",
}
#: a search_users pattern matching at most this many accounts is sorted in SQL
#: after the address index found them, not walked to along the sort's index
SORT_IN_SQL = 5000
#: what leaves a value as it is but keeps an index from ordering by it
_NEUTRAL = {True: "''", False: "0"}
#: search_domains' sort keys -> the column of its query
DOMAIN_SORTS = {
    "domain": "domain",
    "id": "id",
    "users": "(mailbox + forward + filter)",
    "users/mailbox": "mailbox",
    "users/forward": "forward",
    "users/filter": "filter",
    "users/alias": "alias",
    "users/deleted": "deleted",
    "delete_time": "deletetime",
}
#: search_companies' sort keys -> the column of its query
COMPANY_SORTS = {"company": "name_key", "id": "id", "domains": "domains", "users": "users"}


class _SearchKeys(msgspec.Struct, forbid_unknown_fields=False):
    """What searches read of an account's state (history.UserState's fields)."""

    type: str = "mailbox"
    workgroup: str = "staff"
    deletetime: int | None = None


_search_keys = msgspec.json.Decoder(_SearchKeys).decode


@functools.cache
def _counter_writes(dialect: Dialect) -> tuple[str, str, str, str]:
    """The counter tables' write statements in ``dialect``: the flow upsert, the
    gauge upsert, and the flow insert of one row and of :data:`INSERT_ROWS`."""
    return (
        dialect.sql(_FLOW_UPSERT.replace("{greatest}", dialect.greatest)),
        dialect.sql(_GAUGE_UPSERT),
        dialect.sql(_flow_insert(1)),
        dialect.sql(_flow_insert(INSERT_ROWS)),
    )


class Queries:
    """Every query of mailtally, bound to one connection.

    Rows come back as tuples; the domain modules (``tree``, ``summary``,
    ``record``) give them meaning.  Methods that write must be called inside
    :meth:`Store.write`.
    """

    def __init__(self, conn: Connection, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect
        # (made once per dialect: a Queries is made for every request's read)
        self._flow_upsert, self._gauge_upsert, self._flow_insert, self._flow_insert_many = (
            _counter_writes(dialect)
        )

    # -- plumbing -----------------------------------------------------------
    def _one(self, sql: str, *params: Any) -> Any:
        return self.conn.execute(self.dialect.sql(sql), params).fetchone()

    def _all(self, sql: str, *params: Any) -> list[Any]:
        return self.conn.execute(self.dialect.sql(sql), params).fetchall()

    def _run(self, sql: str, *params: Any) -> None:
        self.conn.execute(self.dialect.sql(sql), params)

    def _changed(self, sql: str, *params: Any) -> int:
        """Run a DELETE or UPDATE; the number of rows it changed."""
        return max(self.conn.execute(self.dialect.sql(sql), params).rowcount, 0)

    def _insert(self, sql: str, *params: Any) -> int:
        row = self._one(sql + " RETURNING id", *params)
        return int(row[0])

    # -- meta ---------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", key)
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._run(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            key,
            value,
        )

    def generation(self) -> int:
        """A number that grows with every write of counts (seen by other processes)."""
        v = self.meta("generation")
        return int(v) if v else 0

    def tree_version(self) -> int:
        """Changes whenever the tenant tree does, so that what was read of it can be kept.

        Every change of the tree is an action of :mod:`mailtally.tree`, and every
        action writes the audit log: the newest audit row names the tree's version.
        Rows of the token methods (audited, but no change of the tree) do not, so
        that a logout does not make a running ingester resolve every address again.
        """
        row = self._one(
            "SELECT id FROM audit_log WHERE method NOT IN ('generate_token', 'logout_user') "
            "ORDER BY id DESC LIMIT 1"
        )
        return int(row[0]) if row else 0

    def bump_generation(self) -> None:
        self.bump_meta("generation")

    def bump_meta(self, key: str) -> int:
        """Add one to the counter ``key`` of ``meta``; its new value.

        One statement, so that two processes bumping at once never write the
        same value (a read, then a write, could: and a process that had seen
        the first would miss the second).  On PostgreSQL the row's lock also
        orders the bumps as their transactions commit.
        """
        row = self._one(
            "INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT (key) DO UPDATE "
            "SET value = CAST(CAST(meta.value AS BIGINT) + 1 AS TEXT) RETURNING value",
            key,
        )
        return int(row[0])

    def meta_counters(self, keys: Sequence[str]) -> dict[str, int]:
        """The counters ``keys`` of ``meta`` (0 for one never bumped), in one read."""
        rows = self._all(f"SELECT key, value FROM meta WHERE key IN ({_marks(len(keys))})", *keys)
        out = dict.fromkeys(keys, 0)
        out.update((str(k), int(v)) for k, v in rows)
        return out

    # -- operators ----------------------------------------------------------
    def operator(self, name: str) -> tuple[str, str] | None:
        return self._one("SELECT name, password_hash FROM operators WHERE name = ?", name)

    def add_operator(self, name: str, password_hash: str, now: int) -> None:
        self.bump_credentials(name)  # (every process checks the old password again)
        self._run(
            "INSERT INTO operators (name, password_hash, createtime) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash",
            name,
            password_hash,
            now,
        )

    # -- companies ----------------------------------------------------------
    _COMPANY = "SELECT id, name, createtime FROM companies"

    def company_by_name(self, name: str) -> tuple[int, str, int] | None:
        """The company named ``name`` in any case (SPEC §2 rule 5).  One indexed
        query whether it exists or not.  Two companies that differed only in case
        before names were unique regardless of it are each found by their exact
        spelling (see :func:`fill_company_keys`).

        A company that exists and one that does not cost the same (SPEC §2
        rule 3), as in :meth:`user_by_address`: for a missing one a company row
        is read all the same (the first company's) and dropped here."""
        row = self._one(
            "SELECT c.id, c.name, c.createtime, m.id FROM (SELECT (SELECT id FROM companies "
            "WHERE name = ? OR name_key = ? ORDER BY name = ? DESC, id LIMIT 1) AS id) m "
            "JOIN companies c ON c.id = COALESCE(m.id, (SELECT MIN(id) FROM companies))",
            name,
            company_key(name),
            name,
        )
        return None if row is None or row[3] is None else (row[0], row[1], row[2])

    def company_by_id(self, company_id: int) -> tuple[int, str, int] | None:
        return self._one(self._COMPANY + " WHERE id = ?", company_id)

    def legacy_company_names(self) -> frozenset[str]:
        """Companies that differed from an older one only in case before names
        were unique regardless of it: found by their exact spelling only."""
        rows = self._all("SELECT name, name_key FROM companies")
        return frozenset(n for n, k in rows if k != company_key(n))

    def insert_company(self, name: str, createtime: int) -> int:
        return self._insert(
            "INSERT INTO companies (name, name_key, createtime) VALUES (?, ?, ?)",
            name,
            company_key(name),
            createtime,
        )

    def update_company_createtime(self, company_id: int, createtime: int) -> None:
        self._run("UPDATE companies SET createtime = ? WHERE id = ?", createtime, company_id)

    # -- domains ------------------------------------------------------------
    _DOMAIN = "SELECT id, company_id, name, createtime, deletetime, attributes FROM domains"

    def domain_by_name(self, name: str) -> tuple[int, int, str, int, int | None, str] | None:
        return self._one(self._DOMAIN + " WHERE name = ? AND deletetime IS NULL", name)

    def domain_in_company(
        self, name: str, company_id: int
    ) -> tuple[int, int, str, int, int | None, str] | None:
        """A live domain of ``company_id`` (only that company's rows are read)."""
        return self._one(
            self._DOMAIN + " WHERE name = ? AND company_id = ? AND deletetime IS NULL",
            name,
            company_id,
        )

    def domain_by_id(self, domain_id: int) -> tuple[int, int, str, int, int | None, str] | None:
        return self._one(self._DOMAIN + " WHERE id = ?", domain_id)

    def domains_of_company(self, company_id: int) -> list[Any]:
        return self._all(
            self._DOMAIN + " WHERE company_id = ? AND deletetime IS NULL ORDER BY name",
            company_id,
        )

    def live_domain_names(self) -> list[str]:
        return [r[0] for r in self._all("SELECT name FROM domains WHERE deletetime IS NULL")]

    def live_domains(self) -> list[tuple[str, int]]:
        """(name, company_id) of every live domain (``ingest_tree``)."""
        return self._all("SELECT name, company_id FROM domains WHERE deletetime IS NULL")

    def insert_domain(self, company_id: int, name: str, createtime: int, attributes: str) -> int:
        domain_id = self._insert(
            "INSERT INTO domains (company_id, name, createtime, attributes) VALUES (?, ?, ?, ?)",
            company_id,
            name,
            createtime,
            attributes,
        )
        self.add_workgroup(company_id, domain_id, "staff")  # every domain has it (SPEC §2)
        self._run(
            "INSERT INTO domain_counts (domain_id, company_id) VALUES (?, ?)", domain_id, company_id
        )
        return domain_id

    def update_domain(self, domain_id: int, attributes: str) -> None:
        self._run("UPDATE domains SET attributes = ? WHERE id = ?", attributes, domain_id)

    def set_domain_createtime(self, domain_id: int, createtime: int) -> None:
        self._run("UPDATE domains SET createtime = ? WHERE id = ?", createtime, domain_id)

    def aliases_in_domain(self, domain_id: int) -> list[tuple[str, int]]:
        """(address, user_id) of every alias address in the domain."""
        return self._all(
            "SELECT address, user_id FROM addresses WHERE domain_id = ? AND is_alias = 1 "
            "ORDER BY address",
            domain_id,
        )

    def delete_domain(self, domain_id: int, now: int) -> None:
        self._run("UPDATE domains SET deletetime = ? WHERE id = ?", now, domain_id)

    def deleted_domains_named(self, name: str, company_id: int | None) -> list[Any]:
        """Deleted domains once called ``name`` (rows as :meth:`domain_by_id`), oldest
        first; of ``company_id`` only when given (scope first: another tenant's rows
        are never read, and cost nothing to a caller that names one)."""
        sql = self._DOMAIN + " WHERE name = ? AND deletetime IS NOT NULL"
        if company_id is None:
            return self._all(sql + " ORDER BY id", name)
        return self._all(sql + " AND company_id = ? ORDER BY id", name, company_id)

    def restore_domain(self, domain_id: int, name: str) -> None:
        self._run("UPDATE domains SET deletetime = NULL, name = ? WHERE id = ?", name, domain_id)

    # -- users and addresses ------------------------------------------------
    #: the table holding ``lastlogin`` with users' id and search columns
    #: (search_users' lastlogin pages walk its index): user_logins, kept
    #: beside users by triggers (SQLite's migration 15, PostgreSQL's 13)
    _LOGINS = "user_logins"
    #: its key, as users is keyed: id here (WITHOUT ROWID), (company_id, id)
    #: on PostgreSQL
    _LOGINS_KEY = "id"
    #: search_users' rows: (id, address, createtime, type, workgroup,
    #: deletetime, lastlogin, state) of the accounts of ``{ids}``
    _USER_ROWS = (
        "SELECT u.id, u.address, u.createtime, u.type, u.workgroup, u.deletetime, "
        "l.lastlogin, u.state FROM users u JOIN user_logins l ON l.id = u.id "
        "WHERE u.id IN ({ids})"
    )
    _USER = (
        "SELECT u.id, u.company_id, u.domain_id, u.address, u.password_hash, u.createtime, "
        "u.state FROM users u"
    )

    def resolve_address(self, address: str) -> tuple[int, int, int, int] | None:
        """(user_id, domain_id, company_id, is_alias) of an address, or None."""
        return self._one(
            "SELECT user_id, domain_id, company_id, is_alias FROM addresses WHERE address = ?",
            address,
        )

    def account_of(self, address: str) -> tuple[int, int, int, str] | None:
        """(user_id, domain_id, company_id, address) of the account an address
        (its own or an alias, lower case) reaches: the account's own domain and
        address, whichever domain the alias is in."""
        return self._one(
            "SELECT u.id, u.domain_id, u.company_id, u.address FROM addresses a "
            "JOIN users u ON u.id = a.user_id WHERE a.address = ?",
            address,
        )

    def address_count(self) -> int:
        return int(self._one("SELECT COUNT(*) FROM addresses")[0])

    _ACCOUNTS = (
        "SELECT a.address, u.id, u.domain_id, u.company_id, u.address FROM addresses a "
        "JOIN users u ON u.id = a.user_id"
    )
    #: addresses asked at most in one :meth:`accounts_of` statement (SQLite's
    #: default limit of bound parameters is 32,766; a few hundred is as fast)
    ACCOUNTS_OF_CHUNK = 500

    def accounts(self) -> Iterator[tuple[str, int, int, int, str]]:
        """What :meth:`account_of` says of every address, as (address, *answer),
        row by row (a provider's tree is not held whole as rows).

        Read through a 2 MiB page cache: the scan reads every account's row once,
        and would otherwise leave the connection's cache (64 MiB) full of them —
        44 MB more peak RSS for an ingest at 100,000 accounts, for no speed.
        """
        conn = self.conn
        if self.dialect.name != "sqlite":
            yield from conn.execute(self.dialect.sql(self._ACCOUNTS))
            return
        size = int(conn.execute("PRAGMA cache_size").fetchone()[0])
        conn.execute("PRAGMA cache_size = -2048")
        try:
            yield from conn.execute(self.dialect.sql(self._ACCOUNTS))
        finally:
            conn.execute(f"PRAGMA cache_size = {size}")

    def accounts_of(self, addresses: Sequence[str]) -> list[tuple[str, int, int, int, str]]:
        """:meth:`accounts` of those of ``addresses`` (lower case) that exist: one
        statement per ACCOUNTS_OF_CHUNK addresses instead of one each."""
        out: list[tuple[str, int, int, int, str]] = []
        step = self.ACCOUNTS_OF_CHUNK
        for i in range(0, len(addresses), step):
            chunk = addresses[i : i + step]
            marks = ", ".join("?" * len(chunk))
            out += self._all(f"{self._ACCOUNTS} WHERE a.address IN ({marks})", *chunk)
        return out

    def user_by_address(self, address: str) -> Any:
        """The account an address names (its own or an alias) as :meth:`user_by_id`
        gives it (but for the password hash, which is not read), then whether the
        address is an alias: ``None`` there means the address names no account.

        An address that exists and one that does not cost the same (SPEC §2
        rule 3: the time of an answer must not tell them apart): for a missing
        one an account row is read all the same — the first account's, whose
        alias flag is then NULL and whose data no caller may take as an answer.
        ``None`` only when there are no accounts at all.
        """
        return self._one(
            "SELECT u.id, u.company_id, u.domain_id, u.address, NULL, u.createtime, u.state, "
            "a.is_alias FROM (SELECT ? AS address) x "
            "LEFT JOIN addresses a ON a.address = x.address "
            "JOIN users u ON u.id = COALESCE(a.user_id, (SELECT MIN(id) FROM users))",
            address,
        )

    def user_by_id(self, user_id: int) -> Any:
        return self._one(self._USER + " WHERE u.id = ?", user_id)

    def password_setter(self, user_id: int) -> int | None:
        """The admin account that chose the account's password (migration 17),
        or None: no password, or one the account or an operator chose."""
        row = self._one(
            "SELECT password_set_by FROM users WHERE id = ? AND password_hash IS NOT NULL",
            user_id,
        )
        return None if row is None or row[0] is None else int(row[0])

    def user_purgetime(self, user_id: int) -> int | None:
        row = self._one("SELECT purgetime FROM users WHERE id = ?", user_id)
        return None if row is None or row[0] is None else int(row[0])

    def users_of_domain(self, domain_id: int) -> list[Any]:
        return self._all(
            self._USER + " WHERE u.domain_id = ? AND u.purgetime IS NULL ORDER BY u.address",
            domain_id,
        )

    def insert_user(
        self,
        company_id: int,
        domain_id: int,
        address: str,
        password_hash: str | None,
        createtime: int,
        state: str,
        password_set_by: int | None = None,
    ) -> int:
        """A new account; ``password_set_by`` as :meth:`set_password_hash`'s ``set_by``."""
        user_id = self._insert(
            "INSERT INTO users (company_id, domain_id, address, password_hash, createtime, state, "
            "password_set_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
            company_id,
            domain_id,
            address,
            password_hash,
            createtime,
            state,
            password_set_by,
        )
        self._add_counts(Counter(), self._counted(user_id))
        return user_id

    def update_user_state(self, user_id: int, state: str) -> None:
        """The account's state, and the columns searches filter and sort on
        (migration 5), in one statement: they cannot disagree."""
        keys = _search_keys(state)
        status = "active" if keys.deletetime is None else "deleted"
        with self._recount(user_id):
            self._run(
                "UPDATE users SET state = ?, type = ?, workgroup = ?, deletetime = ?, "
                "status = CASE WHEN purgetime IS NULL THEN ? ELSE 'purged' END WHERE id = ?",
                state,
                keys.type,
                keys.workgroup,
                keys.deletetime,
                status,
                user_id,
            )
        # a workgroup comes into being when a user names it (SPEC §4)
        self._run(
            "INSERT INTO workgroups (company_id, domain_id, name) "
            "SELECT company_id, domain_id, ? FROM users WHERE id = ? "
            "ON CONFLICT (domain_id, name) DO NOTHING",
            keys.workgroup,
            user_id,
        )

    def raise_lastlogins(self, logins: Iterable[tuple[int, int]]) -> None:
        """(user_id, time): each account's ``lastlogin`` becomes the later of the two."""
        self.conn.executemany(
            self.dialect.sql("UPDATE user_logins SET lastlogin = ? WHERE id = ? AND lastlogin < ?"),
            ((t, uid, t) for uid, t in logins),
        )

    def set_password_hash(
        self, user_id: int, password_hash: str | None, set_by: int | None = None
    ) -> None:
        """The account's password (None: none, no password login); ``set_by``:
        the account of the admin that chose it for the account (migration 17),
        None when the account chose it itself or an operator did."""
        self._run(
            "UPDATE users SET password_hash = ?, password_set_by = ? WHERE id = ?",
            password_hash,
            set_by,
            user_id,
        )
        # every process's cached credentials of the account stop at their next use
        self.bump_user_credentials([user_id])

    def purge_user(self, user_id: int, now: int) -> None:
        with self._recount(user_id):
            self._run(
                "UPDATE users SET purgetime = ?, status = 'purged' WHERE id = ?", now, user_id
            )
            self._run("DELETE FROM addresses WHERE user_id = ?", user_id)
        self._run("DELETE FROM roles WHERE user_id = ?", user_id)

    def add_address(
        self, address: str, company_id: int, domain_id: int, user_id: int, is_alias: bool
    ) -> None:
        # (an account's own address counts for nothing in domain_counts)
        with self._recount(user_id) if is_alias else nullcontext():
            self._run(
                "INSERT INTO addresses (address, company_id, domain_id, user_id, is_alias) "
                "VALUES (?, ?, ?, ?, ?)",
                address,
                company_id,
                domain_id,
                user_id,
                int(is_alias),
            )

    def remove_alias(self, address: str) -> None:
        row = self._one("SELECT user_id FROM addresses WHERE address = ? AND is_alias = 1", address)
        if row is None:
            return
        with self._recount(row[0]):
            self._run("DELETE FROM addresses WHERE address = ? AND is_alias = 1", address)

    # What search_domains shows of each domain is kept in domain_counts
    # (migration 8) by every method above that changes an account or an alias:
    # what the account added before the change is taken back, what it adds
    # after is added, in the same transaction — so the counts cannot drift
    # from the rows, whichever tree action made the change.
    def _counted(self, user_id: int) -> Counter[tuple[int, str]]:
        """What the account adds to domain_counts: (domain id, column) -> n."""
        out: Counter[tuple[int, str]] = Counter()
        row = self._one("SELECT domain_id, status, type FROM users WHERE id = ?", user_id)
        if row is None:
            return out
        domain_id, status, type_ = row
        if status == "active":
            out[domain_id, type_ if type_ in ("forward", "filter") else "mailbox"] += 1
        elif status == "deleted":
            out[domain_id, "deleted"] += 1
        if status != "deleted":
            for alias_domain, n in self._all(
                "SELECT domain_id, COUNT(*) FROM addresses WHERE user_id = ? AND is_alias = 1 "
                "GROUP BY domain_id",
                user_id,
            ):
                out[alias_domain, "alias"] += n
        return out

    def _add_counts(
        self, before: Counter[tuple[int, str]], after: Counter[tuple[int, str]]
    ) -> None:
        for domain_id, col in before.keys() | after.keys():
            if delta := after[domain_id, col] - before[domain_id, col]:
                self._run(
                    f"UPDATE domain_counts SET {col} = {col} + ? WHERE domain_id = ?",
                    delta,
                    domain_id,
                )

    @contextmanager
    def _recount(self, user_id: int) -> Iterator[None]:
        """Around a change to the account: domain_counts follow it."""
        before = self._counted(user_id)
        yield
        self._add_counts(before, self._counted(user_id))

    def add_user_version(self, company_id: int, user_id: int, valid_from: int, state: str) -> None:
        self._run(
            "INSERT INTO user_versions (company_id, user_id, valid_from, state, domain_id) "
            "VALUES (?, ?, ?, ?, (SELECT domain_id FROM users WHERE id = ?))",
            company_id,
            user_id,
            valid_from,
            state,
            user_id,
        )

    def user_versions(self, user_id: int, since: int) -> list[tuple[int, str]]:
        """The version in force at ``since`` and every later one, oldest first."""
        return self._all(
            "SELECT valid_from, state FROM user_versions WHERE user_id = ? AND (valid_from > ? "
            "OR id = (SELECT id FROM user_versions WHERE user_id = ? AND valid_from <= ? "
            "ORDER BY valid_from DESC, id DESC LIMIT 1)) ORDER BY valid_from, id",
            user_id,
            since,
            user_id,
            since,
        )

    def user_timeline(self, user_id: int, since: int) -> list[tuple[int, str, int | None]]:
        """:meth:`user_versions` with each version's home domain (a rename may
        move an account into another domain of its company)."""
        return self._all(
            "SELECT valid_from, state, domain_id FROM user_versions WHERE user_id = ? AND "
            "(valid_from > ? OR id = (SELECT id FROM user_versions WHERE user_id = ? AND "
            "valid_from <= ? ORDER BY valid_from DESC, id DESC LIMIT 1)) ORDER BY valid_from, id",
            user_id,
            since,
            user_id,
            since,
        )

    def all_user_versions(self, user_id: int) -> list[tuple[int, str]]:
        """(valid_from, state) of every version of the account, oldest first."""
        return self._all(
            "SELECT valid_from, state FROM user_versions WHERE user_id = ? ORDER BY valid_from, id",
            user_id,
        )

    def rename_user(self, user_id: int, new_address: str, domain_id: int) -> None:
        """Give the account another address (of ``domain_id``, of its company):
        its own address row moves, its id and everything keyed by it stay."""
        with self._recount(user_id):
            self._run(
                "UPDATE users SET address = ?, domain_id = ? WHERE id = ?",
                new_address,
                domain_id,
                user_id,
            )
        self._run(
            "UPDATE addresses SET address = ?, domain_id = ? WHERE user_id = ? AND is_alias = 0",
            new_address,
            domain_id,
            user_id,
        )

    def deleted_users_named(self, address: str, company_id: int | None) -> list[Any]:
        """Unpurged accounts whose own address is ``address`` (rows as
        :meth:`user_by_id`; the caller tells the deleted ones by their state),
        of ``company_id`` only when given (scope first: another tenant's rows
        are never read, and cost nothing to a caller that names one)."""
        sql = self._USER + " WHERE u.address = ? AND u.purgetime IS NULL"
        if company_id is None:
            return self._all(sql + " ORDER BY u.id", address)
        return self._all(sql + " AND u.company_id = ? ORDER BY u.id", address, company_id)

    # -- storage reports ----------------------------------------------------
    _STORAGE_UPSERT = (
        "INSERT INTO storage_reports (company_id, user_id, time, items, bytes) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, time) DO UPDATE "
        "SET items = excluded.items, bytes = excluded.bytes"
    )

    def put_storage_report(
        self, company_id: int, user_id: int, time: int, items: int, nbytes: int
    ) -> None:
        self._run(self._STORAGE_UPSERT, company_id, user_id, time, items, nbytes)

    def put_storage_reports(self, rows: Iterable[tuple[int, int, int, int, int]]) -> None:
        """:meth:`put_storage_report` of each (company_id, user_id, time, items, bytes)."""
        self.conn.executemany(self.dialect.sql(self._STORAGE_UPSERT), rows)

    def storage_ends(self, user_ids: Iterable[int]) -> Iterator[Any]:
        """Where each account's history ends, for appending quota reports to it.

        (user_id, company_id, domain_id, purgetime, time and state of the latest
        version, time, items and bytes of the latest report) per existing user,
        500 users' rows at a time (a report of every mailbox names them all).
        """
        ids = sorted(set(user_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            yield from self._all(
                "SELECT u.id, u.company_id, u.domain_id, u.purgetime, v.valid_from, v.state, "
                "r.time, r.items, r.bytes FROM users u "
                "LEFT JOIN user_versions v ON v.id = (SELECT id FROM user_versions "
                "WHERE user_id = u.id ORDER BY valid_from DESC, id DESC LIMIT 1) "
                "LEFT JOIN storage_reports r ON r.user_id = u.id AND r.time = "
                "(SELECT MAX(time) FROM storage_reports WHERE user_id = u.id) "
                f"WHERE u.id IN ({', '.join('?' * len(chunk))})",
                *chunk,
            )

    def storage_reports(self, user_id: int, since: int) -> list[tuple[int, int, int]]:
        """(time, items, bytes): the report in force at ``since`` and every later one."""
        return self._all(
            "SELECT time, items, bytes FROM storage_reports WHERE user_id = ? AND time >= "
            "COALESCE((SELECT MAX(time) FROM storage_reports WHERE user_id = ? AND time <= ?), ?)"
            " ORDER BY time",
            user_id,
            user_id,
            since,
            since,
        )

    # -- roles --------------------------------------------------------------
    #: a role's object by name: a company's, a domain's, or "domain/workgroup"
    _ROLE = (
        "SELECT r.role, r.kind, r.object_id, r.workgroup, "
        "CASE WHEN r.kind = 'company' THEN c.name "
        "WHEN r.kind = 'domain' THEN d.name ELSE d.name || '/' || r.workgroup END "
        "FROM roles r "
        "LEFT JOIN companies c ON r.kind = 'company' AND c.id = r.object_id "
        "AND c.id = r.company_id "
        "LEFT JOIN domains d ON r.kind <> 'company' AND d.id = r.object_id "
        "AND d.company_id = r.company_id "
        "WHERE r.user_id = ? ORDER BY r.role, 5"
    )

    def grants_of(self, user_id: int) -> list[tuple[str, str, int, str, str]]:
        """(role, kind, object id, workgroup, object name) of each role the user holds."""
        return [r for r in self._all(self._ROLE, user_id) if r[4] is not None]

    def roles_of(self, user_id: int) -> list[tuple[str, str]]:
        """(role, object name) of each role the user holds, as answers show them."""
        return [(r[0], r[4]) for r in self.grants_of(user_id)]

    def add_role(
        self, company_id: int, user_id: int, role: str, kind: str, object_id: int, workgroup: str
    ) -> None:
        self._run(
            "INSERT INTO roles (company_id, user_id, role, kind, object_id, workgroup) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            company_id,
            user_id,
            role,
            kind,
            object_id,
            workgroup,
        )

    def drop_roles_on_domain(self, company_id: int, domain_id: int) -> list[tuple[int, str]]:
        """Drop the roles on a domain and its workgroups: by kind, id and company
        (SPEC §2 rule 2), never by how anything is spelled; (account, role) of
        each dropped."""
        rows = self._all(
            "DELETE FROM roles WHERE company_id = ? AND kind IN ('domain', 'workgroup') "
            "AND object_id = ? RETURNING user_id, role",
            company_id,
            domain_id,
        )
        return sorted({(int(r[0]), str(r[1])) for r in rows})

    def clear_roles(self, user_id: int, company_id: int | None = None) -> None:
        """Drop every role of the account (of ``company_id``'s, when given: the
        company the caller acted in, so a wrong id can never reach another
        tenant's rows)."""
        if company_id is None:
            self._run("DELETE FROM roles WHERE user_id = ?", user_id)
        else:
            self._run("DELETE FROM roles WHERE user_id = ? AND company_id = ?", user_id, company_id)

    # -- tokens -------------------------------------------------------------
    def token(self, token_hash: str) -> tuple[str, int, str] | None:
        """(principal, expires, kind) of a stored token."""
        return self._one(
            "SELECT principal, expires, kind FROM tokens WHERE token_hash = ?", token_hash
        )

    def token_made_by(self, token_hash: str) -> int | None:
        """The admin that made a stored token (generate_token), or None (the
        account's own session token, an operator's, or no such token)."""
        row = self._one("SELECT made_by FROM tokens WHERE token_hash = ?", token_hash)
        return None if row is None or row[0] is None else int(row[0])

    def add_token(
        self,
        token_hash: str,
        company_id: int | None,
        principal: str,
        expires: int,
        kind: str = "session",
        user_id: int | None = None,
        made_by: int | None = None,
    ) -> None:
        """Store a token; ``made_by``: the account of the admin that made it for
        ``principal`` (generate_token; migration 0016), or that made the token
        a session token was issued for by ``authenticate``; None for the
        account's own session token and an operator's."""
        self._run(
            "INSERT INTO tokens (token_hash, company_id, principal, expires, kind, user_id, "
            "made_by) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (token_hash) DO UPDATE SET principal = excluded.principal, "
            "expires = excluded.expires, company_id = excluded.company_id, "
            "kind = excluded.kind, user_id = excluded.user_id, made_by = excluded.made_by",
            token_hash,
            company_id,
            principal,
            expires,
            kind,
            user_id,
            made_by,
        )

    def bump_user_credentials(self, user_ids: Sequence[int]) -> None:
        """:meth:`bump_credentials` of the accounts ``user_ids`` (by their own address)."""
        for uid in sorted(set(user_ids)):
            self._run(
                f"{_BUMP_SELECT} 'n', address, 1 FROM users WHERE id = ? {_BUMP_CONFLICT}", uid
            )

    def drop_tokens_made_for(self, user_id: int) -> int:
        """Drop the tokens admins made for the account ``user_id`` (generate_token):
        when it is granted a role, the rights each maker had over it no longer
        cover it (isolation rule 1 is checked as a token is made); its own session
        tokens, and an operator's, stay.  Moves the version of the names dropped."""
        return self._drop_tokens("user_id = ? AND made_by IS NOT NULL", user_id)

    def drop_tokens_made_by(self, user_ids: Sequence[int]) -> int:
        """Drop the tokens the accounts ``user_ids`` made for others (generate_token),
        moving the credential version of every name they were made for (as
        :meth:`drop_tokens_of`); the number dropped.  Called where a maker loses
        the rights it made them with: deleted, its roles taken away, a domain it
        held a role on deleted."""
        ids = sorted(set(user_ids))
        if not ids:
            return 0
        return self._drop_tokens(f"made_by IN ({', '.join('?' * len(ids))})", *ids)

    def consume_token(self, token_hash: str, now: int) -> tuple[str, int, int | None] | None:
        """Take a single-use token: (principal, expires, made_by) to exactly one
        caller, however many ask at once (one DELETE decides, in the store), else None."""
        return self._one(
            "DELETE FROM tokens WHERE token_hash = ? AND kind = 'sso' AND expires >= ? "
            "RETURNING principal, expires, made_by",
            token_hash,
            now,
        )

    def drop_tokens_of(self, principal: str, user_id: int | None = None) -> int:
        """Drop every token of ``principal`` (and of the account ``user_id``,
        whatever name it was issued under); the number dropped.

        Every name they were issued to, and ``principal``, gets a new
        credential version (:meth:`bump_credentials`): every process stops
        accepting what it cached of them at its next request.  The callers are
        the changes that end a name's credentials (a password change, delete,
        rename, logout), so that is where the version moves, in their
        transaction.
        """
        if user_id is None:
            return self._drop_tokens("principal = ?", principal, also=principal)
        return self._drop_tokens("principal = ? OR user_id = ?", principal, user_id, also=principal)

    def _drop_tokens(self, where: str, *args: Any, also: str | None = None) -> int:
        """Delete the tokens ``where`` says; every name they were issued to (and
        ``also``) gets a new credential version; the number deleted."""
        rows = self._all(f"DELETE FROM tokens WHERE {where} RETURNING principal", *args)
        names = {str(r[0]) for r in rows} | ({also} if also is not None else set())
        for name in sorted(names):
            self.bump_credentials(name)
        return len(rows)

    def drop_expired_tokens(self, now: int) -> None:
        self._run("DELETE FROM tokens WHERE expires < ?", now)

    # -- credential state shared by the API processes (migration 0011) --------
    def bump_credentials(self, name: str) -> None:
        """A new credential version for the canonical ``name``: what any process
        verified of it before (a password, a token) is checked again."""
        self._run(f"{_BUMP_VALUES} {_BUMP_CONFLICT}", name)

    def auth_state(self, name: str, address: str | None = None) -> tuple[int, int, int]:
        """(credential version, locked until) of the canonical ``name``, and until
        when the client ``address`` (an :func:`~mailtally.auth.address_key`) is
        refused tokens; 0 for what has no row.  One point read (two keys)."""
        if address is None:
            rows = self._all(
                "SELECT kind, version, locked_until FROM auth_state WHERE kind = 'n' AND key = ?",
                name,
            )
        else:
            rows = self._all(
                "SELECT kind, version, locked_until FROM auth_state "
                "WHERE (kind = 'n' AND key = ?) OR (kind = 'a' AND key = ?)",
                name,
                address,
            )
        version = locked = refused = 0
        for kind, v, until in rows:
            if kind == "n":
                version, locked = int(v), int(until)
            else:
                refused = int(until)
        return version, locked, refused

    def auth_fail(self, kind: str, key: str, now: int, limit: int, window: int) -> bool:
        """Count a failure of ``key`` (kind 'n': a name's password, 'a': an
        address's token); True when it is the ``limit``-th within ``window``
        seconds, which refuses the key until ``now + window`` and starts the
        count afresh."""
        # the key's row first: on PostgreSQL its lock orders concurrent failures
        # of one key, so that the limit-th is counted as such by exactly one
        self._run(
            "INSERT INTO auth_state (kind, key) VALUES (?, ?) ON CONFLICT (kind, key) "
            "DO UPDATE SET locked_until = auth_state.locked_until",
            kind,
            key,
        )
        self._run(
            "DELETE FROM auth_failures WHERE kind = ? AND key = ? AND time <= ?",
            kind,
            key,
            now - window,
        )
        self._run("INSERT INTO auth_failures (kind, key, time) VALUES (?, ?, ?)", kind, key, now)
        n = self._one("SELECT COUNT(*) FROM auth_failures WHERE kind = ? AND key = ?", kind, key)[0]
        if n < limit:
            return False
        self._run("DELETE FROM auth_failures WHERE kind = ? AND key = ?", kind, key)
        self._run(
            "UPDATE auth_state SET locked_until = ? WHERE kind = ? AND key = ?",
            now + window,
            kind,
            key,
        )
        return True

    def sweep_auth(self, now: int, name_window: int, address_window: int, notes: int) -> int:
        """Drop failures that ran out (a name's after ``name_window`` seconds, an
        address's after ``address_window``), refusals that ran out (of rows
        without a credential version only: a version never goes back), and the
        auth counts' notes (:meth:`note_auth_counted`) older than ``notes``
        seconds; the number of rows dropped."""
        n = self._changed(
            "DELETE FROM auth_failures WHERE (kind = 'n' AND time <= ?) "
            "OR (kind = 'a' AND time <= ?)",
            now - name_window,
            now - address_window,
        )
        n += self._changed(
            "DELETE FROM auth_state WHERE version = 0 AND locked_until <= ? AND NOT EXISTS "
            "(SELECT 1 FROM auth_failures f WHERE f.kind = auth_state.kind "
            "AND f.key = auth_state.key)",
            now,
        )
        n += self._changed("DELETE FROM auth_counted WHERE time <= ?", now - notes)
        return n

    def note_auth_counted(self, node: str, users: Iterable[str], now: int) -> int:
        """Inside the write of a process's buffered ``logins.auth_*`` counts:
        bump meta ``auth_generation`` and note which users they were of (the
        summaries they change); the new generation."""
        g = self.bump_meta("auth_generation")
        self.conn.executemany(
            self.dialect.sql(
                "INSERT INTO auth_counted (generation, node, user_name, time) VALUES (?, ?, ?, ?)"
            ),
            [(g, node, u, now) for u in sorted(set(users))],
        )
        return g

    def auth_counted_since(self, generation: int, node: str) -> tuple[list[str], int]:
        """The users other processes than ``node`` counted after ``generation``,
        and how many of those generations are still noted (fewer than the
        counter moved: some were swept, and the caller must assume any user)."""
        rows = self._all(
            "SELECT generation, node, user_name FROM auth_counted WHERE generation > ?",
            generation,
        )
        return sorted({str(u) for _, n, u in rows if n != node}), len({g for g, _, _ in rows})

    # -- snapshot links (stats_snapshot, issue 11) ---------------------------
    def add_snapshot_link(
        self,
        token_hash: str,
        company_id: int,
        object_kind: str,
        object_id: int,
        kind: str,
        period: str,
        creator: str,
        expires: int,
    ) -> None:
        self._run(
            "INSERT INTO snapshot_links (token_hash, company_id, object_kind, object_id, kind, "
            "period, creator, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            token_hash,
            company_id,
            object_kind,
            object_id,
            KIND_CODES[kind],
            period,
            creator,
            expires,
        )

    def snapshot_link(self, token_hash: str) -> tuple[str, str, int, str, str, int, str] | None:
        """(token_hash, object_kind, object_id, kind, period, expires, creator) of a link."""
        row = self._one(
            "SELECT token_hash, object_kind, object_id, kind, period, expires, creator "
            "FROM snapshot_links WHERE token_hash = ?",
            token_hash,
        )
        if row is None:
            return None
        kind = next(k for k, v in KIND_CODES.items() if v == row[3])
        return row[0], row[1], int(row[2]), kind, row[4], int(row[5]), row[6]

    def drop_snapshot_links(self, before: int) -> None:
        """Forget links that expired before ``before``."""
        self._run("DELETE FROM snapshot_links WHERE expires < ?", before)

    def snapshot_accounts(
        self,
        scope: str,
        scope_id: int,
        after: int,
        limit: int,
        kind: str,
        period: str,
        start: int,
        moment: int,
    ) -> list[Any]:
        """One page of a snapshot: the accounts of a company or domain (``scope``)
        with ids above ``after`` that existed in the period (created at or before
        ``moment``, not purged before ``start``), in id order, at most ``limit``.

        Each row: (id, address, domain name, createtime, purgetime, current
        state, state of the version in force at ``moment``, items and bytes of
        the quota report in force at ``moment``, *FLOW_COLUMNS of the period).
        A keyset page (``u.id > after``) over the users index of the scope, and
        for each account seeks of its version, its report and its flow row
        (``kind, period, scope 'u', scope_id``: a key seek whether the flows
        table is keyed scope-first or period-first): the cost of a page does
        not grow with the company, and no page holds more than ``limit`` rows.
        """
        column = "u.company_id" if scope == COMPANY else "u.domain_id"
        flows = ", ".join(f"f.{c}" for c in FLOW_COLUMNS)
        return self._all(
            "SELECT u.id, u.address, d.name, u.createtime, u.purgetime, u.state, v.state, "
            f"r.items, r.bytes, {flows} FROM users u JOIN domains d ON d.id = u.domain_id "
            "LEFT JOIN user_versions v ON v.id = (SELECT id FROM user_versions "
            "WHERE user_id = u.id AND valid_from <= ? ORDER BY valid_from DESC, id DESC LIMIT 1) "
            "LEFT JOIN storage_reports r ON r.user_id = u.id AND r.time = "
            "(SELECT MAX(time) FROM storage_reports WHERE user_id = u.id AND time <= ?) "
            "LEFT JOIN flows f ON f.kind = ? AND f.period = ? AND f.scope = 'u' "
            "AND f.scope_id = u.id "
            f"WHERE {column} = ? AND u.id > ? AND u.createtime <= ? "
            "AND (u.purgetime IS NULL OR u.purgetime >= ?) ORDER BY u.id LIMIT ?",
            moment,
            moment,
            KIND_CODES[kind],
            period,
            scope_id,
            after,
            moment,
            start,
            limit,
        )

    # -- audit --------------------------------------------------------------
    def audit(
        self,
        time: int,
        company_id: int | None,
        actor: str,
        client: str | None,
        method: str,
        obj: str,
        detail: str,
        object_kind: str | None = None,
        object_id: int | None = None,
    ) -> None:
        self._run(
            "INSERT INTO audit_log (time, company_id, actor, client, method, object, detail, "
            "object_kind, object_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            time,
            company_id,
            actor,
            client,
            method,
            obj,
            detail,
            object_kind,
            object_id,
        )

    def changes_of(
        self, object_kind: str, object_id: int, first: int, limit: int
    ) -> tuple[int, list[Any]]:
        """(total, page): an object's audit entries newest first, ``limit`` of
        them from index ``first`` — (time, actor, client, method, detail) —
        paged by the index (object_kind, object_id, id)."""
        total = self._one(
            "SELECT COUNT(*) FROM audit_log WHERE object_kind = ? AND object_id = ?",
            object_kind,
            object_id,
        )[0]
        rows = self._all(
            "SELECT time, actor, client, method, detail FROM audit_log "
            "WHERE object_kind = ? AND object_id = ? ORDER BY id DESC LIMIT ? OFFSET ?",
            object_kind,
            object_id,
            limit,
            first,
        )
        return int(total), rows

    def audit_entries(self, company_id: int | None = None) -> list[Any]:
        if company_id is None:
            return self._all(
                "SELECT time, company_id, actor, client, method, object, detail FROM audit_log "
                "ORDER BY id"
            )
        return self._all(
            "SELECT time, company_id, actor, client, method, object, detail FROM audit_log "
            "WHERE company_id = ? ORDER BY id",
            company_id,
        )

    # -- ingestion ------------------------------------------------------------
    def batch(self, scope: str, batch_id: str) -> tuple[int, int] | None:
        """(time, accepted) of a batch already counted, or None."""
        return self._one(
            "SELECT time, accepted FROM event_batches WHERE scope = ? AND batch_id = ?",
            scope,
            batch_id,
        )

    def add_batch(
        self, scope: str, batch_id: str, company_id: int | None, time: int, accepted: int
    ) -> None:
        self._run(
            "INSERT INTO event_batches (scope, batch_id, company_id, time, accepted) "
            "VALUES (?, ?, ?, ?, ?)",
            scope,
            batch_id,
            company_id,
            time,
            accepted,
        )

    def ingest_files(self, source: str = DEFAULT_SOURCE) -> list[Any]:
        """(id, path, device, inode, head_hash, head_len, position, lines) of every file
        ``source`` (an ingester's ``--source``) has read."""
        return self._all(
            "SELECT id, path, device, inode, head_hash, head_len, position, lines "
            "FROM ingest_files WHERE source = ? ORDER BY id",
            source,
        )

    def save_ingest_file(
        self,
        file_id: int | None,
        path: str,
        device: int,
        inode: int,
        head_hash: str,
        head_len: int,
        position: int,
        lines: int,
        now: int,
        source: str = DEFAULT_SOURCE,
    ) -> int:
        """Insert (file_id None) or update a file's identity and position; its id.
        ``source``: the ingester that read it (a new file's; a file keeps its source)."""
        if file_id is None:
            return self._insert(
                "INSERT INTO ingest_files (path, device, inode, head_hash, head_len, position, "
                "lines, updated, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                path,
                device,
                inode,
                head_hash,
                head_len,
                position,
                lines,
                now,
                source,
            )
        self._run(
            "UPDATE ingest_files SET path = ?, device = ?, inode = ?, head_hash = ?, "
            "head_len = ?, position = ?, lines = ?, updated = ? WHERE id = ?",
            path,
            device,
            inode,
            head_hash,
            head_len,
            position,
            lines,
            now,
            file_id,
        )
        return file_id

    def ingest_state(self, name: str) -> str | None:
        row = self._one("SELECT state FROM ingest_state WHERE name = ?", name)
        return None if row is None else str(row[0])

    def save_ingest_state(self, name: str, state: str) -> None:
        self._run(
            "INSERT INTO ingest_state (name, state) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET state = excluded.state",
            name,
            state,
        )

    # -- searches (issue 10) ------------------------------------------------
    def glob(self, column: str, pattern: str) -> tuple[str, str]:
        """``column`` matching an OMA pattern (``*``, ``?``): the SQL and its
        parameter.  Every other character matches itself — SQLite's GLOB
        class ``[`` is escaped, and PostgreSQL's LIKE specials ``%``, ``_`` and
        ``\\`` too — so a name holding them is found by its own spelling."""
        if self.dialect.name == "sqlite":
            # GLOB keeps the index usable for a pattern with a literal prefix
            return f"{column} GLOB ?", pattern.replace("[", "[[]")
        escaped = "".join("\\" + c if c in "\\%_" else c for c in pattern)
        return f"{column} LIKE ? ESCAPE '\\'", escaped.replace("*", "%").replace("?", "_")

    def _matching(
        self, table: str, where: list[str], params: list[Any], column: str, match: str | None
    ) -> tuple[str, int]:
        """The condition ``where`` (and ``column`` matching ``match``) spells, and
        how many rows of ``table`` meet it (a search's ``total_count``)."""
        if match is not None:
            sql, pattern = self.glob(column, match)
            where.append(sql)
            params.append(pattern)
        cond = " AND ".join(where) or "1 = 1"
        return cond, int(self._one(f"SELECT COUNT(*) FROM {table} WHERE {cond}", *params)[0])

    def search_users(
        self,
        *,
        domain_id: int | None,
        company_id: int | None,
        deleted: bool,
        match: str | None,
        type_: str | None,
        workgroup: str | None,
        sort: str,
        descending: bool,
        first: int,
        limit: int,
    ) -> tuple[int, list[Any]]:
        """(how many accounts match, the page): accounts of the domain (else
        the company, else everywhere), active or soft-deleted, sorted by
        ``sort`` (a column of :data:`USER_SORTS`) then address and id.  Each
        sort has its index in each scope (migrations 5 and 8; a lastlogin sort
        has one, by domain: every other index holding ``lastlogin`` would cost
        ingest an entry moved per account and day, migration 10; it is
        user_logins', :attr:`_LOGINS`).  The page is
        an index walk of ``first + limit`` entries, and only its rows are read;
        a criterion is tested on the walked entries.  Rows: (id,
        address, createtime, type, workgroup, deletetime, lastlogin, state)."""
        status = "deleted" if deleted else "active"
        if domain_id is not None:
            scope, scope_params = ["domain_id = ?"], [domain_id]
        elif company_id is not None:
            scope, scope_params = ["company_id = ?"], [company_id]
        else:
            scope, scope_params = [], []
        criteria = [(c, v) for c, v in (("type", type_), ("workgroup", workgroup)) if v is not None]
        pattern = None if match is None else self.glob("address", match)
        params: list[Any] = [*scope_params, status, *(v for _, v in criteria)]
        if pattern is not None:
            params.append(pattern[1])

        def where(neutral: bool) -> str:
            """The condition; with ``neutral``, type and workgroup are written
            so that no index is taken for them (they are tested on the
            entries of the index that orders the page)."""
            terms = [*scope, "status = ?"]
            terms += [f"({c} || '') = ?" if neutral else f"{c} = ?" for c, _ in criteria]
            return " AND ".join(terms + ([pattern[0]] if pattern is not None else []))

        if pattern is None and not criteria:
            # every account of the scope in that status: a sum of domain_counts
            total = int(
                self._one(
                    f"SELECT COALESCE(SUM({'deleted' if deleted else 'mailbox + forward + filter'}"
                    f"), 0) FROM domain_counts WHERE {' AND '.join(scope) or '1 = 1'}",
                    *scope_params,
                )[0]
            )
        else:
            total = int(self._one(f"SELECT COUNT(*) FROM users WHERE {where(False)}", *params)[0])
        if first >= total:
            return total, []
        column = USER_SORTS[sort]
        if (column == "type" and type_ is not None) or (
            column == "workgroup" and workgroup is not None
        ):
            column = "address"  # every match has the one value: the order is by address
        # A page past the middle is read from the other end (OFFSET walks the
        # index entry by entry: at most half the matches, never all).
        count = min(limit, total - first)
        backwards = first > total - first - count
        offset = total - first - count if backwards else first
        way = "DESC" if descending != backwards else "ASC"
        keys = [("address", True), ("id", False)]
        if column != "address":
            keys.insert(0, (column, column in ("type", "workgroup")))
        # Without a domain no index is led by the scope and a criterion, so
        # only the sort's own index orders a page: a criterion is tested on
        # its entries.
        walk = domain_id is None and bool(criteria)
        table = self._LOGINS if column == "lastlogin" else "users"
        if total <= SORT_IN_SQL and (walk or (match is not None and column != "address")):
            # Criteria that match a few accounts: those are found by an index
            # of a criterion (the address's; without a domain the type's or
            # workgroup's too), their rows read by id and sorted (no index
            # orders them, by design), rather than walked to along the sort's
            # index.  (Written as a subquery: else SQLite would rather scan a
            # sort's index, which covers the sort key, than take the narrow
            # range of the criterion's, which does not.)
            # (user_logins is read by its key: :attr:`_LOGINS_KEY`)
            key = "id" if table == "users" else self._LOGINS_KEY
            cond = f"{key} IN (SELECT {key.strip('()')} FROM users WHERE {where(False)})"
            order = ", ".join(
                f"({c} {'|| ' if text else '+ '}{_NEUTRAL[text]}) {way}" for c, text in keys
            )
        else:
            cond = where(walk)
            order = ", ".join(f"{c} {way}" for c, _ in keys)
        ids = [
            r[0]
            for r in self._all(
                f"SELECT id FROM {table} WHERE {cond} ORDER BY {order} LIMIT ? OFFSET ?",
                *params,
                count,
                offset,
            )
        ]
        if backwards:
            ids.reverse()
        if not ids:
            return total, []
        rows = {
            r[0]: r for r in self._all(self._USER_ROWS.format(ids=", ".join("?" * len(ids))), *ids)
        }
        return total, [rows[i] for i in ids]

    def search_domains(
        self,
        *,
        company_id: int | None,
        domain_ids: Sequence[int] | None,
        deleted: bool,
        match: str | None,
        sort: str,
        descending: bool,
        first: int,
        limit: int,
    ) -> tuple[int, list[Any]]:
        """(how many domains match, the page) of the company's domains (or
        those of ``domain_ids``, or every domain when both are None), live or
        deleted.  Rows: (id, name, company name, deletetime, mailbox, forward,
        filter, alias, deleted); each count is an index range of its domain."""
        where = ["d.deletetime IS NOT NULL" if deleted else "d.deletetime IS NULL"]
        params: list[Any] = []
        if company_id is not None:
            where.append("d.company_id = ?")
            params.append(company_id)
        if domain_ids is not None:
            if not domain_ids:
                return 0, []
            where.append(f"d.id IN ({', '.join('?' * len(domain_ids))})")
            params.extend(domain_ids)
        cond, total = self._matching("domains d", where, params, "d.name", match)

        key = DOMAIN_SORTS[sort]
        way = "DESC" if descending else "ASC"
        # the counts are domain_counts' (one row per domain): a sort by a count
        # reads the domains in scope, never their accounts
        page = self._all(
            f"SELECT id FROM (SELECT d.id AS id, d.name AS domain, d.deletetime AS deletetime, "
            "n.mailbox AS mailbox, n.forward AS forward, n.filter AS filter, n.alias AS alias, "
            f"n.deleted AS deleted FROM domains d JOIN domain_counts n ON n.domain_id = d.id "
            f"WHERE {cond}) t ORDER BY {key} {way}, domain {way}, id {way} LIMIT ? OFFSET ?",
            *params,
            limit,
            first,
        )
        return total, self._domain_counts([r[0] for r in page])

    def _domain_counts(self, ids: list[int]) -> list[Any]:
        """(id, name, company name, deletetime, mailbox, forward, filter, alias,
        deleted) of each domain of ``ids``, in that order."""
        if not ids:
            return []
        rows = {
            r[0]: r
            for r in self._all(
                "SELECT d.id, d.name, c.name, d.deletetime, n.mailbox, n.forward, n.filter, "
                "n.alias, n.deleted FROM domains d JOIN companies c ON c.id = d.company_id "
                "JOIN domain_counts n ON n.domain_id = d.id "
                f"WHERE d.id IN ({', '.join('?' * len(ids))})",
                *ids,
            )
        }
        return [rows[i] for i in ids]

    def search_workgroups(
        self,
        domain_id: int,
        match: str | None,
        by_users: bool,
        descending: bool,
        first: int,
        limit: int,
    ) -> tuple[int, list[tuple[str, int]]]:
        """(how many match, the page of (workgroup, live users)) of a domain."""
        params: list[Any] = [domain_id]
        where, total = self._matching("workgroups w", ["w.domain_id = ?"], params, "w.name", match)
        way = "DESC" if descending else "ASC"
        key = f"users {way}, " if by_users else ""
        rows = self._all(
            "SELECT name, users FROM (SELECT w.name AS name, (SELECT COUNT(*) FROM users u "
            "WHERE u.domain_id = w.domain_id AND u.status = 'active' AND u.workgroup = w.name) "
            f"AS users FROM workgroups w WHERE {where}) t ORDER BY {key}name {way} "
            "LIMIT ? OFFSET ?",
            *params,
            limit,
            first,
        )
        return total, [(r[0], int(r[1])) for r in rows]

    def flow_top(
        self,
        company_id: int,
        domain_id: int | None,
        of: str,
        metric: str,
        kind: str,
        period: str,
        limit: int,
    ) -> list[tuple[str, int]]:
        """(name, value) of the ``limit`` live domains of a company (``of`` "domains")
        or live accounts of a company or of one of its domains ("users") with the
        highest value of the flow ``metric`` (a :data:`FLOWS` name) in one period,
        highest first, ties by name; those without a row or with 0 are left out.

        One statement: the period's rows of one scope kind are one range of the
        flows key (kind, period, scope, scope_id), read together and joined to
        the domains or accounts by id (stats_top: never a summary per object)."""
        col = FLOW_COLUMNS[FLOWS.index(metric)]  # ValueError for anything else
        code = KIND_CODES[kind]
        if of == "users" and domain_id is not None:
            # one domain's accounts (its index) and a key seek each into the
            # period's rows: a domain's 1,000 seeks, not its company's 100,000 rows
            # (CROSS JOIN: SQLite keeps the tables in this order; PostgreSQL plans
            # it as any inner join)
            sql = (
                f"SELECT o.address, f.{col} FROM users o CROSS JOIN flows f "
                "WHERE o.domain_id = ? AND o.status = 'active' AND f.kind = ? "
                "AND f.period = ? AND f.scope = ? AND f.scope_id = o.id AND f.company_id = ? "
                f"AND f.{col} > 0 ORDER BY f.{col} DESC, o.address LIMIT ?"
            )
            params: list[Any] = [domain_id, code, period, USER, company_id]
        else:
            if of == "domains":
                join, name, scope = "domains o ON o.id = f.scope_id", "o.name", DOMAIN
                live = "o.deletetime IS NULL"
            else:
                join, name, scope = "users o ON o.id = f.scope_id", "o.address", USER
                live = "o.status = 'active'"
            rows_of = "f.company_id = ? AND f.kind = ? AND f.period = ? AND f.scope = ?"
            params = [company_id, code, period, scope]
            # A company's 100,000 accounts: the limit-th highest value is found in
            # the period's rows alone, and only the rows at or above it are joined
            # to their accounts (a third of the CPU of joining them all).  Fewer
            # than ``limit`` rows above 0: every one is joined at once.  Should
            # soft-deleted accounts be among those at or above the floor, fewer
            # than ``limit`` are left: then all the rows above 0 are joined.
            floor = self._one(
                f"SELECT f.{col} FROM flows f WHERE {rows_of} AND f.{col} > 0 "
                f"ORDER BY f.{col} DESC LIMIT 1 OFFSET ?",
                *params,
                limit - 1,
            )
            sql = (
                f"SELECT {name}, f.{col} FROM flows f JOIN {join} WHERE {rows_of} "
                f"AND f.{col} >= ? AND {live} ORDER BY f.{col} DESC, {name} LIMIT ?"
            )
            if floor is not None:
                rows = self._all(sql, *params, int(floor[0]), limit)
                if len(rows) == limit:
                    return [(r[0], int(r[1])) for r in rows]
            params.append(1)
        return [(r[0], int(r[1])) for r in self._all(sql, *params, limit)]

    def search_companies(
        self, match: str | None, sort: str, descending: bool, first: int, limit: int
    ) -> tuple[int, list[Any]]:
        """(how many match, the page of (id, name, live domains, live users)).
        ``match`` is held against the canonical key (case-folded, as names are
        unique regardless of case)."""
        params: list[Any] = []
        key_match = None if match is None else company_key(match)
        where, total = self._matching("companies c", [], params, "c.name_key", key_match)
        way = "DESC" if descending else "ASC"
        key = COMPANY_SORTS[sort]
        rows = self._all(
            "SELECT id, company, domains, users FROM (SELECT c.id AS id, c.name AS company, "
            "c.name_key AS name_key, "
            "(SELECT COUNT(*) FROM domains d WHERE d.company_id = c.id "
            " AND d.deletetime IS NULL) AS domains, "
            "(SELECT COALESCE(SUM(n.mailbox + n.forward + n.filter), 0) FROM domain_counts n "
            " WHERE n.company_id = c.id) AS users "
            f"FROM companies c WHERE {where}) t ORDER BY {key} {way}, name_key {way}, id {way} "
            "LIMIT ? OFFSET ?",
            *params,
            limit,
            first,
        )
        return total, rows

    # -- workgroups ---------------------------------------------------------
    def add_workgroup(self, company_id: int, domain_id: int, name: str) -> bool:
        """Create the workgroup; False if the domain already has it."""
        return bool(
            self._changed(
                "INSERT INTO workgroups (company_id, domain_id, name) VALUES (?, ?, ?) "
                "ON CONFLICT (domain_id, name) DO NOTHING",
                company_id,
                domain_id,
                name,
            )
        )

    def has_workgroup(self, domain_id: int, name: str) -> bool:
        return (
            self._one("SELECT 1 FROM workgroups WHERE domain_id = ? AND name = ?", domain_id, name)
            is not None
        )

    def workgroup_users(self, domain_id: int, name: str) -> int:
        """The live accounts in the workgroup."""
        row = self._one(
            "SELECT COUNT(*) FROM users WHERE domain_id = ? AND status = 'active' "
            "AND workgroup = ?",
            domain_id,
            name,
        )
        return int(row[0])

    def drop_workgroup(self, domain_id: int, name: str) -> None:
        """The workgroup and every role held on it."""
        self._run("DELETE FROM workgroups WHERE domain_id = ? AND name = ?", domain_id, name)
        self._run(
            "DELETE FROM roles WHERE kind = 'workgroup' AND object_id = ? AND workgroup = ?",
            domain_id,
            name,
        )

    def workgroup_role_holders(self, domain_id: int, name: str) -> list[tuple[int, str]]:
        """(user_id, role) of every role held on the workgroup."""
        return self._all(
            "SELECT user_id, role FROM roles WHERE kind = 'workgroup' AND object_id = ? "
            "AND workgroup = ?",
            domain_id,
            name,
        )

    # -- statistics ---------------------------------------------------------
    def add_flow_rows(self, rows: Iterable[Sequence[Any]], *, in_key_order: bool = False) -> None:
        """Counts to *add* to each (scope, period), one flat row each: (company_id,
        scope, scope_id, kind, period, *values in FLOW_COLUMNS order, *lasts in
        LAST_COLUMNS order); lasts are maxima, 0 = none.  Flat, as ``record`` builds
        them, with no object between.

        Written in the table's key order (kind, period, scope, scope_id: migration
        0007): a day's rows of every account are side by side in the table, so a
        batch of a day's accounts changes a few pages per thousand rows, each
        once, instead of one page per account for the day rows, again for the
        weeks and again for the months.

        ``in_key_order``: the caller yields them in that order already (record's
        tally does, one row at a time), so they are streamed, never held."""
        ordered = rows if in_key_order else sorted(rows, key=flow_row_key)
        self.conn.executemany(self._flow_upsert, ordered)

    def add_user_flows(
        self,
        deltas: Sequence[Sequence[Any]],
        *,
        one_day: bool,
        meanwhile: Callable[[], T] | None = None,
    ) -> T | None:
        """Counts to add to users' day, week and month rows: one delta per (user,
        day), flat as :data:`USER_DELTA` (the day, week and month keys of the day,
        then a flow row's values and lasts).  ``one_day``: every delta is of one
        day (so each user has one delta in its week and month too).  Each
        account's ``lastlogin`` is raised to its deltas' latest login
        (:meth:`raise_lastlogins` of :func:`delta_logins`: search_users sorts by it).

        ``meanwhile``: work that does not touch the store, done in this thread
        while the store's statements run in another (SQLite's upserts are one
        step each, done without the GIL: the second core); its result is
        returned.  Nothing of the store is used by two threads at once: this one
        waits for the other before it returns or raises."""
        # (the logins are worked out in this thread while the other upserts:
        # waited for only before the UPDATEs of lastlogin)
        logins: Handoff[list[tuple[int, int]]] = Handoff()
        upsert = self._user_flows_writer(deltas, one_day, logins)
        if meanwhile is None or len(deltas) < THREAD_DELTAS:
            if logins.wanted:
                logins.give(delta_logins(deltas))
            upsert()
            return None if meanwhile is None else meanwhile()
        failed: list[BaseException] = []

        def run() -> None:
            try:
                upsert()
            except BaseException as exc:  # raised in the caller's thread below
                failed.append(exc)

        writer = threading.Thread(target=run, name="user-flows")
        writer.start()
        try:
            result = meanwhile()
            if logins.wanted:
                logins.give(delta_logins(deltas))
        finally:
            logins.withdraw()  # (meanwhile failed: the writer stops waiting; all is undone)
            writer.join()
        if failed:
            raise failed[0]
        return result

    def _user_flows_writer(
        self,
        deltas: Sequence[Sequence[Any]],
        one_day: bool,
        logins: Handoff[list[tuple[int, int]]],
    ) -> Callable[[], None]:
        """:meth:`add_user_flows`' writes: what needs the GIL done now, the rest
        returned to be called (in a thread, maybe); ``logins``: the deltas'
        :func:`delta_logins`, given by the caller while the rows are upserted.

        A user's three rows get the same delta (summed over the days of a week
        or month): the deltas are sent once, into a temporary table, and each
        kind's rows are upserted from it by one statement in the flows table's
        key order — a third of the rows bound, none built for the week or month.
        The same counts as :meth:`add_flow_rows` of the expanded rows
        (:meth:`user_flow_rows`), which PostgreSQL's store writes."""
        conn = self.conn
        # (the table, ~7 MB at 69,000 deltas, held in the cache rather than
        # written to a temporary file and read back: SQLite's default is 2 MB)
        conn.execute("PRAGMA temp.cache_size = -16384")
        conn.execute(_DELTAS_TABLE)
        conn.execute("DELETE FROM user_deltas")
        # (JSON of the deltas filled by one INSERT … SELECT FROM json_each(?) in
        # the writer thread: 5× slower than binding on SQLite 3.40, see RESULTS)
        whole = len(deltas) - len(deltas) % DELTAS_PER_INSERT
        n = DELTAS_PER_INSERT
        conn.executemany(
            _DELTAS_INSERT_BLOCK,
            (tuple(chain.from_iterable(deltas[i : i + n])) for i in range(0, whole, n)),
        )
        conn.executemany(_DELTAS_INSERT, deltas[whole:])

        def upsert() -> None:
            for kind in KIND_CODES:
                conn.execute(_user_flows_from_deltas(kind, kind != "day" and not one_day))
            conn.execute("DELETE FROM user_deltas")
            # One UPDATE per account, not one UPDATE … FROM the deltas: a statement
            # that changes many rows keeps a statement journal of every page it
            # changes (73 MB written to a temporary file at 100,000 accounts
            # when lastlogin was users', and slower).
            self.raise_lastlogins(logins.take())

        return upsert

    @staticmethod
    def user_flow_rows(deltas: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """The flat flow rows (:meth:`add_flow_rows`) of ``deltas``
        (:meth:`add_user_flows`): each user's day, week and month rows, a week's
        or month's days summed (flows added, lasts the latest)."""
        nf = len(FLOW_COLUMNS)
        sums: dict[tuple[str, str, int], list[Any]] = {}
        for d in deltas:
            day, user_id, week, month, company_id = d[:5]
            values = d[5:]
            for kind, period in (("day", day), ("week", week), ("month", month)):
                acc = sums.get((kind, period, user_id))
                if acc is None:
                    sums[kind, period, user_id] = [company_id, *values]
                else:
                    for i, v in enumerate(values, 1):
                        acc[i] = acc[i] + v if i <= nf else max(acc[i], v)
        return [
            (acc[0], USER, uid, kind, period, *acc[1:]) for (kind, period, uid), acc in sums.items()
        ]

    def insert_flow_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        """New flow rows, flat as :meth:`add_flow_rows` takes them, for (scope, period)s
        that have none yet: a plain INSERT of :data:`INSERT_ROWS` rows a statement,
        a third less a row than the upsert (synth's history: tens of millions of
        rows).  A row that is already there fails the statement (the primary key):
        never a count lost or added twice."""
        rest: list[Sequence[Any]] = []

        def groups() -> Iterator[tuple[Any, ...]]:
            it = iter(rows)
            while True:
                group = tuple(islice(it, INSERT_ROWS))
                if len(group) < INSERT_ROWS:
                    rest.extend(group)
                    return
                yield tuple(chain.from_iterable(group))

        self.conn.executemany(self._flow_insert_many, groups())
        if rest:
            self.conn.executemany(self._flow_insert, rest)

    def add_gauges(self, rows: Iterable[GaugeRow]) -> None:
        self.conn.executemany(
            self._gauge_upsert,
            ((r.company_id, r.scope, r.scope_id, r.kind, r.period, *r.values) for r in rows),
        )

    def flows(self, scope: str, scope_id: int, kind: str, keys: Sequence[str]) -> list[Any]:
        """(period, *FLOW_COLUMNS, *LAST_COLUMNS) of the periods ``keys`` that have a
        row, by period.  One primary-key seek per key: the table is keyed period
        first (migration 0007), so a range of periods would read every scope's
        rows of them; a window names its periods anyway (SPEC §5: at most 48)."""
        if not keys:
            return []
        return self._all(
            _FLOW_SELECT + f" WHERE kind = ? AND period IN ({_marks(len(keys))}) "
            "AND scope = ? AND scope_id = ? ORDER BY period",
            KIND_CODES[kind],
            *keys,
            scope,
            scope_id,
        )

    def flow_texts(
        self, scope: str, scope_id: int, kind: str, keys: Sequence[str], texts: Sequence[Text]
    ) -> list[tuple[Any, ...]]:
        """:meth:`flows` for an answer that shows counts as text: (period, one
        text for each of ``texts``, *LAST_COLUMNS).  A text is SQLite's
        ``printf(format, ...)`` of its count columns, each in decimal and zero as
        ``""``: Python's sqlite3 turned each count into an int (and the answer each
        int into a text again), the largest part of a user answer's reading."""
        if not keys:
            return []
        return self._all(
            _flow_texts_select(tuple(cols for _, cols in texts), len(keys)),
            *(fmt for fmt, _ in texts),
            KIND_CODES[kind],
            *keys,
            scope,
            scope_id,
        )

    def lasts_before(self, scope: str, scope_id: int, kind: str, first: str) -> tuple[int, ...]:
        """The latest last_* times of all periods of ``kind`` before ``first`` (a
        period key of that kind, or any text after every key: '9999' for all).

        ``record`` and synth write an account's lasts into its day, week and
        month rows alike, and ``prune`` folds the lasts of the rows it drops into
        its kind's base row (period ''), so the times before a day T are those of
        the months before T's month, the weeks from the one holding that month's
        first day to T's week (excluded), and the days of T's week before T (a
        maximum: weeks reaching into the month before count nothing twice), with
        the three base rows: retention (days and weeks 400 days, months 49: README
        "[retention]") keeps every such row of a window or folds it into those.
        About 10 + one seek a month kept (see :meth:`flows`), where a range of the
        kind's periods would read every account's rows of them."""
        month = first if kind == "month" else f"{first[:4]}-{first[4:6]}"
        parts = [("month", self._month_keys(month))]
        if kind != "month":
            parts += zip(("week", "day"), _weeks_and_days_before(first[:8]), strict=True)
        # one statement (a request's statements cost more in Python than the seeks)
        params: list[Any] = []
        for part, keys in parts:
            params += (KIND_CODES[part], "", *keys, scope, scope_id)
        row = self._one(_lasts_select(tuple(len(keys) for _, keys in parts)), *params)
        return tuple(int(v or 0) for v in row)

    def _month_keys(self, before: str) -> list[str]:
        """Every month key from the oldest month row to the last before ``before``
        (two seeks: the oldest and the newest month of any scope)."""
        # (two subqueries: SQLite answers MIN or MAX alone by one seek, both by a scan)
        code = KIND_CODES["month"]
        first, last = self._one(
            "SELECT (SELECT MIN(period) FROM flows WHERE kind = ? AND period > ''), "
            "(SELECT MAX(period) FROM flows WHERE kind = ?)",
            code,
            code,
        )
        return [] if first is None else list(_months_between(first, last, before))

    def gauges(self, scope: str, scope_id: int, kind: str, first: str, last: str) -> list[Any]:
        """(period, *GAUGE_COLUMNS) changes of the periods first..last."""
        return self._all(
            f"SELECT period, {', '.join(GAUGE_COLUMNS)} FROM gauges WHERE scope = ? AND "
            "scope_id = ? AND kind = ? AND period >= ? AND period <= ? ORDER BY period",
            scope,
            scope_id,
            KIND_CODES[kind],
            first,
            last,
        )

    def gauges_before(self, scope: str, scope_id: int, kind: str, first: str) -> list[int]:
        """The gauge values at the start of period ``first`` (sum of earlier changes)."""
        row = self._one(
            f"SELECT {_GAUGE_SUMS} FROM gauges WHERE scope = ? AND scope_id = ? AND kind = ? "
            "AND period < ?",
            scope,
            scope_id,
            KIND_CODES[kind],
            first,
        )
        return [int(v or 0) for v in row]

    # -- retention (mailtally.prune drives these, a few scopes per transaction) --
    def ids(self, table: str) -> list[int]:
        """Every id of ``table`` ('users', 'domains' or 'companies'), in order."""
        if table not in ("users", "domains", "companies"):
            raise ValueError(table)
        return [int(r[0]) for r in self._all(f"SELECT id FROM {table} ORDER BY id")]

    def old_periods(self, kind: str, before: str) -> list[str]:
        """The periods of ``kind`` older than ``before`` that flows holds rows of
        (the '' base rows aside), oldest first: one primary-key seek each and one
        more (the table is keyed period first), whatever the number of scopes."""
        out: list[str] = []
        while True:
            row = self._one(
                "SELECT period FROM flows WHERE kind = ? AND period > ? AND period < ? "
                "ORDER BY period LIMIT 1",
                KIND_CODES[kind],
                out[-1] if out else "",
                before,
            )
            if row is None:
                return out
            out.append(row[0])

    def prune_flows(
        self, kind: str, period: str, scope: str, after: int, limit: int
    ) -> tuple[int, int | None]:
        """Drop the flow rows of one old period and scope kind ('u', 'd', 'c')
        whose scope_id follows ``after``, at most ``limit`` of them (one range of
        the primary key, walked once to find its end), folding each account's
        last_* times into its base row (period '') first, in the same
        transaction: a reader sees the same maxima before, between and after.
        Returns (rows removed, the last scope_id removed, or None when none of
        the period and scope is left after ``after``)."""
        code = KIND_CODES[kind]
        end = self._one(
            "SELECT scope_id FROM flows WHERE kind = ? AND period = ? AND scope = ? "
            "AND scope_id > ? ORDER BY scope_id LIMIT 1 OFFSET ?",
            code,
            period,
            scope,
            after,
            max(limit, 1) - 1,
        )
        hi = int(end[0]) if end is not None else 2**63 - 1
        key = "kind = ? AND period = ? AND scope = ? AND scope_id > ? AND scope_id <= ?"
        params = (code, period, scope, after, hi)
        if scope == USER:
            maxes = ", ".join(f"MAX({c})" for c in LAST_COLUMNS)
            self._run(
                f"INSERT INTO flows (company_id, scope, scope_id, kind, period, "
                f"{', '.join(LAST_COLUMNS)}) SELECT company_id, scope, scope_id, kind, '', "
                f"{maxes} FROM flows WHERE {key} GROUP BY company_id, scope, scope_id, kind "
                "ON CONFLICT (kind, period, scope, scope_id) DO UPDATE SET "
                + ", ".join(
                    f"{c} = {self.dialect.greatest}(flows.{c}, excluded.{c})" for c in LAST_COLUMNS
                ),
                *params,
            )
        removed = self._changed(f"DELETE FROM flows WHERE {key}", *params)
        return removed, (hi if end is not None else None)

    def has_old_gauges(self, scope: str, scope_id: int, kind: str, before: str) -> bool:
        """Whether gauges hold a row of this scope and kind older than ``before``
        (the '' base row aside): one primary-key seek."""
        return (
            self._one(
                "SELECT 1 FROM gauges WHERE scope = ? AND scope_id = ? AND kind = ? "
                "AND period > '' AND period < ? LIMIT 1",
                scope,
                scope_id,
                KIND_CODES[kind],
                before,
            )
            is not None
        )

    def prune_gauges(self, scope: str, scope_id: int, kind: str, before: str) -> int:
        """Fold one scope's gauge changes of ``kind`` older than ``before`` into its
        base row (period ''), so that later values stay right: one range of the
        primary key (scope, scope_id, kind, period).  Returns the rows folded."""
        key = "scope = ? AND scope_id = ? AND kind = ? AND period > '' AND period < ?"
        params = (scope, scope_id, KIND_CODES[kind], before)
        sums = ", ".join(f"SUM({c})" for c in GAUGE_COLUMNS)
        self._run(
            f"INSERT INTO gauges (company_id, scope, scope_id, kind, period, "
            f"{', '.join(GAUGE_COLUMNS)}) SELECT company_id, scope, scope_id, kind, '', "
            f"{sums} FROM gauges WHERE {key} GROUP BY company_id, scope, scope_id, kind "
            "ON CONFLICT (scope, scope_id, kind, period) DO UPDATE SET "
            + ", ".join(f"{c} = gauges.{c} + excluded.{c}" for c in GAUGE_COLUMNS),
            *params,
        )
        return self._changed(f"DELETE FROM gauges WHERE {key}", *params)

    def storage_to_prune(self, before: int) -> list[int]:
        """The accounts with a quota report older than the one in force at
        ``before``: two seeks of the primary key (user_id, time) per account,
        in one statement."""
        return [
            int(r[0])
            for r in self._all(
                "SELECT u.id FROM users u WHERE "
                "(SELECT MIN(time) FROM storage_reports WHERE user_id = u.id) < "
                "(SELECT MAX(time) FROM storage_reports WHERE user_id = u.id AND time <= ?) "
                "ORDER BY u.id",
                before,
            )
        ]

    def prune_storage_reports(self, user_id: int, before: int) -> int:
        """Drop the account's quota reports older than the one in force at
        ``before`` (the latest at or before it), which is kept: every answer
        from ``before`` on reads the same report.  Returns the rows removed."""
        return self._changed(
            "DELETE FROM storage_reports WHERE user_id = ? AND time < "
            "(SELECT MAX(time) FROM storage_reports WHERE user_id = ? AND time <= ?)",
            user_id,
            user_id,
            before,
        )


@functools.lru_cache(maxsize=64)
def _months_between(first: str, last: str, before: str) -> tuple[str, ...]:
    """The month keys from ``first`` to ``last`` (included), those before ``before``:
    the same few arguments for every user answer of a day (cached)."""
    out: list[str] = []
    y, m = int(first[:4]), int(first[5:7])
    while (key := f"{y:04d}-{m:02d}") <= last and key < before:
        out.append(key)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return tuple(out)


@functools.lru_cache(maxsize=256)
def _lasts_select(lengths: tuple[int, ...]) -> str:
    """Queries.lasts_before's statement for parts of ``lengths`` keys each (the
    same few shapes for every answer: made once)."""
    rows = " UNION ALL ".join(
        f"SELECT {', '.join(LAST_COLUMNS)} FROM flows WHERE kind = ? AND period IN "
        f"({_marks(n + 1)}) AND scope = ? AND scope_id = ?"
        for n in lengths
    )
    return f"SELECT {_LAST_MAXES} FROM ({rows}) AS l"


@functools.lru_cache(maxsize=1024)
def _weeks_and_days_before(day: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """For a day key ('YYYYMMDD'): the keys of the weeks from the one holding its
    month's first day to its own week (excluded), and of its week's days before it."""
    t = date(int(day[:4]), int(day[4:6]), int(day[6:8]))
    week = t - timedelta(days=t.weekday())
    monday = t.replace(day=1)
    monday -= timedelta(days=monday.weekday())
    weeks = []
    while monday < week:
        weeks.append(f"{monday:%Y%m%d}-{monday + timedelta(days=6):%Y%m%d}")
        monday += timedelta(days=7)
    return tuple(weeks), tuple(f"{week + timedelta(days=i):%Y%m%d}" for i in range(t.weekday()))


_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def fill_company_keys(q: Queries) -> None:
    """Migration 3's Python step: the canonical key of every company, then the
    unique index on it.  A company whose key an older one already holds (two
    names that differed only in case) keeps working under its exact spelling:
    its key gets a suffix no name can hold (names cannot contain NUL)."""
    taken: set[str] = set()
    for cid, name in q._all("SELECT id, name FROM companies ORDER BY id"):
        key = company_key(name)
        if key in taken:
            key = f"{key}\x00{cid}"
        taken.add(key)
        q._run("UPDATE companies SET name_key = ? WHERE id = ?", key, cid)
    q._run("CREATE UNIQUE INDEX companies_name_key ON companies (name_key)")


def fill_search_columns(q: Queries) -> None:
    """Migration 5's Python step: the search columns of every account (from its
    state), every domain's workgroups (``staff`` and those its accounts name),
    and each account's ``lastlogin`` — the latest IMAP, POP3 or webmail login
    its flow rows hold, whatever periods are left of them."""
    rows = []
    for uid, state, purged in q._all("SELECT id, state, purgetime FROM users"):
        keys = _search_keys(state)
        status = (
            "purged" if purged is not None else "active" if keys.deletetime is None else ("deleted")
        )
        rows.append((keys.type, keys.workgroup, keys.deletetime, status, uid))
    q.conn.executemany(
        q.dialect.sql(
            "UPDATE users SET type = ?, workgroup = ?, deletetime = ?, status = ? WHERE id = ?"
        ),
        rows,
    )
    q._run(
        "INSERT INTO workgroups (company_id, domain_id, name) SELECT company_id, id, 'staff' "
        "FROM domains"
    )
    q._run(
        "INSERT INTO workgroups (company_id, domain_id, name) "
        "SELECT DISTINCT company_id, domain_id, workgroup FROM users WHERE true "
        "ON CONFLICT (domain_id, name) DO NOTHING"
    )
    g = q.dialect.greatest
    q._run(
        f"UPDATE users SET lastlogin = COALESCE((SELECT MAX({g}(f.last_imap4, f.last_pop3, "
        f"f.last_webmail)) FROM flows f WHERE f.scope = '{USER}' AND f.scope_id = users.id), 0)"
    )


#: Python steps run right after the SQL of the migration with that number.
MIGRATION_STEPS = {3: fill_company_keys, 5: fill_search_columns}


def migrations(backend: str = "") -> list[tuple[int, str]]:
    """The numbered schema migrations shipped with the package, in order: SQLite's,
    or those of the folder ``backend`` (``postgres``) beside them."""
    # The files beside this module (not importlib.resources, whose import was
    # ~15 ms of every command's start-up; a package with a compiled extension is
    # never run from a zip file anyway).
    folder = os.path.join(os.path.dirname(__file__), "migrations", backend)
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            m = _MIGRATION.match(entry.name)
            if m:
                with open(entry.path, encoding="utf-8") as f:
                    found.append((int(m.group(1)), f.read()))
    return sorted(found)


class ReadingThreads:
    """The threads of :meth:`Store.reading`: at most ``n``, started with the first
    call; after :meth:`close` a call is refused with ``closed_error``."""

    def __init__(self, n: int, closed_error: type[Exception]) -> None:
        self.n = n
        self.closed_error = closed_error
        self._pool: Any = None  # a ThreadPoolExecutor, from the first call
        self._lock = threading.Lock()
        self._closed = False

    async def run(
        self, session: Callable[[Callable[[Queries], T]], T], fn: Callable[[Queries], T]
    ) -> T:
        """``session(fn)`` on one of the threads."""
        # (imported here: the commands that never serve do not pay for them at start-up)
        import asyncio
        from concurrent.futures import ThreadPoolExecutor

        with self._lock:
            if self._closed:
                raise self.closed_error("the store is closed")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.n, thread_name_prefix="mailtally-store"
                )
            pool = self._pool
        return await asyncio.get_running_loop().run_in_executor(pool, session, fn)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            self._closed = True
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


class StoreBusy(Exception):
    """:meth:`Store.read_now` could not read without waiting: read on the store's
    threads instead (:meth:`Store.reading`)."""


class Store(abc.ABC):
    """A mailtally database.  Open one with :func:`mailtally.store.open_store`."""

    url: str
    #: a whole-file ingest may hand a batch's transaction to a thread and read on
    #: meanwhile (ingest/files.py): worth it where the transaction's time is
    #: mostly another process's (PostgreSQL's server), not this one's GIL
    overlap_commits: bool = False

    @abc.abstractmethod
    @contextmanager
    def read(self) -> Iterator[Queries]:
        """A reading session; never blocks the writer (nor is blocked by it)."""

    @abc.abstractmethod
    async def reading(self, fn: Callable[[Queries], T]) -> T:
        """``fn(q)`` in a reading session, from the event loop: run on the store's
        own threads (a few; callers past them wait their turn without holding a
        thread), so that the API never holds more connections, threads or page
        caches than the store allows."""

    def read_now(self, fn: Callable[[Queries], T], single: bool = False) -> T:
        """``fn(q)`` in a reading session in this thread, if that needs no waiting
        (no connection to wait for, no lock held by another process); else
        :class:`StoreBusy` before ``fn`` has had any effect, which must be none
        but its answer (it may be cut short and asked again elsewhere).

        For the event loop's hottest reads (api/stats.py): a read that takes
        about as long as the thread hops around it, whose Python holds the GIL
        whatever thread it runs on.  A store without it always says busy.

        ``single``: ``fn`` runs one statement, which is its own snapshot, so no
        transaction is opened around it (on SQLite that is two statements, and
        their locking, less: the credential check of every request, auth.py)."""
        raise StoreBusy

    def change_mark(self) -> bytes | None:
        """A value that every commit to the store, by any connection of any
        process, changes, read without a statement or a system call: equal
        marks taken before two reads mean that the second would read what the
        first did.  None where there is no such signal (PostgreSQL; SQLite
        outside WAL mode): every read must then be made."""
        return None

    def _session(self, fn: Callable[[Queries], T]) -> T:
        """``fn(q)`` in a reading session of this thread."""
        with self.read() as q:
            return fn(q)

    @abc.abstractmethod
    @contextmanager
    def write(self) -> Iterator[Queries]:
        """A writing transaction: committed when the block ends, rolled back on error.

        Writers are serialised; a writing session may read its own changes.
        """

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    #: the number of the newest migration this version of mailtally ships for the backend
    latest_migration: int = 0
    #: the migrations applied when this process opened the store (none: it was current)
    applied_migrations: tuple[int, ...] = ()

    def schema_version(self) -> int:
        with self.read() as q:
            v = q.meta("schema_version")
        return int(v) if v else 0

    def migrations_current(self) -> bool:
        """Whether the store's schema is the one this version of mailtally writes
        (false when another process migrated it further, or never finished)."""
        current, newest = self.migration_status()
        return current == newest

    def migration_status(self) -> tuple[int, int]:
        """(the migration the store's schema is at, the newest this version of
        mailtally has for this backend): ``GET /readyz`` is ready when they are
        equal.  Reads the store (so it also says whether the store answers)."""
        return self.schema_version(), self.latest_migration
