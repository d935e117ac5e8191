"""``echo`` and ``authenticate``."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from starlette.concurrency import run_in_threadpool

from mailtally.api.common import Method, Request, bad_request
from mailtally.api.service import Service
from mailtally.auth import DEFAULT_TOKEN_DURATION, MAX_TOKEN_DURATION
from mailtally.history import decode_state
from mailtally.store import Queries
from mailtally.tree import Principal

__all__ = ["METHODS"]


async def echo(svc: Service, req: dict[str, Any], p: Principal | None) -> dict[str, Any]:
    """A liveness probe: every field but ``credentials`` comes back, unchecked."""
    return {k: v for k, v in req.items() if k not in ("credentials", "success")}


class AuthenticateRequest(Request, kw_only=True):
    generate_session_token: bool = False
    session_token_duration: int | None = None
    token: Annotated[str, msgspec.Meta(min_length=16, max_length=128)] | None = None
    fetch_extra_info: bool = False


async def authenticate(svc: Service, req: AuthenticateRequest, p: Principal) -> dict[str, Any]:
    out: dict[str, Any] = {}
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
        out["session_token"] = token
        out["session_token_duration"] = duration
    if req.fetch_extra_info:
        out["extra_info"] = await svc.read(lambda q: extra_info(q, p))
    return out


def extra_info(q: Queries, p: Principal) -> dict[str, Any]:
    if p.operator:
        return {"roles": [], "type": "operator", "company": "", "domain": ""}
    row = q.user_by_id(p.user_id or 0)
    company = q.company_by_id(row[1])
    domain = q.domain_by_id(row[2])
    return {
        "roles": [{"role": r, "object": o} for r, o in p.roles],
        "type": decode_state(row[6]).type,
        "company": company[1] if company else "",
        "domain": domain[2] if domain else "",
    }


METHODS = {
    "echo": Method(dict, echo),  # type: ignore[arg-type]
    "authenticate": Method(AuthenticateRequest, authenticate),
}
