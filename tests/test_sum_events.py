"""Events summed per account, kind and day count what the events count one by one.

The ingester hands record_events its batch through ``_fastlog.sum_events``;
here random batches are recorded both ways, into two stores built alike, and
every row and the result must agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import table_rows
from mailtally.events import (
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
from mailtally.record import Resolver, record_events
from mailtally.store import open_store
from mailtally.store.base import flow_row_key
from test_ingest_files import T0, build_tree

#: accounts, an alias, case variants, an unknown address of the domain, an outsider
ADDRESSES = (
    "bob@example.com",
    "BOB@example.com",
    "alice@example.com",
    "al@example.com",
    "nobody@example.com",
    "x@elsewhere.org",
)
BERLIN = Periods("Europe/Berlin")

times = st.integers(T0 - 3 * 86400, T0 + 3 * 86400)
addresses = st.sampled_from(ADDRESSES)
events = st.one_of(
    st.builds(MessageIn, times, addresses, st.integers(0, 10**6), st.booleans()),
    st.builds(MessageOut, times, addresses, st.integers(0, 50), st.integers(0, 10**6)),
    st.builds(MessageDenied, times, addresses),
    st.builds(Login, times, addresses, st.sampled_from(["imap4", "pop3", "webmail"])),
    st.builds(Forward, times, addresses),
    st.builds(Autoresponse, times, addresses),
    st.builds(StorageReport, times, addresses, st.integers(0, 99), st.integers(0, 10**6)),
)


def record(path: Path, batch: list[Event]) -> tuple[Any, dict[str, list[Any]]]:
    with open_store(f"sqlite:///{path}") as store:
        build_tree(store)
        with store.write() as q:
            result = record_events(q, BERLIN, batch, Resolver(q))
        rows = table_rows(store, "flows", "gauges", "storage_reports")
    return result, {k: sorted(v) for k, v in rows.items()}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(events, max_size=60), odd=st.booleans())
def test_summed_events_count_what_the_events_count(tmp_path_factory, batch, odd) -> None:
    # odd: quarter hours said to hold a midnight pass unsummed
    day_of = (lambda b: None if b % 2 else BERLIN.bucket_keys(b)) if odd else BERLIN.bucket_keys
    summed = _fastlog.sum_events(list(batch), day_of)
    assert len(summed) <= len(batch)
    base = tmp_path_factory.mktemp("sum")
    assert record(base / "summed.sqlite3", summed) == record(base / "each.sqlite3", batch)


def test_a_day_of_one_account_is_one_event() -> None:
    t = T0 - T0 % 86400 + 3600  # 01:00 UTC: 02:00 in Berlin
    batch = [MessageIn(t + i, "bob@example.com", 100 + i) for i in range(5)]
    batch += [MessageIn(t + 86400, "bob@example.com", 7), Login(t, "bob@example.com", "pop3")]
    summed = _fastlog.sum_events(batch, BERLIN.bucket_keys)
    assert summed == [
        MessageIn(t + 4, "bob@example.com", 510, False, 5),
        MessageIn(t + 86400, "bob@example.com", 7),
        Login(t, "bob@example.com", "pop3"),
    ]


def test_a_day_of_that_changes_the_list_changes_nothing_summed() -> None:
    batch = [MessageIn(T0 + i, "bob@example.com", 10) for i in range(50)]

    def day_of(bucket: int) -> Any:
        batch.clear()  # whatever Python runs meanwhile, the events were taken as they were
        return BERLIN.bucket_keys(bucket)

    summed = _fastlog.sum_events(batch, day_of)
    assert sum(e.count for e in summed) == 50
    assert sum(e.size for e in summed) == 500


def test_sums_past_64_bits_leave_the_events_as_they_came() -> None:
    big = 2**62
    batch = [
        MessageOut(T0, "bob@example.com", 1, big),
        MessageOut(T0 + 1, "bob@example.com", 1, big),
    ]
    assert _fastlog.sum_events(batch, BERLIN.bucket_keys) == batch


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(events, max_size=60))
def test_record_streams_its_rows_in_the_flows_key_order(tmp_path_factory, batch) -> None:
    """record hands add_flow_rows its company and domain rows with ``in_key_order``
    (written as they come, never sorted): they must come in the table's key order
    (kind, period, scope, scope_id; migration 0007), each (scope, period) once.
    The users' rows go as one delta per (user, day) to add_user_flows, in the
    order of its temporary table (day, user id), ``one_day`` only when they are
    of one day; the store holds both, each row once."""
    path = tmp_path_factory.mktemp("order") / "store.sqlite3"
    seen: list[tuple[Any, ...]] = []
    user_rows: list[tuple[Any, ...]] = []
    with open_store(f"sqlite:///{path}") as store:
        build_tree(store)
        with store.write() as q:
            add, add_users = q.add_flow_rows, q.add_user_flows

            def spy(rows: Any, *, in_key_order: bool = False) -> None:
                assert in_key_order
                rows = list(rows)
                seen.extend(rows)
                add(rows, in_key_order=True)

            def spy_users(deltas: Any, *, one_day: bool, meanwhile: Any = None) -> Any:
                keys = [(d[0], d[1]) for d in deltas]
                assert keys == sorted(set(keys))
                assert not one_day or len({d[0] for d in deltas}) <= 1
                user_rows.extend(q.user_flow_rows(deltas))
                return add_users(deltas, one_day=one_day, meanwhile=meanwhile)

            q.add_flow_rows = spy  # type: ignore[method-assign]
            q.add_user_flows = spy_users  # type: ignore[method-assign]
            record_events(q, BERLIN, batch, Resolver(q))
        stored = table_rows(store, "flows")["flows"]
    keys = [flow_row_key(r) for r in seen]
    assert keys == sorted(set(keys))
    assert {r[1] for r in seen} <= {"c", "d"} and {r[1] for r in user_rows} <= {"u"}
    assert len({flow_row_key(r) for r in user_rows}) == len(user_rows)
    assert len(stored) == len(seen) + len(user_rows)


def test_a_batch_is_summed_only_where_summing_pays() -> None:
    """files._sums_pay: a few accounts' events are summed; a batch of as many
    accounts as events (100,000 accounts, a few events each) is not — the counts
    are the same either way (above), only the time differs."""
    from mailtally.ingest import files

    n = files.SUM_SAMPLE * 3
    few = [MessageIn(T0 + i % 600, f"u{i % 50}@example.com", 10) for i in range(n)]
    many = [MessageIn(T0 + i % 600, f"u{i}@example.com", 10) for i in range(n)]
    assert files._sums_pay(few, BERLIN)
    assert not files._sums_pay(many, BERLIN)
    # a batch as short as the sample is summed whatever it holds
    assert files._sums_pay(many[: files.SUM_SAMPLE], BERLIN)
