"""Who may see and change what (SPEC §2): who is asking, what it names, and
the checks between the two.

* :class:`Principal` — an authenticated caller, its roles read by kind and id
  (:func:`load_principal`; isolation rule 2).
* :class:`Target` — the company, domain or account a request names
  (:func:`find_target`, through aliases; one store read whether it exists or
  not).
* the checks — :func:`visible`, :func:`require_readable`,
  :func:`require_stats_readable`, :func:`own_company`,
  :func:`require_account_action` (isolation rule 1) — ask :mod:`mailtally.access`,
  the one place that decides, and answer as isolation rule 3 says: an object
  outside the caller's scope is reported as missing (error 2), so that tenants
  cannot probe each other; one it may see but not act on is error 4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from mailtally import access
from mailtally.access import Action, Grant, Obj, actions, allowed, forbidden, may_act_on_account
from mailtally.errors import NOT_FOUND, OMAError
from mailtally.history import UserState, decode_state, encode_state
from mailtally.store.base import Queries
from mailtally.tree.values import normalize_address, normalize_domain

__all__ = [
    "ObjectType",
    "Principal",
    "Target",
    "alias_domains",
    "company_target",
    "domain_target",
    "find_target",
    "grant_of",
    "held_grants",
    "load_principal",
    "may_manage_account",
    "may_manage_users",
    "own_company",
    "require_account_action",
    "require_found",
    "require_readable",
    "require_stats_readable",
    "scope_company",
    "target_by_id",
    "visible",
]


ObjectType = Literal["company", "domain", "user"]


# -- who is asking -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: an operator, or a user with its roles.

    ``grants`` are the roles resolved to ids (what :mod:`mailtally.access` reads);
    ``roles`` are the same as (role, object name), as answers show them.
    """

    name: str
    operator: bool = False
    user_id: int | None = None
    company_id: int | None = None
    domain_id: int | None = None
    workgroup: str | None = None
    roles: tuple[tuple[str, str], ...] = ()
    grants: tuple[Grant, ...] = ()
    # the grants by company / domain / workgroup, for the callers that ask so
    company_roles: dict[int, frozenset[str]] = field(default_factory=dict)
    domain_roles: dict[int, frozenset[str]] = field(default_factory=dict)
    workgroups: frozenset[tuple[int, str]] = frozenset()
    #: a caller that came with a token an admin made for it (generate_token, or a
    #: session issued for one; set for the call by ``Authenticator.check``): that
    #: admin's account, which the session tokens, tokens and passwords set through
    #: this call carry on as their maker or setter
    made_by: int | None = None

    def has_company_role(self, company_id: int, *roles: str) -> bool:
        held = self.company_roles.get(company_id, frozenset())
        return bool(held & set(roles)) if roles else bool(held)


def grant_of(company_id: int, role: str, kind: str, object_id: int, workgroup: str) -> Grant:
    """A role row as :mod:`mailtally.access` sees it."""
    if kind == "company":
        return Grant(role, Obj("company", object_id))
    if kind == "domain":
        return Grant(role, Obj("domain", company_id, domain_id=object_id))
    return Grant(role, Obj("workgroup", company_id, domain_id=object_id, workgroup=workgroup))


def held_grants(q: Queries, user_id: int, company_id: int) -> tuple[Grant, ...]:
    """The roles the account holds, by kind and id."""
    return tuple(grant_of(company_id, r, k, oid, wg) for r, k, oid, wg, _ in q.grants_of(user_id))


def load_principal(q: Queries, name: str) -> Principal | None:
    """The caller named ``name`` (an operator, or a live user by its own address).

    Roles are read by kind and id (SPEC §2 rule 2): a role held on a company is
    about that company and no domain spelled like it.
    """
    if "@" not in name:
        return Principal(name=name, operator=True) if q.operator(name) else None
    address = normalize_address(name)
    if address is None:
        return None
    row = q.user_by_address(address)
    if row is None or row[7] is None or row[7]:  # missing; aliases do not log in
        return None
    state = decode_state(row[6])
    if state.deletetime is not None:
        return None
    rows = q.grants_of(row[0])
    grants = tuple(grant_of(row[1], r, k, oid, wg) for r, k, oid, wg, _ in rows)
    company_roles: dict[int, set[str]] = {}
    domain_roles: dict[int, set[str]] = {}
    workgroups: set[tuple[int, str]] = set()
    for g in grants:
        if g.obj.kind == "company":
            company_roles.setdefault(g.obj.company_id, set()).add(g.role)
        elif g.obj.kind == "domain":
            assert g.obj.domain_id is not None
            domain_roles.setdefault(g.obj.domain_id, set()).add(g.role)
        else:
            assert g.obj.domain_id is not None and g.obj.workgroup is not None
            workgroups.add((g.obj.domain_id, g.obj.workgroup))
    return Principal(
        name=row[3],
        user_id=row[0],
        company_id=row[1],
        domain_id=row[2],
        workgroup=state.workgroup,
        roles=tuple((r, o) for r, _, _, _, o in rows),
        grants=grants,
        company_roles={k: frozenset(v) for k, v in company_roles.items()},
        domain_roles={k: frozenset(v) for k, v in domain_roles.items()},
        workgroups=frozenset(workgroups),
    )


# -- what is asked about -------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Target:
    """A company, domain or user the caller named (resolved through aliases)."""

    type: ObjectType
    id: int
    name: str
    company_id: int
    domain_id: int | None = None
    createtime: int = 0
    workgroup: str | None = None
    state: UserState | None = None
    by_alias: bool = False

    @property
    def obj(self) -> Obj:
        """The object as the permission table sees it."""
        if self.type == "company":
            return Obj("company", self.id)
        if self.type == "domain":
            return Obj("domain", self.company_id, domain_id=self.id)
        return Obj(
            "user",
            self.company_id,
            domain_id=self.domain_id,
            workgroup=self.workgroup,
            user_id=self.id,
        )


def _company_target(c: tuple[int, str, int]) -> Target:
    return Target("company", c[0], c[1], c[0], createtime=c[2])


def _domain_target(d: tuple[int, int, str, int, int | None, str]) -> Target:
    return Target("domain", d[0], d[2], d[1], domain_id=d[0], createtime=d[3])


def _user_target(row: Any) -> Target:
    state = decode_state(row[6])
    return Target(
        "user",
        row[0],
        row[3],
        row[1],
        domain_id=row[2],
        createtime=row[5],
        workgroup=state.workgroup,
        state=state,
        by_alias=bool(row[7]),
    )


#: decoded in place of a missing account (see find_target)
_NO_USER = (0, 0, 0, "", None, 0, encode_state(UserState()), 0)
_NO_COMPANY = (0, "", 0)
_NO_DOMAIN = (0, 0, "", 0, None, "")
#: what a missing object's permission check is weighed with (see _obj_of)
_STAND_IN = _user_target(_NO_USER)


def company_target(c: tuple[int, str, int] | None) -> Target | None:
    """The company of row ``c``; None for no row, after the same work (rule 3:
    the time of an answer must not tell a missing object from another
    tenant's)."""
    t = _company_target(c or _NO_COMPANY)
    return None if c is None else t


def domain_target(d: tuple[int, int, str, int, int | None, str] | None) -> Target | None:
    """The domain of row ``d``; None for no row, after the same work (rule 3)."""
    t = _domain_target(d or _NO_DOMAIN)
    return None if d is None else t


def find_target(q: Queries, type_: ObjectType, name: str) -> Target | None:
    """The object ``name`` names, or None.  One store read either way, and a
    missing object is built as one that exists is, from a stand-in row (rule
    3: the time of the answer must not tell them apart)."""
    if type_ == "company":
        return company_target(q.company_by_name(name))
    if type_ == "domain":
        dom = normalize_domain(name)
        t = domain_target(q.domain_by_name(dom or ""))
        return None if dom is None else t
    address = normalize_address(name)
    row = q.user_by_address(address or "")
    t = _user_target(row or _NO_USER)
    return None if row is None or row[7] is None or address is None else t


def target_by_id(q: Queries, type_: ObjectType, object_id: int) -> Target | None:
    """The company or domain with id ``object_id`` (a deleted domain too), or None.
    For what a caller was already allowed to name (a stats_snapshot link)."""
    if type_ == "company":
        c = q.company_by_id(object_id)
        return None if c is None else _company_target(c)
    d = q.domain_by_id(object_id)
    return None if d is None else _domain_target(d)


def scope_company(p: Principal) -> int | None:
    """The one company whose objects ``p`` may see (roles are held on objects
    of the account's own company), or None for an operator's every company.
    A caller that is neither sees none: company 0 (fails closed)."""
    return None if p.operator else (p.company_id or 0)


def _obj_of(t: Target | None) -> Obj | None:
    """``t``'s object for the permission table, or None for a missing one,
    after the same work (rule 3)."""
    if t is None:
        _STAND_IN.obj  # noqa: B018
        return None
    return t.obj


def visible(p: Principal, t: Target | None) -> bool:
    """May ``p`` know that ``t`` exists?  False for a missing one (None), after
    the same work (rule 3)."""
    return Action.SEE in access.weighed_actions(p, _obj_of(t))


def require_readable(p: Principal, t: Target | None, label: str, name: str) -> Target:
    """``t`` if ``p`` may see it; error 2 (the same as missing) otherwise."""
    access.require_seen(p, _obj_of(t), label, name)
    assert t is not None
    return t


def require_found(
    q: Queries, p: Principal, action: Action, kind: ObjectType, name: str, doing: str
) -> Target:
    """The ``kind`` called ``name``, if ``p`` may ``action`` it: error 2 unless
    ``p`` sees it (the same as missing), error 4 unless it may act (the sentence
    says ``doing`` the object, e.g. "delete" domain 'x')."""
    t = find_target(q, kind, name)
    shown = t.name if t is not None else name
    access.require(p, action, _obj_of(t), kind, name, f"{doing} {kind} '{shown}'")
    assert t is not None
    return t


def require_stats_readable(
    p: Principal, t: Target | None, label: str, name: str, what: str = "the statistics of"
) -> Target:
    """``t`` if ``p`` may read its statistics; error 2 if unseen, 4 if only seen.

    ``company_token_only`` makes its company's objects visible (so the answer is
    4, not 2) but readable through no role, and the user itself neither.  The
    ``get_*`` methods read with the same rule (``what=""``): their answers show
    quota use and last logins.
    """
    what = f"{what} " if what else ""
    shown = t.name if t is not None else name
    access.require(p, Action.READ, _obj_of(t), label, name, f"read {what}{label} '{shown}'")
    assert t is not None
    return t


def own_company(q: Queries, p: Principal, what: str) -> Target:
    """The caller's own company, for a request that does not name it.  A caller
    that may not read it is told so without its name (error 2 if it may not see
    it, 4 if it may only see it): a plain user knows its address, not what its
    company is called."""
    row = q.company_by_id(p.company_id or 0)
    t = None if row is None else _company_target(row)
    acts = frozenset() if t is None else actions(p, t.obj)
    if Action.SEE not in acts:  # as for any object outside the scope: error 2
        raise OMAError(
            NOT_FOUND, "your company is outside what you may see", {"company": "not in scope"}
        )
    if Action.READ not in acts:
        raise forbidden(what)
    assert t is not None
    return t


def alias_domains(q: Queries, t: Target) -> tuple[Obj, ...]:
    """The domains the account ``t``'s aliases are in (its own company's)."""
    names = {a.rpartition("@")[2] for a in (t.state.aliases if t.state else ())}
    out = []
    for dname in sorted(names):
        d = q.domain_by_name(dname)
        if d is not None and d[1] == t.company_id:
            out.append(Obj("domain", d[1], domain_id=d[0]))
    return tuple(out)


def _may_act(q: Queries, p: Principal, action: Action, t: Target) -> bool:
    return may_act_on_account(
        p, action, t.obj, held_grants(q, t.id, t.company_id), alias_domains(q, t)
    )


def require_account_action(
    q: Queries, p: Principal, t: Target | None, action: Action, label: str, name: str, what: str
) -> Target:
    """Scope, then permission including isolation rule 1 (every role the account
    holds, and every domain its aliases are in, lies inside the caller's
    rights): error 2, then error 4."""
    t = require_readable(p, t, label, name)
    if not _may_act(q, p, action, t):
        raise forbidden(what)
    return t


def may_manage_account(q: Queries, p: Principal, t: Target) -> bool:
    """May ``p`` change, delete or restore the account ``t`` (isolation rule 1)?"""
    return _may_act(q, p, Action.CHANGE, t)


def may_manage_users(p: Principal, company_id: int, domain_id: int) -> bool:
    """May ``p`` create accounts and alias addresses in the domain?"""
    return allowed(p, Action.CREATE_USER, Obj("domain", company_id, domain_id=domain_id))
