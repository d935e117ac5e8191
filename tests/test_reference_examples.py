"""The two examples of reference/stats_summary.txt, rebuilt and answered exactly."""

from __future__ import annotations

import pytest

from conftest import ok, summary, ts
from mailtally.events import Login, MessageIn, MessageOut, StorageReport

ZERO_MESSAGES = {
    "autorespond_count": 0,
    "in_size": 0,
    "out_msg_count": 0,
    "in_spam": 0,
    "out_size": 0,
    "forward_count": 0,
    "in_ham": 0,
    "out_rcpt_count": 0,
    "denied": 0,
}
ZERO_LOGINS = {"imap4": 0, "pop3": 0, "webmail": 0}


def example1_period(services: int, mailbox: int, alias: int, items: int, size: int) -> dict:
    """One period of Example 1 (keys and values exactly as the reference shows)."""
    return {
        "messages": ZERO_MESSAGES,
        "services": {s: services for s in ("smtprelay", "smtpin", "imap4", "pop3", "webmail")},
        "deleted_users": {"storage_items_stored": 0, "storage_current_size": 0},
        "users": {"filter": 0, "forward": 2, "deleted": 1, "mailbox": mailbox, "alias": alias},
        "logins": ZERO_LOGINS,
        "storage": {"items_stored": items, "current_size": size},
    }


BEFORE = example1_period(services=10, mailbox=7, alias=1, items=6, size=141653)
AFTER = example1_period(services=11, mailbox=8, alias=0, items=7, size=142017)


@pytest.fixture
def example1(call, record, clock):
    """example.com as in Example 1: 7 mailboxes (one with an alias), 2 forwards,
    1 soft-deleted account; a mailbox added (and the alias dropped) on 2012-01-03."""
    clock.value = ts("2011-07-21T17:46:22Z")
    ok(call("change_company", company="Example Inc"))
    ok(call("change_domain", domain="example.com", company="Example Inc"))
    for i in range(1, 9):
        ok(call("change_user", user=f"box{i}@example.com", attributes={}))
    ok(call("change_user", user="box1@example.com", attributes={"aliases": ["info@example.com"]}))
    for i in (1, 2):
        attrs = {
            "type": "forward",
            "delivery_local": False,
            "delivery_forward": True,
            "forward_recipients": [f"away{i}@example.net"],
        }
        ok(call("change_user", user=f"fwd{i}@example.com", attributes=attrs))
    clock.value = ts("2011-11-02T09:00:00Z")
    ok(call("delete_user", user="box8@example.com"))
    clock.value = ts("2011-12-01T04:00:00Z")
    record(
        StorageReport(clock.value, "box1@example.com", 2, 100000),
        StorageReport(clock.value, "box2@example.com", 4, 41653),
    )
    clock.value = ts("2012-01-03T10:00:00Z")
    ok(call("change_user", user="new@example.com", attributes={}))
    ok(call("change_user", user="box1@example.com", attributes={"aliases": []}))
    record(StorageReport(clock.value + 60, "new@example.com", 1, 364))
    clock.value = ts("2012-01-06T12:00:00Z")


def test_example1_every_period_is_the_reference_block(example1, call):
    s = summary(call, type="domain", object="example.com", by="day")
    assert list(s) == [f"201112{d:02d}" for d in range(8, 32)] + [
        f"201201{d:02d}" for d in range(1, 7)
    ]
    for key, period in s.items():
        assert period == (AFTER if key >= "20120103" else BEFORE), key


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("20111215", BEFORE),
        ("20111219", BEFORE),
        ("20111221", BEFORE),
        ("20111228", BEFORE),
        ("20111229", BEFORE),
        ("20120106", AFTER),
    ],
)
def test_example1_reference_keys(example1, call, key, expected):
    s = summary(call, type="domain", object="example.com", by="day")
    assert s[key] == expected
    assert list(s[key]) == list(expected)  # the reference's group order


def test_example1_company_equals_its_only_domain(example1, call):
    for by in ("day", "week", "month"):
        company = summary(call, type="company", object="Example Inc", by=by)
        domain = summary(call, type="domain", object="example.com", by=by)
        assert company == domain


def test_example1_by_month(example1, call):
    s = summary(call, type="domain", object="example.com", by="month")
    assert list(s) == ["2011-07", "2011-08", "2011-09", "2011-10", "2011-11", "2011-12", "2012-01"]
    assert s["2011-12"] == BEFORE
    assert s["2012-01"] == AFTER
    # before the deletion and the storage reports, at the end of October
    assert s["2011-10"]["users"] == {
        "filter": 0,
        "forward": 2,
        "deleted": 0,
        "mailbox": 8,
        "alias": 1,
    }
    assert s["2011-10"]["storage"] == {"items_stored": 0, "current_size": 0}
    assert s["2011-10"]["services"]["imap4"] == 10


# -- Example 2 ---------------------------------------------------------------------

EXAMPLE2_20120111 = {
    "messages": {
        "in_size": "",
        "out_msg_count": "",
        "in_spam": "",
        "autorespond_count": "",
        "out_size": "",
        "forward_count": "",
        "in_ham": "",
        "out_rcpt_count": "",
        "denied": "",
    },
    "services": {
        "smtprelay": "enabled",
        "smtpin": "enabled",
        "imap4": "enabled",
        "pop3": "enabled",
        "webmail": "enabled",
    },
    "delivery": {"autoresponder": "1", "fonly": "0"},
    "forward": "copy@example.net",
    "createtime": "Thu Jul 21 17:46:22 2011 UTC",
    "workgroup": "staff",
    "account_type": "mailbox",
    "logins": {
        "last_imap4": "Fri Dec 9 01:16:12 2011 UTC",
        "imap4": "",
        "auth_token": "",
        "webmail": "",
        "last_webmail": "Fri Jan 6 18:00:33 2012 UTC",
        "auth_password": "",
        "pop3": "",
        "last_pop3": "Fri Dec 9 01:31:09 2011 UTC",
        "last_smtprelay": "Thu Jun 9 16:50:46 2011 UTC",
        "last_smtpin": "Mon Nov 21 19:54:05 2011 UTC",
    },
    "storage": {"items_stored": "31", "allowed_size": "6442450944", "current_size": "733839"},
    "deletetime": "",
}


def shape(value):
    """The nested key sets of a summary period (leaves become their type)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    return type(value).__name__


@pytest.fixture
def example2(call, record, clock):
    clock.value = ts("2012-01-11T09:30:00Z")
    ok(
        call(
            "change_company",
            company="Example Inc",
            attributes={"createtime": "2011-01-01T00:00:00Z"},
        )
    )
    ok(call("change_domain", domain="example.com", company="Example Inc"))
    attrs = {
        "createtime": "2011-07-21T17:46:22Z",
        "delivery_autorespond": True,
        "delivery_forward": True,
        "forward_recipients": ["copy@example.net"],
        "quota": 6442450944,
    }
    ok(call("change_user", user="joe@example.com", attributes=attrs))
    record(
        MessageOut(ts("2011-06-09T16:50:46Z"), "joe@example.com", recipients=1, size=900),
        MessageIn(ts("2011-11-21T19:54:05Z"), "joe@example.com", size=2000),
        Login(ts("2011-12-09T01:16:12Z"), "joe@example.com", "imap4"),
        Login(ts("2011-12-09T01:31:09Z"), "joe@example.com", "pop3"),
        Login(ts("2012-01-06T18:00:33Z"), "joe@example.com", "webmail"),
        StorageReport(ts("2012-01-08T03:00:00Z"), "joe@example.com", 31, 733839),
    )


def test_example2_exactly(example2, call):
    s = summary(call, type="user", object="joe@example.com", by="day")
    assert max(s) == "20120111"
    assert s["20120111"] == EXAMPLE2_20120111


def test_example2_keys_at_every_level_in_every_period(example2, call):
    expected = shape(EXAMPLE2_20120111)
    for by in ("day", "week", "month"):
        for key, period in summary(call, type="user", object="joe@example.com", by=by).items():
            assert shape(period) == expected, (by, key)


def test_example2_flows_are_strings_and_empty_when_zero(example2, call):
    s = summary(call, type="user", object="joe@example.com", by="day")
    assert s["20120106"]["logins"]["webmail"] == "1"
    assert s["20120106"]["logins"]["imap4"] == ""
    assert s["20120106"]["logins"]["last_webmail"] == "Fri Jan 6 18:00:33 2012 UTC"
    # the window starts 2011-12-13: the last logins before it are carried in
    assert s["20111213"]["logins"]["last_imap4"] == "Fri Dec 9 01:16:12 2011 UTC"
    assert s["20111213"]["logins"]["last_webmail"] == ""
    # storage as of each period's end: nothing before the first report
    assert s["20120107"]["storage"]["items_stored"] == "0"
    assert s["20120108"]["storage"] == EXAMPLE2_20120111["storage"]
    month = summary(call, type="user", object="joe@example.com", by="month")
    assert month["2011-11"]["messages"]["in_ham"] == "1"
    assert month["2011-11"]["messages"]["in_size"] == "2000"
    assert min(month) == "2011-07"  # months that ended before createtime are left out


@pytest.mark.parametrize(
    ("attributes", "delivery", "forward"),
    [
        ({}, {"autoresponder": "0", "fonly": "0"}, ""),
        ({"delivery_autorespond": True}, {"autoresponder": "1", "fonly": "0"}, ""),
        (
            {"delivery_forward": True, "forward_recipients": ["a@example.net"]},
            {"autoresponder": "0", "fonly": "0"},
            "a@example.net",
        ),
        (
            {
                "type": "forward",
                "delivery_local": False,
                "delivery_forward": True,
                "forward_recipients": ["a@example.net", "B@Example.org"],
            },
            {"autoresponder": "0", "fonly": "1"},
            "a@example.net,b@example.org",
        ),
    ],
)
def test_user_delivery_and_forward_strings(call, attributes, delivery, forward):
    ok(call("change_company", company="Example Inc"))
    ok(call("change_domain", domain="example.com", company="Example Inc"))
    ok(call("change_user", user="joe@example.com", attributes=attributes))
    (period,) = summary(call, type="user", object="joe@example.com").values()
    assert period["delivery"] == delivery
    assert period["forward"] == forward
    assert period["account_type"] == attributes.get("type", "mailbox")
