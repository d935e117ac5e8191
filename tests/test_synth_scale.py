"""``mailtally synth`` at provider scale (issue 9): the numbered platform, the log's
length per account-day, and history written straight as counts (on each
backend: PostgreSQL writes it by COPY).  The refusals of bad options run once,
on SQLite (they are refused before the store is touched)."""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import UTC, date, datetime
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import OPERATOR, OPERATOR_PASSWORD, add_operator, cheap_config, hasher_for, table_rows
from mailtally.cli import main
from mailtally.events import Event, Forward, Login, MessageIn, MessageOut
from mailtally.periods import Periods
from mailtally.record import record_events
from mailtally.store import Store, open_store
from mailtally.store.base import FLOW_COLUMNS, KIND_CODES, LAST_COLUMNS
from mailtally.synth import SynthError, synthesize
from mailtally.synth.history import HistoryDays, account_days, write_history
from mailtally.synth.platform import DAY, build_scale_model, create_in_store
from mailtally.synth.truth import Truth
from test_ingest_e2e import check_against_truth, ingester_for
from test_prune import answers

START = date(2026, 3, 2)

#: what a row already there raises, on each backend
INTEGRITY_ERRORS: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)
try:
    import psycopg

    INTEGRITY_ERRORS += (psycopg.IntegrityError,)
except ImportError:  # (no PostgreSQL backend installed: its cases are not run)
    pass


@pytest.fixture
def store(store_url: str) -> Store:
    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path) -> Store:
    s = open_store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    yield s
    s.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"companies": 2, "domains": 4}, "go together"),
        ({"companies": 3, "domains": 2, "accounts_per_domain": 5}, "domains: from companies"),
        ({"companies": 1, "domains": 2, "accounts_per_domain": 5, "users": 20}, "users: not with"),
        ({"companies": 1, "domains": 1, "accounts_per_domain": 7}, "8 to"),
        ({"companies": 1, "domains": 2, "accounts_per_domain": 0}, "at least 1"),
        ({"days": 1001}, "days: 1 to 1000"),
        ({"history_days": -1}, "history_days: 0 to 1000"),
        ({"users": 20, "lines_per_account_day": 0}, "lines_per_account_day: above 0"),
        ({"lines_per_account_day": 3.0}, "with users or accounts_per_domain"),
    ],
)
def test_bad_scale_options_are_refused(sqlite_store, tmp_path, kwargs, message) -> None:
    store = sqlite_store
    with pytest.raises(SynthError, match=message):
        synthesize(store, tmp_path / "out", start=START, **kwargs)
    # refused before anything was created
    assert table_rows(store, "users", "domains", "companies") == {
        "users": [],
        "domains": [],
        "companies": [],
    }


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--days", "1001"], 2, "1<=x<=1000"),
        (["--lines-per-account-day", "0"], 2, "x>0"),
        (["--history-days", "1001"], 2, "0<=x<=1000"),
        (["--companies", "2"], 1, "go together"),
        (["--companies", "1", "--domains", "1", "--accounts-per-domain", "3"], 1, "8 to 1,000,000"),
        (["--users", "8", "--hosts", "9"], 1, "one per host"),
    ],
)
def test_cli_refuses_bad_scale_options(tmp_path, args, code, message) -> None:
    db = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    result = CliRunner().invoke(main, ["synth", "--db", db, "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == code, result.output
    assert message in result.output
    # refused before the store was opened: no new, empty store left behind
    # (which every other command would then take for a store)
    assert not list(tmp_path.glob("cli.sqlite3*"))


def test_scale_platform_has_exactly_the_counts_asked(store, tmp_path) -> None:
    result = synthesize(
        store,
        tmp_path / "out",
        companies=3,
        domains=5,
        accounts_per_domain=4,
        days=2,
        lines_per_account_day=50,
        start=START,
    )
    platform = json.loads(result.platform.read_text())
    assert (result.companies, result.domains, result.users) == (3, 5, 20)
    assert len(platform["companies"]) == 3
    assert len(platform["domains"]) == 5
    assert len(platform["users"]) == 20
    per_domain: dict[str, int] = {}
    for u in platform["users"]:
        per_domain[u["domain"]] = per_domain.get(u["domain"], 0) + 1
    assert per_domain == {f"d{i}.example": 4 for i in range(1, 6)}
    # domains in turn among the companies: 2, 2, 1
    by_company: dict[str, int] = {}
    for d in platform["domains"]:
        by_company[d["company"]] = by_company.get(d["company"], 0) + 1
    assert sorted(by_company.values()) == [1, 2, 2]
    rows = table_rows(store, "companies", "domains", "users")
    assert (len(rows["companies"]), len(rows["domains"]), len(rows["users"])) == (3, 5, 20)
    # the log's length follows accounts x days x rate (within the generator's aim)
    truth = json.loads(result.truth.read_text())
    assert 0.7 * 20 * 2 * 50 < truth["lines"] < 1.5 * 20 * 2 * 50


def test_history_as_counts_equals_its_truth(store, tmp_path) -> None:
    """28 days written as counts (Thursday 5 February to Wednesday 4 March 2026: two
    months and five weeks, each cut by the next), then a day of log ingested: every
    summary by day, week and month equals the truth, history days included (the
    day window, 30 days, holds them all; the both-ways test below goes further back)."""
    add_operator(store, hasher_for(cheap_config()), OPERATOR, OPERATOR_PASSWORD)
    result = synthesize(
        store,
        tmp_path / "out",
        companies=2,
        domains=3,
        accounts_per_domain=5,
        days=1,
        lines_per_account_day=150,
        history_days=28,
        start=date(2026, 3, 5),
        seed=5,
    )
    assert result.history_events > 0
    truth = json.loads(result.truth.read_text())
    platform = json.loads(result.platform.read_text())
    history = {d for u in truth["users"].values() for d in u["days"] if d < "20260305"}
    assert min(history) == "20260205" and max(history) == "20260304"
    assert len(history) == 28  # every history day is in the truth
    paths = [str(tmp_path / "out" / f) for f in truth["files"]]
    ingester_for(store, truth).ingest(paths)
    check_against_truth(store, truth, platform)


def test_history_without_truth_records_the_same_counts(tmp_path) -> None:
    """``history_truth=False`` leaves the history out of truth.json, not out of the store."""
    stores = []
    for name, with_truth in (("a", True), ("b", False)):
        s = open_store(f"sqlite:///{tmp_path / name}.sqlite3")
        synthesize(
            s,
            tmp_path / name,
            companies=1,
            domains=2,
            accounts_per_domain=4,
            days=1,
            lines_per_account_day=20,
            history_days=3,
            history_truth=with_truth,
            start=START,
        )
        stores.append(table_rows(s, "flows")["flows"])
        s.close()
    assert stores[0] == stores[1] and stores[0]
    a, b = (json.loads((tmp_path / n / "truth.json").read_text()) for n in "ab")
    assert any(d < "20260302" for u in a["users"].values() for d in u["days"])
    assert not any(d < "20260302" for u in b["users"].values() for d in u["days"])


def events_of(rows: list[tuple[Any, ...]], address: str) -> list[Event]:
    """The events whose counts are an account's history day rows: what a log of those
    days would have made (one summed event per kind and day)."""
    at = {c: 5 + i for i, c in enumerate(FLOW_COLUMNS + LAST_COLUMNS)}
    out: list[Event] = []
    for r in rows:
        day = int(datetime.strptime(r[4], "%Y%m%d").replace(tzinfo=UTC).timestamp())
        t_in = r[at["last_smtpin"]]
        if r[at["messages_in_ham"]]:
            out.append(MessageIn(t_in, address, r[at["messages_in_size"]], False,
                                 r[at["messages_in_ham"]]))  # fmt: skip
        if r[at["messages_in_spam"]]:
            out.append(MessageIn(t_in, address, 0, True, r[at["messages_in_spam"]]))
        if r[at["messages_forward_count"]]:
            out.append(Forward(day + 3600, address, r[at["messages_forward_count"]]))
        if r[at["messages_out_msg_count"]]:
            out.append(MessageOut(r[at["last_smtprelay"]], address,
                                  r[at["messages_out_rcpt_count"]], r[at["messages_out_size"]],
                                  r[at["messages_out_msg_count"]]))  # fmt: skip
        for service in ("imap4", "pop3", "webmail"):
            if r[at[f"logins_{service}"]]:
                out.append(Login(r[at[f"last_{service}"]], address, service,  # type: ignore[arg-type]
                                 r[at[f"logins_{service}"]]))  # fmt: skip
    return out


KEY = "scope, scope_id, kind, period"


def counter_rows(store: Store) -> dict[str, list[Any]]:
    """Every row of the counter tables, in key order (not in the order written)."""
    with store.read() as q:
        return {
            t: q.conn.execute(f"SELECT * FROM {t} ORDER BY {KEY}").fetchall()
            for t in ("flows", "gauges")
        }


def test_bulk_history_equals_recording_its_events(tmp_path) -> None:
    """The same history written as rows by write_history and recorded as events through
    record_events (the ingester's path): the same rows, and every stats_summary of every
    company, domain and user by day, week and month the same.  45 days from 19 January
    2026 (three months, eight weeks, each cut by the next); one account created in the
    middle of them, counted from its first whole day."""
    start = int(datetime(2026, 3, 5, tzinfo=UTC).timestamp())
    days, seed, periods = 45, 3, Periods("UTC")
    stores, counted = [], []
    for way in ("bulk", "events"):
        rng = random.Random(seed)
        companies, domains, users = build_scale_model(rng, 2, 3, 6, start)
        late = next(u for u in users if u.type == "mailbox")
        late.createtime = start - 20 * DAY + 3600
        store = open_store(f"sqlite:///{tmp_path / way}.sqlite3")
        add_operator(store, hasher_for(cheap_config()), OPERATOR, OPERATOR_PASSWORD)
        create_in_store(store, periods, companies, domains, users, start)
        if way == "bulk":
            counted.append(write_history(store, periods, Truth(domains, start), users, start,
                                         days, seed))  # fmt: skip
        else:
            h = HistoryDays(periods, start, days, seed)
            with store.read() as q:
                owners = {a: (uid, did, cid) for a, uid, did, cid, own in q.accounts() if a == own}
            events: list[Event] = []
            for u in users:
                rows = account_days(h, u, owners[u.address])
                events += events_of(rows, u.address)
            with store.write() as q:
                result = record_events(q, periods, events)
            assert result.ignored == 0
            counted.append(result.counted)
        stores.append(store)
    bulk, recorded = stores
    assert counted[0] == counted[1] > 0
    rows = counter_rows(bulk)
    assert rows == counter_rows(recorded)
    kinds = {(r[1], r[3]) for r in rows["flows"]}
    assert kinds == {(s, KIND_CODES[k]) for s in "udc" for k in ("day", "week", "month")}
    late_id = owners[late.address][0]
    late_days = [r[4] for r in rows["flows"] if r[1:4] == ("u", late_id, KIND_CODES["day"])]
    assert late_days and min(late_days) == "20260214"  # created 13 February, 01:00
    truth = {
        "companies": [c for c, _ in companies],
        "domains": [d.name for d in domains],
        "users": [u.address for u in users],
    }
    for now in (start + 60, start - 16 * DAY):  # the day window of each holds other days
        got = answers(bulk, truth, now)
        assert got == answers(recorded, truth, now)
        assert any(a for k, a in got.items() if k[0] == "user" and k[2] == "day")
    for s in stores:
        s.close()


def test_insert_flow_rows_adds_new_rows_and_refuses_a_row_already_there(store) -> None:
    """insert_flow_rows (synth's history) writes rows in statements of 25 and the rest one
    by one; a row whose (scope, period) is already there fails the whole write (the
    primary key), and nothing of it is added."""
    rows = [(1, "u", uid, "day", "20260301", *range(uid, uid + 19)) for uid in range(1, 31)]
    with store.write() as q:
        q.insert_flow_rows(iter(rows))
    with store.read() as q:
        got = [(uid, *q.flows("u", uid, "day", ["20260301"])) for uid in range(1, 32)]
    assert got[:30] == [(r[2], (r[4], *r[5:])) for r in rows]
    assert got[30] == (31,)  # no row
    before = counter_rows(store)
    again = [(1, "u", 31, "day", "20260301", *range(19)), rows[7]]
    with pytest.raises(INTEGRITY_ERRORS), store.write() as q:
        q.insert_flow_rows(again)
    assert counter_rows(store) == before
