"""search_users, search_domains, search_workgroups, search_companies (SPEC §4):
criteria, fields, range, sort, patterns, and what each caller may list.

Every expectation is built from what the test created through the API (the
accounts' own attributes, sorted here), never from the store's answer."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import DAY, NOW, as_user, failed, ok, rfc, run_sql
from mailtally.events import Login

ACCOUNTS = (
    # local, type, workgroup, created (days before NOW)
    ("ann", "mailbox", "sales", 50),
    ("bea", "forward", "staff", 40),
    ("cid", "filter", "ops", 30),
    ("dan", "mailbox", "ops", 20),
    ("eve", "forward", "sales", 10),
    ("a%b", "mailbox", "staff", 5),
    ("a_b", "mailbox", "staff", 4),
    ("axb", "mailbox", "staff", 3),
)
DOMAIN = "shop.example"


@pytest.fixture
def shop(platform, call, record) -> dict[str, dict[str, Any]]:
    """acme's third domain, shop.example, with the accounts above; logins for
    some of them; returns address -> what was made of it."""
    ok(call("change_domain", domain=DOMAIN, company="Acme"))
    made: dict[str, dict[str, Any]] = {}
    for local, type_, wg, days in ACCOUNTS:
        address = f"{local}@{DOMAIN}"
        created = NOW - days * DAY
        attrs = {"type": type_, "workgroup": wg, "createtime": rfc(created)}
        if type_ == "forward":
            attrs |= {"delivery_forward": True, "forward_recipients": [f"out-{local}@x.example"]}
        ok(call("change_user", user=address, attributes=attrs))
        made[address] = {"type": type_, "workgroup": wg, "createtime": created, "lastlogin": 0}
    for i, address in enumerate(sorted(made)[:4]):
        t = NOW - (i + 1) * 3600
        record(Login(t, address, "imap4"), Login(t - 500, address, "pop3"))
        made[address]["lastlogin"] = t
    return made


def search(call, creds=None, **request: Any) -> dict[str, Any]:
    kwargs = {} if creds is None else {"credentials": creds}
    return ok(call("search_users", **kwargs, **request))


def users_of(answer: dict[str, Any]) -> list[str]:
    assert answer["count"] == len(answer["users"])
    return [u["user"] for u in answer["users"]]


SORTS = {
    "user": lambda a, m: a,
    "createtime": lambda a, m: m["createtime"],
    "lastlogin": lambda a, m: m["lastlogin"],
    "type": lambda a, m: m["type"],
    "workgroup": lambda a, m: m["workgroup"],
}


@pytest.mark.parametrize("by", sorted(SORTS))
@pytest.mark.parametrize("direction", ["ascending", "descending"])
def test_every_sort_pages_in_order(shop, call, by, direction):
    key = SORTS[by]
    expected = sorted(shop, key=lambda a: (key(a, shop[a]), a), reverse=direction == "descending")
    pages = []
    for first in range(0, len(expected), 3):
        answer = search(
            call,
            criteria={"domain": DOMAIN},
            range={"first": first, "limit": 3},
            sort={"by": by, "direction": direction},
        )
        assert answer["total_count"] == len(expected)
        pages += users_of(answer)
    assert pages == expected


def test_fields_are_those_asked(shop, call):
    answer = search(
        call,
        criteria={"domain": DOMAIN, "match": "bea@*"},
        fields=["createtime", "forward", "lastlogin", "status", "type", "workgroup"],
    )
    assert answer["users"] == [
        {
            "user": f"bea@{DOMAIN}",
            "createtime": rfc(NOW - 40 * DAY),
            "forward": "out-bea@x.example",
            "lastlogin": "",  # never logged in
            "status": "active",
            "type": "forward",
            "workgroup": "staff",
        }
    ]
    # ann's latest login: the IMAP one, 3 hours before NOW (not the POP3 one before it)
    assert shop[f"ann@{DOMAIN}"]["lastlogin"] == NOW - 3 * 3600
    answer = search(call, criteria={"domain": DOMAIN, "match": "ann*"}, fields=["lastlogin"])
    assert answer["users"] == [
        {"user": f"ann@{DOMAIN}", "lastlogin": "Wed Jan 14 09:00:00 2026 UTC"}
    ]
    assert search(call, criteria={"domain": DOMAIN, "match": "bea*"})["users"] == [
        {"user": f"bea@{DOMAIN}"}
    ]


def test_criteria_narrow(shop, call):
    def found(**criteria: Any) -> list[str]:
        return users_of(search(call, criteria={"domain": DOMAIN, **criteria}))

    assert found(type="forward") == sorted(a for a, m in shop.items() if m["type"] == "forward")
    assert found(workgroup="ops") == sorted(a for a, m in shop.items() if m["workgroup"] == "ops")
    assert found(workgroup="ops", type="filter") == [f"cid@{DOMAIN}"]
    assert found(match="?n?@*") == [f"ann@{DOMAIN}"]
    assert found(match="*E*@*") == [f"bea@{DOMAIN}", f"eve@{DOMAIN}"]  # lower-cased


@pytest.mark.parametrize("by", sorted(SORTS))
@pytest.mark.parametrize("direction", ["ascending", "descending"])
def test_a_pattern_pages_in_order(shop, call, by, direction):
    """A pattern matching a few accounts is sorted in SQL (not walked to along
    the sort's index): the same order, page after page."""
    key = SORTS[by]
    matching = [a for a in shop if a.startswith("a")]
    expected = sorted(
        matching, key=lambda a: (key(a, shop[a]), a), reverse=direction == "descending"
    )
    pages = []
    for first in range(0, len(expected), 2):
        answer = search(
            call,
            criteria={"domain": DOMAIN, "match": "a*"},
            range={"first": first, "limit": 2},
            sort={"by": by, "direction": direction},
        )
        pages += users_of(answer)
    assert pages == expected


def test_pattern_specials_match_themselves(shop, call):
    """% and _ are SQL LIKE's wildcards: here they are characters."""

    def found(pattern: str) -> list[str]:
        return users_of(search(call, criteria={"domain": DOMAIN, "match": pattern}))

    assert found("a%b@*") == [f"a%b@{DOMAIN}"]
    assert found("a_b@*") == [f"a_b@{DOMAIN}"]
    assert found("a?b@*") == [f"a%b@{DOMAIN}", f"a_b@{DOMAIN}", f"axb@{DOMAIN}"]


def test_deleted_accounts_carry_id_and_delete_time(shop, call, clock, fresh_store):
    clock.value = NOW + 60
    ok(call("delete_user", user=f"dan@{DOMAIN}"))
    live = users_of(search(call, criteria={"domain": DOMAIN}))
    assert f"dan@{DOMAIN}" not in live and len(live) == len(shop) - 1
    answer = search(call, criteria={"domain": DOMAIN, "deleted": True}, sort={"by": "delete_time"})
    with fresh_store.read() as q:
        dan_id = run_sql(q, "SELECT id FROM users WHERE address = ?", (f"dan@{DOMAIN}",))
        dan_id = dan_id.fetchone()[0]
    assert answer["users"] == [
        {"user": f"dan@{DOMAIN}", "id": dan_id, "delete_time": rfc(NOW + 60)}
    ]
    ok(call("restore_user", user=f"dan@{DOMAIN}"))
    assert search(call, criteria={"domain": DOMAIN, "deleted": True})["total_count"] == 0


def test_range_beyond_the_end_and_bad_requests(shop, call):
    answer = search(call, criteria={"domain": DOMAIN}, range={"first": 100})
    assert (answer["count"], answer["total_count"], answer["users"]) == (0, len(shop), [])
    assert search(call, criteria={"domain": DOMAIN})["count"] == len(shop)  # default limit 100
    for bad in (
        {"range": {"limit": 0}},
        {"range": {"limit": 1001}},
        {"range": {"first": -1}},
        {"sort": {"by": "password"}},
        {"sort": {"direction": "up"}},
        {"fields": ["password"]},
        {"criteria": {"domain": DOMAIN, "colour": "red"}},
        {"criteria": {"domain": DOMAIN, "type": "alias"}},
    ):
        body = {"criteria": {"domain": DOMAIN}} | bad
        failed(call("search_users", **body), 5)


# -- who may list what ------------------------------------------------------------
def test_domain_admin_lists_its_domain_only(shop, call):
    dadmin = as_user("dadmin@acme.net")
    assert users_of(search(call, dadmin, criteria={"domain": "acme.net"})) == [
        "carol@acme.net",
        "dadmin@acme.net",
        "dmail@acme.net",
    ]
    # another domain of its company, another tenant's, and one that does not
    # exist: the same error 2
    for domain in ("acme.com", "other.com", "ghost.example"):
        answer = failed(call("search_users", credentials=dadmin, criteria={"domain": domain}), 2)
        assert answer["error"] == f"domain '{domain}' does not exist"
    # omitting the domain does not widen the search: it is required
    failed(call("search_users", credentials=dadmin, criteria={"match": "*"}), 5)
    failed(call("search_users", credentials=dadmin), 5)
    # a pattern naming another domain finds nothing outside its own
    answer = search(call, dadmin, criteria={"domain": "acme.net", "match": "*@acme.com"})
    assert answer["total_count"] == 0
    # a workgroup of another domain only narrows its own domain
    answer = search(call, dadmin, criteria={"domain": "acme.net", "workgroup": "sales"})
    assert answer["total_count"] == 0
    failed(
        call("search_users", credentials=dadmin, criteria={"domain": DOMAIN, "workgroup": "sales"}),
        2,
    )


def test_company_admin_sees_its_company_only(shop, call):
    admin = as_user("admin@acme.com")
    everyone = users_of(search(call, admin, criteria={}, range={"limit": 1000}))
    assert everyone == sorted(everyone)
    assert {a.rpartition("@")[2] for a in everyone} == {"acme.com", "acme.net", DOMAIN}
    assert not users_of(search(call, admin, criteria={"match": "*@other.com"}))
    failed(call("search_users", credentials=admin, criteria={"domain": "other.com"}), 2)
    oadmin = as_user("oadmin@other.com")
    assert users_of(search(call, oadmin, criteria={"match": "*"})) == [
        "oadmin@other.com",
        "zed@other.com",
    ]
    # the operator: every account
    assert search(call, criteria={})["total_count"] == len(everyone) + 2


def test_workgroup_admin_lists_its_workgroup(platform, call):
    lead = as_user("lead@acme.com")
    answer = search(call, lead, criteria={"domain": "acme.com", "workgroup": "sales"})
    assert users_of(answer) == ["alice@acme.com"]
    failed(call("search_users", credentials=lead, criteria={"domain": "acme.com"}), 2)
    failed(
        call("search_users", credentials=lead, criteria={"domain": "acme.com", "workgroup": "x"}),
        2,
    )


def test_token_only_and_plain_users(platform, call):
    failed(
        call("search_users", credentials=as_user("tokenonly@acme.com"), criteria={}),
        4,
    )
    failed(call("search_users", credentials=as_user("bob@acme.com"), criteria={}), 5)
    failed(
        call("search_users", credentials=as_user("bob@acme.com"), criteria={"domain": "acme.com"}),
        2,
    )


# -- search_domains ---------------------------------------------------------------
def test_search_domains_counts_and_sorts(shop, call):
    answer = ok(call("search_domains", criteria={"company": "Acme"}, sort={"by": "users"}))
    domains = answer["domains"]
    assert [d["domain"] for d in domains] == ["acme.net", "acme.com", DOMAIN]
    by_name = {d["domain"]: d for d in domains}
    assert by_name["acme.net"]["counts"] == {
        "mailbox": 3,
        "forward": 0,
        "filter": 0,
        "alias": 1,
        "deleted": 0,
    }
    assert by_name[DOMAIN]["counts"] == {
        "mailbox": 5,
        "forward": 2,
        "filter": 1,
        "alias": 0,
        "deleted": 0,
    }
    assert {d["company"] for d in domains} == {"Acme"}
    answer = ok(call("search_domains", sort={"by": "users/forward", "direction": "descending"}))
    assert answer["domains"][0]["domain"] == DOMAIN and answer["total_count"] == 4
    answer = ok(call("search_domains", criteria={"match": "acme.*"}, range={"limit": 1}))
    assert (answer["count"], answer["total_count"]) == (1, 2)
    assert answer["domains"][0]["domain"] == "acme.com"


def test_search_domains_scope(shop, call):
    dadmin = as_user("dadmin@acme.net")
    assert [d["domain"] for d in ok(call("search_domains", credentials=dadmin))["domains"]] == [
        "acme.net"
    ]
    failed(call("search_domains", credentials=dadmin, criteria={"company": "Acme"}), 2)
    admin = as_user("admin@acme.com")
    names = [d["domain"] for d in ok(call("search_domains", credentials=admin))["domains"]]
    assert names == ["acme.com", "acme.net", DOMAIN]
    failed(call("search_domains", credentials=admin, criteria={"company": "Other"}), 2)
    assert ok(call("search_domains", credentials=as_user("bob@acme.com")))["total_count"] == 0


def test_search_domains_deleted(platform, call, clock):
    ok(call("change_domain", domain="gone.example", company="Other"))
    clock.value = NOW + 5
    ok(call("delete_domain", domain="gone.example"))
    answer = ok(call("search_domains", criteria={"deleted": True}))
    assert [(d["domain"], d["delete_time"]) for d in answer["domains"]] == [
        ("gone.example", rfc(NOW + 5))
    ]
    assert "gone.example" not in [d["domain"] for d in ok(call("search_domains"))["domains"]]


# -- search_workgroups, search_companies -------------------------------------------
def test_search_workgroups(shop, call):
    ok(call("create_workgroup", domain=DOMAIN, workgroup="team[1]"))
    answer = ok(call("search_workgroups", criteria={"domain": DOMAIN}))
    assert [(w["workgroup"], w["users"]) for w in answer["workgroups"]] == [
        ("ops", 2),
        ("sales", 2),
        ("staff", 4),
        ("team[1]", 0),
    ]
    assert {w["domain"] for w in answer["workgroups"]} == {DOMAIN}
    answer = ok(
        call(
            "search_workgroups",
            criteria={"domain": DOMAIN},
            sort={"by": "users", "direction": "descending"},
            range={"limit": 2},
        )
    )
    assert [w["workgroup"] for w in answer["workgroups"]] == ["staff", "sales"]
    assert answer["total_count"] == 4
    answer = ok(call("search_workgroups", criteria={"domain": DOMAIN, "match": "team[1]"}))
    assert [w["workgroup"] for w in answer["workgroups"]] == ["team[1]"]
    dadmin = as_user("dadmin@acme.net")
    failed(call("search_workgroups", credentials=dadmin, criteria={"domain": DOMAIN}), 2)
    failed(call("search_workgroups", criteria={}), 5)


def test_search_companies(platform, call):
    ok(call("change_company", company="100%_[x]"))
    answer = ok(call("search_companies", sort={"by": "users", "direction": "descending"}))
    assert [(c["company"], c["domains"], c["users"]) for c in answer["companies"]] == [
        ("Acme", 2, 11),
        ("Other", 1, 2),
        ("100%_[x]", 0, 0),
    ]
    answer = ok(call("search_companies", criteria={"match": "100%_[*"}))
    assert [c["company"] for c in answer["companies"]] == ["100%_[x]"]
    answer = ok(call("search_companies", criteria={"match": "ACME"}))  # names ignore case
    assert [c["company"] for c in answer["companies"]] == ["Acme"]
    for who in ("admin@acme.com", "bob@acme.com"):
        failed(call("search_companies", credentials=as_user(who)), 4)
