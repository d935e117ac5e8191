"""``generate_token`` and ``logout_user``: tokens an admin makes for an
account, and ending every token of one (mailtally.auth)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from mailtally.api.common import Answer, Done, Method, Name, Request, bad_request
from mailtally.api.service import Service
from mailtally.auth import (
    DEFAULT_GENERATED_HOURS,
    MAX_GENERATED_HOURS,
    do_generate_token,
    do_logout_user,
)
from mailtally.names import NAME_PATTERN
from mailtally.tree import Principal

__all__ = ["METHODS"]


class GenerateTokenRequest(Request, kw_only=True):
    user: Name
    #: why the token is made: recorded in the audit log
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=256, pattern=NAME_PATTERN)]
    #: hours the token works for
    duration: Annotated[int, msgspec.Meta(ge=1, le=MAX_GENERATED_HOURS)] = DEFAULT_GENERATED_HOURS
    #: the token string to issue, instead of a random one
    token: Annotated[str, msgspec.Meta(min_length=16, max_length=128)] | None = None
    #: ``oma`` and ``session`` work until they expire, ``sso`` for one call
    type: Literal["oma", "session", "sso"] = "oma"
    #: a ``session`` or ``sso`` token works with the OMA API only with this
    #: (without it, OMA makes one for webmail, which mailtally does not serve)
    oma: bool = False


class GenerateTokenAnswer(Answer, kw_only=True):
    """The token made."""

    token: str
    #: hours it works for
    duration: int


async def generate_token(
    svc: Service, req: GenerateTokenRequest, p: Principal
) -> GenerateTokenAnswer:
    if req.type != "oma" and not req.oma:
        raise bad_request(
            "oma",
            f"must be true for a {req.type} token: without it the token is for webmail, "
            "and mailtally serves only the OMA API",
        )
    _, token = await svc.act(
        p,
        req.credentials.client,
        lambda ctx: do_generate_token(ctx, req.user, req.reason, req.duration, req.token, req.type),
        tree=False,  # (no account, role or count changes: every cache stays valid)
    )
    return GenerateTokenAnswer(token=token, duration=req.duration)


class LogoutUserRequest(Request, kw_only=True):
    user: Name


async def logout_user(svc: Service, req: LogoutUserRequest, p: Principal) -> Done:
    t = await svc.act(
        p, req.credentials.client, lambda ctx: do_logout_user(ctx, req.user), tree=False
    )
    svc.auth.forget(t.name)
    return Done()


METHODS = {
    "generate_token": Method(GenerateTokenRequest, generate_token),
    "logout_user": Method(LogoutUserRequest, logout_user),
}
