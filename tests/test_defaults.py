"""Every default of SPEC §5: which object and which periods a stats_summary is about."""

from __future__ import annotations

import pytest

from conftest import DAY, as_user, failed, ok, rfc, summary
from mailtally.errors import BAD_REQUEST


def explicit(call, type_, object_, by="day"):
    return summary(call, type=type_, object=object_, by=by)


def test_by_omitted_is_day(platform, call):
    s = summary(call, type="domain", object="acme.com")
    assert len(s) == 30
    assert all(len(k) == 8 and k.isdigit() for k in s)
    assert s == explicit(call, "domain", "acme.com", "day")


@pytest.mark.parametrize(
    ("caller", "type_", "expected"),
    [
        ("admin@acme.com", "company", ("company", "Acme")),
        ("admin@acme.com", "domain", ("domain", "acme.com")),
        ("admin@acme.com", "user", ("user", "admin@acme.com")),
        ("view@acme.com", "company", ("company", "Acme")),
        ("dadmin@acme.net", "domain", ("domain", "acme.net")),
        ("dadmin@acme.net", "user", ("user", "dadmin@acme.net")),
        ("lead@acme.com", "user", ("user", "lead@acme.com")),
        ("bob@acme.com", "user", ("user", "bob@acme.com")),
        ("oadmin@other.com", "domain", ("domain", "other.com")),
    ],
)
def test_object_omitted_is_the_callers_own(platform, call, caller, type_, expected):
    mine = summary(call, credentials=as_user(caller), type=type_)
    assert mine == explicit(call, *expected)


@pytest.mark.parametrize(
    ("caller", "type_"),
    [
        # the caller's own object of that type exists but lies outside its read scope
        ("bob@acme.com", "company"),
        ("bob@acme.com", "domain"),
        ("lead@acme.com", "domain"),
    ],
)
def test_object_omitted_own_object_outside_scope(platform, call, caller, type_):
    failed(call("stats_summary", credentials=as_user(caller), type=type_), 2)


def test_type_omitted_is_inferred(platform, call):
    # a company whose name is a DNS name, and a domain: the existing domain wins
    ok(call("change_company", company="acme.org"))
    ok(call("change_domain", domain="lonely.org", company="acme.org"))
    cases = [
        ("alice@acme.com", "user", "alice@acme.com"),
        ("AL@acme.net", "user", "alice@acme.com"),  # an alias answers for its real user
        ("acme.net", "domain", "acme.net"),
        ("ACME.NET", "domain", "acme.net"),
        ("Acme", "company", "Acme"),
        ("acme.org", "company", "acme.org"),  # no such domain: a company
        ("lonely.org", "domain", "lonely.org"),
    ]
    for obj, type_, name in cases:
        assert summary(call, object=obj) == explicit(call, type_, name), obj
    # the inferred types really differ: the company and its domains differ
    assert explicit(call, "company", "Acme") != explicit(call, "domain", "acme.net")


def test_type_omitted_unknown_names(platform, call):
    # inferred as user / company, neither exists
    failed(call("stats_summary", object="nobody@acme.com"), 2)
    assert "user" in failed(call("stats_summary", object="nobody@acme.com"), 2)["hints"]
    assert "company" in failed(call("stats_summary", object="No Such Co"), 2)["hints"]


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("company", ("company", "Acme")),
        ("company_ro", ("company", "Acme")),
        ("company_view", ("company", "Acme")),
        ("company_mail", ("company", "Acme")),
        ("domain", ("domain", "acme.net")),
        ("mail", ("domain", "acme.net")),
        ("workgroup", ("user", "lead@acme.com")),
        ("none", ("user", "bob@acme.com")),
    ],
)
def test_both_omitted_is_the_widest_scope(platform, call, role, expected):
    caller = platform[role]
    for by in (None, "week", "month"):
        request = {} if by is None else {"by": by}
        mine = summary(call, credentials=as_user(caller), **request)
        assert mine == explicit(call, *expected, by or "day"), (role, by)


def test_both_omitted_domain_role_on_another_domain(platform, call):
    """A domain admin whose address lies in another domain reads the domain of its role."""
    ok(call("change_user", user="boss@acme.com", attributes={"password": "pw-boss"}))
    ok(call("set_role", user="boss@acme.com", role="domain", object="acme.net"))
    mine = summary(call, credentials=as_user("boss@acme.com", "pw-boss"))
    assert mine == explicit(call, "domain", "acme.net")


def test_company_token_only_has_no_default_to_read(platform, call):
    failed(call("stats_summary", credentials=as_user("tokenonly@acme.com")), 4)


@pytest.mark.parametrize("request_", [{}, {"type": "company"}, {"type": "user"}, {"by": "day"}])
def test_operator_without_object_is_error_5(platform, call, request_):
    answer = failed(call("stats_summary", **request_), BAD_REQUEST)
    assert "object" in answer["error"]
    assert answer["hints"] == {"object": "is required for an operator"}


def test_defaults_of_a_young_object(call, clock):
    """by omitted on an object created 3 days ago: 4 daily periods, not 30."""
    ok(
        call(
            "change_company", company="Young", attributes={"createtime": rfc(clock.value - 3 * DAY)}
        )
    )
    ok(call("change_domain", domain="young.org", company="Young"))
    assert len(summary(call, object="Young")) == 4
    assert len(summary(call, object="young.org")) == 1


def test_get_company_defaults_to_the_callers_own(platform, call):
    mine = ok(call("get_company", credentials=as_user("view@acme.com")))
    assert mine == ok(call("get_company", company="Acme"))
    assert mine["metadata"]["domains"] == ["acme.com", "acme.net"]
    failed(call("get_company"), BAD_REQUEST)  # an operator has no company of its own
