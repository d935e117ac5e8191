"""``echo`` and ``authenticate``."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, UnsetType
from starlette.concurrency import run_in_threadpool

from mailtally.api.common import Answer, Method, Part, Request, RoleItem, bad_request
from mailtally.api.service import Service
from mailtally.auth import DEFAULT_TOKEN_DURATION, MAX_TOKEN_DURATION
from mailtally.history import decode_state
from mailtally.store import Queries
from mailtally.tree import Principal

__all__ = ["METHODS"]


class EchoAnswer(Answer, kw_only=True, forbid_unknown_fields=False):
    """Every field of the request but ``credentials`` (and ``success``), as it
    came: the one open answer."""


async def echo(svc: Service, req: dict[str, Any], p: Principal | None) -> dict[str, Any]:
    """A liveness probe: every field but ``credentials`` comes back, unchecked."""
    # (a dict: a struct cannot hold fields it does not name)
    return {k: v for k, v in req.items() if k not in ("credentials", "success")}


class AuthenticateRequest(Request, kw_only=True):
    generate_session_token: bool = False
    session_token_duration: int | None = None
    token: Annotated[str, msgspec.Meta(min_length=16, max_length=128)] | None = None
    fetch_extra_info: bool = False


class ExtraInfo(Part, kw_only=True):
    """Who the caller is (``fetch_extra_info``)."""

    roles: list[RoleItem]
    #: the account's type, or ``operator``
    type: str
    #: "" for an operator
    company: str
    domain: str


class AuthenticateAnswer(Answer, kw_only=True):
    """The credentials were good; a token and who the caller is, if asked for."""

    #: with ``generate_session_token``: the token and the seconds it works for
    session_token: str | UnsetType = UNSET
    session_token_duration: int | UnsetType = UNSET
    #: with ``fetch_extra_info``
    extra_info: ExtraInfo | UnsetType = UNSET


async def authenticate(svc: Service, req: AuthenticateRequest, p: Principal) -> AuthenticateAnswer:
    out = AuthenticateAnswer()
    if req.session_token_duration is not None and not req.generate_session_token:
        raise bad_request("session_token_duration", "needs generate_session_token: true")
    if req.token is not None and not req.generate_session_token:
        raise bad_request("token", "needs generate_session_token: true")
    if req.generate_session_token:
        duration = req.session_token_duration
        if duration is None:
            duration = DEFAULT_TOKEN_DURATION
        if not 1 <= duration <= MAX_TOKEN_DURATION:
            raise bad_request(
                "session_token_duration", f"must be 1 to {MAX_TOKEN_DURATION} seconds"
            )
        token, duration = await run_in_threadpool(svc.auth.issue_token, p, duration, req.token)
        out.session_token = token
        out.session_token_duration = duration
    if req.fetch_extra_info:
        out.extra_info = await svc.read(lambda q: extra_info(q, p))
    return out


def extra_info(q: Queries, p: Principal) -> ExtraInfo:
    if p.operator:
        return ExtraInfo(roles=[], type="operator", company="", domain="")
    row = q.user_by_id(p.user_id or 0)
    company = q.company_by_id(row[1])
    domain = q.domain_by_id(row[2])
    return ExtraInfo(
        roles=[RoleItem(role=r, object=o) for r, o in p.roles],
        type=decode_state(row[6]).type,
        company=company[1] if company else "",
        domain=domain[2] if domain else "",
    )


METHODS = {
    "echo": Method(dict, echo, answer=EchoAnswer),  # type: ignore[arg-type]
    "authenticate": Method(AuthenticateRequest, authenticate),
}
