"""Who may make which snapshot, and of which periods (SPEC §6, §2): scope first
(error 2 outside it, 4 for an object seen but not readable), then the period,
which must be one stats_list offers for the object (error 5 naming ``date``)."""

from __future__ import annotations

import pytest

from conftest import DAY, NOW, as_user, failed, ok, table_rows
from mailtally.periods import Periods
from mailtally.snapshot import SNAPSHOT_PERIODS

DADMIN = as_user("dadmin@acme.net")
ADMIN = as_user("admin@acme.com")


def test_a_domain_admin_snapshots_its_domain_only(platform, call, fresh_store):
    ok(call("stats_snapshot", credentials=DADMIN, type="domain", object="acme.net", date="2026-01"))
    before = table_rows(fresh_store, "snapshot_links")
    # another domain of its company, its company, another tenant's domain and a
    # name that exists nowhere: the same answers as stats_summary gives
    for type_, name in (
        ("domain", "acme.com"),
        ("company", "Acme"),
        ("domain", "other.com"),
        ("company", "Other"),
        ("domain", "nothere.example"),
    ):
        got = call("stats_snapshot", credentials=DADMIN, type=type_, object=name, date="2026-01")
        same = call("stats_summary", credentials=DADMIN, type=type_, object=name)
        assert got["success"] is False, (name, got)
        assert got["error_number"] == same["error_number"] in (2, 4), (name, got, same)
    # (a domain role does not see its company: as for any other name, error 2)
    failed(
        call("stats_snapshot", credentials=DADMIN, type="company", object="Acme", date="2026-01"), 2
    )
    failed(
        call(
            "stats_snapshot", credentials=DADMIN, type="domain", object="other.com", date="2026-01"
        ),
        2,
    )
    assert table_rows(fresh_store, "snapshot_links") == before  # no link made


def test_foreign_and_missing_objects_look_alike(platform, call):
    a = call(
        "stats_snapshot", credentials=DADMIN, type="domain", object="other.com", date="2020-01"
    )
    b = call(
        "stats_snapshot", credentials=DADMIN, type="domain", object="gone.example", date="2020-01"
    )
    # (the period is never looked at for an object outside the scope)
    failed(a, 2)
    assert a["error"].replace("other.com", "X") == b["error"].replace("gone.example", "X")


@pytest.mark.parametrize("user", ["bob@acme.com", "lead@acme.com", "tokenonly@acme.com"])
def test_callers_that_may_read_no_company_or_domain(platform, call, user):
    """A plain user, a workgroup admin and company_token_only make no snapshot."""
    failed(call("stats_list", credentials=as_user(user)), 4)
    for type_, name in (("domain", "acme.com"), ("company", "Acme")):
        got = call(
            "stats_snapshot", credentials=as_user(user), type=type_, object=name, date="2026-01"
        )
        same = call("stats_summary", credentials=as_user(user), type=type_, object=name)
        assert got["success"] is False and got["error_number"] == same["error_number"], (got, same)


def test_stats_list_offers_the_last_periods_newest_first(platform, call):
    snaps = ok(call("stats_list", credentials=ADMIN))["snapshots"]
    assert list(snaps) == ["month", "week", "day"]
    periods = Periods("UTC")
    # the platform is 400 days old: every day and week offered, 14 months
    assert {k: len(v) for k, v in snaps.items()} == {
        "month": 14,
        "week": SNAPSHOT_PERIODS["week"],
        "day": SNAPSHOT_PERIODS["day"],
    }
    assert snaps["month"][-1] == "2024-12"
    for kind, keys in snaps.items():
        assert keys == sorted(keys, reverse=True)
        assert keys[0] == periods.key(kind, NOW)  # the current period first
    assert snaps["day"][:2] == ["20260114", "20260113"]
    assert snaps["week"][0] == "20260112-20260118"
    assert snaps["month"][:2] == ["2026-01", "2025-12"]
    # the domain admin's list is its domain's: the same here (same createtime)
    assert ok(call("stats_list", credentials=DADMIN))["snapshots"] == snaps


def test_stats_list_only_where_the_scope_existed(platform, call):
    """A domain created 10 days ago: 10 days (and today), its weeks and months."""
    ok(call("change_domain", domain="young.example", company="Acme",
            attributes={"createtime": "2026-01-04T12:00:00Z"}))  # fmt: skip
    ok(call("change_user", user="boss@young.example", attributes={"password": "pw-young-1"}))
    ok(call("set_role", user="boss@young.example", role="domain", object="young.example"))
    boss = as_user("boss@young.example", "pw-young-1")
    snaps = ok(call("stats_list", credentials=boss))["snapshots"]
    assert snaps["day"] == [f"202601{d:02d}" for d in range(14, 3, -1)]
    assert snaps["week"] == ["20260112-20260118", "20260105-20260111", "20251229-20260104"]
    assert snaps["month"] == ["2026-01"]
    # and stats_snapshot takes exactly those
    ok(
        call(
            "stats_snapshot",
            credentials=boss,
            type="domain",
            object="young.example",
            date="20260104",
        )
    )
    a = failed(
        call(
            "stats_snapshot",
            credentials=boss,
            type="domain",
            object="young.example",
            date="20260103",
        ),
        5,
    )
    assert a["hints"] == {"date": a["hints"]["date"]} and "20260103" in a["error"]
    failed(
        call(
            "stats_snapshot",
            credentials=boss,
            type="domain",
            object="young.example",
            date="2025-12",
        ),
        5,
    )


@pytest.mark.parametrize(
    ("date", "number"),
    [
        ("2026-01", 0),  # a month
        ("20260114", 0),  # today
        ("2026-01-14", 0),  # today as OMA clients send it
        ("20260112-20260118", 0),  # this week
        (f"2025-{10:02d}-17", 0),  # 89 days back
        ("20251016", 5),  # 90 days back: outside the list
        ("2022-01", 5),  # 49 months back
        ("20250120-20250126", 0),  # the 52nd week: the oldest offered
        ("20250113-20250119", 5),  # the 53rd
        ("20260113-20260119", 5),  # not a Monday-to-Sunday week
        ("2026-02", 5),  # the future
        ("2026-13", 5),
        ("2026-02-30", 5),
        ("January 2026", 5),
        ("2026-1", 5),
        ("", 5),
    ],
)
def test_dates(platform, call, date, number):
    answer = call("stats_snapshot", credentials=ADMIN, type="company", object="Acme", date=date)
    if number == 0:
        ok(answer)
    else:
        assert failed(answer, number)["hints"].keys() == {"date"} or date == "", answer


def test_a_day_as_yyyy_mm_dd_is_that_day(platform, call, client):
    from snapshots import download, link

    a = download(client, link(call, ADMIN, type="company", object="Acme", date="2026-01-10"))
    b = download(client, link(call, ADMIN, type="company", object="Acme", date="20260110"))
    assert a == b


def test_the_window_is_counted_back_from_now(platform, call, clock):
    clock.value = NOW + 120 * DAY
    failed(
        call("stats_snapshot", credentials=ADMIN, type="company", object="Acme", date="20260114"), 5
    )
    ok(call("stats_snapshot", credentials=ADMIN, type="company", object="Acme", date="2026-01"))
