"""The PostgreSQL store (psycopg 3 and psycopg_pool), for several API nodes and
ingesters on one database.

* The SQL is :class:`~mailtally.store.base.Queries`' own, in the ``%s`` dialect
  (:data:`DIALECT`); :class:`PGQueries` replaces only the counter writes, which
  PostgreSQL takes far faster as one statement per table than as one per row.
* Reading sessions are ``REPEATABLE READ READ ONLY`` transactions on a pool of
  connections (:data:`READERS`): one snapshot for a whole summary, as SQLite's
  read transaction gives.
* Writing sessions are serialised across every process and node, as SQLite's
  are by its file lock: each takes the transaction-scoped advisory lock
  :data:`WRITE_LOCK` first.  Tree actions read and then write (a name free,
  then taken; a version number, then the next one), which a lock makes as safe
  as on SQLite.  A batch's counter deltas are one ``INSERT … SELECT * FROM
  unnest(…) ON CONFLICT DO UPDATE SET x = x + excluded.x`` per table and
  20,000 rows (:class:`_Upsert`): each key once (merged here) and sent in key
  order, so that two writers that ever write without the lock (or a future
  one that shards it) take row locks in the same order and cannot deadlock.
* Migrations: ``store/migrations/postgres/NNNN_*.sql``, numbered as the SQLite
  migration each stands for; applied at start (under an advisory lock: two
  nodes starting together migrate once) and by ``mailtally migrate``.
"""

from __future__ import annotations

import contextlib
import struct
import sys
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from itertools import pairwise
from typing import Any, TypeVar

import psycopg
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format
from psycopg_pool import ConnectionPool

from mailtally.store.base import (
    _DELTA_LOGINS,
    FLOW_COLUMNS,
    GAUGE_COLUMNS,
    KIND_CODES,
    LAST_COLUMNS,
    USER,
    USER_DELTA,
    Dialect,
    GaugeRow,
    Handoff,
    Queries,
    ReadingThreads,
    Store,
    StoreBusy,
    migrations,
)

__all__ = ["DIALECT", "READERS", "PGQueries", "PostgresStore"]

T = TypeVar("T")

#: Unique keys that lead with company_id in PostgreSQL's schema (Citus needs the
#: distribution column in every unique key): the upserts of Queries name them so.
DIALECT = Dialect(
    name="postgresql",
    placeholder="%s",
    greatest="GREATEST",
    rewrites=(
        (
            "ON CONFLICT (kind, period, scope, scope_id)",
            "ON CONFLICT (company_id, kind, period, scope, scope_id)",
        ),
        (
            "ON CONFLICT (scope, scope_id, kind, period)",
            "ON CONFLICT (company_id, scope, scope_id, kind, period)",
        ),
        ("ON CONFLICT (user_id, time)", "ON CONFLICT (company_id, user_id, time)"),
        ("ON CONFLICT (domain_id, name)", "ON CONFLICT (company_id, domain_id, name)"),
        # Queries.flow_texts: SQLite's printf is PostgreSQL's format (both read
        # %s, and both write NULL as "")
        ("printf(", "format("),
    ),
)

#: Reader connections per process (the pool's bound).
READERS = 4
#: Threads running :meth:`PostgresStore.reading` (the API's reads).
READER_THREADS = 2
#: advisory lock keys (any two numbers no other program on the database uses)
WRITE_LOCK = 0x6D61696C_74000001
MIGRATE_LOCK = 0x6D61696C_74000002
#: a write waits this long for a connection (another thread's batch) before failing
WRITE_TIMEOUT = 600.0
#: counter rows per upsert statement (bounds the arrays built in memory)
UPSERT_ROWS = 20_000
#: users' deltas per piece of their COPY
COPY_ROWS = 10_000


class _NumericLoader(Loader):
    """``numeric`` as an int when it is whole: SUM of a bigint column is numeric
    in PostgreSQL, an integer in SQLite, and callers take it as an int."""

    def load(self, data: Any) -> int | Decimal:
        text = bytes(data)
        try:
            return int(text)
        except ValueError:
            return Decimal(text.decode())


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.adapters.register_loader("numeric", _NumericLoader)


def _configure_writer(conn: psycopg.Connection[Any]) -> None:
    """A writing connection compresses what it stores out of line with lz4
    where the server has it: the joiner's state, a few MB of text saved with
    every commit of an ingest (100,000 accounts: 2.8 MB, 15-20 ms by lz4
    against 58-78 ms by PostgreSQL's default pglz, 10% larger; each ``ingest
    --follow`` commit pays it).  Values stored either way read back alike;
    a server built without lz4 keeps its default."""
    _configure(conn)
    try:
        conn.execute("SET default_toast_compression = lz4")
    except psycopg.errors.InvalidParameterValue:
        conn.rollback()
    else:
        conn.commit()  # (the pool wants its connections idle)


def _configure_reader(conn: psycopg.Connection[Any]) -> None:
    _configure(conn)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True


class _Conn:
    """A psycopg connection as :class:`Queries` uses one (sqlite3's
    ``execute``/``executemany``): parameters always passed, so that a ``%%`` of
    the dialect is read as ``%`` even in a statement without any.

    The counter writes (:meth:`send`) are pipelined: sent without waiting for
    the server, which applies them while this process builds the next ones
    (the next 20,000 rows' arrays, the last logins, the quota reports); the
    first other statement, or the end of the session, waits for all of them
    (:meth:`wait`) and raises the first one's error, if any."""

    __slots__ = ("_pipe", "raw")

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw
        self._pipe: psycopg.Pipeline | None = None

    def send(self, sql: str, params: Sequence[Any]) -> None:
        """Run a write whose result nobody reads, without waiting for it."""
        if self._pipe is None:
            self._pipe = self.raw.pipeline()
            self._pipe.__enter__()
        self.raw.execute(sql, params, prepare=False)

    def wait(self) -> None:
        """Wait for every statement :meth:`send` sent (raising the first error)."""
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            pipe.__exit__(None, None, None)

    def abandon(self, exc: BaseException) -> None:
        """Leave pipeline mode after ``exc`` (the transaction is rolled back)."""
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            with contextlib.suppress(Exception):
                pipe.__exit__(type(exc), exc, exc.__traceback__)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        self.wait()
        return self.raw.execute(sql, params)

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        self.wait()
        with self.raw.cursor() as cur:
            cur.executemany(sql, params)


class _Upsert:
    """One statement adding many rows of deltas to ``table``: the rows come as
    one array per column, each key once (:meth:`merged`), in key order, and
    are added (``adds``) and maxed (``maxes``) into the rows already there.

    No GROUP BY in the statement: summing 20,000 rows of 24 columns by key
    (``SUM(bigint)`` accumulates in numeric) and sorting them again was a
    third of the server's time of an ingest's upserts, though nearly every
    batch names each key once (bench/RESULTS.md, session 10); the rows are
    merged here only when a key does come twice, and sent sorted, so the
    server meets them in key order (``unnest`` returns its elements in order).
    The text columns go last in the arrays' row: PostgreSQL finds a column
    after a text one by walking the row, and fixed offsets for the rest.
    """

    __slots__ = ("nadd", "nkey", "on_conflict", "order", "sql", "text")

    def __init__(
        self, table: str, key: tuple[str, ...], adds: tuple[str, ...], maxes: tuple[str, ...]
    ) -> None:
        types = {"scope": "text", "period": "text", "kind": "smallint"}
        cols = (*key, *adds, *maxes)
        texts = [i for i, c in enumerate(cols) if types.get(c) == "text"]
        #: the rows' column positions in the order they are sent
        self.order = [i for i in range(len(cols)) if i not in texts] + texts
        self.text = frozenset(texts)
        self.nkey, self.nadd = len(key), len(adds)
        sent = [cols[i] for i in self.order]
        arrays = ", ".join(f"%s::{types.get(c, 'bigint')}[]" for c in sent)
        sets = [f"{c} = {table}.{c} + excluded.{c}" for c in adds]
        sets += [f"{c} = GREATEST({table}.{c}, excluded.{c})" for c in maxes]
        #: the rows added and maxed into those already there (also the users'
        #: rows made from user_deltas: :func:`_from_deltas`)
        self.on_conflict = f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(sets)}"
        self.sql = (
            f"INSERT INTO {table} ({', '.join(sent)}) SELECT * FROM unnest({arrays}) "
            f"AS t({', '.join(sent)}) {self.on_conflict}"
        )

    def merged(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """``rows`` (sorted by key) with each key once: adds summed, maxes maxed
        (one statement may not change a row twice)."""
        k, a = self.nkey, self.nadd
        if all(x[:k] != y[:k] for x, y in pairwise(rows)):
            return rows
        out: list[list[Any]] = []
        for r in rows:
            if out and tuple(out[-1][:k]) == r[:k]:
                last = out[-1]
                for i in range(k, len(r)):
                    last[i] = last[i] + r[i] if i < k + a else max(last[i], r[i])
            else:
                out.append(list(r))
        return [tuple(r) for r in out]


class Int8Array(bytes):
    """A ``bigint[]`` in PostgreSQL's binary format (:func:`_array`)."""

    __slots__ = ()


class _Int8ArrayDumper(Dumper):
    format = Format.BINARY
    oid = 1016  # bigint[]

    def dump(self, obj: Any) -> bytes:
        return obj  # (already the bytes to send)


# (on the global map: every connection made after this import sends them so)
psycopg.adapters.register_dumper(Int8Array, _Int8ArrayDumper)

#: a binary array's header: dimensions, has-nulls flag, element type (int8),
#: then the one dimension's length and lower bound
_ARRAY_HEAD = struct.Struct(">iiIii")


def _array(values: Iterable[Any], text: bool) -> str | Int8Array:
    """An array of texts as a literal (each quoted: "" is a value), or of ints
    in the binary format (:class:`Int8Array`).

    psycopg would dump a list of Python ints element by element, choosing a
    type for each (4 s of a 1M-line ingest's 12 s commit).  The binary array is
    built by C loops alone (``array('q')``, byte-swapped, its eight bytes per
    value spread into the 12-byte slots of length and value by slice
    assignments): a quarter of the client's time of the decimal literal this
    sent before, and the server reads each element as 8 bytes where it parsed
    decimal digits (an ingest's upserts: 12 statements of 27 arrays of 20,000
    elements; bench/RESULTS.md, session 10).  Anything but an int (a None, a
    float, an int beyond 64 bits) raises here, loudly."""
    if text:
        return (
            "{"
            + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
            + "}"
        )
    a = array("q", values)
    n = len(a)
    if not n:
        return Int8Array(_ARRAY_HEAD.pack(0, 0, 20, 0, 0)[:12])
    body = bytearray(_ARRAY_HEAD.pack(1, 0, 20, n, 1)) + bytes(12 * n)
    _put_int8s(body, a, _ARRAY_HEAD.size, 12)
    return Int8Array(body)


def _put_int8s(buf: bytearray, values: array, start: int, stride: int) -> None:
    """``values`` into ``buf`` as PostgreSQL's binary fields of int8 — a
    big-endian int32 length (8), then the value's eight bytes, big-endian —
    the first at ``start``, the next ``stride`` bytes on (byte-swapped and
    spread by slice assignments: C loops alone).  ``values`` is the caller's
    to give: it is byte-swapped in place."""
    n = len(values)
    if sys.byteorder == "little":
        values.byteswap()
    raw = values.tobytes()
    end = start + stride * n
    buf[start + 3 : end : stride] = b"\x08" * n
    for k in range(8):
        buf[start + 4 + k : end : stride] = raw[k::8]


#: COPY … (FORMAT BINARY)'s signature, flags and header extension length; its trailer
_COPY_HEAD = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_TAIL = b"\xff\xff"


def _copy_int8_rows(columns: Sequence[Sequence[int]]) -> bytearray:
    """Rows of bigints (one sequence per column, all as long) as the rows of
    ``COPY … FROM STDIN (FORMAT BINARY)`` (without :data:`_COPY_HEAD` and
    :data:`_COPY_TAIL`): the server stores each field's eight bytes as they
    come, where an ``unnest`` of arrays cost it ~4× as much (the users' deltas
    at 100,000 accounts: 0.07 s against 0.27; bench/RESULTS.md, session 11)."""
    k, n = len(columns), len(columns[0])
    size = 2 + 12 * k  # a row: its field count, then each field's length and value
    buf = bytearray(size * n)
    buf[0::size] = bytes([k >> 8]) * n
    buf[1::size] = bytes([k & 0xFF]) * n
    for c, values in enumerate(columns):
        _put_int8s(buf, array("q", values), 2 + 12 * c, size)
    return buf


#: flows' primary key (migration 14: SQLite's, company_id last)
_FLOW_KEY = ("kind", "period", "scope", "scope_id", "company_id")
_GAUGE_KEY = ("company_id", "scope", "scope_id", "kind", "period")
_FLOW_UPSERT = _Upsert("flows", _FLOW_KEY, FLOW_COLUMNS, LAST_COLUMNS)
_GAUGE_UPSERT = _Upsert("gauges", _GAUGE_KEY, GAUGE_COLUMNS, ())
_FLOW_COPY = (
    f"COPY flows (company_id, scope, scope_id, kind, period, "
    f"{', '.join(FLOW_COLUMNS + LAST_COLUMNS)}) FROM STDIN"
)


#: what a user's delta (USER_DELTA) sends to user_deltas: its id, its company
#: and its counts (the day, week and month are one of each: parameters)
_DELTA_SENT = (1, 4, *range(5, len(USER_DELTA)))
_DELTA_COLUMNS = ", ".join(USER_DELTA[i] for i in _DELTA_SENT)
_FLOW_VALUES = ", ".join(FLOW_COLUMNS + LAST_COLUMNS)
#: (ON COMMIT DELETE ROWS: no deltas outlive their transaction on the connection)
_DELTAS_TABLE = (
    "CREATE TEMP TABLE IF NOT EXISTS user_deltas ("
    + ", ".join(f"{USER_DELTA[i]} bigint NOT NULL" for i in _DELTA_SENT)
    + ") ON COMMIT DELETE ROWS"
)
_DELTAS_COPY = f"COPY user_deltas ({_DELTA_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_DAY_HAS_USER_ROWS = (
    f"SELECT EXISTS (SELECT 1 FROM flows WHERE kind = {KIND_CODES['day']} "
    f"AND period = %s::text AND scope = '{USER}')"
)


def _from_deltas(kind: str, upsert: bool) -> str:
    """The users' rows of ``kind`` (period: the statement's one parameter) from
    user_deltas, by user: added to the rows already there (``upsert``), or
    inserted (none can be: else the statement fails, adding nothing twice)."""
    sql = (
        f"INSERT INTO flows (kind, period, scope, scope_id, company_id, {_FLOW_VALUES}) "
        f"SELECT {KIND_CODES[kind]}, %s::text, '{USER}', user_id, company_id, {_FLOW_VALUES} "
        "FROM user_deltas ORDER BY user_id"
    )
    return f"{sql} {_FLOW_UPSERT.on_conflict}" if upsert else sql


_FROM_DELTAS = {(k, u): _from_deltas(k, u) for k in KIND_CODES for u in (False, True)}
#: Queries.raise_lastlogins of delta_logins(the deltas), from user_deltas: each
#: account's lastlogin raised to its delta's latest login (one delta per account)
_RAISE_FROM_DELTAS = (
    "UPDATE user_logins l SET lastlogin = d.t FROM (SELECT user_id, company_id, "
    f"GREATEST({', '.join(USER_DELTA[i] for i in _DELTA_LOGINS)}) AS t FROM user_deltas) d "
    "WHERE l.company_id = d.company_id AND l.id = d.user_id AND l.lastlogin < d.t"
)

#: Queries.raise_lastlogins as one statement: (id, time) pairs as two arrays.
#: lastlogin is user_logins' (migration 13), keyed (company_id, id): each
#: account's company is read from users by id.
_RAISE_LASTLOGINS = (
    "UPDATE user_logins l SET lastlogin = v.t "
    "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, t) JOIN users u ON u.id = v.id "
    "WHERE l.company_id = u.company_id AND l.id = v.id AND l.lastlogin < v.t"
)

#: Queries.put_storage_reports as one statement: five arrays
_STORAGE_UPSERT = (
    "INSERT INTO storage_reports (company_id, user_id, time, items, bytes) "
    "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], "
    "%s::bigint[]) ON CONFLICT (company_id, user_id, time) DO UPDATE "
    "SET items = excluded.items, bytes = excluded.bytes"
)


class PGQueries(Queries):
    """:class:`Queries` with the counter writes done as PostgreSQL does them best."""

    conn: _Conn  # type: ignore[assignment]

    # users.lastlogin is user_logins' on PostgreSQL (migration 13): a raise
    # there writes two index entries, where in users it wrote one in each of 30;
    # keyed as users is, company first
    _LOGINS_KEY = "(company_id, id)"
    _USER_ROWS = (
        "SELECT u.id, u.address, u.createtime, u.type, u.workgroup, u.deletetime, "
        "l.lastlogin, u.state FROM users u "
        "JOIN user_logins l ON l.company_id = u.company_id AND l.id = u.id "
        "WHERE u.id IN ({ids})"
    )

    def _upsert(self, upsert: _Upsert, rows: list[tuple[Any, ...]]) -> None:
        """``upsert`` of ``rows`` (sorted by its key), each column sent as one
        array (:func:`_array`)."""
        rows = upsert.merged(rows)
        for i in range(0, len(rows), UPSERT_ROWS):
            columns = list(zip(*rows[i : i + UPSERT_ROWS], strict=True))
            self.conn.send(upsert.sql, [_array(columns[n], n in upsert.text) for n in upsert.order])

    def add_flow_rows(self, rows: Iterable[Sequence[Any]], *, in_key_order: bool = False) -> None:
        """As :meth:`Queries.add_flow_rows`: one statement per :data:`UPSERT_ROWS`
        rows, in the key order of PostgreSQL's table (:data:`_FLOW_KEY`)."""
        kinds = KIND_CODES
        flat = sorted(
            ((kinds[r[3]], r[4], r[1], r[2], r[0], *r[5:]) for r in rows),
            key=lambda r: r[:5],
        )
        self._upsert(_FLOW_UPSERT, flat)

    def _user_flows_writer(
        self,
        deltas: Sequence[Sequence[Any]],
        one_day: bool,
        logins: Handoff[list[tuple[int, int]]],
    ) -> Callable[[], None]:
        """As :meth:`Queries._user_flows_writer`; psycopg lets go of the GIL
        while the server works.

        A batch of one day (``one_day``: every ingest of a day's log) sends
        each delta once, by a binary COPY into the temporary table
        ``user_deltas``, and the server makes the day's, the week's and the
        month's rows from it, one ``INSERT … SELECT`` each, as SQLite's store
        does: a third of the data sent, no 208,000 expanded rows summed,
        sorted and turned to arrays here (100,000 accounts: the client's 1.4 s
        for them became 0.15 s, the server's 1.9 s 1.4 s; bench/RESULTS.md,
        session 11), and each account's ``lastlogin`` is raised from it too
        (``logins`` declined: nobody works them out; an account's company
        never changes, migration 0013, so the delta's meets user_logins'
        key).  The day's rows are a plain INSERT when the day has no user
        rows yet (its first batch: under :data:`WRITE_LOCK`, nobody adds one
        meanwhile), without ``ON CONFLICT``'s speculative insertion.
        Each statement takes its rows in the key's order (kind, then the
        period, then the user: deltas of one day are one per user), as
        :meth:`add_flow_rows` does.  Several days: the deltas expanded to
        the rows of :meth:`add_flow_rows` (a week's or month's days summed
        here) and written by its array upsert, and ``lastlogin`` raised by
        :meth:`raise_lastlogins` of ``logins``."""
        if not (one_day and deltas):
            rows = self.user_flow_rows(deltas)

            def upsert_rows() -> None:
                self.add_flow_rows(rows)
                self.raise_lastlogins(logins.take())

            return upsert_rows
        day, _, week, month = deltas[0][:4]
        conn = self.conn
        logins.wanted = False  # (raised from user_deltas below: not worked out for nothing)

        def upsert() -> None:
            conn.execute(_DELTAS_TABLE)
            conn.execute("TRUNCATE user_deltas")  # (a second batch in one transaction)
            # (in pieces: the server stores one while the next is built)
            with conn.raw.cursor() as cur, cur.copy(_DELTAS_COPY) as copy:
                copy.write(_COPY_HEAD)
                for i in range(0, len(deltas), COPY_ROWS):
                    columns = list(zip(*deltas[i : i + COPY_ROWS], strict=True))
                    copy.write(_copy_int8_rows([columns[c] for c in _DELTA_SENT]))
                copy.write(_COPY_TAIL)
            (has_rows,) = conn.execute(_DAY_HAS_USER_ROWS, (day,)).fetchone()
            conn.send(_FROM_DELTAS["day", bool(has_rows)], (day,))
            conn.send(_FROM_DELTAS["week", True], (week,))
            conn.send(_FROM_DELTAS["month", True], (month,))
            # (from the table too, not ``logins``: each account's company is
            # its delta's, so user_logins is met by its key, where the id
            # alone took a join with users, read whole: 0.5 s at 100,000)
            conn.send(_RAISE_FROM_DELTAS, ())

        return upsert

    def raise_lastlogins(self, logins: Iterable[tuple[int, int]]) -> None:
        """As :meth:`Queries.raise_lastlogins`, in one statement per
        :data:`UPSERT_ROWS` accounts rather than one per account (a day of a
        100,000-account platform names ~100,000); latest time per account
        first (an UPDATE … FROM takes one joined row per target row, so each
        account must come once), in id order (row locks in one order)."""
        latest: dict[int, int] = {}
        for uid, t in logins:
            if t > latest.get(uid, t - 1):
                latest[uid] = t
        pairs = sorted(latest.items())
        for i in range(0, len(pairs), UPSERT_ROWS):
            chunk = pairs[i : i + UPSERT_ROWS]
            ids = _array((uid for uid, _ in chunk), False)
            times = _array((t for _, t in chunk), False)
            self.conn.send(_RAISE_LASTLOGINS, (ids, times))

    def put_storage_reports(self, rows: Iterable[tuple[int, int, int, int, int]]) -> None:
        """As :meth:`Queries.put_storage_reports`, one statement per
        :data:`UPSERT_ROWS` reports rather than one per report.  One statement
        may not write a key twice: of one key's reports the last wins, as when
        they were written one after another."""
        last = {(r[0], r[1], r[2]): r for r in rows}
        flat = sorted(last.values())
        for i in range(0, len(flat), UPSERT_ROWS):
            columns = zip(*flat[i : i + UPSERT_ROWS], strict=True)
            self.conn.send(_STORAGE_UPSERT, [_array(c, False) for c in columns])

    def add_gauges(self, rows: Iterable[GaugeRow]) -> None:
        flat = sorted(
            (r.company_id, r.scope, r.scope_id, KIND_CODES[r.kind], r.period, *r.values)
            for r in rows
        )
        self._upsert(_GAUGE_UPSERT, flat)

    def insert_flow_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        """As :meth:`Queries.insert_flow_rows` (a row already there fails the
        primary key), by COPY: synth's history is tens of millions of rows."""
        kinds = KIND_CODES
        self.conn.wait()
        with self.conn.raw.cursor() as cur, cur.copy(_FLOW_COPY) as copy:
            for r in rows:
                copy.write_row((r[0], r[1], r[2], kinds[r[3]], *r[4:]))


class PostgresStore(Store):
    overlap_commits = True

    def __init__(self, url: str, readers: int = READERS) -> None:
        if readers < READER_THREADS:
            raise ValueError(f"readers: at least {READER_THREADS}")
        self.url = url
        self.max_readers = readers
        self._migrate()
        self._write_lock = threading.Lock()
        self._writers = ConnectionPool(
            url,
            min_size=1,
            max_size=1,
            configure=_configure_writer,
            timeout=WRITE_TIMEOUT,
            name="mailtally-write",
            open=True,
        )
        self._readers = ConnectionPool(
            url,
            min_size=1,
            max_size=readers,
            configure=_configure_reader,
            name="mailtally-read",
            open=True,
        )
        self._closed = False
        self._reads = ReadingThreads(READER_THREADS, psycopg.InterfaceError)
        self._now: psycopg.Connection[Any] | None = None
        self._now_lock = threading.Lock()

    def _migrate(self) -> None:
        """Apply the migrations this store lacks, in one transaction that holds
        :data:`MIGRATE_LOCK` (a second process starting meanwhile waits, then
        finds them applied)."""
        applied = []
        with psycopg.connect(self.url, autocommit=False) as conn:
            _configure(conn)
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
                current = 0
                if conn.execute("SELECT to_regclass('meta')").fetchone()[0] is not None:
                    row = conn.execute(
                        "SELECT value FROM meta WHERE key = 'schema_version'"
                    ).fetchone()
                    current = int(row[0]) if row else 0
                for number, script in migrations("postgres"):
                    self.latest_migration = number
                    if number <= current:
                        continue
                    conn.execute(script)  # (no parameters: several statements at once)
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (str(number),),
                    )
                    applied.append(number)
        self.applied_migrations = tuple(applied)

    @property
    def open_readers(self) -> int:
        """Reader connections open now (idle or in use): never above :attr:`max_readers`
        (:meth:`read_now`'s own is not one of them)."""
        return int(self._readers.get_stats().get("pool_size", 0))

    @contextmanager
    def read(self) -> Iterator[Queries]:
        with self._readers.connection() as conn:
            yield PGQueries(_Conn(conn), DIALECT)

    async def reading(self, fn: Callable[[Queries], T]) -> T:
        return await self._reads.run(self._session, fn)

    def read_now(self, fn: Callable[[Queries], T], single: bool = False) -> T:
        # One connection of its own, used by one caller at a time (as SQLite's):
        # a summary is a few short statements on a connection that is never
        # waited for; a broken one is dropped and the read done elsewhere.
        if not self._now_lock.acquire(blocking=False):
            raise StoreBusy
        try:
            if self._closed:
                raise psycopg.InterfaceError("the store is closed")
            conn = self._now
            if conn is None or conn.closed:
                try:
                    conn = self._now = psycopg.connect(self.url)
                    _configure_reader(conn)
                except psycopg.OperationalError as exc:
                    self._now = None
                    raise StoreBusy from exc
            # ``single`` (the per-request point read of the caller's credential
            # version and lockout): one statement is its own snapshot, so it
            # runs in autocommit, one round trip, where a transaction costs
            # three (BEGIN, the statement, ROLLBACK) with the event loop
            # waiting on each.  (Switching is a client-side flag: the
            # connection is idle here, between transactions.)
            if conn.autocommit != single:
                conn.autocommit = single
            try:
                return fn(PGQueries(_Conn(conn), DIALECT))
            except psycopg.OperationalError as exc:
                conn.close()
                self._now = None
                raise StoreBusy from exc
            finally:
                if not single and not conn.closed:
                    conn.rollback()  # (read only: ending the snapshot is all it does)
        finally:
            self._now_lock.release()

    @contextmanager
    def write(self) -> Iterator[Queries]:
        with self._write_lock, self._writers.connection() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            session = _Conn(conn)
            try:
                yield PGQueries(session, DIALECT)
            except BaseException as exc:
                session.abandon(exc)
                raise
            session.wait()  # (before the commit: a write sent but failed fails it)

    def close(self) -> None:
        self._closed = True
        self._reads.close()
        with self._now_lock:
            if self._now is not None:
                self._now.close()
                self._now = None
        self._readers.close()
        with self._write_lock:
            self._writers.close()
