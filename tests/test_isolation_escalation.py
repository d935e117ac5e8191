"""Escalation chains (SPEC §2, isolation rule 1): two or three calls that would
give a caller power it does not hold.  Each must stop at its first step, with
nothing changed, and the later steps must then fail too."""

from __future__ import annotations

import pytest

from conftest import PW, as_user, failed, ok
from isolation import platform_file, snapshot  # noqa: F401
from mailtally.access import ACCOUNT_ACTIONS, Action
from mailtally.api.app import METHODS

DADMIN = as_user("dadmin@acme.net")  # admin of acme.net

#: accounts of acme.net that hold a role reaching beyond acme.net
HOLDERS = {
    "domain": ("twohats@acme.net", "acme.com"),
    "mail": ("mailhat@acme.net", "acme.com"),
    "workgroup": ("wghat@acme.net", "acme.com/sales"),
    "company_ro": ("rohat@acme.net", "Acme"),
    "company_token_only": ("tohat@acme.net", "Acme"),
}


def _holder(call, role: str) -> str:
    address, obj = HOLDERS[role]
    if role != "domain":  # twohats is in the platform already
        ok(call("change_user", user=address, attributes={"password": PW}))
        ok(call("set_role", user=address, role=role, object=obj))
    return address


@pytest.mark.parametrize("role", list(HOLDERS))
def test_reset_a_role_holders_password_then_act_as_them(platform, call, fresh_store, role):
    holder = _holder(call, role)
    before = snapshot(fresh_store)
    attributes = {"password": "taken-over-1"}
    failed(call("change_user", credentials=DADMIN, user=holder, attributes=attributes), 4)
    assert snapshot(fresh_store) == before
    # step two: the new password does not work, the old one still does
    failed(call("authenticate", credentials=as_user(holder, "taken-over-1")), 1)
    ok(call("authenticate", credentials=as_user(holder)))
    # step three, had it worked: read (or manage) what the holder's role reaches
    failed(call("get_domain", credentials=DADMIN, domain="acme.com"), 2)


@pytest.mark.parametrize("role", list(HOLDERS))
@pytest.mark.parametrize(
    "attributes",
    [
        {"aliases": ["hat@acme.net"]},  # take an address of the holder's
        {"forward_recipients": ["dadmin@acme.net"], "delivery_forward": True},  # read its mail
        {"service_imap4": "disabled"},
        {"workgroup": "sales"},
    ],
)
def test_change_a_role_holders_attributes(platform, call, fresh_store, role, attributes):
    holder = _holder(call, role)
    before = snapshot(fresh_store)
    failed(call("change_user", credentials=DADMIN, user=holder, attributes=attributes), 4)
    assert snapshot(fresh_store) == before
    ok(call("authenticate", credentials=as_user(holder)))


@pytest.mark.parametrize("role", list(HOLDERS))
def test_delete_or_restore_a_role_holder(platform, call, fresh_store, role):
    holder = _holder(call, role)
    before = snapshot(fresh_store)
    failed(call("delete_user", credentials=DADMIN, user=holder), 4)
    assert snapshot(fresh_store) == before
    ok(call("authenticate", credentials=as_user(holder)))
    # a deleted holder cannot be brought back by the domain admin either
    ok(call("delete_user", user=holder))
    before = snapshot(fresh_store)
    failed(call("restore_user", credentials=DADMIN, user=holder), 4)
    assert snapshot(fresh_store) == before
    failed(call("authenticate", credentials=as_user(holder)), 1)


def test_a_domain_admin_still_manages_an_equal_of_its_own_domain(platform, call):
    """Rule 1 is about roles beyond the caller's rights, not about any role."""
    ok(call("change_user", user="deputy@acme.net", attributes={"password": PW}))
    ok(call("set_role", user="deputy@acme.net", role="domain", object="acme.net"))
    ok(call("set_role", user="deputy@acme.net", role="workgroup", object="acme.net/staff"))
    attributes = {"password": "new-password"}
    ok(call("change_user", credentials=DADMIN, user="deputy@acme.net", attributes=attributes))
    ok(call("authenticate", credentials=as_user("deputy@acme.net", "new-password")))


@pytest.mark.parametrize(
    ("caller", "role", "obj"),
    [
        ("dadmin@acme.net", "domain", "acme.com"),
        ("dadmin@acme.net", "mail", "acme.net"),
        ("ro@acme.com", "company", "Acme"),
        ("view@acme.com", "domain", "acme.net"),
        ("tokenonly@acme.com", "company", "Acme"),
        ("lead@acme.com", "workgroup", "acme.com/sales"),
        ("bob@acme.com", "company", "Acme"),
    ],
)
def test_grant_a_role_then_use_it(platform, call, fresh_store, caller, role, obj):
    """Granting a role to oneself (or to an accomplice) stops at the grant."""
    me = as_user(caller)
    roles = ok(call("authenticate", credentials=me, fetch_extra_info=True))["extra_info"]["roles"]
    before = snapshot(fresh_store)
    for user in (caller, "carol@acme.net"):
        answer = call("set_role", credentials=me, user=user, role=role, object=obj)
        assert answer["success"] is False and answer["error_number"] in (2, 4), answer
    assert snapshot(fresh_store) == before
    # and the caller holds what it held
    again = ok(call("authenticate", credentials=me, fetch_extra_info=True))["extra_info"]["roles"]
    assert again == roles
    assert ok(call("get_user", user="carol@acme.net"))["metadata"]["roles"] == []


def test_a_company_admin_cannot_grant_outside_its_company(platform, call, fresh_store):
    admin = as_user("admin@acme.com")
    before = snapshot(fresh_store)
    for obj in ("Other", "other.com", "other.com/staff", "acme.io", "io.example"):
        for role in ("company", "domain", "workgroup"):
            answer = call("set_role", credentials=admin, user="bob@acme.com", role=role, object=obj)
            failed(answer, 5)
    failed(call("set_role", credentials=admin, user="zed@other.com", role="company",
                object="Other"), 2)  # fmt: skip
    assert snapshot(fresh_store) == before


def test_rule_one_covers_renaming():
    """issue 10 adds rename_user: renaming an account is an account action, so
    rule 1 holds for it the moment the method asks the table for RENAME."""
    assert Action.RENAME in ACCOUNT_ACTIONS


@pytest.mark.skipif("rename_user" not in METHODS, reason="rename_user is issue 10's")
def test_rename_onto_a_role_holder(platform, call, fresh_store):  # pragma: no cover
    before = snapshot(fresh_store)
    answer = call(
        "rename_user", credentials=DADMIN, user="twohats@acme.net", new_name="mine@acme.net"
    )
    failed(answer, 4)
    assert snapshot(fresh_store) == before


@pytest.mark.parametrize(
    ("caller", "user"),
    [("dadmin@acme.net", "twohats@acme.net"), ("admin@acme.com", "zed@other.com"),
     ("bob@acme.com", "alice@acme.com"), ("admin@acme.com", "ghost@other.com")],
)  # fmt: skip
def test_a_refused_password_change_costs_no_hash(platform, call, service, caller, user):
    """The table is asked before the new password is hashed (argon2: time and memory)."""
    hashed: list[str] = []
    real = service.auth.hasher

    class Counting:
        def hash(self, password: str) -> str:
            hashed.append(password)
            return real.hash(password)

        def verify(self, stored: str, password: str) -> bool:
            return real.verify(stored, password)

    # what change_user hashes new passwords with (on the argon2 threads)
    service.auth.hasher = Counting()
    answer = call("change_user", credentials=as_user(caller), user=user,
                  attributes={"password": "never-hashed"})  # fmt: skip
    assert answer["success"] is False and answer["error_number"] in (2, 4)
    assert hashed == []
    ok(call("change_user", user="carol@acme.net", attributes={"password": "hashed-once"}))
    assert hashed == ["hashed-once"]


# -- an alias in another domain is power over that domain's mail -------------------


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("change_user", {"attributes": {"password": "taken-over-1"}}),
        ("change_user", {"attributes": {"type": "forward"}}),
        ("change_user", {"attributes": {"service_smtpin": "disabled"}}),
        ("delete_user", {}),
    ],
)
def test_an_account_with_an_alias_in_another_domain_is_not_the_domain_admins(
    platform, call, fresh_store, method, body
):
    """pat@acme.net also receives pat@acme.com's mail: the admin of acme.net
    alone may not reset its password (and read acme.com's mail), change its
    delivery or delete it (acme.com's users.alias would drop)."""
    ok(call("change_user", user="pat@acme.net", attributes={"aliases": ["pat@acme.com"]}))
    before = snapshot(fresh_store)
    failed(call(method, credentials=DADMIN, user="pat@acme.net", **body), 4)
    assert snapshot(fresh_store) == before
    # whoever manages both domains may
    ok(call(method, credentials=as_user("admin@acme.com"), user="pat@acme.net", **body))


def test_restore_of_an_account_with_an_alias_in_another_domain(platform, call, fresh_store):
    ok(call("change_user", user="pat@acme.net", attributes={"aliases": ["pat@acme.com"]}))
    ok(call("delete_user", user="pat@acme.net"))
    before = snapshot(fresh_store)
    failed(call("restore_user", credentials=DADMIN, user="pat@acme.net"), 4)
    assert snapshot(fresh_store) == before


def test_a_domain_admin_may_not_move_the_companys_createtime_back(platform, call, fresh_store):
    """An import older than the company moves the company's createtime, which
    changes every company-level answer: a company admin's decision."""
    company = ok(call("get_company", company="Acme"))["attributes"]["createtime"]
    before = snapshot(fresh_store)
    answer = call("change_user", credentials=DADMIN, user="old@acme.net",
                  attributes={"createtime": "2001-01-01T00:00:00Z"})  # fmt: skip
    failed(answer, 6)
    assert "createtime" in answer["hints"]
    assert snapshot(fresh_store) == before
    # after the company's creation, a domain admin's import is its own domain's
    ok(call("change_user", credentials=DADMIN, user="old@acme.net",
            attributes={"createtime": company}))  # fmt: skip
    ok(call("change_user", credentials=as_user("admin@acme.com"), user="older@acme.net",
            attributes={"createtime": "2001-01-01T00:00:00Z"}))  # fmt: skip
    assert ok(call("get_company", company="Acme"))["attributes"]["createtime"].startswith("2001")
