"""Gauges are history (SPEC §2, §4): a past period shows what was true at its end.

Now is Wed 2026-01-14 12:00 UTC; the clock is moved to make a change at a
past moment, then moved back, as a running server would have seen it.
"""

from __future__ import annotations

import pytest

from conftest import DAY, NOW, ok, rfc, summary, ts
from mailtally.events import StorageReport

SERVICES = ("smtprelay", "smtpin", "imap4", "pop3", "webmail")


@pytest.fixture
def acme(call, record):
    """acme.com: joe, ann and max (mailboxes since 100 days), each with a quota report."""
    past = rfc(NOW - 100 * DAY)
    ok(call("change_company", company="Acme", attributes={"createtime": past}))
    ok(call("change_domain", domain="acme.com", company="Acme", attributes={"createtime": past}))
    for name in ("joe", "ann", "max"):
        ok(call("change_user", user=f"{name}@acme.com", attributes={"createtime": past}))
    record(
        StorageReport(NOW - 50 * DAY, "joe@acme.com", 5, 500),
        StorageReport(NOW - 50 * DAY, "ann@acme.com", 7, 700),
        StorageReport(NOW - 50 * DAY, "max@acme.com", 11, 1100),
    )


def at(call, key, by="day", obj="acme.com"):
    return summary(call, object=obj, by=by)[key]


def test_user_deleted_yesterday(acme, call, clock):
    clock.value = ts("2026-01-13T09:15:00Z")
    ok(call("delete_user", user="joe@acme.com"))
    clock.value = NOW
    s = summary(call, object="acme.com")
    before, deleted, today = s["20260112"], s["20260113"], s["20260114"]
    assert before["users"] == {"filter": 0, "forward": 0, "deleted": 0, "mailbox": 3, "alias": 0}
    assert before["storage"] == {"items_stored": 23, "current_size": 2300}
    assert before["deleted_users"] == {"storage_items_stored": 0, "storage_current_size": 0}
    for period in (deleted, today):
        assert period["users"] == {
            "filter": 0,
            "forward": 0,
            "deleted": 1,
            "mailbox": 2,
            "alias": 0,
        }
        assert period["storage"] == {"items_stored": 18, "current_size": 1800}
        assert period["deleted_users"] == {"storage_items_stored": 5, "storage_current_size": 500}
        # a soft-deleted account still counts in services
        assert period["services"] == dict.fromkeys(SERVICES, 3)
    # the earlier days are untouched
    assert all(s[k] == before for k in s if k < "20260113")
    # the company agrees, and so do weeks and months
    assert summary(call, object="Acme") == s
    assert at(call, "20260112-20260118", "week")["users"]["deleted"] == 1
    assert at(call, "20260105-20260111", "week")["users"]["deleted"] == 0
    # the user's own summary
    joe = summary(call, object="joe@acme.com")
    assert joe["20260112"]["deletetime"] == ""
    assert joe["20260113"]["deletetime"] == "Tue Jan 13 09:15:00 2026 UTC"
    assert joe["20260114"]["deletetime"] == "Tue Jan 13 09:15:00 2026 UTC"
    assert joe["20260114"]["storage"]["items_stored"] == "5"
    assert ok(call("get_user", user="joe@acme.com"))["metadata"]["status"] == "deleted"


def test_restored_user_comes_back(acme, call, clock):
    clock.value = ts("2026-01-12T09:00:00Z")
    ok(call("delete_user", user="joe@acme.com"))
    clock.value = ts("2026-01-14T08:00:00Z")
    ok(call("restore_user", user="joe@acme.com"))
    clock.value = NOW
    s = summary(call, object="acme.com")
    assert [s[k]["users"]["mailbox"] for k in ("20260111", "20260112", "20260113", "20260114")] == [
        3,
        2,
        2,
        3,
    ]
    assert [s[k]["users"]["deleted"] for k in ("20260111", "20260112", "20260113", "20260114")] == [
        0,
        1,
        1,
        0,
    ]
    assert s["20260113"]["deleted_users"]["storage_current_size"] == 500
    assert s["20260114"]["deleted_users"]["storage_current_size"] == 0
    assert s["20260114"]["storage"] == {"items_stored": 23, "current_size": 2300}
    joe = summary(call, object="joe@acme.com")
    assert joe["20260113"]["deletetime"] != ""
    assert joe["20260114"]["deletetime"] == ""
    # a restored account logs in and is counted as a mailbox again, today
    assert ok(call("get_user", user="joe@acme.com"))["metadata"]["status"] == "active"


def test_service_suspended_last_week(acme, call, clock):
    clock.value = ts("2026-01-07T15:00:00Z")  # Wednesday of last week
    ok(call("change_user", user="ann@acme.com", attributes={"service_imap4": "suspended"}))
    clock.value = NOW
    weeks = summary(call, object="acme.com", by="week")
    imap = {k: p["services"]["imap4"] for k, p in weeks.items()}
    assert imap == {k: 2 if k >= "20260105-20260111" else 3 for k in weeks}
    assert all(p["services"]["pop3"] == 3 for p in weeks.values())
    days = summary(call, object="acme.com")
    assert days["20260106"]["services"]["imap4"] == 3
    assert days["20260107"]["services"]["imap4"] == 2
    ann = summary(call, object="ann@acme.com", by="week")
    states = {k: p["services"]["imap4"] for k, p in ann.items()}
    assert states == {k: "suspended" if k >= "20260105-20260111" else "enabled" for k in ann}
    assert all(p["services"]["pop3"] == "enabled" for p in ann.values())
    # and back to enabled today: this week only
    ok(call("change_user", user="ann@acme.com", attributes={"service_imap4": "enabled"}))
    weeks = summary(call, object="acme.com", by="week")
    assert weeks["20260105-20260111"]["services"]["imap4"] == 2
    assert weeks["20260112-20260118"]["services"]["imap4"] == 3


def test_type_workgroup_and_quota_changes_are_history(acme, call, clock):
    clock.value = ts("2026-01-10T10:00:00Z")
    ok(
        call(
            "change_user",
            user="max@acme.com",
            attributes={
                "type": "forward",
                "workgroup": "sales",
                "quota": 1000,
                "delivery_local": False,
                "delivery_forward": True,
                "forward_recipients": ["max@elsewhere.example"],
            },
        )
    )
    clock.value = NOW
    s = summary(call, object="acme.com")
    assert (s["20260109"]["users"]["mailbox"], s["20260109"]["users"]["forward"]) == (3, 0)
    assert (s["20260110"]["users"]["mailbox"], s["20260110"]["users"]["forward"]) == (2, 1)
    m = summary(call, object="max@acme.com")
    assert [m["20260109"][k] for k in ("account_type", "workgroup", "forward")] == [
        "mailbox",
        "staff",
        "",
    ]
    assert m["20260109"]["storage"]["allowed_size"] == "0"
    assert m["20260109"]["delivery"]["fonly"] == "0"
    assert [m["20260110"][k] for k in ("account_type", "workgroup", "forward")] == [
        "forward",
        "sales",
        "max@elsewhere.example",
    ]
    assert m["20260110"]["storage"]["allowed_size"] == "1000"
    assert m["20260110"]["delivery"]["fonly"] == "1"


def test_alias_counts_from_when_it_was_added(acme, call, clock):
    clock.value = ts("2026-01-11T10:00:00Z")
    ok(
        call(
            "change_user",
            user="joe@acme.com",
            attributes={"aliases": ["j@acme.com", "jo@acme.com"]},
        )
    )
    clock.value = ts("2026-01-13T10:00:00Z")
    ok(call("change_user", user="joe@acme.com", attributes={"aliases": ["jo@acme.com"]}))
    clock.value = ts("2026-01-14T10:00:00Z")
    ok(call("delete_user", user="joe@acme.com"))  # a deleted account's aliases stop counting
    clock.value = NOW
    s = summary(call, object="acme.com")
    aliases = [
        s[k]["users"]["alias"] for k in ("20260110", "20260111", "20260112", "20260113", "20260114")
    ]
    assert aliases == [0, 2, 2, 1, 0]
    # an alias is not an account: services count accounts only
    assert all(p["services"]["imap4"] == 3 for p in s.values())


def test_storage_reports_land_in_their_own_period(acme, call, record):
    record(StorageReport(ts("2026-01-08T06:00:00Z"), "joe@acme.com", 10, 1000))
    record(StorageReport(ts("2026-01-11T06:00:00Z"), "joe@acme.com", 30, 3000))
    # arrives last, dated between the two
    record(StorageReport(ts("2026-01-09T23:59:59Z"), "joe@acme.com", 20, 2000))
    joe = summary(call, object="joe@acme.com")
    items = [
        joe[k]["storage"]["items_stored"]
        for k in ("20260107", "20260108", "20260109", "20260110", "20260111", "20260114")
    ]
    assert items == ["5", "10", "20", "20", "30", "30"]
    s = summary(call, object="acme.com")
    assert s["20260109"]["storage"] == {"items_stored": 38, "current_size": 3800}
    assert s["20260114"]["storage"] == {"items_stored": 48, "current_size": 4800}


def test_company_gauges_are_the_sum_of_its_domains(acme, call, clock, record):
    ok(
        call(
            "change_domain",
            domain="acme.net",
            company="Acme",
            attributes={"createtime": rfc(NOW - 20 * DAY)},
        )
    )
    ok(call("change_user", user="kim@acme.net", attributes={"createtime": rfc(NOW - 20 * DAY)}))
    ok(call("change_user", user="joe@acme.com", attributes={"aliases": ["joe@acme.net"]}))
    record(StorageReport(NOW - 3 * DAY, "kim@acme.net", 1, 9))
    clock.value = NOW - 2 * DAY
    ok(call("delete_user", user="ann@acme.com"))
    clock.value = NOW
    company = summary(call, object="Acme")
    com, net = summary(call, object="acme.com"), summary(call, object="acme.net")
    for key, period in company.items():
        for group in ("users", "services", "storage", "deleted_users"):
            for k, v in period[group].items():
                parts = com[key][group][k] + (net[key][group][k] if key in net else 0)
                assert v == parts, (key, group, k)
    # joe's alias lives in acme.net and counts there
    assert net["20260114"]["users"]["alias"] == 1
    assert com["20260114"]["users"]["alias"] == 0


def test_domain_defaults_apply_to_new_users_only(acme, call, clock):
    clock.value = ts("2026-01-12T10:00:00Z")
    attributes = {"service_pop3": "disabled", "service_webmail": "suspended", "quota": 1000}
    ok(call("change_domain", domain="acme.com", attributes=attributes))
    ok(call("change_user", user="new@acme.com", attributes={}))
    clock.value = NOW
    new = summary(call, object="new@acme.com")["20260114"]
    assert new["services"]["pop3"] == "disabled"
    assert new["services"]["webmail"] == "suspended"
    assert new["services"]["imap4"] == "enabled"
    assert new["storage"]["allowed_size"] == "1000"
    joe = summary(call, object="joe@acme.com")["20260114"]
    assert joe["services"]["pop3"] == "enabled" and joe["storage"]["allowed_size"] == "0"
    s = summary(call, object="acme.com")
    assert s["20260111"]["services"] == dict.fromkeys(SERVICES, 3)
    assert s["20260112"]["services"] == {
        "smtprelay": 4,
        "smtpin": 4,
        "imap4": 4,
        "pop3": 3,
        "webmail": 3,
    }


def test_deleting_a_domain_takes_its_accounts_out_of_the_company(acme, call, clock):
    past = rfc(NOW - 30 * DAY)
    ok(call("change_domain", domain="gone.org", company="Acme", attributes={"createtime": past}))
    ok(call("change_user", user="x@gone.org", attributes={"createtime": past}))
    clock.value = ts("2026-01-10T10:00:00Z")
    ok(call("delete_user", user="x@gone.org"))
    clock.value = ts("2026-01-12T10:00:00Z")
    ok(call("delete_domain", domain="gone.org"))
    clock.value = NOW
    s = summary(call, object="Acme")
    assert [s[k]["users"]["mailbox"] for k in ("20260109", "20260110", "20260112")] == [4, 3, 3]
    assert [s[k]["users"]["deleted"] for k in ("20260109", "20260110", "20260112")] == [0, 1, 0]
    assert s["20260111"]["services"]["imap4"] == 4
    assert s["20260112"]["services"]["imap4"] == 3
    answer = call("stats_summary", type="domain", object="gone.org")
    assert answer["success"] is False and answer["error_number"] == 2
    # the name can be used again: a new domain, counted from its creation
    ok(call("change_domain", domain="gone.org", company="Acme"))
    assert list(summary(call, object="gone.org")) == ["20260114"]
    assert summary(call, object="gone.org")["20260114"]["users"]["deleted"] == 0


def test_a_domain_of_soft_deleted_accounts_with_aliases_can_be_deleted(acme, call, clock):
    """Only aliases of live accounts hold a domain; those of soft-deleted ones go."""
    ok(call("change_domain", domain="gone.org", company="Acme"))
    ok(call("change_user", user="x@gone.org", attributes={"aliases": ["x2@gone.org"]}))
    ok(call("change_user", user="joe@acme.com", attributes={"aliases": ["j@gone.org"]}))
    ok(call("delete_user", user="x@gone.org"))
    # joe is live: his alias holds the domain
    answer = call("delete_domain", domain="gone.org")
    assert answer["success"] is False and answer["error_number"] == 4
    ok(call("delete_user", user="joe@acme.com"))
    ok(call("delete_domain", domain="gone.org"))
    # joe (soft-deleted, in acme.com) lost the alias in the deleted domain
    joe = ok(call("get_user", user="joe@acme.com"))
    assert joe["attributes"]["aliases"] == []
    ok(call("restore_user", user="joe@acme.com"))
    s = summary(call, object="Acme")["20260114"]
    assert s["users"] == {"filter": 0, "forward": 0, "deleted": 0, "mailbox": 3, "alias": 0}
    # and the addresses are free again
    ok(call("change_domain", domain="gone.org", company="Acme"))
    ok(call("change_user", user="j@gone.org", attributes={}))
    ok(call("change_user", user="x2@gone.org", attributes={}))
