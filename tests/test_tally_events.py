"""The compiled tally (``_fastlog.tally_events``) counts what ``record._tally_events`` counts.

record_events hands the usual events of a batch (messages in, out and denied,
logins, forwards, auto-responses of addresses the resolver holds) to the C twin
and the rest to the Python loop; with ``compiled=False`` the Python loop counts
them all.  Random batches are recorded both ways into two stores built alike,
and every row and the result must agree; the cells themselves are compared too,
and the events C must leave to Python are checked to reach it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import table_rows
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
from mailtally.ingest import _fastlog
from mailtally.periods import Periods
from mailtally.record import (
    _NF,
    _NL,
    _TALLY_COLUMNS,
    RecordResult,
    Resolver,
    _Tally,
    _tally_events,
    record_events,
)
from mailtally.store import open_store
from mailtally.store.base import Queries
from test_ingest_files import T0, build_tree
from test_sum_events import BERLIN, addresses, times


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """A SQLite store holding test_ingest_files' tree (the tally reads only it)."""
    path = tmp_path / "ingest.sqlite3"
    with open_store(f"sqlite:///{path}") as store:
        build_tree(store)
    return path


class OddPeriods(Periods):
    """Says every odd quarter hour holds a midnight (as an odd zone offset would):
    those events' keys are the second's own, computed by Python."""

    def bucket_keys(self, bucket: int) -> Any:
        return None if bucket % 2 else super().bucket_keys(bucket)


class MyLogin(Login):
    """An ``ingest_events`` caller's own subclass: counted by isinstance, in Python."""

    __slots__ = ()


counts = st.integers(1, 3)
events = st.one_of(
    st.builds(MessageIn, times, addresses, st.integers(0, 10**6), st.booleans(), counts),
    st.builds(MessageOut, times, addresses, st.integers(0, 50), st.integers(0, 10**6), counts),
    st.builds(MessageDenied, times, addresses, counts),
    st.builds(Login, times, addresses, st.sampled_from(["imap4", "pop3", "webmail"]), counts),
    st.builds(MyLogin, times, addresses, st.sampled_from(["imap4", "pop3", "webmail"])),
    st.builds(Forward, times, addresses, counts),
    st.builds(Autoresponse, times, addresses, counts),
    st.builds(ApiAuth, times, addresses, st.sampled_from(["password", "token"])),
    st.builds(StorageReport, times, addresses, st.integers(0, 99), st.integers(0, 10**6)),
)


def record(
    path: Path, batch: list[Event], compiled: bool, periods: Periods, preload: bool
) -> tuple[Any, dict[str, list[Any]]]:
    with open_store(f"sqlite:///{path}") as store:
        build_tree(store)
        with store.write() as q:
            resolver = Resolver(q)
            if preload:
                resolver.preload(q.accounts())
            result = record_events(q, periods, batch, resolver, compiled)
        rows = table_rows(store, "flows", "gauges", "storage_reports", "users")
    return result, {k: sorted(v) for k, v in rows.items()}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(events, max_size=60), odd=st.booleans(), preload=st.booleans())
def test_the_compiled_tally_counts_what_python_counts(
    tmp_path_factory, batch, odd, preload
) -> None:
    periods = OddPeriods("Europe/Berlin") if odd else BERLIN
    base = tmp_path_factory.mktemp("tally")
    assert record(base / "c.sqlite3", batch, True, periods, preload) == record(
        base / "py.sqlite3", batch, False, periods, preload
    )


def tallies(store_path: Path, batch: list[Event]) -> tuple[Any, Any, list[Any]]:
    """(C then Python on its rest, Python alone), each as (cells, result), and the rest."""
    out: list[Any] = []
    with open_store(f"sqlite:///{store_path}") as store, store.read() as q:
        resolver = Resolver(q)
        resolver.preload(q.accounts())
        for compiled in (True, False):
            tally, res, reports = _Tally(BERLIN), RecordResult(), []
            rest = batch
            if compiled:
                res.counted, rest = _fastlog.tally_events(
                    batch,
                    resolver.known(),
                    tally.cells,
                    tally.keys_by_bucket,
                    BERLIN.bucket_keys,
                    _TALLY_COLUMNS,
                    _NF + _NL,
                )
                out.append(rest)
            _tally_events(rest, tally, resolver, res, reports)
            out.append((tally.cells, res, reports))
    return out[1], out[2], out[0]


def test_cells_are_the_same_and_python_gets_what_c_does_not_count(store_path: Path) -> None:
    t = T0 - T0 % 86400 + 3600
    batch: list[Event] = [
        MessageIn(t, "bob@example.com", 100),
        MessageIn(t + 5, "bob@example.com", 50, True),
        MessageOut(t + 9, "alice@example.com", 3, 700, 2),
        MessageOut(t + 9, "alice@example.com", 1, 2**70),  # (past 64 bits: Python ints in C too)
        MessageDenied(t, "alice@example.com"),
        Login(t + 60, "bob@example.com", "imap4"),
        Login(t + 61, "bob@example.com", "imap4"),
        Forward(t, "alice@example.com"),
        Autoresponse(t + 86400, "alice@example.com"),
        # left to Python: a case variant (the resolver lower()s it), an alias spelt
        # as itself is known, an unknown address of the domain (denied: counted for
        # the domain), an outsider (ignored), an API login, a subclass, a report
        MessageIn(t, "BOB@example.com", 1),
        MessageDenied(t, "nobody@example.com"),
        Forward(t, "x@elsewhere.org"),
        ApiAuth(t, "bob@example.com", "token"),
        MyLogin(t, "bob@example.com", "pop3"),
        StorageReport(t, "bob@example.com", 1, 2),
    ]
    both, python, rest = tallies(store_path, batch)
    assert both == python
    assert rest == batch[9:]
    cells, res, _ = both
    assert res.counted == 16 - 1 - 1  # (the outsider ignored; the report comes later)
    assert res.ignored_addresses == {"x@elsewhere.org": 1}
    ham, size = _TALLY_COLUMNS[:2]
    (bob,) = [c for c in cells.values() if c[size] == 101]
    assert bob[ham] == 2  # two messages in, 101 bytes: the case variant joined


def test_an_unknown_login_service_fails_in_python_as_before(store_path: Path) -> None:
    with pytest.raises(KeyError):
        tallies(store_path, [Login(T0, "bob@example.com", "ftp")])  # type: ignore[arg-type]


def test_a_bucket_keys_that_changes_the_list_changes_nothing_counted(store_path: Path) -> None:
    batch: list[Event] = [MessageIn(T0 + 900 * i, "bob@example.com", 10) for i in range(20)]

    def bucket_keys(bucket: int) -> Any:
        batch.clear()  # whatever Python runs meanwhile, the events were taken as they were
        return BERLIN.bucket_keys(bucket)

    with open_store(f"sqlite:///{store_path}") as store, store.read() as q:
        resolver = Resolver(q)
        resolver.preload(q.accounts())
        tally = _Tally(BERLIN)
        counted, rest = _fastlog.tally_events(
            batch, resolver.known(), tally.cells, {}, bucket_keys, _TALLY_COLUMNS, _NF + _NL
        )
    assert (counted, rest) == (20, [])
    assert sum(c[_TALLY_COLUMNS[1]] for c in tally.cells.values()) == 200


# -- a user's day, week and month rows from its deltas (PostgreSQL's expansion) ----

PERIOD_KEYS = [
    ("20261127", "20261123-20261129", "2026-11"),
    ("20261130", "20261130-20261206", "2026-11"),
    ("20261201", "20261130-20261206", "2026-12"),
    ("20261202", "20261130-20261206", "2026-12"),
]
WIDTH = _NF + _NL
# (user, day keys, cell): cells of a few users over days of two weeks and months,
# values past 64 bits among them (the cells hold Python ints)
user_cells = st.lists(
    st.tuples(
        st.integers(1, 6),
        st.sampled_from(PERIOD_KEYS),
        st.lists(st.integers(0, 2**70), min_size=WIDTH, max_size=WIDTH),
    ),
    max_size=40,
    unique_by=lambda c: (c[0], c[1]),
)


@settings(max_examples=200, deadline=None)
@given(cells=user_cells)
def test_user_flow_rows_sum_each_users_days_into_its_week_and_month(cells: list[Any]) -> None:
    """Queries.user_flow_rows (what PostgreSQL's store writes of add_user_flows'
    deltas; SQLite's INSERT … SELECT is compared with it in test_pg_writes): one
    row per user and period, its flows summed and its lasts the latest."""
    deltas = [(keys[0], uid, keys[1], keys[2], 7, *cell) for uid, keys, cell in cells]
    rows = Queries.user_flow_rows(deltas)
    for k, kind in enumerate(("day", "week", "month")):
        periods = {keys[k] for _, keys, _ in cells}
        for period in periods:
            mine = [(uid, cell) for uid, keys, cell in cells if keys[k] == period]
            got = [r for r in rows if r[3] == kind and r[4] == period]
            assert sorted(r[2] for r in got) == sorted({uid for uid, _ in mine})
            for row in got:
                theirs = [cell for uid, cell in mine if uid == row[2]]
                assert row[:5] == (7, "u", row[2], kind, period)
                assert list(row[5 : 5 + _NF]) == [sum(c) for c in zip(*theirs, strict=True)][:_NF]
                assert list(row[5 + _NF :]) == [max(c) for c in zip(*theirs, strict=True)][_NF:]
    assert len(rows) == sum(len({(uid, keys[k]) for uid, keys, _ in cells}) for k in range(3))


def test_user_deltas_one_per_user_and_day_in_key_order() -> None:
    """_Tally.user_deltas: the users' cells as (day, user, week, month, company,
    *cell) by (day, user), a user's cells of one day under two owners made one
    (flows added, lasts the latest), the domain's own cells (no user) left to the
    scope rows; ``one_day`` only for a batch of one day."""

    def cell(k: int, last: int) -> list[int]:
        return [k] * _NF + [last] * _NL

    d1 = ("20261123", "20261123-20261129", "2026-11")
    d2 = ("20261124", "20261123-20261129", "2026-11")
    tally = _Tally(BERLIN)
    tally.cells = {
        ((7, 2, 1), d1): cell(1, 100),
        ((5, 2, 1), d1): cell(2, 50),
        ((7, 3, 1), d1): cell(4, 80),  # user 7 again, under another domain
        ((None, 2, 1), d1): cell(9, 0),  # a domain's denied mail: no user row
    }
    deltas, one_day = tally.user_deltas()
    assert one_day
    assert deltas == [
        (*d1[:1], 5, *d1[1:], 1, *cell(2, 50)),
        (*d1[:1], 7, *d1[1:], 1, *cell(5, 100)),
    ]
    assert all(len(d) == 5 + _NF + _NL for d in deltas)
    tally.cells[(5, 2, 1), d2] = cell(3, 60)
    deltas, one_day = tally.user_deltas()
    assert not one_day
    assert [(d[0], d[1]) for d in deltas] == [("20261123", 5), ("20261123", 7), ("20261124", 5)]
