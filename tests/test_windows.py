"""Windows and period keys (SPEC §5): lengths, order, boundaries, time zones, and
objects created inside the window."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from conftest import DAY, NOW, OPERATOR_CREDS, failed, ok, rfc, summary, ts
from mailtally.events import Login, MessageIn, StorageReport


def make_company(call, createtime: int, company="Acme", domain="acme.com"):
    ok(call("change_company", company=company, attributes={"createtime": rfc(createtime)}))
    ok(
        call(
            "change_domain",
            domain=domain,
            company=company,
            attributes={"createtime": rfc(createtime)},
        )
    )


def make_user(call, address: str, createtime: int, **attributes):
    ok(call("change_user", user=address, attributes={"createtime": rfc(createtime), **attributes}))


def day_keys(first: date, last: date) -> list[str]:
    return [(first + timedelta(days=i)).strftime("%Y%m%d") for i in range((last - first).days + 1)]


def in_ham(s: dict, key: str) -> int:
    return s[key]["messages"]["in_ham"]


# -- lengths and order --------------------------------------------------------------


def test_window_lengths_and_keys(call):
    """Now is Wed 2026-01-14 12:00 UTC; the company is six years old."""
    make_company(call, NOW - 6 * 365 * DAY)
    days = summary(call, object="Acme", by="day")
    assert list(days) == day_keys(date(2025, 12, 16), date(2026, 1, 14))
    weeks = summary(call, object="Acme", by="week")
    mondays = [date(2025, 1, 20) + timedelta(weeks=i) for i in range(52)]
    assert list(weeks) == [f"{m:%Y%m%d}-{m + timedelta(days=6):%Y%m%d}" for m in mondays]
    assert list(weeks)[-1] == "20260112-20260118"  # the current week, Sunday in the future
    months = summary(call, object="Acme", by="month")
    assert len(months) == 48
    assert min(months) == "2022-02" and max(months) == "2026-01"
    assert list(months) == sorted(months)
    assert [len(days), len(weeks), len(months)] == [30, 52, 48]


@pytest.mark.parametrize("by", ["day", "week", "month"])
def test_keys_ascending_in_the_json_text(call, client, by):
    make_company(call, NOW - 6 * 365 * DAY)
    r = client.post(
        "/api/stats_summary", json={"credentials": OPERATOR_CREDS, "object": "Acme", "by": by}
    )
    keys = list(r.json()["summary"])  # json() keeps the order of the text
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


# -- boundaries (UTC) ----------------------------------------------------------------


def test_year_and_month_boundary(call, record):
    make_company(call, NOW - 400 * DAY)
    make_user(call, "joe@acme.com", NOW - 400 * DAY)
    record(
        MessageIn(ts("2025-12-31T23:59:59Z"), "joe@acme.com", 1),
        MessageIn(ts("2026-01-01T00:00:00Z"), "joe@acme.com", 10),
        MessageIn(ts("2026-01-01T00:00:01Z"), "joe@acme.com", 100),
    )
    days = summary(call, object="acme.com", by="day")
    assert (in_ham(days, "20251231"), in_ham(days, "20260101")) == (1, 2)
    assert days["20260101"]["messages"]["in_size"] == 110
    months = summary(call, object="acme.com", by="month")
    assert (in_ham(months, "2025-12"), in_ham(months, "2026-01")) == (1, 2)
    weeks = summary(call, object="acme.com", by="week")
    # Monday 2025-12-29 to Sunday 2026-01-04: one week across two months and two years
    assert "20251229-20260104" in weeks
    assert in_ham(weeks, "20251229-20260104") == 3
    assert sum(in_ham(weeks, k) for k in weeks) == 3


def test_week_spanning_two_months_of_one_year(call, record):
    make_company(call, NOW - 400 * DAY)
    make_user(call, "joe@acme.com", NOW - 400 * DAY)
    record(
        MessageIn(ts("2025-09-28T23:59:59Z"), "joe@acme.com", 1),  # Sunday: the week before
        MessageIn(ts("2025-09-29T00:00:00Z"), "joe@acme.com", 1),  # Monday
        MessageIn(ts("2025-09-30T12:00:00Z"), "joe@acme.com", 1),
        MessageIn(ts("2025-10-05T23:59:59Z"), "joe@acme.com", 1),  # Sunday, in October
        MessageIn(ts("2025-10-06T00:00:00Z"), "joe@acme.com", 1),  # Monday: the week after
    )
    weeks = summary(call, object="joe@acme.com", by="week")
    assert weeks["20250922-20250928"]["messages"]["in_ham"] == "1"
    assert weeks["20250929-20251005"]["messages"]["in_ham"] == "3"
    assert weeks["20251006-20251012"]["messages"]["in_ham"] == "1"
    months = summary(call, object="joe@acme.com", by="month")
    assert months["2025-09"]["messages"]["in_ham"] == "3"
    assert months["2025-10"]["messages"]["in_ham"] == "2"


def test_leap_day(call, record, clock):
    clock.value = ts("2024-03-10T12:00:00Z")
    make_company(call, ts("2024-01-01T00:00:00Z"))
    make_user(call, "joe@acme.com", ts("2024-01-01T00:00:00Z"))
    record(MessageIn(ts("2024-02-29T23:00:00Z"), "joe@acme.com", 5))
    days = summary(call, object="acme.com")
    assert "20240229" in days and in_ham(days, "20240229") == 1
    assert list(days)[list(days).index("20240229") + 1] == "20240301"
    assert list(summary(call, object="acme.com", by="week"))[-2] == "20240226-20240303"


# -- time zones ----------------------------------------------------------------------

# (zone, the local date of a DST change, "now" a few days later)
DST_CHANGES = [
    ("Europe/Amsterdam", date(2026, 3, 29), "2026-04-02T12:00:00Z"),  # 02:00 → 03:00, 23 h
    ("Europe/Amsterdam", date(2025, 10, 26), "2025-10-30T12:00:00Z"),  # 03:00 → 02:00, 25 h
    ("America/New_York", date(2025, 11, 2), "2025-11-06T12:00:00Z"),  # 02:00 → 01:00, 25 h
    ("America/New_York", date(2026, 3, 8), "2026-03-12T12:00:00Z"),  # 02:00 → 03:00, 23 h
    # Chile moves its clocks at midnight: 00:00 does not exist on 2025-09-07
    ("America/Santiago", date(2025, 9, 7), "2025-09-10T12:00:00Z"),  # 00:00 → 01:00, 23 h
    ("America/Santiago", date(2026, 4, 4), "2026-04-08T12:00:00Z"),  # 24:00 → 23:00, 25 h
]


def local_midnight(zone: str, d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(zone)).timestamp())


@pytest.mark.parametrize(
    ("config", "zone", "change", "now"),
    [({"timezone": z}, z, d, n) for z, d, n in DST_CHANGES],
    indirect=["config"],
    ids=[f"{z}-{d}" for z, d, _ in DST_CHANGES],
)
def test_dst_change_counts_on_the_local_day(call, record, clock, config, zone, change, now):
    clock.value = ts(now)
    make_company(call, clock.value - 100 * DAY)
    make_user(call, "joe@acme.com", clock.value - 100 * DAY)
    start = local_midnight(zone, change)
    end = local_midnight(zone, change + timedelta(days=1))
    assert end - start != DAY  # the day of the change is 23 or 25 hours long
    record(
        MessageIn(start - 1, "joe@acme.com", 1),  # the day before, just before local midnight
        MessageIn(start, "joe@acme.com", 10),  # the day of the change
        MessageIn(end - 1, "joe@acme.com", 100),
        MessageIn(end, "joe@acme.com", 1000),  # the day after
        Login(end - 1, "joe@acme.com", "imap4"),
    )
    days = summary(call, object="acme.com", by="day")
    before, of, after = ((change + timedelta(days=i)).strftime("%Y%m%d") for i in (-1, 0, 1))
    assert {k: days[k]["messages"]["in_size"] for k in (before, of, after)} == {
        before: 1,
        of: 110,
        after: 1000,
    }
    assert days[of]["logins"]["imap4"] == 1
    # 30 distinct consecutive local days, the short or long one among them
    keys = list(days)
    assert len(keys) == 30
    assert keys == day_keys(
        datetime.strptime(keys[0], "%Y%m%d").date(), datetime.strptime(keys[-1], "%Y%m%d").date()
    )
    # the user's times are still written in UTC
    user = summary(call, object="joe@acme.com", by="day")
    assert user[of]["logins"]["last_imap4"].endswith(" UTC")
    utc = datetime.fromtimestamp(end - 1, ZoneInfo("UTC"))
    assert f"{utc:%H:%M:%S} {utc.year} UTC" in user[of]["logins"]["last_imap4"]
    if change.weekday() != 6:
        return
    # a change on a Sunday: the next local midnight starts a new week
    weeks = summary(call, object="acme.com", by="week")
    monday = change - timedelta(days=6)
    this_week = f"{monday:%Y%m%d}-{change:%Y%m%d}"
    assert weeks[this_week]["messages"]["in_size"] == 111
    next_week = f"{change + timedelta(days=1):%Y%m%d}-{change + timedelta(days=7):%Y%m%d}"
    assert weeks[next_week]["messages"]["in_size"] == 1000


@pytest.mark.parametrize("config", [{"timezone": "Europe/Amsterdam"}], indirect=True)
def test_local_month_and_gauges_in_a_zone(call, record, clock):
    """2026-03-31 22:30 UTC is already April in Amsterdam (CEST, UTC+2)."""
    clock.value = ts("2026-04-03T12:00:00Z")
    make_company(call, ts("2026-01-01T00:00:00Z"))
    make_user(call, "joe@acme.com", ts("2026-01-01T00:00:00Z"))
    record(
        MessageIn(ts("2026-03-31T21:59:59Z"), "joe@acme.com", 1),  # 23:59:59 local
        MessageIn(ts("2026-03-31T22:00:00Z"), "joe@acme.com", 10),  # 00:00:00 local
        StorageReport(ts("2026-03-31T22:30:00Z"), "joe@acme.com", 3, 300),
    )
    months = summary(call, object="acme.com", by="month")
    assert months["2026-03"]["messages"]["in_size"] == 1
    assert months["2026-04"]["messages"]["in_size"] == 10
    # the report came after the local end of March
    assert months["2026-03"]["storage"] == {"items_stored": 0, "current_size": 0}
    assert months["2026-04"]["storage"] == {"items_stored": 3, "current_size": 300}
    days = summary(call, object="acme.com", by="day")
    assert days["20260331"]["storage"]["items_stored"] == 0
    assert days["20260401"]["storage"]["items_stored"] == 3


def test_utc_deployment_counts_the_same_event_in_march(call, record, clock):
    """The counterpart of the test above: in UTC, 22:00 on March 31 is March."""
    clock.value = ts("2026-04-03T12:00:00Z")
    make_company(call, ts("2026-01-01T00:00:00Z"))
    make_user(call, "joe@acme.com", ts("2026-01-01T00:00:00Z"))
    record(MessageIn(ts("2026-03-31T22:00:00Z"), "joe@acme.com", 10))
    months = summary(call, object="acme.com", by="month")
    assert months["2026-03"]["messages"]["in_size"] == 10


# -- objects created inside the window -------------------------------------------------


def test_object_created_mid_window(call, record, clock):
    make_company(call, NOW - 100 * DAY, domain="old.com")
    created = ts("2026-01-04T12:00:00Z")  # a Sunday, 10 days before now
    ok(
        call(
            "change_domain",
            domain="young.com",
            company="Acme",
            attributes={"createtime": rfc(created)},
        )
    )
    make_user(call, "first@young.com", created)
    make_user(call, "second@young.com", ts("2026-01-09T08:00:00Z"))
    record(
        StorageReport(created + 60, "first@young.com", 2, 2000),
        MessageIn(ts("2026-01-07T10:00:00Z"), "first@young.com", 50),
    )
    days = summary(call, object="young.com", by="day")
    assert list(days) == day_keys(date(2026, 1, 4), date(2026, 1, 14))
    mailboxes = {k: p["users"]["mailbox"] for k, p in days.items()}
    assert mailboxes == {k: 1 if k < "20260109" else 2 for k in days}
    # gauges carried forward, flows zero where nothing happened
    assert all(p["storage"] == {"items_stored": 2, "current_size": 2000} for p in days.values())
    assert {k for k, p in days.items() if p["messages"]["in_ham"]} == {"20260107"}
    assert all(p["services"]["imap4"] == p["users"]["mailbox"] for p in days.values())
    weeks = summary(call, object="young.com", by="week")
    assert list(weeks) == ["20251229-20260104", "20260105-20260111", "20260112-20260118"]
    assert [p["users"]["mailbox"] for p in weeks.values()] == [1, 2, 2]
    assert list(summary(call, object="young.com", by="month")) == ["2026-01"]
    # the user created on the 9th starts there
    assert min(summary(call, object="second@young.com", by="day")) == "20260109"
    # the company is older: all 30 days
    assert len(summary(call, object="Acme", by="day")) == 30


def test_created_exactly_at_midnight(call):
    make_company(call, ts("2026-01-10T00:00:00Z"))
    assert min(summary(call, object="acme.com")) == "20260110"
    make_company(call, ts("2026-01-09T23:59:59Z"), company="Beta", domain="beta.com")
    assert min(summary(call, object="beta.com")) == "20260109"


def test_created_today_and_in_the_future(call, clock):
    make_company(call, clock.value)
    assert list(summary(call, object="acme.com")) == ["20260114"]
    assert list(summary(call, object="acme.com", by="month")) == ["2026-01"]
    # a createtime in the future is refused, not silently counted
    answer = call(
        "change_domain",
        domain="later.com",
        company="Acme",
        attributes={"createtime": rfc(clock.value + 3600)},
    )
    failed(answer, 6)


def test_import_older_than_its_company_widens_the_company_window(call):
    make_company(call, NOW - 5 * DAY)
    ok(
        call(
            "change_domain",
            domain="old.com",
            company="Acme",
            attributes={"createtime": rfc(NOW - 20 * DAY)},
        )
    )
    make_user(call, "joe@old.com", NOW - 20 * DAY)
    s = summary(call, object="Acme")
    assert len(s) == 21
    assert all(p["users"]["mailbox"] == 1 for p in s.values())


def test_weeks_and_months_are_sums_of_their_days(call, record):
    make_company(call, NOW - 400 * DAY)
    make_user(call, "joe@acme.com", NOW - 400 * DAY)
    make_user(call, "ann@acme.com", NOW - 400 * DAY, aliases=["a@acme.com"])
    events = []
    for i in range(0, 29):
        t = NOW - i * DAY - 3600 * (i % 5)
        events += [
            MessageIn(t, "joe@acme.com", 100 + i, count=i % 3 + 1),
            MessageIn(t, "a@acme.com", 7, spam=i % 2 == 0),  # an alias counts for ann
            Login(t, "ann@acme.com", "pop3"),
        ]
    record(*events)
    days = summary(call, object="acme.com")
    weeks = summary(call, object="acme.com", by="week")
    months = summary(call, object="acme.com", by="month")
    for kind, periods in (("week", weeks), ("month", months)):
        for key, period in periods.items():
            if kind == "week":
                first, last = key.split("-")
            else:
                first, last = key.replace("-", "") + "01", key.replace("-", "") + "31"
            inside = [p for k, p in days.items() if first <= k <= last]
            if len(inside) < (7 if kind == "week" else 28):
                continue  # reaches before the 30 days shown
            for k, v in period["messages"].items():
                assert v == sum(p["messages"][k] for p in inside), (key, k)
            assert period["logins"]["pop3"] == sum(p["logins"]["pop3"] for p in inside)
    ann = summary(call, object="ann@acme.com", by="month")
    total = sum(
        int(p["messages"]["in_ham"] or 0) + int(p["messages"]["in_spam"] or 0) for p in ann.values()
    )
    assert total == 29
