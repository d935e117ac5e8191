"""The actions that change the tree (SPEC §2, §4), and what every action shares.

Each ``do_<verb>_<noun>`` takes a :class:`Ctx` (the open write session, the
clock, the period rules and who is acting), checks scope first (as
:mod:`mailtally.tree.scopes` answers), then validates, changes the tree inside
that one write transaction, keeps the gauge history (``history.UserChange``)
and writes the audit log.

Here: :class:`Ctx`, the checks and the account write every action uses, and the
actions on companies and domains.  The actions on accounts and their roles are
in :mod:`mailtally.tree.accounts`, those on workgroups in
:mod:`mailtally.tree.workgroups`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from mailtally.access import Action, Obj, allowed, forbidden, not_found
from mailtally.errors import BAD_REQUEST, EXISTS, FORBIDDEN, NOT_FOUND, OMAError
from mailtally.history import UserChange, UserState, decode_state, encode_state
from mailtally.metrics import SERVICE_STATES, SERVICES
from mailtally.names import has_bad_characters
from mailtally.periods import Periods
from mailtally.store.base import Queries
from mailtally.tree.scopes import (
    ObjectType,
    Principal,
    Target,
    _domain_target,
    company_target,
    domain_target,
    find_target,
    require_found,
    scope_company,
    visible,
)
from mailtally.tree.values import MAX_NAME, _bad_attr, dns_name, parse_rfc3339

__all__ = [
    "DOMAIN_ATTRIBUTES",
    "Ctx",
    "check_company_name",
    "do_change_company",
    "do_change_domain",
    "do_delete_domain",
    "do_restore_domain",
    "domain_defaults",
]


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
    # Creating a company: an action on a company no one holds a role on yet (id
    # 0 names none), so that only a role reaching every company — an
    # operator's — allows it; built as an existing one's is (rule 3)
    obj = Obj("company", 0 if existing is None else existing[0])
    if not allowed(p, Action.CHANGE, obj):
        if visible(p, company_target(existing)):
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
        t = company_target(c)
        if visible(p, t):
            assert t is not None
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
    seen = visible(p, domain_target(existing))
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
    t = require_found(ctx.q, ctx.actor, Action.DELETE, "domain", name, "delete")
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
    holders = ctx.q.drop_roles_on_domain(t.company_id, t.id)
    # Every process reads the holders' roles again at their next request; the tokens
    # the domain's admins made go with their rights there (only ``domain`` among the
    # roles on a domain makes tokens; a holder of it elsewhere too loses all it made,
    # on the safe side).
    ctx.q.bump_user_credentials([uid for uid, _ in holders])
    ctx.q.drop_tokens_made_by([uid for uid, role in holders if role == "domain"])
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
        for d in ctx.q.deleted_domains_named(dom, scope_company(p))
        if visible(p, _domain_target(d)) and (domain_id is None or d[0] == domain_id)
    ]
    if not seen:
        live = find_target(ctx.q, "domain", dom)
        if domain_id is None and visible(p, live):
            assert live is not None
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
    holder = domain_target(ctx.q.domain_by_name(target))
    if visible(p, holder):
        field = "new_name" if new_name is not None else "domain"
        raise OMAError(
            EXISTS,
            f"domain '{target}' exists; restore under another name (new_name)",
            {field: "in use"},
        )
    if holder is not None:
        raise not_found("domain", target, "new_name" if new_name is not None else "domain")
    ctx.q.restore_domain(t.id, target)
    detail: dict[str, Any] = {"id": t.id}
    if target != dom:
        detail |= {"domain": target, "old_name": dom}
    ctx.audit(t.company_id, "restore_domain", target, detail, "domain", t.id)
    return t


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
