"""The permission table itself (mailtally.access): the invariants SPEC §2 states
in words, so that an edit of the table that breaks one fails here first."""

from __future__ import annotations

import pytest

from mailtally.access import (
    ACCOUNT_ACTIONS,
    COMPANY_ROLES,
    KINDS,
    PERMISSIONS,
    ROLE_KIND,
    ROLES,
    Action,
    Grant,
    Obj,
    actions,
    covers,
)

A = Action
ACME, OTHER = 1, 2
COM, NET, OTHER_COM = 11, 12, 21


class P:
    """A caller holding ``grants``, living in acme.net."""

    def __init__(self, *grants: Grant, operator: bool = False, user_id: int = 100) -> None:
        self.operator = operator
        self.user_id = user_id
        self.domain_id = NET
        self.grants = grants


def on(role: str, domain: int = NET, workgroup: str = "sales") -> Grant:
    kind = ROLE_KIND[role]
    if kind == "company":
        return Grant(role, Obj("company", ACME))
    if kind == "domain":
        return Grant(role, Obj("domain", ACME, domain_id=domain))
    return Grant(role, Obj("workgroup", ACME, domain_id=domain, workgroup=workgroup))


def user(domain: int = NET, company: int = ACME, uid: int = 200, wg: str = "staff") -> Obj:
    return Obj("user", company, domain_id=domain, workgroup=wg, user_id=uid)


def test_every_role_of_the_spec_is_in_the_table():
    assert set(ROLES) | {"operator", "self"} == set(PERMISSIONS)


@pytest.mark.parametrize("role", ROLES)
def test_a_company_admin_covers_every_role_of_its_company(role):
    admin = P(on("company"))
    assert covers(admin, role, on(role).obj)
    assert covers(admin, role, on(role, domain=COM).obj)


@pytest.mark.parametrize("role", ROLES)
def test_no_role_reaches_another_company(role):
    p = P(on(role))
    foreign = [
        Obj("company", OTHER),
        Obj("domain", OTHER, domain_id=OTHER_COM),
        user(OTHER_COM, OTHER),
    ]
    assert all(actions(p, o) == frozenset() for o in foreign)


def test_only_operators_change_companies_and_only_company_admins_set_roles():
    for role in ROLES:
        assert A.CHANGE not in PERMISSIONS[role].get("company", frozenset())
        assert (A.SET_ROLE in PERMISSIONS[role].get("user", frozenset())) == (role == "company")


def test_company_ro_changes_nothing():
    changes = set(A) - {A.SEE, A.READ}
    for role in ("company_ro", "company_view", "company_mail", "company_token_only", "mail"):
        assert not any(set(PERMISSIONS[role].get(k, ())) & changes for k in KINDS), role


@pytest.mark.parametrize("role", ["domain", "mail", "workgroup"])
def test_a_domain_admin_does_not_cover_roles_beyond_its_domain(role):
    dadmin = P(on("domain"))
    assert not covers(dadmin, role, on(role, domain=COM).obj)
    for company_role in COMPANY_ROLES:
        assert not covers(dadmin, company_role, on(company_role).obj)
    # but every role on its own domain
    assert covers(dadmin, role, on(role).obj)


def test_token_only_reads_nothing_not_even_itself():
    p = P(on("company_token_only"))
    me = user(uid=p.user_id)
    assert A.READ not in actions(p, me) and A.SEE in actions(p, me)
    assert A.CHANGE_SELF in actions(p, me)  # its own password, still


def test_self_is_only_itself():
    p = P()
    assert actions(p, user(uid=p.user_id)) == PERMISSIONS["self"]["user"]
    assert actions(p, user(uid=p.user_id + 1)) == frozenset()


def test_account_actions_are_the_ones_rule_one_names():
    # change, delete, rename, restore, set roles (a password reset is a change),
    # make tokens for; and logging out (ending another's sessions is no power
    # over an account its caller does not hold)
    assert {
        A.CHANGE,
        A.DELETE,
        A.RENAME,
        A.RESTORE,
        A.SET_ROLE,
        A.MAKE_TOKEN,
        A.LOGOUT,
    } == ACCOUNT_ACTIONS
