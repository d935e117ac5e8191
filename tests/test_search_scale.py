"""Searches without a domain (a company role's whole company, an operator's whole
platform) page through the store's indexes in every sort and direction, and
search_domains' counts (kept in ``domain_counts``, migration 8) stay those of
the accounts through every tree action.

The expected order is built here from what the test created through the API,
sorted in Python; the counts' truth is recounted from the account and alias
rows, a different computation from the one the store keeps up to date."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from conftest import DAY, NOW, PW, as_user, ok, rfc
from mailtally.events import Login
from mailtally.store import base

COMPANY = "Wide"
DOMAINS = ("a.wide", "b.wide", "c.wide")
ADMIN = as_user("boss@a.wide")
#: local part, domain, type, workgroup, created (days before NOW)
ACCOUNTS = (
    ("ann", "b.wide", "mailbox", "sales", 50),
    ("bea", "a.wide", "forward", "staff", 40),
    ("cid", "c.wide", "filter", "ops", 30),
    ("dan", "a.wide", "mailbox", "ops", 50),
    ("eve", "c.wide", "forward", "sales", 10),
    ("fay", "b.wide", "mailbox", "staff", 5),
    ("gus", "a.wide", "filter", "sales", 10),
    ("hal", "b.wide", "mailbox", "ops", 3),
    ("ida", "c.wide", "mailbox", "staff", 3),
    ("jon", "a.wide", "forward", "ops", 2),
)
DELETED = ("gus@a.wide", "hal@b.wide", "ida@c.wide")


@pytest.fixture
def wide(platform, call, record, clock) -> dict[str, dict[str, Any]]:
    """Company Wide (three domains, the accounts above and its admin boss@a.wide;
    logins for some, three soft-deleted at distinct times): address -> what
    was made of it."""
    ok(call("change_company", company=COMPANY))
    for d in DOMAINS:
        ok(call("change_domain", domain=d, company=COMPANY))
    made: dict[str, dict[str, Any]] = {}
    for local, domain, type_, wg, days in ACCOUNTS:
        address = f"{local}@{domain}"
        attrs = {"type": type_, "workgroup": wg, "createtime": rfc(NOW - days * DAY)}
        if type_ == "forward":
            attrs |= {"delivery_forward": True, "forward_recipients": [f"out-{local}@x.example"]}
        ok(call("change_user", user=address, attributes=attrs))
        made[address] = {"type": type_, "workgroup": wg, "createtime": NOW - days * DAY}
        made[address] |= {"lastlogin": 0, "delete_time": None}
    for i, address in enumerate(sorted(made)[1::2]):
        t = NOW - (i % 3 + 1) * 3600  # ties, broken by address
        record(Login(t, address, "imap4"))
        made[address]["lastlogin"] = t
    ok(call("change_user", user="boss@a.wide", attributes={"password": PW}))
    ok(call("set_role", user="boss@a.wide", role="company", object=COMPANY))
    made["boss@a.wide"] = {"type": "mailbox", "workgroup": "staff", "createtime": NOW}
    made["boss@a.wide"] |= {"lastlogin": 0, "delete_time": None}
    for i, address in enumerate(DELETED):
        clock.value = NOW + 10 - i  # the later deleted, the earlier the time
        ok(call("delete_user", user=address))
        made[address]["delete_time"] = NOW + 10 - i
    clock.value = NOW
    return made


SORTS = {
    "user": lambda a, m: "",
    "createtime": lambda a, m: m["createtime"],
    "lastlogin": lambda a, m: m["lastlogin"],
    "type": lambda a, m: m["type"],
    "workgroup": lambda a, m: m["workgroup"],
    "delete_time": lambda a, m: m["delete_time"] or 0,
}
CRITERIA: dict[str, tuple[dict[str, Any], Any]] = {
    "none": ({}, lambda a, m: m["delete_time"] is None),
    "type": ({"type": "mailbox"}, lambda a, m: m["type"] == "mailbox" and not m["delete_time"]),
    "workgroup": (
        {"workgroup": "ops"},
        lambda a, m: m["workgroup"] == "ops" and not m["delete_time"],
    ),
    "both": (
        {"type": "forward", "workgroup": "ops"},
        lambda a, m: m["type"] == "forward" and m["workgroup"] == "ops" and not m["delete_time"],
    ),
    "match": ({"match": "?a*@*"}, lambda a, m: a[1] == "a" and not m["delete_time"]),
    "deleted": ({"deleted": True}, lambda a, m: bool(m["delete_time"])),
}


def pages(call, creds, criteria, by, direction, size) -> tuple[list[str], set[int]]:
    """Every page of ``size`` in turn: the addresses, and the total_counts seen."""
    out: list[str] = []
    totals = set()
    first = 0
    while True:
        answer = ok(
            call(
                "search_users",
                **({} if creds is None else {"credentials": creds}),
                criteria=criteria,
                range={"first": first, "limit": size},
                sort={"by": by, "direction": direction},
            )
        )
        totals.add(answer["total_count"])
        if not answer["users"]:
            return out, totals
        out += [u["user"] for u in answer["users"]]
        first += size


# SORT_IN_SQL 0: every page is walked along the sort's index; 10,000: criteria
# that match a few accounts are sorted by SQL.  Both must give the same pages.
@pytest.mark.parametrize("sort_in_sql", [0, 10_000])
@pytest.mark.parametrize("by", sorted(SORTS))
def test_company_wide_pages_in_every_sort(wide, call, monkeypatch, sort_in_sql, by):
    monkeypatch.setattr(base, "SORT_IN_SQL", sort_in_sql)
    key = SORTS[by]
    for crit, (criteria, wanted) in CRITERIA.items():
        matching = [a for a, m in wide.items() if wanted(a, m)]
        assert matching, crit
        for direction in ("ascending", "descending"):
            expected = sorted(
                matching, key=lambda a: (key(a, wide[a]), a), reverse=direction == "descending"
            )
            for size in (1, 4):
                got, totals = pages(call, ADMIN, criteria, by, direction, size)
                assert got == expected, (crit, direction, size)
                assert totals == {len(expected)}


@pytest.mark.parametrize("sort_in_sql", [0, 10_000])
@pytest.mark.parametrize("by", sorted(SORTS))
def test_operator_wide_pages_in_every_sort(wide, call, monkeypatch, sort_in_sql, by):
    """An operator's search without a domain: every company's accounts; a
    pattern without a literal prefix narrows it to Wide's, tested on the
    entries of the platform's index of the sort."""
    monkeypatch.setattr(base, "SORT_IN_SQL", sort_in_sql)
    key = SORTS[by]
    for criteria, wanted in (
        ({"match": "*@?.wide"}, lambda m: m["delete_time"] is None),
        ({"match": "*.wide", "type": "forward"}, lambda m: m["type"] == "forward"),
        ({"match": "*.wide", "workgroup": "ops"}, lambda m: m["workgroup"] == "ops"),
        ({"match": "*.wide", "deleted": True}, lambda m: m["delete_time"] is not None),
    ):
        live = not criteria.get("deleted")
        matching = [a for a, m in wide.items() if wanted(m) and (m["delete_time"] is None) == live]
        for direction in ("ascending", "descending"):
            expected = sorted(
                matching, key=lambda a: (key(a, wide[a]), a), reverse=direction == "descending"
            )
            got, totals = pages(call, None, criteria, by, direction, 3)
            assert got == expected, (criteria, direction)
            assert totals == {len(expected)}
    # without criteria: every live account of the platform, in the sort's order
    everyone, totals = pages(call, None, {}, "createtime", "descending", 5)
    assert len(everyone) == len(set(everyone)) == totals.pop()
    assert everyone[:2] == ["boss@a.wide", "jon@a.wide"]  # created NOW, 2 days before


# -- domain_counts ----------------------------------------------------------------
def recounted(store) -> dict[int, tuple[int, ...]]:
    """Each domain's (mailbox, forward, filter, alias, deleted), counted from the
    account and alias rows."""
    with store.read() as q:
        users = q.conn.execute("SELECT id, domain_id, status, type FROM users").fetchall()
        aliases = q.conn.execute(
            "SELECT domain_id, user_id FROM addresses WHERE is_alias = 1"
        ).fetchall()
        domains = [r[0] for r in q.conn.execute("SELECT id FROM domains").fetchall()]
    n: Counter[tuple[int, str]] = Counter()
    status = {}
    for uid, did, st, type_ in users:
        status[uid] = st
        if st == "active":
            n[did, type_ if type_ in ("forward", "filter") else "mailbox"] += 1
        elif st == "deleted":
            n[did, "deleted"] += 1
    for did, uid in aliases:
        if status[uid] != "deleted":
            n[did, "alias"] += 1
    cols = ("mailbox", "forward", "filter", "alias", "deleted")
    return {d: tuple(n[d, c] for c in cols) for d in domains}


def kept(store) -> dict[int, tuple[int, ...]]:
    with store.read() as q:
        rows = q.conn.execute(
            "SELECT domain_id, mailbox, forward, filter, alias, deleted FROM domain_counts"
        ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def counts_of(call, domain: str, deleted: bool = False) -> dict[str, int]:
    answer = ok(call("search_domains", criteria={"match": domain, "deleted": deleted}))
    assert answer["total_count"] == 1
    return answer["domains"][0]["counts"]


def test_domain_counts_follow_every_tree_action(wide, call, fresh_store, clock):
    store = fresh_store
    assert kept(store) == recounted(store)
    # dan and boss, bea and jon, gus deleted
    assert counts_of(call, "a.wide") == {
        "mailbox": 2,
        "forward": 2,
        "filter": 0,
        "alias": 0,
        "deleted": 1,
    }
    steps = [
        ("change_user", {"user": "dan@a.wide", "attributes": {"type": "filter"}}),
        (
            "change_user",
            {"user": "ann@b.wide", "attributes": {"aliases": ["x@a.wide", "y@c.wide"]}},
        ),
        ("change_user", {"user": "ann@b.wide", "attributes": {"aliases": ["y@c.wide"]}}),
        ("delete_user", {"user": "ann@b.wide"}),  # its alias no longer counts
        ("restore_user", {"user": "gus@a.wide"}),
        ("restore_user", {"user": "ann@b.wide"}),  # and back with it
        ("rename_user", {"user": "fay@b.wide", "new_name": "fay@c.wide"}),
        ("rename_user", {"user": "ann@b.wide", "new_name": "ann2@b.wide"}),
        ("change_user", {"user": "new@b.wide", "attributes": {"type": "forward"}}),
        ("delete_user", {"user": "ann2@b.wide"}),
        ("delete_user", {"user": "new@b.wide"}),
        ("delete_domain", {"domain": "b.wide"}),  # its accounts are purged
        ("restore_domain", {"domain": "b.wide"}),
    ]
    seen = []
    for method, body in steps:
        clock.value += 1
        ok(call(method, **body))
        assert kept(store) == recounted(store), (method, body)
        seen.append(counts_of(call, "c.wide"))
    assert counts_of(call, "b.wide") == dict.fromkeys(seen[0], 0)  # purged with its domain
    # alias y@c.wide counted in c.wide while ann lived, not while deleted
    assert [s["alias"] for s in seen[1:6]] == [1, 1, 0, 0, 1]
    assert seen[-1]["mailbox"] == 1  # fay moved in; ida is deleted
    # a company's users in search_companies: the live accounts of its domains
    answer = ok(call("search_companies", criteria={"match": COMPANY}))
    live = sum(
        c["mailbox"] + c["forward"] + c["filter"] for c in (counts_of(call, d) for d in DOMAINS)
    )
    assert answer["companies"][0]["users"] == live == 8


@pytest.mark.parametrize("by", ["users", "users/mailbox", "users/alias", "users/deleted"])
def test_search_domains_sorted_by_a_count_pages(wide, call, by):
    truth = {d: counts_of(call, d) for d in DOMAINS}
    column = by.partition("/")[2]

    def count(d: str) -> int:
        c = truth[d]
        return c[column] if column else c["mailbox"] + c["forward"] + c["filter"]

    for direction in ("ascending", "descending"):
        expected = sorted(DOMAINS, key=lambda d: (count(d), d), reverse=direction == "descending")
        got = []
        for first in range(3):
            answer = ok(
                call(
                    "search_domains",
                    criteria={"company": COMPANY},
                    sort={"by": by, "direction": direction},
                    range={"first": first, "limit": 1},
                )
            )
            got += [d["domain"] for d in answer["domains"]]
        assert got == expected
