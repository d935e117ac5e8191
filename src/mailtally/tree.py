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

from mailtally import periods
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
from mailtally.periods import Periods
from mailtally.store.base import Queries

__all__ = [
    "COMPANY_ROLES",
    "ROLES",
    "Ctx",
    "Principal",
    "Target",
    "do_change_company",
    "do_change_domain",
    "do_change_user",
    "do_delete_domain",
    "do_delete_user",
    "do_restore_user",
    "do_set_role",
    "find_target",
    "load_principal",
    "normalize_address",
    "normalize_domain",
    "require_readable",
    "require_stats_readable",
    "visible",
]

ObjectType = Literal["company", "domain", "user"]

COMPANY_ROLES = ("company", "company_ro", "company_view", "company_mail", "company_token_only")
DOMAIN_ROLES = ("domain", "mail")
ROLES = (*COMPANY_ROLES, *DOMAIN_ROLES, "workgroup")

MAX_NAME = 128
_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_WORKGROUP = re.compile(r"^[^\x00-\x1f/]{1,64}$")


# -- names -------------------------------------------------------------------
def normalize_domain(name: str) -> str | None:
    """The stored (lower-case, IDNA) form of a DNS name, or None if it is not one."""
    name = name.strip().rstrip(".")
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
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or len(local) > 64:
        return None
    local = local.lower()
    if not _LOCAL.match(local):
        return None
    dom = normalize_domain(domain)
    if dom is None:
        return None
    return f"{local}@{dom}"


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
    """An authenticated caller: an operator, or a user with its roles."""

    name: str
    operator: bool = False
    user_id: int | None = None
    company_id: int | None = None
    domain_id: int | None = None
    workgroup: str | None = None
    roles: tuple[tuple[str, str], ...] = ()
    # roles resolved to ids: company roles by company, domain roles by domain,
    # workgroup roles by (domain, workgroup)
    company_roles: dict[int, frozenset[str]] = field(default_factory=dict)
    domain_roles: dict[int, frozenset[str]] = field(default_factory=dict)
    workgroups: frozenset[tuple[int, str]] = frozenset()

    def has_company_role(self, company_id: int, *roles: str) -> bool:
        held = self.company_roles.get(company_id, frozenset())
        return bool(held & set(roles)) if roles else bool(held)


def load_principal(q: Queries, name: str) -> Principal | None:
    """The caller named ``name`` (an operator, or a live user by its own address)."""
    if "@" not in name:
        return Principal(name=name, operator=True) if q.operator(name) else None
    address = normalize_address(name)
    if address is None:
        return None
    found = q.resolve_address(address)
    if found is None or found[3]:  # aliases do not log in
        return None
    row = q.user_by_id(found[0])
    state = decode_state(row[6])
    if state.deletetime is not None:
        return None
    roles = tuple((r, o) for r, o in q.roles_of(row[0]))
    company_roles: dict[int, set[str]] = {}
    domain_roles: dict[int, set[str]] = {}
    workgroups: set[tuple[int, str]] = set()
    for role, obj in roles:
        if role in COMPANY_ROLES:
            c = q.company_by_name(obj)
            if c is not None:
                company_roles.setdefault(c[0], set()).add(role)
        elif role in DOMAIN_ROLES:
            d = q.domain_by_name(obj)
            if d is not None:
                domain_roles.setdefault(d[0], set()).add(role)
        elif role == "workgroup":
            dname, _, wg = obj.partition("/")
            d = q.domain_by_name(dname)
            if d is not None:
                workgroups.add((d[0], wg))
    return Principal(
        name=row[3],
        user_id=row[0],
        company_id=row[1],
        domain_id=row[2],
        workgroup=state.workgroup,
        roles=roles,
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


def find_target(q: Queries, type_: ObjectType, name: str) -> Target | None:
    if type_ == "company":
        c = q.company_by_name(name)
        return None if c is None else Target("company", c[0], c[1], c[0], createtime=c[2])
    if type_ == "domain":
        dom = normalize_domain(name)
        d = q.domain_by_name(dom) if dom else None
        if d is None:
            return None
        return Target("domain", d[0], d[2], d[1], domain_id=d[0], createtime=d[3])
    address = normalize_address(name)
    found = q.resolve_address(address) if address else None
    if found is None:
        return None
    row = q.user_by_id(found[0])
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
        by_alias=bool(found[3]),
    )


def visible(p: Principal, t: Target) -> bool:
    """May ``p`` know that ``t`` exists?"""
    if p.operator:
        return True
    if p.has_company_role(t.company_id):
        return True
    if t.type == "domain":
        return t.id in p.domain_roles
    if t.type == "user":
        if t.id == p.user_id:
            return True
        if t.domain_id in p.domain_roles:
            return True
        return (t.domain_id, t.workgroup) in p.workgroups
    return False


def require_readable(p: Principal, t: Target | None, label: str, name: str) -> Target:
    """``t`` if ``p`` may see it; error 2 (the same as missing) otherwise."""
    if t is None or not visible(p, t):
        raise OMAError(NOT_FOUND, f"{label} '{name}' does not exist", {label: "does not exist"})
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
    t = require_readable(p, t, label, name)
    if p.operator:
        return t
    held = p.company_roles.get(t.company_id, frozenset())
    token_only = "company_token_only" in held or any(
        "company_token_only" in r for r in p.company_roles.values()
    )
    if held - {"company_token_only"}:
        return t
    if t.type == "domain" and t.id in p.domain_roles:
        return t
    if t.type == "user" and (
        t.domain_id in p.domain_roles or (t.domain_id, t.workgroup) in p.workgroups
    ):
        return t
    if t.type == "user" and t.id == p.user_id and not token_only:
        return t
    what = f"{what} " if what else ""
    raise OMAError(FORBIDDEN, f"you may not read {what}{label} '{t.name}'")


def may_manage_account(q: Queries, p: Principal, t: Target) -> bool:
    """May ``p`` change, delete or restore the account ``t``?

    Besides managing its domain: an account that holds a company role is the
    company admins' alone — a domain admin who could reset a company admin's
    password would be a company admin.
    """
    if not may_manage_users(p, t.company_id, t.domain_id or 0):
        return False
    if p.operator or p.has_company_role(t.company_id, "company"):
        return True
    return not any(role in COMPANY_ROLES for role, _ in q.roles_of(t.id))


def may_manage_users(p: Principal, company_id: int, domain_id: int) -> bool:
    return (
        p.operator
        or p.has_company_role(company_id, "company")
        or "domain" in p.domain_roles.get(domain_id, frozenset())
    )


# -- context ---------------------------------------------------------------------
@dataclass(slots=True)
class Ctx:
    """What an action needs: a write session, the time, the periods, the actor."""

    q: Queries
    periods: Periods
    now: int
    actor: Principal
    client: str | None = None

    def audit(self, company_id: int | None, method: str, obj: str, detail: Any) -> None:
        self.q.audit(
            self.now,
            company_id,
            self.actor.name,
            self.client,
            method,
            obj,
            msgspec.json.encode(detail).decode(),
        )


def _forbid(action: str) -> OMAError:
    return OMAError(FORBIDDEN, f"you may not {action}")


def _check_attributes(attributes: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in attributes:
        if key not in allowed:
            raise _bad_attr(key, f"is not an attribute here (allowed: {', '.join(allowed)})")


# -- companies -------------------------------------------------------------------
def do_change_company(
    ctx: Ctx, name: str, attributes: dict[str, Any], create_only: bool
) -> tuple[int, bool]:
    """Create or change a company (operators only).  Returns (id, created)."""
    _check_attributes(attributes, ("createtime",))
    existing = ctx.q.company_by_name(name)
    if not ctx.actor.operator:
        t = None if existing is None else Target("company", existing[0], name, existing[0])
        if t is not None and visible(ctx.actor, t):
            raise _forbid("change a company (operators only)")
        # Any other name — another tenant's company or a free one — gets the same
        # answer, so that company names cannot be probed.
        raise OMAError(NOT_FOUND, f"company '{name}' does not exist", {"company": "unknown"})
    if existing is not None and create_only:
        raise OMAError(EXISTS, f"company '{name}' already exists", {"company": "exists"})
    createtime = None
    if "createtime" in attributes:
        createtime = parse_rfc3339(attributes["createtime"], "createtime", ctx.now)
    if existing is None:
        cid = ctx.q.insert_company(name, ctx.now if createtime is None else createtime)
        ctx.audit(cid, "change_company", name, {"created": True, "attributes": attributes})
        return cid, True
    if createtime is not None:
        raise _bad_attr("createtime", "can only be given when the company is created")
    ctx.audit(existing[0], "change_company", name, {"attributes": attributes})
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


def do_change_domain(
    ctx: Ctx, name: str, company: str | None, attributes: dict[str, Any], create_only: bool
) -> tuple[int, bool]:
    _check_attributes(attributes, DOMAIN_ATTRIBUTES)
    dom = normalize_domain(name)
    if dom is None:
        raise OMAError(
            BAD_REQUEST,
            f"domain '{name}' is not a valid DNS name",
            {"domain": "not a DNS name"},
        )
    existing = ctx.q.domain_by_name(dom)
    p = ctx.actor
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
    if existing is not None:
        t = Target("domain", existing[0], dom, existing[1], domain_id=existing[0])
        require_readable(p, t, "domain", name)
        if not (p.operator or p.has_company_role(existing[1], "company")):
            raise _forbid(f"change domain '{dom}'")
        if create_only:
            raise OMAError(EXISTS, f"domain '{dom}' already exists", {"domain": "exists"})
        if createtime is not None:
            raise _bad_attr("createtime", "can only be given when the domain is created")
        merged = domain_defaults(existing[5]) | values
        ctx.q.update_domain(existing[0], msgspec.json.encode(merged).decode())
        ctx.audit(existing[1], "change_domain", dom, {"attributes": attributes})
        return existing[0], False
    # creation
    if p.operator:
        if not company:
            raise OMAError(
                BAD_REQUEST,
                "field 'company' is required when an operator creates a domain",
                {"company": "required"},
            )
        c = ctx.q.company_by_name(company)
        if c is None:
            raise OMAError(NOT_FOUND, f"company '{company}' does not exist", {"company": "unknown"})
        company_id = c[0]
    else:
        own = [cid for cid, roles in p.company_roles.items() if "company" in roles]
        if company is not None:
            c = ctx.q.company_by_name(company)
            if c is None or not p.has_company_role(c[0]):
                raise OMAError(
                    NOT_FOUND, f"company '{company}' does not exist", {"company": "unknown"}
                )
            if c[0] not in own:
                raise _forbid(f"create domains in company '{company}'")
            company_id = c[0]
        elif len(own) == 1:
            company_id = own[0]
        else:
            raise _forbid("create domains (only a company admin may)")
    ctime = ctx.now if createtime is None else createtime
    did = ctx.q.insert_domain(company_id, dom, ctime, msgspec.json.encode(values).decode())
    crow = ctx.q.company_by_id(company_id)
    if crow is not None and ctime < crow[2]:
        ctx.q.update_company_createtime(company_id, ctime)
    ctx.audit(company_id, "change_domain", dom, {"created": True, "attributes": attributes})
    return did, True


def do_delete_domain(ctx: Ctx, name: str) -> None:
    t = require_readable(ctx.actor, find_target(ctx.q, "domain", name), "domain", name)
    if not (ctx.actor.operator or ctx.actor.has_company_role(t.company_id, "company")):
        raise _forbid(f"delete domain '{t.name}'")
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
    ctx.q.drop_roles_on_domain(t.name)
    detail: dict[str, Any] = {"purged_users": len(users)}
    if dropped:
        detail["dropped_aliases"] = sorted(
            a for _, _, addresses in dropped.values() for a in addresses
        )
    ctx.audit(t.company_id, "delete_domain", t.name, detail)


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
            else:
                new.name = value
        elif key == "aliases":
            wanted = _address_list(value, 1000)
            if isinstance(wanted, str):
                bad(key, wanted)
                continue
            for a in wanted:
                if a in state.aliases:
                    continue
                owner = ctx.q.resolve_address(a)
                if owner is not None and owner[0] != user_id:
                    bad(key, f"address {a} is already in use")
                    break
                # (an account being created has no address row yet)
                if a == address or (owner is not None and not owner[3]):
                    bad(key, f"address {a} is the account's own address")
                    break
                d = ctx.q.domain_by_name(a.rpartition("@")[2])
                # the caller must manage the alias's domain too (a domain admin
                # would otherwise take another domain's mail); the same answer
                # for any domain it may not use, so that none can be probed
                if d is None or d[1] != company_id or not may_manage_users(ctx.actor, d[1], d[0]):
                    bad(key, f"{a} is not in a domain of this company that you manage")
                    break
            added = [a for a in wanted if a not in state.aliases]
            removed = [a for a in state.aliases if a not in wanted]
            for a in removed:  # as adding: only in a domain the caller manages
                d = ctx.q.domain_by_name(a.rpartition("@")[2])
                if d is not None and not may_manage_users(ctx.actor, d[1], d[0]):
                    bad(key, f"{a} is not in a domain of this company that you manage")
                    break
            new.aliases = wanted
    if hints:
        first = next(iter(hints))
        raise OMAError(BAD_ATTRIBUTE, f"attribute '{first}' {hints[first]}", hints)
    return new, added, removed


def do_change_user(
    ctx: Ctx,
    name: str,
    attributes: dict[str, Any],
    create_only: bool,
    password_hash: str | None,
) -> tuple[int, bool]:
    """Create or change an account.  ``password_hash`` replaces ``attributes['password']``."""
    _check_attributes(attributes, USER_ATTRIBUTES)
    address = normalize_address(name)
    if address is None:
        raise OMAError(
            BAD_REQUEST, f"user '{name}' is not a valid address", {"user": "not an address"}
        )
    p = ctx.actor
    dname = address.rpartition("@")[2]
    d = ctx.q.domain_by_name(dname)
    dt = None if d is None else Target("domain", d[0], dname, d[1], domain_id=d[0])

    def unknown_domain() -> OMAError:
        return OMAError(NOT_FOUND, f"domain '{dname}' does not exist", {"user": "unknown domain"})

    found = ctx.q.resolve_address(address)
    if found is not None:
        t = find_target(ctx.q, "user", address)
        assert t is not None and t.state is not None
        if not visible(p, t) and (dt is None or not visible(p, dt)):
            # the answer creating it would get: an unseen account is no free address
            raise unknown_domain()
        require_readable(p, t, "user", name)
        if t.by_alias:
            raise OMAError(
                IS_ALIAS,
                f"'{address}' is an alias of '{t.name}'; change the user by its real name",
                {"user": f"alias of {t.name}"},
            )
        if create_only:
            raise OMAError(EXISTS, f"user '{address}' already exists", {"user": "exists"})
        own_change = t.id == p.user_id and set(attributes) <= SELF_ATTRIBUTES
        if not (own_change or may_manage_account(ctx.q, p, t)):
            raise _forbid(f"change user '{address}'")
        if "createtime" in attributes:
            raise _bad_attr("createtime", "can only be given when the user is created")
        new, added, removed = _apply_user_attributes(
            ctx, t.state, attributes, t.company_id, t.id, t.name
        )
        with UserChange(ctx.q, ctx.periods, t.id, since=ctx.now):
            _write_user(ctx, t.id, t.company_id, new, added, removed)
        if password_hash is not None:
            ctx.q.set_password_hash(t.id, password_hash)
            ctx.q.drop_tokens_of(t.name)
        ctx.audit(t.company_id, "change_user", address, {"attributes": _redact(attributes)})
        return t.id, False
    # creation
    if dt is None or not visible(p, dt):
        raise unknown_domain()
    if not may_manage_users(p, dt.company_id, dt.id):
        raise _forbid(f"create users in domain '{dname}'")
    assert d is not None
    defaults = domain_defaults(d[5])
    base = UserState(
        services={s: defaults.get(f"service_{s}", "enabled") for s in SERVICES},
        quota=int(defaults.get("quota", 0)),
    )
    createtime = ctx.now
    if "createtime" in attributes:
        createtime = parse_rfc3339(attributes["createtime"], "createtime", ctx.now)
    new, added, _ = _apply_user_attributes(ctx, base, attributes, dt.company_id, None, address)
    uid = ctx.q.insert_user(dt.company_id, dt.id, address, password_hash, createtime, "{}")
    ctx.q.add_address(address, dt.company_id, dt.id, uid, is_alias=False)
    with UserChange(ctx.q, ctx.periods, uid, since=createtime):
        _write_user(ctx, uid, dt.company_id, new, added, [], valid_from=createtime)
    if createtime < d[3]:  # an import older than its domain moves the domain back
        ctx.q.set_domain_createtime(d[0], createtime)
    crow = ctx.q.company_by_id(dt.company_id)
    if crow is not None and createtime < crow[2]:
        ctx.q.update_company_createtime(dt.company_id, createtime)
    ctx.audit(
        dt.company_id,
        "change_user",
        address,
        {"created": True, "attributes": _redact(attributes)},
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


def _user_for_change(ctx: Ctx, name: str, action: str) -> Target:
    t = require_readable(ctx.actor, find_target(ctx.q, "user", name), "user", name)
    if t.by_alias:
        raise OMAError(
            IS_ALIAS,
            f"'{name}' is an alias of '{t.name}'; {action} the user by its real name",
            {"user": f"alias of {t.name}"},
        )
    if not may_manage_account(ctx.q, ctx.actor, t):
        raise _forbid(f"{action} user '{t.name}'")
    return t


def do_delete_user(ctx: Ctx, name: str) -> Target:
    """Soft delete: the account stays, counted in users.deleted (SPEC §2)."""
    t = _user_for_change(ctx, name, "delete")
    assert t.state is not None
    if t.state.deletetime is None:
        new = msgspec.structs.replace(t.state, deletetime=ctx.now)
        with UserChange(ctx.q, ctx.periods, t.id, since=ctx.now):
            _write_user(ctx, t.id, t.company_id, new, [], [])
        ctx.q.drop_tokens_of(t.name)
    ctx.audit(t.company_id, "delete_user", t.name, {})
    return t


def do_restore_user(ctx: Ctx, name: str) -> Target:
    t = _user_for_change(ctx, name, "restore")
    assert t.state is not None
    if t.state.deletetime is not None:
        new = msgspec.structs.replace(t.state, deletetime=None)
        with UserChange(ctx.q, ctx.periods, t.id, since=ctx.now):
            _write_user(ctx, t.id, t.company_id, new, [], [])
    ctx.audit(t.company_id, "restore_user", t.name, {})
    return t


def do_set_role(ctx: Ctx, name: str, role: str, obj: str) -> Target:
    t = require_readable(ctx.actor, find_target(ctx.q, "user", name), "user", name)
    if t.by_alias:
        raise OMAError(IS_ALIAS, f"'{name}' is an alias of '{t.name}'", {"user": "alias"})
    if not (ctx.actor.operator or ctx.actor.has_company_role(t.company_id, "company")):
        raise _forbid(f"change the roles of '{t.name}'")
    if role == "":
        ctx.q.clear_roles(t.id)
        ctx.audit(t.company_id, "set_role", t.name, {"role": "", "object": obj})
        return t
    if role not in ROLES:
        raise OMAError(
            BAD_REQUEST, f"role '{role}' is not one of {', '.join(ROLES)}", {"role": "unknown"}
        )
    if role in COMPANY_ROLES:
        c = ctx.q.company_by_name(obj)
        if c is None or c[0] != t.company_id:
            raise OMAError(
                BAD_REQUEST,
                f"object '{obj}' must be the user's own company for role {role}",
                {"object": "not the user's company"},
            )
        canonical = c[1]
    else:
        dname, slash, wg = obj.partition("/")
        dom = normalize_domain(dname)
        d = ctx.q.domain_by_name(dom) if dom else None
        if d is None or d[1] != t.company_id:
            raise OMAError(
                BAD_REQUEST,
                f"object '{obj}' must name a domain of the user's company",
                {"object": "not a domain of the user's company"},
            )
        if role == "workgroup":
            if not slash or not _WORKGROUP.match(wg):
                raise OMAError(
                    BAD_REQUEST,
                    "object must be 'domain/workgroup' for role workgroup",
                    {"object": "not domain/workgroup"},
                )
            canonical = f"{d[2]}/{wg}"
        else:
            if slash:
                raise OMAError(
                    BAD_REQUEST, f"object must be a domain for role {role}", {"object": "bad"}
                )
            canonical = d[2]
    ctx.q.add_role(t.company_id, t.id, role, canonical)
    ctx.audit(t.company_id, "set_role", t.name, {"role": role, "object": canonical})
    return t
