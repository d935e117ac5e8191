"""The actions on accounts (SPEC §2, §4): ``change_user`` (and
:func:`authorize_change_user`, which the view asks before it hashes a new
password), ``delete_user``, ``rename_user``, ``restore_user``, ``set_role``.

Each checks in the order isolation rule 3 asks: the account's scope (error 2),
then the right to act on it and on every role it holds (rule 1, error 4),
then whether the name is an alias (error 3), and only then the request's
values.  Like every action, each takes a :class:`~mailtally.tree.actions.Ctx`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import msgspec

from mailtally.access import (
    ROLE_KIND,
    ROLES,
    Action,
    Obj,
    actions,
    allowed,
    covers,
    not_found,
    reaches_into,
)
from mailtally.errors import BAD_ATTRIBUTE, BAD_REQUEST, EXISTS, IS_ALIAS, NOT_FOUND, OMAError
from mailtally.history import UserChange, UserState, decode_state
from mailtally.metrics import DELIVERY_FLAGS, SERVICE_STATES, SERVICES, USER_TYPES
from mailtally.names import company_key, has_bad_characters
from mailtally.store.base import Queries
from mailtally.tree.actions import Ctx, _check_attributes, _forbid, _write_user, domain_defaults
from mailtally.tree.scopes import (
    _NO_DOMAIN,
    Principal,
    Target,
    _domain_target,
    _user_target,
    find_target,
    load_principal,
    may_manage_account,
    may_manage_users,
    require_account_action,
    scope_company,
    visible,
)
from mailtally.tree.values import (
    _WORKGROUP,
    MAX_NAME,
    _bad_attr,
    normalize_address,
    normalize_domain,
    parse_rfc3339,
)

__all__ = [
    "SELF_ATTRIBUTES",
    "USER_ATTRIBUTES",
    "UserChangePlan",
    "authorize_change_user",
    "do_change_user",
    "do_delete_user",
    "do_rename_user",
    "do_restore_user",
    "do_set_role",
    "do_set_roles",
    "user_for_change",
]


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
    # a missing domain is weighed as its stand-in, before it is found missing
    # (rule 3: the same work either way)
    dt = _domain_target(d or _NO_DOMAIN)

    def unknown_domain() -> OMAError:
        return OMAError(NOT_FOUND, f"domain '{dname}' does not exist", {"user": "unknown domain"})

    if not reaches_into(p, dt.obj) or d is None:
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
        ended = False
        if added:
            # An alias brings the account another address's mail, perhaps of a
            # domain its tokens' makers do not manage (who then may not change
            # the account, rule 1): the tokens admins made for it go, as with a
            # role granted (found in session 15: a domain admin's token set the
            # forwarding of an account that had just received an alias in
            # another domain).
            ctx.q.drop_tokens_made_for(t.id)
            ended = _end_password_beyond_its_setter(ctx, replace(t, state=new))
        if password_hash is not None:
            ctx.q.set_password_hash(t.id, password_hash, _password_setter(ctx, t.id))
            ctx.q.drop_tokens_of(t.name, t.id)
        detail: dict[str, Any] = {"attributes": _redact(attributes)}
        if ended:
            detail["password"] = "ended"
        ctx.audit(t.company_id, "change_user", address, detail, "user", t.id)
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
    uid = ctx.q.insert_user(
        dt.company_id,
        dt.id,
        address,
        password_hash,
        createtime,
        "{}",
        None if password_hash is None else _password_setter(ctx, None),
    )
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
        # and the tokens it made for others, with rights it no longer holds
        ctx.q.drop_tokens_made_by([t.id])
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


def _move_account(ctx: Ctx, t: Target, address: str, domain_id: int, state: UserState) -> bool:
    """Give ``t`` the address ``address`` (in ``domain_id``) and the state
    ``state`` from now on, with the gauge changes that makes (the account
    counts in its new domain from now on, in its old one before).  True if
    the move ended the account's password (:func:`_end_password_beyond_its_setter`)."""
    with UserChange(ctx.q, ctx.periods, t.id, since=ctx.now):
        ctx.q.rename_user(t.id, address, domain_id)
        _write_user(ctx, t.id, t.company_id, state, [], [])
    # the old name's credentials stop working: its tokens were issued to it
    ctx.q.drop_tokens_of(t.name, t.id)
    # Another domain may be beyond the admin that chose the password, as an
    # alias or a role there is (found in session 15's review: dadmin set
    # carol's password, the company admin renamed her into acme.com, and
    # dadmin logged in as carol@acme.com and set her forwarding).
    moved = replace(t, name=address, domain_id=domain_id, state=state)
    return _end_password_beyond_its_setter(ctx, moved)


def do_rename_user(ctx: Ctx, name: str, new_name: str) -> tuple[Target, str]:
    """Give an account another address; (the account as it was, the new address).

    Scope (2), rule 1 (4), alias (3), then the new address (2, 4, 7: see
    :func:`_new_address`).  The account keeps its id, so its history, roles,
    aliases and quota reports follow it; the old name is free at once.
    """
    t = user_for_change(ctx, name, Action.RENAME, "rename")
    assert t.state is not None
    address, domain_id = _new_address(ctx, t, new_name)
    detail: dict[str, Any] = {"user": address, "old_name": t.name}
    if _move_account(ctx, t, address, domain_id, t.state):
        detail["password"] = "ended"
    ctx.audit(t.company_id, "rename_user", address, detail, "user", t.id)
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
        for row in ctx.q.deleted_users_named(address, scope_company(ctx.actor))
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
            detail = {"user": address, "old_name": t.name}
            if _move_account(ctx, t, address, domain_id, new):
                detail["password"] = "ended"
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


def _password_setter(ctx: Ctx, user_id: int | None) -> int | None:
    """Who chooses the password the actor sets for the account ``user_id``
    (None: one being created): the actor's account when it is an admin setting
    another account's, None when the account sets its own or an operator does
    (migration 17).

    A caller that came with a token an admin made for it (generate_token, or a
    session issued for one: ``Principal.made_by``) acts for that admin, who
    knows the token: the password is that admin's choice, even set as the
    account's own (found in session 15's review: dadmin made a token for
    carol, set her password through it as carol, and the password, recorded
    as carol's own, outlived her grant to company admin)."""
    if ctx.actor.made_by is not None:
        return ctx.actor.made_by
    if ctx.actor.operator or ctx.actor.user_id is None or ctx.actor.user_id == user_id:
        return None
    return ctx.actor.user_id


def _end_password_beyond_its_setter(ctx: Ctx, t: Target) -> bool:
    """Isolation rule 1 for passwords: an admin that chose the account's
    password knows it, so the password is the account's power only while that
    admin may manage the account.  Called when the account gains a role or an
    alias: if the admin (as it is now: demoted, deleted) may no longer manage
    it, the password ends (no password login until one is set again by
    someone whose rights cover the account, or by the account, which cannot
    log in by password meanwhile) and so do the account's tokens, sessions the
    admin may have opened with that password included.  True if it ended.

    (Found in session 15's attack round: a domain admin set a colleague's
    password, the company admin made the colleague a company admin, and the
    domain admin logged in as a company admin.)"""
    setter_id = ctx.q.password_setter(t.id)
    if setter_id is None:
        return False
    row = ctx.q.user_by_id(setter_id)
    setter = None if row is None else load_principal(ctx.q, row[3])
    if setter is not None and setter.user_id == setter_id and may_manage_account(ctx.q, setter, t):
        return False
    ctx.q.set_password_hash(t.id, None)
    ctx.q.drop_tokens_of(t.name, t.id)
    return True


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
        # (every process verifies the account's credentials again, and so reads
        # its roles afresh, at its next request: taking an admin's roles away is
        # felt at once everywhere, not at each process's next poll of the tree)
        ctx.q.bump_credentials(t.name)
        # and the tokens it made for others go with the rights it made them with
        ctx.q.drop_tokens_made_by([t.id])
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
    # The tokens admins made for the account acted within its roles then: what
    # their makers' rights covered need not cover it now (isolation rule 1);
    # nor need the rights of the admin that chose its password.
    ctx.q.drop_tokens_made_for(t.id)
    ended = _end_password_beyond_its_setter(ctx, t)
    detail = {"role": role}
    detail.update({"object": granted[0]} if single else {"objects": granted})
    if ended:
        detail["password"] = "ended"
    ctx.audit(t.company_id, "set_role", t.name, detail, "user", t.id)
    return t
