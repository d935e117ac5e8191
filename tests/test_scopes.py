"""Each role's read and change scope (SPEC §2): in scope, out of scope (error 2,
the same answer as a missing object), and seen but not allowed (error 4)."""

from __future__ import annotations

import json

import pytest

from conftest import as_user, failed, ok, summary, table_rows

OK = "ok"
# what every stats_summary target of the platform answers, per role
TARGETS = (
    ("company", "Acme"),
    ("domain", "acme.com"),
    ("domain", "acme.net"),
    ("user", "alice@acme.com"),  # acme.com, workgroup sales
    ("user", "al@acme.net"),  # alice's alias, in acme.net
    ("user", "bob@acme.com"),  # acme.com, workgroup staff
    ("user", "carol@acme.net"),
    ("user", "self"),
    ("company", "Other"),
    ("domain", "other.com"),
    ("user", "zed@other.com"),
)
COMPANY_READER = (OK, OK, OK, OK, OK, OK, OK, OK, 2, 2, 2)
SCOPES = {
    "company": COMPANY_READER,
    "company_ro": COMPANY_READER,
    "company_view": COMPANY_READER,
    "company_mail": COMPANY_READER,
    # its company's objects are seen (4), others are not (2); not even itself
    "company_token_only": (4, 4, 4, 4, 4, 4, 4, 4, 2, 2, 2),
    # acme.net and its users; alice lives in acme.com even if her alias does not
    "domain": (2, 2, OK, 2, 2, 2, OK, OK, 2, 2, 2),
    "mail": (2, 2, OK, 2, 2, 2, OK, OK, 2, 2, 2),
    # acme.com/sales (alice) and itself
    "workgroup": (2, 2, 2, OK, OK, 2, 2, OK, 2, 2, 2),
    # itself (bob) only
    "none": (2, 2, 2, 2, 2, OK, 2, OK, 2, 2, 2),
}
CASES = [
    pytest.param(role, type_, obj, expected, id=f"{role}-{obj}")
    for role, row in SCOPES.items()
    for (type_, obj), expected in zip(TARGETS, row, strict=True)
]


@pytest.mark.parametrize(("role", "type_", "obj", "expected"), CASES)
def test_read_scope(platform, call, role, type_, obj, expected):
    caller = platform[role]
    name = caller if obj == "self" else obj
    answer = call("stats_summary", credentials=as_user(caller), type=type_, object=name)
    if expected == OK:
        # exactly what the operator sees
        assert ok(answer)["summary"] == summary(call, type=type_, object=name)
    else:
        failed(answer, expected)


@pytest.mark.parametrize("role", list(SCOPES))
def test_out_of_scope_is_answered_as_missing(platform, call, client, role):
    """An existing object outside the scope and a missing one answer alike but for the name."""
    caller = as_user(platform[role])
    for type_, foreign, missing in (
        ("company", "Other", "Nonesuch"),
        ("domain", "other.com", "nonesuch.com"),
        ("user", "zed@other.com", "nobody@other.com"),
        ("user", "zed@other.com", "nobody@nonesuch.com"),
    ):
        a = client.post(
            "/api/stats_summary", json={"credentials": caller, "type": type_, "object": foreign}
        )
        b = client.post(
            "/api/stats_summary", json={"credentials": caller, "type": type_, "object": missing}
        )
        assert a.status_code == b.status_code == 200
        assert a.headers["content-type"] == b.headers["content-type"]
        assert a.text.replace(foreign, "NAME") == b.text.replace(missing, "NAME")
        failed(a.json(), 2)


@pytest.mark.parametrize("role", list(SCOPES))
def test_out_of_scope_is_answered_as_missing_with_the_type_inferred(platform, client, role):
    """With ``type`` omitted, a foreign domain is not told apart from no domain at all."""
    caller = as_user(platform[role])
    for foreign, missing in (("other.com", "nonesuch.com"), ("Other", "nonesuch.com")):
        a = client.post("/api/stats_summary", json={"credentials": caller, "object": foreign})
        b = client.post("/api/stats_summary", json={"credentials": caller, "object": missing})
        assert a.text.replace(foreign, "NAME") == b.text.replace(missing, "NAME")
        failed(a.json(), 2)


@pytest.mark.parametrize("method", ["get_user", "delete_user", "restore_user"])
def test_foreign_user_in_other_methods_is_missing(platform, call, method):
    foreign = call(method, credentials=as_user("admin@acme.com"), user="zed@other.com")
    missing = call(method, credentials=as_user("admin@acme.com"), user="nobody@other.com")
    assert foreign == {**missing, "error": missing["error"].replace("nobody", "zed")}
    failed(foreign, 2)


@pytest.mark.parametrize(
    ("caller", "foreign", "missing"),
    [
        ("admin@acme.com", "zed@other.com", "nobody@other.com"),
        ("dadmin@acme.net", "bob@acme.com", "nobody@acme.com"),
        ("bob@acme.com", "alice@acme.com", "nobody@acme.com"),
    ],
)
def test_change_user_does_not_tell_unseen_users_from_free_addresses(
    platform, call, caller, foreign, missing
):
    """change_user of an unseen address would create it: an existing account there
    must answer as a free address does, or tenants could list each other's users."""
    answers = [
        failed(call("change_user", credentials=as_user(caller), user=u, attributes={}), 2)
        for u in (foreign, missing)
    ]
    assert answers[0] == answers[1]


def test_foreign_domain_and_company_in_get_methods_are_missing(platform, call):
    admin = as_user("admin@acme.com")
    a = call("get_domain", credentials=admin, domain="other.com")
    b = call("get_domain", credentials=admin, domain="nonesuch.com")
    assert a["error"].replace("other.com", "X") == b["error"].replace("nonesuch.com", "X")
    failed(a, 2)
    failed(b, 2)
    a = call("get_company", credentials=admin, company="Other")
    b = call("get_company", credentials=admin, company="Nonesuch")
    assert a["error"].replace("Other", "X") == b["error"].replace("Nonesuch", "X")
    failed(a, 2)


@pytest.mark.parametrize(
    ("method", "request_", "expected"),
    [
        ("get_user", {"user": "bob@acme.com"}, 4),
        ("get_user", {"user": "tokenonly@acme.com"}, 4),  # not even itself
        ("get_domain", {"domain": "acme.com"}, 4),
        ("get_company", {"company": "Acme"}, 4),
        ("get_company", {}, 4),
        ("get_user", {"user": "zed@other.com"}, 2),
        ("get_domain", {"domain": "other.com"}, 2),
    ],
)
def test_company_token_only_reads_nothing_with_get_methods(
    platform, call, method, request_, expected
):
    """Its company's objects are seen (4), not read: get_* show what stats_summary would."""
    failed(call(method, credentials=as_user(platform["company_token_only"]), **request_), expected)


# -- changes ---------------------------------------------------------------------

NEW_USER = {"attributes": {"password": "another-pw"}}
# (role, method, request, expected): OK or an error number
CHANGES = [
    # company_ro (and the other read-only company roles) change nothing: 4
    *(
        (role, method, req, 4)
        for role in ("company_ro", "company_view", "company_mail", "company_token_only")
        for method, req in (
            ("change_user", {"user": "bob@acme.com", "attributes": {"name": "Bob"}}),
            ("change_user", {"user": "new@acme.com", **NEW_USER}),
            ("delete_user", {"user": "bob@acme.com"}),
            ("restore_user", {"user": "bob@acme.com"}),
            ("set_role", {"user": "bob@acme.com", "role": "company", "object": "Acme"}),
            ("change_domain", {"domain": "acme.com", "attributes": {"quota": 1}}),
            ("change_domain", {"domain": "acme.org"}),
            ("delete_domain", {"domain": "acme.net"}),
            ("change_company", {"company": "Acme"}),
        )
    ),
    # a domain admin manages the users of its domain, and nothing else
    ("domain", "change_user", {"user": "new@acme.net", **NEW_USER}, OK),
    ("domain", "change_user", {"user": "carol@acme.net", "attributes": {"quota": 5}}, OK),
    ("domain", "delete_user", {"user": "carol@acme.net"}, OK),
    (
        "domain",
        "change_user",
        {"user": "carol@acme.net", "attributes": {"aliases": ["c@acme.net"]}},
        OK,
    ),
    # an alias in a domain it does not manage would take that domain's mail
    (
        "domain",
        "change_user",
        {"user": "carol@acme.net", "attributes": {"aliases": ["c@acme.com"]}},
        6,
    ),
    (
        "domain",
        "change_user",
        {"user": "new@acme.net", "attributes": {"aliases": ["n@acme.com"]}},
        6,
    ),
    ("domain", "change_user", {"user": "new@acme.com", **NEW_USER}, 2),
    ("domain", "change_user", {"user": "bob@acme.com", "attributes": {"quota": 5}}, 2),
    ("domain", "change_domain", {"domain": "acme.net", "attributes": {"quota": 1}}, 4),
    ("domain", "change_domain", {"domain": "acme.org"}, 4),
    ("domain", "delete_domain", {"domain": "acme.net"}, 4),
    ("domain", "set_role", {"user": "carol@acme.net", "role": "mail", "object": "acme.net"}, 4),
    ("domain", "change_company", {"company": "Acme"}, 2),  # outside its read scope
    # mail reads its domain but changes nothing
    ("mail", "change_user", {"user": "new@acme.net", **NEW_USER}, 4),
    ("mail", "change_user", {"user": "carol@acme.net", "attributes": {"quota": 5}}, 4),
    ("mail", "delete_user", {"user": "carol@acme.net"}, 4),
    # workgroup reads its workgroup's users and changes nothing
    ("workgroup", "change_user", {"user": "alice@acme.com", "attributes": {"quota": 5}}, 4),
    ("workgroup", "delete_user", {"user": "alice@acme.com"}, 4),
    # a user without a role: its own password and forwarding, nothing else
    ("none", "change_user", {"user": "bob@acme.com", "attributes": {"name": "Bobby"}}, OK),
    ("none", "change_user", {"user": "bob@acme.com", "attributes": {"quota": 0}}, 4),
    ("none", "change_user", {"user": "bob@acme.com", "attributes": {"type": "filter"}}, 4),
    ("none", "delete_user", {"user": "bob@acme.com"}, 4),
    ("none", "change_user", {"user": "alice@acme.com", "attributes": {"name": "A"}}, 2),
    # a company admin manages its company but cannot create or change companies
    ("company", "change_domain", {"domain": "acme.org"}, OK),
    ("company", "change_domain", {"domain": "acme.net", "attributes": {"quota": 9}}, OK),
    ("company", "change_user", {"user": "new@acme.net", **NEW_USER}, OK),
    ("company", "delete_user", {"user": "alice@acme.com"}, OK),
    (
        "company",
        "change_user",
        {"user": "carol@acme.net", "attributes": {"aliases": ["c@acme.com"]}},
        OK,
    ),
    (
        "company",
        "change_user",
        {"user": "carol@acme.net", "attributes": {"aliases": ["c@other.com"]}},
        6,
    ),
    ("company", "set_role", {"user": "bob@acme.com", "role": "company_ro", "object": "Acme"}, OK),
    ("company", "change_company", {"company": "Acme"}, 4),
    ("company", "change_company", {"company": "Newco"}, 2),  # as Other: names can't be probed
    ("company", "change_company", {"company": "Other"}, 2),
    ("company", "change_user", {"user": "zed@other.com", "attributes": {"name": "Z"}}, 2),
    ("company", "change_user", {"user": "new@other.com", **NEW_USER}, 2),
    ("company", "change_domain", {"domain": "other.com", "attributes": {"quota": 9}}, 2),
    ("company", "change_domain", {"domain": "acme.org", "company": "Other"}, 2),
    ("company", "delete_domain", {"domain": "other.com"}, 2),
    ("company", "set_role", {"user": "zed@other.com", "role": "company", "object": "Other"}, 2),
]


def _id(case):
    role, method, req, expected = case
    return f"{role}-{method}-{next(iter(req.values()))}-{expected}"


@pytest.mark.parametrize(("role", "method", "request_", "expected"), CHANGES, ids=map(_id, CHANGES))
def test_change_scope(platform, call, fresh_store, role, method, request_, expected):
    tables = ("companies", "domains", "users", "user_versions", "roles", "addresses", "audit_log")
    before = table_rows(fresh_store, *tables)
    answer = call(method, credentials=as_user(platform[role]), **request_)
    if expected == OK:
        ok(answer)
        after = table_rows(fresh_store, "audit_log")["audit_log"]
        assert len(after) == len(before["audit_log"]) + 1
        assert after[-1][3] == platform[role]  # the audit log names the author
    else:
        failed(answer, expected)
        assert table_rows(fresh_store, *tables) == before


def test_operator_changes_companies(call):
    ok(call("change_company", company="Newco", attributes={"createtime": "2020-01-01T00:00:00Z"}))
    ok(call("change_company", company="Newco"))
    # createtime is given at creation only (README), as for domains and users
    again = {"createtime": "2019-01-01T00:00:00Z"}
    failed(call("change_company", company="Newco", attributes=again), 6)
    assert ok(call("get_company", company="Newco"))["attributes"] == {
        "createtime": "2020-01-01T00:00:00Z"
    }


@pytest.mark.parametrize("method", ["change_user", "delete_user", "restore_user"])
def test_a_domain_admin_may_not_manage_a_company_admin_of_its_domain(platform, call, method):
    """Resetting a company admin's password would make the domain admin one."""
    call_as = as_user("dadmin@acme.net")
    ok(call("change_user", user="boss@acme.net", attributes={"password": "boss-password"}))
    ok(call("set_role", user="boss@acme.net", role="company", object="Acme"))
    body = {"attributes": {"password": "taken-over"}} if method == "change_user" else {}
    failed(call(method, credentials=call_as, user="boss@acme.net", **body), 4)
    ok(call("authenticate", credentials=as_user("boss@acme.net", "boss-password")))
    # a company admin still may
    ok(call(method, credentials=as_user("admin@acme.com"), user="boss@acme.net", **body))


def test_a_domain_admin_may_not_remove_an_alias_in_a_domain_it_does_not_manage(platform, call):
    ok(call("change_user", user="pat@acme.net", attributes={"aliases": ["pat@acme.com"]}))
    dadmin = as_user("dadmin@acme.net")
    failed(call("change_user", credentials=dadmin, user="pat@acme.net",
                attributes={"aliases": []}), 4)  # fmt: skip
    assert ok(call("get_user", user="pat@acme.net"))["attributes"]["aliases"] == ["pat@acme.com"]


def test_domain_admin_creates_a_user_it_can_then_read(platform, call):
    dadmin = as_user("dadmin@acme.net")
    ok(call("change_user", credentials=dadmin, user="new@acme.net", attributes={}))
    s = summary(call, credentials=dadmin, type="user", object="new@acme.net")
    assert s and all(p["account_type"] == "mailbox" for p in s.values())
    assert summary(call, credentials=dadmin)[max(s)]["users"]["mailbox"] == 4


def test_role_removed_takes_effect_at_once(platform, call):
    view = as_user("view@acme.com")
    ok(call("stats_summary", credentials=view, type="company", object="Acme"))
    ok(call("set_role", credentials=as_user("admin@acme.com"), user="view@acme.com", role=""))
    failed(call("stats_summary", credentials=view, type="company", object="Acme"), 2)
    ok(call("stats_summary", credentials=view, type="user", object="view@acme.com"))


def test_alias_refusals_do_not_tell_domains_apart(platform, call):
    """For a domain admin, a sibling domain looks like any domain it cannot use."""
    texts = set()
    for domain in ("acme.com", "other.com", "nowhere.example"):
        attributes = {"aliases": [f"c@{domain}"]}
        answer = call(
            "change_user",
            credentials=as_user("dadmin@acme.net"),
            user="carol@acme.net",
            attributes=attributes,
        )
        texts.add(json.dumps(failed(answer, 6)).replace(domain, "D"))
    assert len(texts) == 1
