"""The snapshot's rows add up exactly to stats_summary (issue 11), on the demo
platform (3 domains, ~300 accounts of every type, aliases, soft-deleted ones,
14 months of activity and weekly quota reports), for a day, a week and a month,
of the company and of each domain; and each account's row says what its own
user summary says."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from conftest import NOW, cheap_config, creds, hasher_for, make_call, summary
from mailtally.api import create_app
from mailtally.demo import COMPANY, DEMO_PASSWORD, DOMAINS, build_demo
from mailtally.metrics import COMPANY_FLOWS, GAUGES, MESSAGE_FLOWS
from mailtally.periods import FixedClock, Periods
from mailtally.store import open_store
from snapshots import download, link, rows

ADMIN = creds("admin@example.com", DEMO_PASSWORD)
#: (by, period): a day and a week inside stats_summary's window, a past month
#: and the current one (gauges as of now)
PERIODS = [("day", "20260110"), ("week", "20260105-20260111"), ("month", "2025-12"),
           ("month", "2026-01")]  # fmt: skip


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
    store = open_store(f"sqlite:///{path}")
    build_demo(store, Periods("UTC"), hasher_for(cheap_config()), NOW)
    store.close()
    return path


@pytest.fixture(scope="module")
def demo(demo_file, tmp_path_factory) -> Iterator[tuple[TestClient, object]]:
    path = tmp_path_factory.mktemp("demo-copy") / "demo.sqlite3"
    shutil.copyfile(demo_file, path)
    store = open_store(f"sqlite:///{path}")
    with TestClient(create_app(store, cheap_config(), FixedClock(NOW))) as client:
        yield client, make_call(client, ADMIN)
    store.close()


@pytest.mark.parametrize(("by", "key"), PERIODS)
@pytest.mark.parametrize("obj", [("company", COMPANY), *(("domain", d) for d in DOMAINS)])
def test_rows_add_up_to_stats_summary(demo, obj, by, key):
    client, call = demo
    type_, name = obj
    got = rows(download(client, link(call, ADMIN, type=type_, object=name, date=key)))
    want = summary(call, type=type_, object=name, by=by)[key]
    for metric in (*COMPANY_FLOWS, *GAUGES):
        group, _, k = metric.partition(".")
        assert sum(int(r[metric]) for r in got) == want[group][k], (metric, name, key)
    # only what no account holds is left to the last row: rejects for unknown
    # addresses of the domain (the demo's aliases are in their accounts' domains)
    rest = [r for r in got if r["account_type"] == "unattributed"]
    assert len(rest) <= 1 and all(r["address"] == "" for r in rest)
    for r in rest:
        assert r is got[-1]
        held = {m for m in (*COMPANY_FLOWS, *GAUGES) if int(r[m])}
        assert held <= {"messages.denied"}, held
    accounts = [r for r in got if r["account_type"] != "unattributed"]
    assert len({r["address"] for r in accounts}) == len(accounts)
    # soft-deleted accounts are rows (12 in the demo's company, some by now)
    if type_ == "company" and key == "2026-01":
        assert sum(r["deletetime"] != "" for r in accounts) == 12


@pytest.mark.parametrize(("by", "key"), [("day", "20260110"), ("month", "2025-12")])
def test_each_row_is_its_accounts_summary(demo, by, key):
    client, call = demo
    got = rows(download(client, link(call, ADMIN, type="domain", object="example.org", date=key)))
    accounts = [r for r in got if r["account_type"] != "unattributed"]
    assert len(accounts) >= 40
    for r in accounts:
        user = summary(call, type="user", object=r["address"], by=by)[key]
        for k in MESSAGE_FLOWS:
            assert r[f"messages.{k}"] == (user["messages"][k] or "0"), (r["address"], k)
        for k in ("imap4", "pop3", "webmail", "auth_password", "auth_token"):
            assert r[f"logins.{k}"] == (user["logins"][k] or "0"), (r["address"], k)
        assert r["workgroup"] == user["workgroup"]
        assert r["account_type"] == user["account_type"]
        assert r["storage.allowed_size"] == user["storage"]["allowed_size"]
        live = r["deletetime"] == ""
        assert live == (user["deletetime"] == "")
        items = r["storage.items_stored" if live else "deleted_users.storage_items_stored"]
        size = r["storage.current_size" if live else "deleted_users.storage_current_size"]
        assert (items, size) == (user["storage"]["items_stored"], user["storage"]["current_size"])
        for s, state in user["services"].items():
            assert r[f"services.{s}"] == ("1" if state == "enabled" else "0")
