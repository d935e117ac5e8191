"""``stats_summary`` (SPEC §5).

The answer for a (caller, request) is cached as encoded bytes until anything a
summary shows may have changed (the service's generation) or the current period
moves on; OMA dashboards poll the same few summaries over and over.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from mailtally.api.common import Method, Name, Request, bad_request
from mailtally.api.service import Service
from mailtally.periods import Kind
from mailtally.store import Queries
from mailtally.summary import stats_summary as build_summary
from mailtally.tree import (
    COMPANY_ROLES,
    ObjectType,
    Principal,
    Target,
    find_target,
    normalize_domain,
    require_stats_readable,
)

__all__ = ["METHODS", "resolve_object"]

_encode = msgspec.json.Encoder().encode


class StatsSummaryRequest(Request, kw_only=True):
    type: Literal["company", "domain", "user"] | None = None
    object: Name | None = None
    by: Literal["day", "week", "month"] | None = None


def resolve_object(
    q: Queries, p: Principal, type_: ObjectType | None, obj: str | None
) -> tuple[ObjectType, str]:
    """Apply SPEC §5's defaults: which object a request is about."""
    if obj is None:
        if p.operator:
            raise bad_request("object", "is required for an operator")
        if type_ is None:
            if any(r in COMPANY_ROLES for r, _ in p.roles):
                type_ = "company"
            elif any(r in ("domain", "mail") for r, _ in p.roles):
                # the domain its role names (its own, usually)
                dom = next(o for r, o in p.roles if r in ("domain", "mail"))
                return "domain", dom
            else:
                type_ = "user"
        if type_ == "company":
            row = q.company_by_id(p.company_id or 0)
            return "company", row[1] if row else ""
        if type_ == "domain":
            return "domain", p.name.rpartition("@")[2]
        return "user", p.name
    if type_ is None:
        if "@" in obj:
            type_ = "user"
        else:
            dom = normalize_domain(obj)
            type_ = "domain" if dom and q.domain_by_name(dom) else "company"
    return type_, obj


def summary_body(
    svc: Service, q: Queries, p: Principal, req: StatsSummaryRequest, by: Kind, now: int
) -> bytes:
    type_, name = resolve_object(q, p, req.type, req.object)
    t: Target = require_stats_readable(p, find_target(q, type_, name), type_, name)
    summary = build_summary(q, svc.periods, t, by, now)
    return _encode({"success": True, "summary": summary})


async def stats_summary(svc: Service, req: StatsSummaryRequest, p: Principal) -> bytes:
    by: Kind = req.by or "day"
    now = svc.clock.now()
    current = svc.periods.key(by, now)
    key = (p.name, req.type, req.object, by)
    hit = svc.summary_cache.get(key)
    if hit is not None and hit[0] == svc.generation and hit[1] == current:
        return hit[2]
    generation = svc.generation
    body = await svc.read(lambda q: summary_body(svc, q, p, req, by, now))
    svc.summary_cache[key] = (generation, current, body)
    return body


METHODS: dict[str, Method] = {
    "stats_summary": Method(StatsSummaryRequest, stats_summary),
}
