"""The adversarial matrix (issue 7): every caller of SPEC §2 × every method of the
app × every kind of target, with the answer each cell must get *derived from the
permission table* (:mod:`mailtally.access`), never written per cell.

Targets, for each method that names an object:

* ``own`` — an object in the caller's scope;
* ``outside`` — an object of the caller's own company outside its role;
* ``foreign`` — another tenant's existing object;
* ``missing`` — a name that exists nowhere;
* ``holder`` — an account that holds a role the caller may lack (isolation
  rule 1: ``twohats@acme.net`` administers acme.com from acme.net).

Each call is checked three ways: the error number; on a refusal, every table
of the store exactly as before; the audit log one row longer for each
successful change and unchanged for everything else.

The methods are read from the app's registry (:data:`mailtally.api.app.METHODS`),
so a method added later is in the matrix at once — and fails it until it is
described in :data:`SHAPES` below (how to name a target in a request, and what
the table says it needs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import rfc
from isolation import (
    CALLERS,
    Subject,
    creds_of,
    held,
    obj_of,
    platform_file,  # noqa: F401  (the platform with the isolation extras)
    snapshot,
    subject,
)
from mailtally.access import (
    METHOD_ACTIONS,
    PERMISSIONS,
    Action,
    Obj,
    actions,
    allowed,
    covers,
    may_act_on_account,
    reaches_into,
)
from mailtally.api.app import METHODS, create_app
from mailtally.store import Store
from mailtally.tree.searches import PLATFORM

OK = 0  # success, in the expected-number column
TARGETS = ("own", "outside", "foreign", "missing", "holder")

#: candidates for each target, per kind of object; "self" is the caller
CANDIDATES: dict[str, dict[str, tuple[str, ...]]] = {
    "user": {
        "own": ("carol@acme.net", "alice@acme.com", "self"),
        "outside": ("carol@acme.net", "alice@acme.com", "bob@acme.com"),
        "foreign": ("zed@other.com",),
        "missing": ("ghost@other.com",),
        "holder": ("twohats@acme.net",),
    },
    "domain": {
        "own": ("spare.com", "acme.net"),
        "outside": ("acme.net", "acme.com"),
        "foreign": ("other.com",),
        "missing": ("ghost.example",),
        "holder": (),
    },
    "company": {
        "own": ("Acme",),
        "outside": ("Acme",),
        "foreign": ("Other",),
        "missing": ("Nonesuch",),
        "holder": (),
    },
}
#: domains that hold live users (delete_domain is refused for them)
PEOPLED = {"acme.com", "acme.net", "other.com", "io.example"}


@dataclass(frozen=True)
class Case:
    """One cell: who asks, what it names, and what the store says of it."""

    p: Subject
    role: str
    kind: str
    name: str
    obj: Obj | None
    store: Store

    def acts(self) -> frozenset[Action]:
        return frozenset() if self.obj is None else actions(self.p, self.obj)

    def seen(self) -> bool:
        return Action.SEE in self.acts()

    def domain(self) -> Obj | None:
        return obj_of(self.store, "domain", self.name.rpartition("@")[2])


def read_rule(c: Case) -> int:
    """stats_summary and the get_* methods: READ, else 4 if seen, else 2."""
    acts = c.acts()
    return OK if Action.READ in acts else 4 if Action.SEE in acts else 2


def account_rule(action: Action) -> Callable[[Case], int]:
    """delete_user, restore_user: scope, then the action and rule 1."""

    def rule(c: Case) -> int:
        if not c.seen():
            return 2
        assert c.obj is not None
        ok = may_act_on_account(c.p, action, c.obj, held(c.store, c.name))
        return OK if ok else 4

    return rule


#: set_role's request: grant ``mail`` on acme.net
GRANTED = ("mail", "acme.net")


def set_role_rule(c: Case) -> int:
    first = account_rule(Action.SET_ROLE)(c)
    if first != OK:
        return first
    assert c.obj is not None
    if c.obj.company_id != obj_of(c.store, "company", "Acme").company_id:  # type: ignore[union-attr]
        return 5  # acme.net is no domain of the account's company
    reach = obj_of(c.store, "domain", GRANTED[1])
    assert reach is not None
    return OK if covers(c.p, GRANTED[0], reach) else 4


#: change_user's attributes: one a user may change of itself
USER_CHANGE = {"name": "Changed Name"}


def change_user_rule(c: Case) -> int:
    d = c.domain()
    if d is None or not reaches_into(c.p, d):
        return 2
    if c.obj is None:  # creation
        if Action.SEE not in actions(c.p, d):
            return 2
        return OK if allowed(c.p, Action.CREATE_USER, d) else 4
    if not c.seen():
        return 2
    own = c.obj.user_id == c.p.user_id and allowed(c.p, Action.CHANGE_SELF, c.obj)
    ok = own or may_act_on_account(c.p, Action.CHANGE, c.obj, held(c.store, c.name))
    return OK if ok else 4


def rename_rule(c: Case) -> int:
    """rename_user into the account's own domain: the account (2, 4 by rule
    1), then the right to create addresses there."""
    first = account_rule(Action.RENAME)(c)
    if first != OK:
        return first
    assert c.obj is not None
    d = Obj("domain", c.obj.company_id, domain_id=c.obj.domain_id)
    return OK if allowed(c.p, Action.CREATE_USER, d) else 4


def restore_domain_rule(c: Case) -> int:
    """restore_domain of a live domain: scope, the right, then error 7 (it
    is not deleted)."""
    if not c.seen():
        return 2
    return 7 if Action.RESTORE in c.acts() else 4


def generate_token_rule(c: Case) -> int:
    """generate_token: an account action (rule 1); twohats, the holder, is live."""
    return account_rule(Action.MAKE_TOKEN)(c)


def _creatable(c: Case) -> bool:
    """May the caller create a domain without naming the company (or, for an
    operator, in Acme, which its request names)?"""
    if c.p.operator:
        return True
    return any(
        g.obj.kind == "company" and allowed(c.p, Action.CREATE_DOMAIN, g.obj) for g in c.p.grants
    )


def change_domain_rule(c: Case) -> int:
    if c.obj is not None and c.seen():
        return OK if Action.CHANGE in c.acts() else 4
    if not _creatable(c):
        return 4
    return 2 if c.obj is not None else OK  # another tenant's name is taken (README)


def delete_domain_rule(c: Case) -> int:
    if not c.seen():
        return 2
    if Action.DELETE not in c.acts():
        return 4
    return 4 if c.name in PEOPLED else OK


_NEW_COMPANY = Obj("company", 0)


def change_company_rule(c: Case) -> int:
    if c.obj is None:
        return OK if allowed(c.p, Action.CHANGE, _NEW_COMPANY) else 2
    acts = c.acts()
    return OK if Action.CHANGE in acts else 4 if Action.SEE in acts else 2


def ingest_rule(c: Case) -> int:
    companies = {g.obj.company_id for g in c.p.grants if g.obj.kind == "company"}
    if not c.p.operator and not any(
        allowed(c.p, Action.INGEST, Obj("company", cid)) for cid in companies
    ):
        return 4
    if c.obj is None:
        return 6
    return OK if allowed(c.p, Action.INGEST, Obj("company", c.obj.company_id)) else 6


def ingest_tree_rule(c: Case) -> int:
    """ingest_tree names nothing: the tree of the companies the caller may ingest
    for (operators: all), or 4 for a caller that may ingest for none."""
    companies = {g.obj.company_id for g in c.p.grants if g.obj.kind == "company"}
    if c.p.operator or any(allowed(c.p, Action.INGEST, Obj("company", cid)) for cid in companies):
        return OK
    return 4


def search_companies_rule(c: Case) -> int:
    """Operators only: READ over every company at once (searches.PLATFORM)."""
    return OK if allowed(c.p, Action.READ, PLATFORM) else 4


def workgroup_rule(outcome: int) -> Callable[[Case], int]:
    """create_workgroup, delete_workgroup: the domain seen (2), its accounts
    managed (4), then ``outcome`` (the matrix deletes ``staff``: always 4)."""

    def rule(c: Case) -> int:
        if not c.seen():
            return 2
        return outcome if Action.CREATE_USER in c.acts() else 4

    return rule


@dataclass(frozen=True)
class Shape:
    """How a method names its target, and what it must answer.

    ``kinds``: the kinds of object it is asked about (none: it names nothing
    and acts on the caller alone); ``request``: the request body for a kind
    and a name; ``expect``: the answer number the table gives; ``audited``: a
    success writes one audit-log row.
    """

    kinds: tuple[str, ...]
    request: Callable[[str, str, str], dict[str, Any]]
    expect: Callable[[Case], int]
    audited: bool


def stats_list_rule(c: Case) -> int:
    """stats_list: READ on the caller's own company (company roles) or domain
    (domain roles); a caller with neither may snapshot nothing (4)."""
    if c.role == "operator":
        return OK
    if c.role.startswith("company"):
        scope = obj_of(c.store, "company", "Acme")
    elif c.role in ("domain", "mail"):
        scope = obj_of(c.store, "domain", "acme.net")
    else:
        return 4
    assert scope is not None
    acts = actions(c.p, scope)
    return OK if Action.READ in acts else 4 if Action.SEE in acts else 2


def _event(kind: str, name: str, role: str) -> dict[str, Any]:
    login = {"kind": "login", "time": rfc(1768392000 - 60), "user": name, "service": "imap4"}
    return {"batch_id": f"b-{name}", "events": [login]}


#: every method of the app, described.  A method missing here fails the matrix.
SHAPES: dict[str, Shape] = {
    "echo": Shape((), lambda k, n, r: {"ping": 1}, lambda c: OK, audited=False),
    "authenticate": Shape(
        (), lambda k, n, r: {"generate_session_token": True}, lambda c: OK, audited=False
    ),
    "change_company": Shape(
        ("company",), lambda k, n, r: {"company": n}, change_company_rule, audited=True
    ),
    "get_company": Shape(("company",), lambda k, n, r: {"company": n}, read_rule, audited=False),
    "change_domain": Shape(
        ("domain",),
        lambda k, n, r: (
            {"domain": n, "attributes": {"quota": 7}}
            | ({"company": "Acme"} if r == "operator" else {})
        ),
        change_domain_rule,
        audited=True,
    ),
    "get_domain": Shape(("domain",), lambda k, n, r: {"domain": n}, read_rule, audited=False),
    "delete_domain": Shape(
        ("domain",), lambda k, n, r: {"domain": n}, delete_domain_rule, audited=True
    ),
    "change_user": Shape(
        ("user",),
        lambda k, n, r: {"user": n, "attributes": dict(USER_CHANGE)},
        change_user_rule,
        audited=True,
    ),
    "get_user": Shape(("user",), lambda k, n, r: {"user": n}, read_rule, audited=False),
    "delete_user": Shape(
        ("user",), lambda k, n, r: {"user": n}, account_rule(Action.DELETE), audited=True
    ),
    "restore_user": Shape(
        ("user",), lambda k, n, r: {"user": n}, account_rule(Action.RESTORE), audited=True
    ),
    "rename_user": Shape(
        ("user",),
        lambda k, n, r: {"user": n, "new_name": f"renamed.{n}"},
        rename_rule,
        audited=True,
    ),
    "restore_domain": Shape(
        ("domain",), lambda k, n, r: {"domain": n}, restore_domain_rule, audited=True
    ),
    "get_user_changes": Shape(("user",), lambda k, n, r: {"user": n}, read_rule, audited=False),
    "get_domain_changes": Shape(
        ("domain",), lambda k, n, r: {"domain": n}, read_rule, audited=False
    ),
    "get_company_changes": Shape(
        ("company",), lambda k, n, r: {"company": n}, read_rule, audited=False
    ),
    "get_user_attribute_history": Shape(
        ("user",), lambda k, n, r: {"user": n, "attribute": "quota"}, read_rule, audited=False
    ),
    "logout_user": Shape(
        ("user",), lambda k, n, r: {"user": n}, account_rule(Action.LOGOUT), audited=True
    ),
    "generate_token": Shape(
        ("user",),
        lambda k, n, r: {"user": n, "reason": "matrix"},
        generate_token_rule,
        audited=True,
    ),
    "set_role": Shape(
        ("user",),
        lambda k, n, r: {"user": n, "role": GRANTED[0], "object": GRANTED[1]},
        set_role_rule,
        audited=True,
    ),
    "stats_summary": Shape(
        ("company", "domain", "user"),
        lambda k, n, r: {"type": k, "object": n},
        read_rule,
        audited=False,
    ),
    "stats_list": Shape((), lambda k, n, r: {}, stats_list_rule, audited=False),
    "stats_snapshot": Shape(
        ("company", "domain"),
        # the current month: every object of the platform existed in it
        lambda k, n, r: {"type": k, "object": n, "date": "2026-01"},
        read_rule,
        audited=False,
    ),
    # stats_top: the users of the company or domain, read as stats_summary reads it
    "stats_top": Shape(
        ("company", "domain"),
        lambda k, n, r: {"type": k, "object": n, "of": "users"},
        read_rule,
        audited=False,
    ),
    "ingest_events": Shape(("user",), _event, ingest_rule, audited=False),
    "ingest_tree": Shape((), lambda k, n, r: {}, ingest_tree_rule, audited=False),
    "search_users": Shape(
        ("domain",), lambda k, n, r: {"criteria": {"domain": n}}, read_rule, audited=False
    ),
    "search_domains": Shape(
        ("company",), lambda k, n, r: {"criteria": {"company": n}}, read_rule, audited=False
    ),
    "search_workgroups": Shape(
        ("domain",), lambda k, n, r: {"criteria": {"domain": n}}, read_rule, audited=False
    ),
    "search_companies": Shape((), lambda k, n, r: {}, search_companies_rule, audited=False),
    "create_workgroup": Shape(
        ("domain",),
        lambda k, n, r: {"domain": n, "workgroup": "matrix"},
        workgroup_rule(OK),
        audited=True,
    ),
    "delete_workgroup": Shape(
        ("domain",),
        lambda k, n, r: {"domain": n, "workgroup": "staff"},
        workgroup_rule(4),
        audited=True,
    ),
}


def test_every_method_is_described():
    """A method added to the app must say what it asks of the permission table
    (access.METHOD_ACTIONS) and here how its targets are named."""
    assert set(METHODS) <= set(SHAPES), f"describe {sorted(set(METHODS) - set(SHAPES))}"
    assert set(METHODS) <= set(METHOD_ACTIONS), sorted(set(METHODS) - set(METHOD_ACTIONS))
    for method, shape in SHAPES.items():
        declared = {kind for _, kind, _ in METHOD_ACTIONS[method]}
        # every kind a shape names is one the method says it asks about (events
        # name users, and the table is asked about their company)
        named = {"company" if method == "ingest_events" else k for k in shape.kinds}
        assert named <= declared, method
        for action, _, _ in METHOD_ACTIONS[method]:
            # an action that no role grants would be a method nobody may call
            assert any(action in acts for p in PERMISSIONS.values() for acts in p.values())


def _pick(store: Store, p: Subject, role: str, kind: str, target: str) -> str | None:
    """The name of a ``target`` of ``kind`` for the caller, or None if it has none."""
    for name in CANDIDATES[kind][target]:
        name = CALLERS[role] if name == "self" else name
        if role == "operator" and name == "self":
            continue
        obj = obj_of(store, kind, name)
        seen = obj is not None and Action.SEE in actions(p, obj)
        if target == "own" and not seen:
            continue
        if target == "outside" and (seen or obj is None):
            continue
        return name
    return None


@pytest.fixture
def app(fresh_store, config, clock, operator):
    """The app, its auth_* counts flushed only when it stops: a refused call must
    leave the store as it was, and the 1 s flush of the calls' auth counts could
    land between the two snapshots (seen on PostgreSQL under load)."""
    app = create_app(fresh_store, config, clock)
    app.state.service.auth_flush_seconds = 3600.0
    return app


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("role", list(CALLERS))
def test_matrix(platform, call, fresh_store, role, method):
    shape = SHAPES.get(method)
    assert shape is not None, f"describe method {method!r} in SHAPES"
    p = subject(fresh_store, role)
    cells: list[tuple[str, str | None]] = [("", None)] if not shape.kinds else []
    for kind in shape.kinds:
        for target in TARGETS:
            name = _pick(fresh_store, p, role, kind, target)
            if name is not None:
                cells.append((kind, name))
    assert cells
    for kind, name in cells:
        obj = obj_of(fresh_store, kind, name) if name else None
        case = Case(p, role, kind, name or "", obj, fresh_store)
        expected = shape.expect(case)
        before = snapshot(fresh_store)
        answer = call(method, credentials=creds_of(role), **shape.request(kind, name or "", role))
        after = snapshot(fresh_store)
        where = f"{role} {method} {kind} {name}: {answer}"
        if expected == OK:
            assert answer["success"] is True, where
            grown = len(after["audit_log"]) - len(before["audit_log"])
            assert grown == (1 if shape.audited else 0), where
            if shape.audited:
                actor = "root" if role == "operator" else CALLERS[role]
                assert after["audit_log"][-1][3] == actor, where
        else:
            assert answer["success"] is False, where
            assert answer["error_number"] == expected, where
            assert after == before, where
