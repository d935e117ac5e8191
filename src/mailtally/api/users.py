"""``change_user``, ``get_user``, ``delete_user``, ``restore_user``, ``rename_user``
and ``set_role``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from mailtally.api.common import (
    Answer,
    Done,
    Method,
    Name,
    OptionalName,
    Part,
    Request,
    RoleItem,
    ServiceState,
    UserType,
    bad_request,
)
from mailtally.api.service import Service
from mailtally.errors import BAD_ATTRIBUTE, OMAError
from mailtally.metrics import SERVICES
from mailtally.periods import format_time
from mailtally.store import Queries
from mailtally.store.base import USER
from mailtally.tree import (
    Principal,
    authorize_change_user,
    do_change_user,
    do_delete_user,
    do_rename_user,
    do_restore_user,
    do_set_roles,
    find_target,
    format_rfc3339,
    require_stats_readable,
)

__all__ = ["METHODS"]

MAX_PASSWORD = 1024


class ChangeUserRequest(Request, kw_only=True):
    user: Name
    attributes: dict[str, Any]
    create_only: bool = False


async def change_user(svc: Service, req: ChangeUserRequest, p: Principal) -> Done:
    attributes = dict(req.attributes)
    password_hash = None
    if "password" in attributes:
        # authorized before the (costly) hash: a refused caller costs no argon2
        await svc.read(lambda q: authorize_change_user(q, p, req.user, attributes, req.create_only))
        password = attributes.pop("password")
        if not isinstance(password, str) or not 1 <= len(password) <= MAX_PASSWORD:
            raise OMAError(
                BAD_ATTRIBUTE,
                f"attribute 'password' must be a string of 1 to {MAX_PASSWORD} characters",
                {"password": "bad value"},
            )
        password_hash = await svc.auth.hash_password(password)  # on the argon2 threads
        attributes["password"] = "***"  # validated and audited as present, never stored
    try:
        await svc.act(
            p,
            req.credentials.client,
            lambda ctx: do_change_user(ctx, req.user, attributes, req.create_only, password_hash),
        )
    finally:
        if password_hash is not None:
            svc.auth.forget(req.user)
    return Done()


class UserRequest(Request, kw_only=True):
    user: Name


class UserAttributes(Part, kw_only=True):
    """The account's attributes now (``change_user`` sets them)."""

    type: UserType
    aliases: list[str]
    service_smtprelay: ServiceState
    service_smtpin: ServiceState
    service_imap4: ServiceState
    service_pop3: ServiceState
    service_webmail: ServiceState
    delivery_local: bool
    delivery_forward: bool
    delivery_autorespond: bool
    delivery_filter: bool
    forward_recipients: list[str]
    quota: int
    workgroup: str
    name: str
    createtime: str
    #: "" for a live account
    deletetime: str


class Quota(Part, kw_only=True):
    """Bytes allowed, and stored and items stored by the latest storage report."""

    allowed_size: int
    current_size: int
    items_stored: int


class LastLogins(Part, kw_only=True):
    """The latest time of each ("" for never)."""

    last_imap4: str
    last_pop3: str
    last_webmail: str
    last_smtprelay: str
    last_smtpin: str


class UserMetadata(Part, kw_only=True):
    address: str
    roles: list[RoleItem]
    status: Literal["active", "deleted"]
    quota: Quota
    last_logins: LastLogins


class UserAnswer(Answer, kw_only=True):
    """An account: its attributes, roles, storage and latest logins."""

    type: UserType
    attributes: UserAttributes
    metadata: UserMetadata


def user_info(q: Queries, p: Principal, name: str) -> UserAnswer:
    t = require_stats_readable(p, find_target(q, "user", name), "user", name, what="")
    s = t.state
    assert s is not None
    attributes = UserAttributes(
        type=s.type,
        aliases=list(s.aliases),
        **{f"service_{k}": s.services.get(k, "enabled") for k in SERVICES},
        delivery_local=s.delivery_local,
        delivery_forward=s.delivery_forward,
        delivery_autorespond=s.delivery_autorespond,
        delivery_filter=s.delivery_filter,
        forward_recipients=list(s.forward_recipients),
        quota=s.quota,
        workgroup=s.workgroup,
        name=s.name,
        createtime=format_rfc3339(t.createtime),
        deletetime=format_rfc3339(s.deletetime),
    )
    reports = q.storage_reports(t.id, 2**62)
    items, nbytes = (reports[-1][1], reports[-1][2]) if reports else (0, 0)
    lasts = q.lasts_before(USER, t.id, "month", "9999")
    keys = ("imap4", "pop3", "webmail", "smtprelay", "smtpin")
    return UserAnswer(
        type=s.type,
        attributes=attributes,
        metadata=UserMetadata(
            address=t.name,
            roles=[RoleItem(role=r, object=o) for r, o in q.roles_of(t.id)],
            status="deleted" if s.deletetime is not None else "active",
            quota=Quota(allowed_size=s.quota, current_size=nbytes, items_stored=items),
            last_logins=LastLogins(
                **{f"last_{k}": format_time(v) for k, v in zip(keys, lasts, strict=True)}
            ),
        ),
    )


async def get_user(svc: Service, req: UserRequest, p: Principal) -> UserAnswer:
    return await svc.read(lambda q: user_info(q, p, req.user))


async def delete_user(svc: Service, req: UserRequest, p: Principal) -> Done:
    t = await svc.act(p, req.credentials.client, lambda ctx: do_delete_user(ctx, req.user))
    svc.auth.forget(t.name)
    return Done()


class RestoreUserRequest(Request, kw_only=True):
    user: Name
    #: which deleted account (search_users with deleted gives the ids)
    id: Annotated[int, msgspec.Meta(ge=1)] | None = None
    #: restore under this free address instead ("" or the account's own name: not renamed)
    new_name: OptionalName | None = None


async def restore_user(svc: Service, req: RestoreUserRequest, p: Principal) -> Done:
    t = await svc.act(
        p,
        req.credentials.client,
        lambda ctx: do_restore_user(ctx, req.user, req.id, req.new_name or None),
    )
    if req.new_name:
        svc.auth.forget(t.name)
    return Done()


class RenameUserRequest(Request, kw_only=True):
    user: Name
    new_name: Name


async def rename_user(svc: Service, req: RenameUserRequest, p: Principal) -> Done:
    t, new = await svc.act(
        p, req.credentials.client, lambda ctx: do_rename_user(ctx, req.user, req.new_name)
    )
    # what was cached under either name (credentials, tokens, the caller) goes
    svc.auth.forget(t.name)
    svc.auth.forget(new)
    return Done()


class SetRoleRequest(Request, kw_only=True):
    user: Name
    role: Annotated[str, msgspec.Meta(max_length=64)]
    #: the object of the role; or ``objects``: the role over each (OMA clients
    #: send a list so), all granted or none
    object: OptionalName | None = None
    objects: Annotated[list[OptionalName], msgspec.Meta(min_length=1, max_length=1000)] | None = (
        None
    )


async def set_role(svc: Service, req: SetRoleRequest, p: Principal) -> Done:
    if req.object is not None and req.objects is not None:
        raise bad_request("objects", "cannot be given with 'object'")
    objects = req.objects if req.objects is not None else [req.object or ""]
    await svc.act(
        p, req.credentials.client, lambda ctx: do_set_roles(ctx, req.user, req.role, objects)
    )
    return Done()


METHODS = {
    "change_user": Method(ChangeUserRequest, change_user),
    "get_user": Method(UserRequest, get_user),
    "delete_user": Method(UserRequest, delete_user),
    "restore_user": Method(RestoreUserRequest, restore_user),
    "rename_user": Method(RenameUserRequest, rename_user),
    "set_role": Method(SetRoleRequest, set_role),
}
