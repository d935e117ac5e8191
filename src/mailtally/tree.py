"""The tenant tree: companies → domains → workgroups → users (SPEC §2).

Two halves:

* **scopes** — who may see and change what.  An object outside the caller's
  scope is reported as missing (error 2) so that tenants cannot probe each
  other; an object the caller may see but not change is error 4.
* **actions** — ``do_<verb>_<noun>`` functions that validate, change the tree
  inside one write transaction, keep the gauge history (``history.UserChange``)
  and write the audit log.

Functions here take a :class:`Ctx`: the open store session, the clock, the
period rules and who is acting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from mailtally import access, periods
from mailtally.access import (
    COMPANY_ROLES,
    ROLE_KIND,
    ROLES,
    Action,
    Grant,
    Obj,
    actions,
    allowed,
    covers,
    forbidden,
    may_act_on_account,
    not_found,
    reaches_into,
)
from mailtally.errors import (
    BAD_ATTRIBUTE,
    BAD_REQUEST,
    EXISTS,
    FORBIDDEN,
    IS_ALIAS,
    NOT_FOUND,
    OMAError,
)
from mailtally.history import UserChange, UserState, decode_state, encode_state
from mailtally.metrics import DELIVERY_FLAGS, SERVICE_STATES, SERVICES, USER_TYPES
from mailtally.names import BAD_CHARACTERS, company_key, has_bad_characters
from mailtally.periods import Periods
from mailtally.store.base import Queries

__all__ = [
    "COMPANY_ROLES",
    "ROLES",
    "Ctx",
    "Principal",
    "Target",
    "authorize_change_user",
    "do_change_company",
    "do_change_domain",
    "do_change_user",
    "do_delete_domain",
    "do_delete_user",
    "do_rename_user",
    "do_restore_domain",
    "do_restore_user",
    "do_set_role",
    "do_set_roles",
    "find_target",
    "load_principal",
    "normalize_address",
    "normalize_domain",
    "own_company",
    "require_account_action",
    "require_readable",
    "require_stats_readable",
    "user_for_change",
    "visible",
]

ObjectType = Literal["company", "domain", "user"]


MAX_NAME = 128
_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
# (\Z, not $: $ also matches before a final newline)
_WORKGROUP = re.compile(f"^[^{BAD_CHARACTERS}/]{{1,64}}\\Z")


# -- names -------------------------------------------------------------------
def normalize_domain(name: str) -> str | None:
    """The stored (lower-case, IDNA) form of a DNS name, or None if it is not one.

    Surrounding spaces and one trailing dot (the DNS root) are not part of the
    name; control characters are refused, not stripped (SPEC §2 rule 5).
    """
    if has_bad_characters(name):
        return None
    name = name.strip(" ")
    if name.endswith("."):
        name = name[:-1]
    if not name or len(name) > 253:
        return None
    try:
        ascii_name = name.encode("idna").decode("ascii").lower()
    except (UnicodeError, ValueError):
        return None
    labels = ascii_name.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return None
    if labels[-1].isdigit():
        return None
    return ascii_name


def normalize_address(address: str) -> str | None:
    """``local@domain`` lower-cased (domain in IDNA), or None if malformed."""
    if has_bad_characters(address):
        return None
    local, at, domain = address.strip(" ").rpartition("@")
    if not at or not local or len(local) > 64:
        return None
    local = local.lower()
    if not _LOCAL.match(local):
        return None
    dom = normalize_domain(domain)
    if dom is None:
        return None
    return f"{local}@{dom}"


def dns_name(name: str, field: str = "domain") -> str:
    """:func:`normalize_domain` of a request's ``field``; error 5 naming it if
    ``name`` is no DNS name."""
    dom = normalize_domain(name)
    if dom is None:
        raise OMAError(
            BAD_REQUEST, f"{field} '{name}' is not a valid DNS name", {field: "not a DNS name"}
        )
    return dom


def format_rfc3339(ts: int | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: Any, attr: str, now: int) -> int:
    """An RFC 3339 time not in the future, as epoch seconds (error 6 otherwise)."""
    try:
        return periods.parse_rfc3339(value, now, max_ahead=60)
    except ValueError as exc:
        raise _bad_attr(attr, str(exc)) from None


def _bad_attr(attr: str, reason: str) -> OMAError:
    return OMAError(BAD_ATTRIBUTE, f"attribute '{attr}' {reason}", {attr: reason})


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


def find_target(q: Queries, type_: ObjectType, name: str) -> Target | None:
    """The object ``name`` names, or None.  One store read either way (so that an
    object that exists and one that does not cost the same)."""
    if type_ == "company":
        c = q.company_by_name(name)
        return None if c is None else _company_target(c)
    if type_ == "domain":
        dom = normalize_domain(name)
        d = q.domain_by_name(dom or "")
        return None if d is None or dom is None else _domain_target(d)
    address = normalize_address(name)
    row = q.user_by_address(address or "")
    if row is None or row[7] is None or address is None:
        _user_target(row or _NO_USER)  # the same work as for an account that exists (rule 3)
        return None
    return _user_target(row)


def visible(p: Principal, t: Target) -> bool:
    """May ``p`` know that ``t`` exists?"""
    return Action.SEE in actions(p, t.obj)


def require_readable(p: Principal, t: Target | None, label: str, name: str) -> Target:
    """``t`` if ``p`` may see it; error 2 (the same as missing) otherwise."""
    access.require_seen(p, None if t is None else t.obj, label, name)
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
    access.require(
        p, Action.READ, None if t is None else t.obj, label, name, f"read {what}{label} '{shown}'"
    )
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


# -- context ---------------------------------------------------------------------
@dataclass(slots=True)
class Ctx:
    """What an action needs: a write session, the time, the periods, the actor."""

    q: Queries
    periods: Periods
    now: int
    actor: Principal
    client: str | None = None

    def audit(
        self,
        company_id: int | None,
        method: str,
        obj: str,
        detail: Any,
        kind: ObjectType | None = None,
        object_id: int | None = None,
    ) -> None:
        """One audit-log row; ``kind`` and ``object_id`` name the object so that
        its changes are found by id (get_*_changes), through renames."""
        self.q.audit(
            self.now,
            company_id,
            self.actor.name,
            self.client,
            method,
            obj,
            msgspec.json.encode(detail).decode(),
            kind,
            object_id,
        )


def _forbid(action: str) -> OMAError:
    return forbidden(action)


def _check_attributes(attributes: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in attributes:
        if key not in allowed:
            raise _bad_attr(key, f"is not an attribute here (allowed: {', '.join(allowed)})")


def check_company_name(name: str) -> str:
    """A company name as it is stored: 1–128 characters of text (rule 5), without
    surrounding spaces; error 5 otherwise."""
    name = name.strip(" ")
    if not 1 <= len(name) <= MAX_NAME:
        raise OMAError(
            BAD_REQUEST, "field 'company' must be 1 to 128 characters", {"company": "bad length"}
        )
    if has_bad_characters(name):
        raise OMAError(
            BAD_REQUEST,
            "field 'company' must not contain control characters",
            {"company": "control characters"},
        )
    return name


#: Creating a company: an action on a company no one holds a role on yet (id 0
#: names none), so that only a role reaching every company — an operator's —
#: allows it.
_NEW_COMPANY = Obj("company", 0)


# -- companies -------------------------------------------------------------------
def do_change_company(
    ctx: Ctx, name: str, attributes: dict[str, Any], create_only: bool
) -> tuple[int, bool]:
    """Create or change a company (operators only).  Returns (id, created).

    The name is looked up regardless of case (rule 5): ``ACME`` changes ``Acme``
    (error 7 with ``create_only``), it never makes a second company.
    """
    name = check_company_name(name)
    existing = ctx.q.company_by_name(name)
    p = ctx.actor
    obj = _NEW_COMPANY if existing is None else Obj("company", existing[0])
    if not allowed(p, Action.CHANGE, obj):
        if existing is not None and visible(p, _company_target(existing)):
            raise _forbid("change a company (operators only)")
        # Any other name — another tenant's company or a free one — gets the same
        # answer, so that company names cannot be probed.
        raise OMAError(NOT_FOUND, f"company '{name}' does not exist", {"company": "unknown"})
    _check_attributes(attributes, ("createtime",))
    if existing is not None and create_only:
        raise OMAError(EXISTS, f"company '{existing[1]}' already exists", {"company": "exists"})
    createtime = None
    if "createtime" in attributes:
        createtime = parse_rfc3339(attributes["createtime"], "createtime", ctx.now)
    if existing is None:
        cid = ctx.q.insert_company(name, ctx.now if createtime is None else createtime)
        ctx.audit(
            cid,
            "change_company",
            name,
            {"created": True, "attributes": attributes},
            "company",
            cid,
        )
        return cid, True
    if createtime is not None:
        raise _bad_attr("createtime", "can only be given when the company is created")
    ctx.audit(
        existing[0],
        "change_company",
        existing[1],
        {"attributes": attributes},
        "company",
        existing[0],
    )
    return existing[0], False


# -- domains ---------------------------------------------------------------------
DOMAIN_ATTRIBUTES = (*(f"service_{s}" for s in SERVICES), "quota", "createtime")


def _check_service_state(attr: str, value: Any) -> str:
    if value not in SERVICE_STATES:
        raise _bad_attr(attr, "must be one of enabled, disabled, suspended")
    return str(value)


def _check_quota(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value >= 2**62:
        raise _bad_attr("quota", "must be a whole number of bytes, 0 for unlimited")
    return value


def domain_defaults(attributes_json: str) -> dict[str, Any]:
    return dict(msgspec.json.decode(attributes_json))


def _domain_values(ctx: Ctx, attributes: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """The domain attributes checked: (service/quota values, createtime or None)."""
    _check_attributes(attributes, DOMAIN_ATTRIBUTES)
    values: dict[str, Any] = {}
    for key, value in attributes.items():
        if key.startswith("service_"):
            values[key] = _check_service_state(key, value)
        elif key == "quota":
            values[key] = _check_quota(value)
    createtime = (
        parse_rfc3339(attributes["createtime"], "createtime", ctx.now)
        if "createtime" in attributes
        else None
    )
    return values, createtime


def _creation_company(ctx: Ctx, company: str | None) -> int:
    """The company a new domain ``dom`` goes to, scope and permission first:
    the named company must be one the caller sees (error 2 as if missing) and
    may create domains in (error 4).  Without a ``company``: the one company the
    caller may create domains in (error 4 for a caller that may create none,
    whoever holds the name)."""
    p = ctx.actor
    if company is not None:
        c = ctx.q.company_by_name(company)
        t = None if c is None else _company_target(c)
        if t is not None and visible(p, t):
            if not allowed(p, Action.CREATE_DOMAIN, t.obj):
                raise _forbid(f"create domains in company '{t.name}'")
            return t.id
        raise OMAError(NOT_FOUND, f"company '{company}' does not exist", {"company": "unknown"})
    if p.operator:
        raise OMAError(
            BAD_REQUEST,
            "field 'company' is required when an operator creates a domain",
            {"company": "required"},
        )
    own = sorted(
        {
            g.obj.company_id
            for g in p.grants
            if g.obj.kind == "company" and allowed(p, Action.CREATE_DOMAIN, g.obj)
        }
    )
    if len(own) == 1:
        return own[0]
    raise _forbid("create domains (only a company admin may)")


def do_change_domain(
    ctx: Ctx, name: str, company: str | None, attributes: dict[str, Any], create_only: bool
) -> tuple[int, bool]:
    """Create or change a domain.

    Order (SPEC §2 rule 3): a domain the caller sees is changed (error 4 without
    the right, then 7, then the attributes).  Any other name — free, or another
    tenant's — goes the creation way: the company's scope and the right to
    create domains first, then the attributes, and only then whether another
    tenant holds the name (error 2: domain names are public in DNS, and a
    caller that may create domains learns it by creating one anyway).
    """
    dom = dns_name(name)
    existing = ctx.q.domain_by_name(dom)
    p = ctx.actor
    seen = existing is not None and visible(p, _domain_target(existing))
    if existing is not None and seen:
        t = _domain_target(existing)
        if not allowed(p, Action.CHANGE, t.obj):
            raise _forbid(f"change domain '{dom}'")
        if create_only:
            raise OMAError(EXISTS, f"domain '{dom}' already exists", {"domain": "exists"})
        values, createtime = _domain_values(ctx, attributes)
        if createtime is not None:
            raise _bad_attr("createtime", "can only be given when the domain is created")
        merged = domain_defaults(existing[5]) | values
        ctx.q.update_domain(existing[0], msgspec.json.encode(merged).decode())
        ctx.audit(
            existing[1], "change_domain", dom, {"attributes": attributes}, "domain", existing[0]
        )
        return existing[0], False
    # creation
    company_id = _creation_company(ctx, company)
    values, createtime = _domain_values(ctx, attributes)
    if existing is not None:  # another tenant's
        raise not_found("domain", dom)
    ctime = ctx.now if createtime is None else createtime
    did = ctx.q.insert_domain(company_id, dom, ctime, msgspec.json.encode(values).decode())
    crow = ctx.q.company_by_id(company_id)
    if crow is not None and ctime < crow[2]:
        ctx.q.update_company_createtime(company_id, ctime)
    ctx.audit(
        company_id,
        "change_domain",
        dom,
        {"created": True, "attributes": attributes},
        "domain",
        did,
    )
    return did, True


def do_delete_domain(ctx: Ctx, name: str) -> None:
    t = find_target(ctx.q, "domain", name)
    access.require(
        ctx.actor,
        Action.DELETE,
        None if t is None else t.obj,
        "domain",
        name,
        f"delete domain '{t.name if t else name}'",
    )
    assert t is not None
    users = ctx.q.users_of_domain(t.id)
    live = [u for u in users if decode_state(u[6]).deletetime is None]
    if live:
        raise OMAError(
            FORBIDDEN, f"domain '{t.name}' still has {len(live)} live users; delete them first"
        )
    # Aliases here of live accounts (of other domains) hold the domain; those of
    # soft-deleted accounts of other domains are dropped from them, and those of
    # this domain's own (soft-deleted) accounts go with their purge.
    dropped: dict[int, tuple[Any, UserState, list[str]]] = {}  # owner -> (row, state, aliases)
    for address, owner_id in ctx.q.aliases_in_domain(t.id):
        if owner_id not in dropped:
            owner = ctx.q.user_by_id(owner_id)
            dropped[owner_id] = (owner, decode_state(owner[6]), [])
        owner, state, addresses = dropped[owner_id]
        if owner[2] == t.id:
            continue
        if state.deletetime is None:
            raise OMAError(
                FORBIDDEN,
                f"domain '{t.name}' still holds aliases of live users; remove them first",
            )
        addresses.append(address)
    dropped = {k: v for k, v in dropped.items() if v[2]}
    for owner_id, (owner, state, addresses) in dropped.items():
        kept = [a for a in state.aliases if a not in addresses]
        new = msgspec.structs.replace(state, aliases=kept)
        with UserChange(ctx.q, ctx.periods, owner_id, since=ctx.now):
            _write_user(ctx, owner_id, owner[1], new, [], addresses)
    for u in users:  # soft-deleted accounts go with their domain
        with UserChange(ctx.q, ctx.periods, u[0], since=ctx.now):
            ctx.q.purge_user(u[0], ctx.now)
    ctx.q.delete_domain(t.id, ctx.now)
    ctx.q.drop_roles_on_domain(t.company_id, t.id)
    detail: dict[str, Any] = {"purged_users": len(users)}
    if dropped:
        detail["dropped_aliases"] = sorted(
            a for _, _, addresses in dropped.values() for a in addresses
        )
    ctx.audit(t.company_id, "delete_domain", t.name, detail, "domain", t.id)


def do_restore_domain(
    ctx: Ctx, name: str, domain_id: int | None = None, new_name: str | None = None
) -> Target:
    """Bring a deleted domain back with its history (SPEC §4), optionally
    under ``new_name``; the accounts purged with it stay purged, and the roles
    and aliases dropped with it stay dropped.

    Scope first (rule 3): only deleted domains the caller may see are
    candidates (error 2 if none; with several, ``domain_id`` says which, else
    error 5); then the right to restore (4); then whether the name is free
    (error 7 for a live domain the caller sees, 2 for any other).  A live
    domain of that name and no deleted one: error 4 without the right, else 7.
    """
    dom = dns_name(name)
    p = ctx.actor
    seen = [
        _domain_target(d)
        for d in ctx.q.deleted_domains_named(dom)
        if visible(p, _domain_target(d)) and (domain_id is None or d[0] == domain_id)
    ]
    if not seen:
        live = find_target(ctx.q, "domain", dom)
        if domain_id is None and live is not None and visible(p, live):
            if not allowed(p, Action.RESTORE, live.obj):
                raise _forbid(f"restore domain '{dom}'")
            raise OMAError(EXISTS, f"domain '{dom}' exists and is not deleted", {"domain": "live"})
        if domain_id is not None:
            raise OMAError(
                NOT_FOUND, f"no deleted domain '{dom}' has id {domain_id}", {"id": "no such domain"}
            )
        raise not_found("domain", dom)
    if len(seen) > 1:
        raise OMAError(
            BAD_REQUEST,
            f"{len(seen)} deleted domains were called '{dom}'; field 'id' must say which "
            "(search_domains with deleted gives the ids)",
            {"id": "required"},
        )
    t = seen[0]
    if not allowed(p, Action.RESTORE, t.obj):
        raise _forbid(f"restore domain '{dom}'")
    target = dom if new_name is None else dns_name(new_name, "new_name")
    holder = ctx.q.domain_by_name(target)
    if holder is not None:
        if visible(p, _domain_target(holder)):
            field = "new_name" if new_name is not None else "domain"
            raise OMAError(
                EXISTS,
                f"domain '{target}' exists; restore under another name (new_name)",
                {field: "in use"},
            )
        raise not_found("domain", target, "new_name" if new_name is not None else "domain")
    ctx.q.restore_domain(t.id, target)
    detail: dict[str, Any] = {"id": t.id}
    if target != dom:
        detail |= {"domain": target, "old_name": dom}
    ctx.audit(t.company_id, "restore_domain", target, detail, "domain", t.id)
    return t


# -- users -----------------------------------------------------------------------
USER_ATTRIBUTES = (
    "type",
    "aliases",
    *(f"service_{s}" for s in SERVICES),
    *DELIVERY_FLAGS,
    "forward_recipients",
    "quota",
    "workgroup",
    "name",
    "password",
    "createtime",
)
#: What a user without an admin role may change of itself.
SELF_ATTRIBUTES = frozenset(
    ("password", "name", "forward_recipients", "delivery_forward", "delivery_autorespond")
)


def _address_list(value: Any, limit: int) -> list[str] | str:
    """``value`` as distinct normalized addresses, or the reason it is not that."""
    if not isinstance(value, list) or len(value) > limit:
        return f"must be a list of at most {limit} addresses"
    norm = [normalize_address(v) if isinstance(v, str) else None for v in value]
    if any(a is None for a in norm):
        return "must hold valid email addresses only"
    return list(dict.fromkeys(a for a in norm if a))


def _may_use_address(ctx: Ctx, address: str, company_id: int) -> bool:
    """May the caller create (or remove) ``address`` as an alias of an account
    of ``company_id``?  Reads that company's domains only."""
    d = ctx.q.domain_in_company(address.rpartition("@")[2], company_id)
    return d is not None and may_manage_users(ctx.actor, d[1], d[0])


def _apply_user_attributes(
    ctx: Ctx,
    state: UserState,
    attributes: dict[str, Any],
    company_id: int,
    user_id: int | None,
    address: str,
) -> tuple[UserState, list[str], list[str]]:
    """Validate ``attributes`` onto a copy of ``state`` of the account ``address``
    (``user_id`` None: being created); (new, aliases added, removed)."""
    new = msgspec.structs.replace(state, services=dict(state.services))
    hints: dict[str, str] = {}

    def bad(attr: str, reason: str) -> None:
        hints[attr] = reason

    added: list[str] = []
    removed: list[str] = []
    for key, value in attributes.items():
        if key == "type":
            if value not in USER_TYPES:
                bad(key, "must be one of mailbox, forward, filter")
            else:
                new.type = value
        elif key.startswith("service_"):
            if value not in SERVICE_STATES:
                bad(key, "must be one of enabled, disabled, suspended")
            else:
                new.services[key[len("service_") :]] = value
        elif key in DELIVERY_FLAGS:
            if not isinstance(value, bool):
                bad(key, "must be true or false")
            else:
                setattr(new, key, value)
        elif key == "forward_recipients":
            recipients = _address_list(value, 100)
            if isinstance(recipients, str):
                bad(key, recipients)
            else:
                new.forward_recipients = recipients
        elif key == "quota":
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**62:
                bad(key, "must be a whole number of bytes, 0 for unlimited")
            else:
                new.quota = value
        elif key == "workgroup":
            if not isinstance(value, str) or not _WORKGROUP.match(value):
                bad(key, "must be 1 to 64 characters, without '/' or control characters")
            else:
                new.workgroup = value
        elif key == "name":
            if not isinstance(value, str) or len(value) > MAX_NAME:
                bad(key, f"must be a string of at most {MAX_NAME} characters")
            elif has_bad_characters(value):
                bad(key, "must not contain control characters")
            else:
                new.name = value
        elif key == "aliases":
            wanted = _address_list(value, 1000)
            if isinstance(wanted, str):
                bad(key, wanted)
                continue
            # Scope first (rule 3): the alias's domain must be one of this
            # company's that the caller manages (a domain admin would otherwise
            # take another domain's mail) — looked up among this company's
            # domains only, and answered alike for any domain it may not use.
            # Only then is the address's owner (this company's data) read.
            for a in wanted:
                if a in state.aliases:
                    continue
                if not _may_use_address(ctx, a, company_id):
                    bad(key, f"{a} is not in a domain of this company that you manage")
                    break
                owner = ctx.q.resolve_address(a)
                # (an account being created has no address row yet)
                if a == address or (owner is not None and owner[0] == user_id and not owner[3]):
                    bad(key, f"address {a} is the account's own address")
                    break
                if owner is not None and owner[0] != user_id:
                    bad(key, f"address {a} is already in use")
                    break
            added = [a for a in wanted if a not in state.aliases]
            removed = [a for a in state.aliases if a not in wanted]
            for a in removed:  # as adding: only in a domain the caller manages
                if not _may_use_address(ctx, a, company_id):
                    bad(key, f"{a} is not in a domain of this company that you manage")
                    break
            new.aliases = wanted
    if hints:
        first = next(iter(hints))
        raise OMAError(BAD_ATTRIBUTE, f"attribute '{first}' {hints[first]}", hints)
    return new, added, removed


@dataclass(frozen=True, slots=True)
class UserChangePlan:
    """What :func:`authorize_change_user` found: the account (None: to be created
    in ``domain``)."""

    address: str
    domain: tuple[int, int, str, int, int | None, str]
    target: Target | None


def authorize_change_user(
    q: Queries, p: Principal, name: str, attributes: dict[str, Any], create_only: bool
) -> UserChangePlan:
    """Everything ``change_user`` checks before it looks at the attributes' values.

    Order (SPEC §2 rule 3): the address's domain must be one the caller sees
    into before the address itself is looked up (another tenant's address,
    taken or free, is answered as its domain missing); then the account's scope
    (error 2), the right to change it and every role it holds (rule 1, error
    4), alias (3), ``create_only`` (7) and the attributes' names (6).  The view
    asks this before it hashes a new password, so that a caller refused costs
    no argon2 hash; the action asks it again inside its transaction.
    """
    address = normalize_address(name)
    if address is None:
        raise OMAError(
            BAD_REQUEST, f"user '{name}' is not a valid address", {"user": "not an address"}
        )
    dname = address.rpartition("@")[2]
    d = q.domain_by_name(dname)
    dt = None if d is None else _domain_target(d)

    def unknown_domain() -> OMAError:
        return OMAError(NOT_FOUND, f"domain '{dname}' does not exist", {"user": "unknown domain"})

    if d is None or dt is None or not reaches_into(p, dt.obj):
        raise unknown_domain()
    row = q.user_by_address(address)
    if row is None or row[7] is None:  # creation
        if not visible(p, dt):
            raise unknown_domain()
        if not allowed(p, Action.CREATE_USER, dt.obj):
            raise _forbid(f"create users in domain '{dname}'")
        _check_attributes(attributes, USER_ATTRIBUTES)
        return UserChangePlan(address, d, None)
    t = _user_target(row)
    if not visible(p, t):
        if not visible(p, dt):
            # the answer creating it would get: an unseen account is no free address
            raise unknown_domain()
        raise not_found("user", name)
    own_change = (
        t.id == p.user_id
        and set(attributes) <= SELF_ATTRIBUTES
        and allowed(p, Action.CHANGE_SELF, t.obj)
    )
    if not (own_change or may_manage_account(q, p, t)):
        raise _forbid(f"change user '{t.name if not t.by_alias else address}'")
    if t.by_alias:
        raise OMAError(
            IS_ALIAS,
            f"'{address}' is an alias of '{t.name}'; change the user by its real name",
            {"user": f"alias of {t.name}"},
        )
    if create_only:
        raise OMAError(EXISTS, f"user '{address}' already exists", {"user": "exists"})
    _check_attributes(attributes, USER_ATTRIBUTES)
    if "createtime" in attributes:
        raise _bad_attr("createtime", "can only be given when the user is created")
    return UserChangePlan(address, d, t)


def do_change_user(
    ctx: Ctx,
    name: str,
    attributes: dict[str, Any],
    create_only: bool,
    password_hash: str | None,
) -> tuple[int, bool]:
    """Create or change an account.  ``password_hash`` replaces ``attributes['password']``.

    :func:`authorize_change_user` first; then the attributes' values (6), and
    last the uniqueness of alias addresses.
    """
    plan = authorize_change_user(ctx.q, ctx.actor, name, attributes, create_only)
    address, d, t = plan.address, plan.domain, plan.target
    if t is not None:
        assert t.state is not None
        new, added, removed = _apply_user_attributes(
            ctx, t.state, attributes, t.company_id, t.id, t.name
        )
        with UserChange(ctx.q, ctx.periods, t.id, since=ctx.now):
            _write_user(ctx, t.id, t.company_id, new, added, removed)
        if password_hash is not None:
            ctx.q.set_password_hash(t.id, password_hash)
            ctx.q.drop_tokens_of(t.name, t.id)
        ctx.audit(
            t.company_id, "change_user", address, {"attributes": _redact(attributes)}, "user", t.id
        )
        return t.id, False
    # creation
    dt = _domain_target(d)
    defaults = domain_defaults(d[5])
    base = UserState(
        services={s: defaults.get(f"service_{s}", "enabled") for s in SERVICES},
        quota=int(defaults.get("quota", 0)),
    )
    createtime = ctx.now
    if "createtime" in attributes:
        createtime = parse_rfc3339(attributes["createtime"], "createtime", ctx.now)
    crow = ctx.q.company_by_id(dt.company_id)
    if (
        crow is not None
        and createtime < crow[2]
        and not allowed(ctx.actor, Action.CREATE_DOMAIN, Obj("company", dt.company_id))
    ):
        # An import older than the company moves the company's createtime back,
        # which changes every company-level answer: only whoever may shape the
        # company (its admins, operators) may do that, not a domain admin.
        raise _bad_attr(
            "createtime",
            "is before the company was created; only a company admin may import older history",
        )
    new, added, _ = _apply_user_attributes(ctx, base, attributes, dt.company_id, None, address)
    uid = ctx.q.insert_user(dt.company_id, dt.id, address, password_hash, createtime, "{}")
    ctx.q.add_address(address, dt.company_id, dt.id, uid, is_alias=False)
    with UserChange(ctx.q, ctx.periods, uid, since=createtime):
        _write_user(ctx, uid, dt.company_id, new, added, [], valid_from=createtime)
    if createtime < d[3]:  # an import older than its domain moves the domain back
        ctx.q.set_domain_createtime(d[0], createtime)
    if crow is not None and createtime < crow[2]:
        ctx.q.update_company_createtime(dt.company_id, createtime)
    ctx.audit(
        dt.company_id,
        "change_user",
        address,
        {"created": True, "attributes": _redact(attributes)},
        "user",
        uid,
    )
    return uid, True


def _redact(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if k == "password" else v) for k, v in attributes.items()}


def _write_user(
    ctx: Ctx,
    user_id: int,
    company_id: int,
    state: UserState,
    added: list[str],
    removed: list[str],
    valid_from: int | None = None,
) -> None:
    for a in removed:
        ctx.q.remove_alias(a)
    for a in added:
        d = ctx.q.domain_by_name(a.rpartition("@")[2])
        assert d is not None
        ctx.q.add_address(a, company_id, d[0], user_id, is_alias=True)
    text = encode_state(state)
    ctx.q.update_user_state(user_id, text)
    ctx.q.add_user_version(company_id, user_id, ctx.now if valid_from is None else valid_from, text)


def user_for_change(ctx: Ctx, name: str, action: Action, verb: str) -> Target:
    """The account ``name`` names, for ``action``: scope (2), then the right to
    act on it and on every role it holds (rule 1, error 4), then alias (3)."""
    t = find_target(ctx.q, "user", name)
    shown = name if t is None or t.by_alias else t.name
    t = require_account_action(ctx.q, ctx.actor, t, action, "user", name, f"{verb} user '{shown}'")
    if t.by_alias:
        raise OMAError(
            IS_ALIAS,
            f"'{name}' is an alias of '{t.name}'; {verb} the user by its real name",
            {"user": f"alias of {t.name}"},
        )
    return t


def do_delete_user(ctx: Ctx, name: str) -> Target:
    """Soft delete: the account stays, counted in users.deleted (SPEC §2)."""
    t = user_for_change(ctx, name, Action.DELETE, "delete")
    assert t.state is not None
    if t.state.deletetime is None:
        new = msgspec.structs.replace(t.state, deletetime=ctx.now)
        with UserChange(ctx.q, ctx.periods, t.id, since=ctx.now):
            _write_user(ctx, t.id, t.company_id, new, [], [])
        ctx.q.drop_tokens_of(t.name, t.id)
    ctx.audit(t.company_id, "delete_user", t.name, {}, "user", t.id)
    return t


def _new_address(ctx: Ctx, t: Target, new_name: str) -> tuple[str, int]:
    """The free address ``new_name`` for the account ``t``: (address, domain id).

    Scope first (rule 3): the address's domain must be a live domain of the
    account's own company (only that company's domains are read) that the
    caller may create accounts in — error 2 for one it cannot see, another
    tenant's and a missing one alike, 4 for one it only sees; only then
    whether the address is taken (error 7).
    """
    address = normalize_address(new_name)
    if address is None:
        raise OMAError(
            BAD_REQUEST,
            f"field 'new_name' ('{new_name}') is not a valid address",
            {"new_name": "not an address"},
        )
    dname = address.rpartition("@")[2]
    d = ctx.q.domain_in_company(dname, t.company_id)
    obj = None if d is None else Obj("domain", d[1], domain_id=d[0])
    if obj is None or Action.SEE not in actions(ctx.actor, obj):
        raise OMAError(
            NOT_FOUND, f"domain '{dname}' does not exist", {"new_name": "unknown domain"}
        )
    if not allowed(ctx.actor, Action.CREATE_USER, obj):
        raise _forbid(f"create addresses in domain '{dname}'")
    assert d is not None
    if ctx.q.resolve_address(address) is not None:
        raise OMAError(EXISTS, f"address '{address}' is already in use", {"new_name": "in use"})
    return address, int(d[0])


def _move_account(ctx: Ctx, t: Target, address: str, domain_id: int, state: UserState) -> None:
    """Give ``t`` the address ``address`` (in ``domain_id``) and the state
    ``state`` from now on, with the gauge changes that makes (the account
    counts in its new domain from now on, in its old one before)."""
    with UserChange(ctx.q, ctx.periods, t.id, since=ctx.now):
        ctx.q.rename_user(t.id, address, domain_id)
        _write_user(ctx, t.id, t.company_id, state, [], [])
    # the old name's credentials stop working: its tokens were issued to it
    ctx.q.drop_tokens_of(t.name, t.id)


def do_rename_user(ctx: Ctx, name: str, new_name: str) -> tuple[Target, str]:
    """Give an account another address; (the account as it was, the new address).

    Scope (2), rule 1 (4), alias (3), then the new address (2, 4, 7: see
    :func:`_new_address`).  The account keeps its id, so its history, roles,
    aliases and quota reports follow it; the old name is free at once.
    """
    t = user_for_change(ctx, name, Action.RENAME, "rename")
    assert t.state is not None
    address, domain_id = _new_address(ctx, t, new_name)
    _move_account(ctx, t, address, domain_id, t.state)
    ctx.audit(
        t.company_id, "rename_user", address, {"user": address, "old_name": t.name}, "user", t.id
    )
    return t, address


def _deleted_account(ctx: Ctx, name: str, user_id: int | None) -> Target | None:
    """The soft-deleted account called ``name`` that restore_user means, among
    those the caller may see (others' are never looked at further): the one
    with ``user_id`` if given (error 2 if none), else the only one (error 5
    naming ``id`` if several).  None: no deleted account of that name."""
    address = normalize_address(name)
    if address is None:
        return None
    seen = [
        _user_target((*row, 0))
        for row in ctx.q.deleted_users_named(address, None)
        if decode_state(row[6]).deletetime is not None
    ]
    seen = [t for t in seen if visible(ctx.actor, t)]
    if user_id is not None:
        match = [t for t in seen if t.id == user_id]
        if not match:
            raise OMAError(
                NOT_FOUND,
                f"no deleted user '{name}' has id {user_id}",
                {"id": "no such deleted account"},
            )
        return match[0]
    if len(seen) > 1:
        raise OMAError(
            BAD_REQUEST,
            f"{len(seen)} deleted accounts were called '{address}'; field 'id' must say which "
            "(search_users with deleted gives the ids)",
            {"id": "required"},
        )
    return seen[0] if seen else None


def do_restore_user(
    ctx: Ctx, name: str, user_id: int | None = None, new_name: str | None = None
) -> Target:
    """Bring a soft-deleted account back (SPEC §2), optionally under ``new_name``.

    The account is the deleted one called ``name`` (``user_id`` picks among
    several); without a deleted one, ``name`` is read as any account (an
    account that is live is restored to what it is: nothing changes).
    """
    t = _deleted_account(ctx, name, user_id)
    if t is None:
        t = user_for_change(ctx, name, Action.RESTORE, "restore")
    else:
        t = require_account_action(
            ctx.q, ctx.actor, t, Action.RESTORE, "user", name, f"restore user '{t.name}'"
        )
    assert t.state is not None
    detail: dict[str, Any] = {}
    if new_name is not None and normalize_address(new_name) == t.name:
        new_name = None  # (OMA clients send the account's own name when not renaming)
    if t.state.deletetime is not None:
        new = msgspec.structs.replace(t.state, deletetime=None)
        if new_name is not None:
            address, domain_id = _new_address(ctx, t, new_name)
            _move_account(ctx, t, address, domain_id, new)
            detail = {"user": address, "old_name": t.name}
        else:
            with UserChange(ctx.q, ctx.periods, t.id, since=ctx.now):
                _write_user(ctx, t.id, t.company_id, new, [], [])
    elif new_name is not None:
        raise OMAError(
            BAD_REQUEST, f"user '{t.name}' is not deleted", {"new_name": "user not deleted"}
        )
    ctx.audit(t.company_id, "restore_user", detail.get("user", t.name), detail, "user", t.id)
    return t


def _role_object(ctx: Ctx, t: Target, role: str, obj: str) -> tuple[Obj, str]:
    """What a role of ``t``'s is held on, read among ``t``'s company's objects
    only (rule 3: another tenant's name and a missing one are the same error);
    (the object by id, its canonical name)."""
    kind = ROLE_KIND[role]
    if kind == "company":
        c = ctx.q.company_by_id(t.company_id)
        if c is None or company_key(obj) != company_key(c[1]):
            raise OMAError(
                BAD_REQUEST,
                f"object '{obj}' must be the user's own company for role {role}",
                {"object": "not the user's company"},
            )
        return Obj("company", c[0]), c[1]
    dname, slash, wg = obj.partition("/")
    dom = normalize_domain(dname)
    d = ctx.q.domain_in_company(dom, t.company_id) if dom else None
    if d is None:
        raise OMAError(
            BAD_REQUEST,
            f"object '{obj}' must name a domain of the user's company",
            {"object": "not a domain of the user's company"},
        )
    if kind == "workgroup":
        if not slash or not _WORKGROUP.match(wg):
            raise OMAError(
                BAD_REQUEST,
                "object must be 'domain/workgroup' for role workgroup",
                {"object": "not domain/workgroup"},
            )
        return Obj("workgroup", d[1], domain_id=d[0], workgroup=wg), f"{d[2]}/{wg}"
    if slash:
        raise OMAError(BAD_REQUEST, f"object must be a domain for role {role}", {"object": "bad"})
    return Obj("domain", d[1], domain_id=d[0]), d[2]


def do_set_role(ctx: Ctx, name: str, role: str, obj: str) -> Target:
    """Grant ``role`` on ``obj`` (``role`` "": take every role away)."""
    return do_set_roles(ctx, name, role, [obj])


def do_set_roles(ctx: Ctx, name: str, role: str, objects: list[str]) -> Target:
    """Grant ``role`` on each of ``objects`` (``role`` "": take every role
    away), all or none: one failing object fails the request, and the
    transaction leaves every role as it was.

    Scope (2); the right to set the account's roles and every role it already
    holds inside the caller's rights (rule 1, error 4); alias (3); then the
    role and each object, among the account's company's own objects (5); and
    each role granted must lie inside the caller's rights too (4).
    """
    t = find_target(ctx.q, "user", name)
    shown = name if t is None or t.by_alias else t.name
    t = require_account_action(
        ctx.q, ctx.actor, t, Action.SET_ROLE, "user", name, f"change the roles of '{shown}'"
    )
    if t.by_alias:
        raise OMAError(IS_ALIAS, f"'{name}' is an alias of '{t.name}'", {"user": "alias"})
    single = len(objects) == 1
    if role == "":
        ctx.q.clear_roles(t.id, t.company_id)
        detail: dict[str, Any] = {"role": ""}
        detail.update({"object": objects[0]} if single else {"objects": objects})
        ctx.audit(t.company_id, "set_role", t.name, detail, "user", t.id)
        return t
    if role not in ROLES:
        raise OMAError(
            BAD_REQUEST, f"role '{role}' is not one of {', '.join(ROLES)}", {"role": "unknown"}
        )
    granted = []
    for obj in objects:
        reach, canonical = _role_object(ctx, t, role, obj)
        if not covers(ctx.actor, role, reach):
            raise _forbid(f"grant role {role} on '{canonical}' (beyond your own rights)")
        ctx.q.add_role(
            t.company_id,
            t.id,
            role,
            reach.kind,
            reach.company_id if reach.kind == "company" else reach.domain_id or 0,
            reach.workgroup or "",
        )
        granted.append(canonical)
    detail = {"role": role}
    detail.update({"object": granted[0]} if single else {"objects": granted})
    ctx.audit(t.company_id, "set_role", t.name, detail, "user", t.id)
    return t
