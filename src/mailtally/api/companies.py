"""``change_company`` and ``get_company``."""

from __future__ import annotations

from typing import Any

import msgspec

from mailtally.api.common import Answer, Done, Method, Name, Part, Request, bad_request
from mailtally.api.service import Service
from mailtally.store import Queries
from mailtally.tree import (
    Principal,
    do_change_company,
    find_target,
    format_rfc3339,
    own_company,
    require_stats_readable,
)

__all__ = ["METHODS"]


class ChangeCompanyRequest(Request, kw_only=True):
    company: Name
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)
    create_only: bool = False


async def change_company(svc: Service, req: ChangeCompanyRequest, p: Principal) -> Done:
    await svc.act(
        p,
        req.credentials.client,
        lambda ctx: do_change_company(ctx, req.company, req.attributes, req.create_only),
    )
    return Done()


class GetCompanyRequest(Request, kw_only=True):
    company: Name | None = None


class CompanyAttributes(Part, kw_only=True):
    createtime: str


class CompanyMetadata(Part, kw_only=True):
    name: str
    #: its live domains
    domains: list[str]
    domain_count: int


class CompanyAnswer(Answer, kw_only=True):
    """A company: its creation time, and its live domains."""

    attributes: CompanyAttributes
    metadata: CompanyMetadata


def company_info(q: Queries, p: Principal, name: str | None) -> CompanyAnswer:
    if name is None:
        if p.company_id is None:
            raise bad_request("company", "is required for an operator")
        t = own_company(q, p, "read your company")
    else:
        t = require_stats_readable(p, find_target(q, "company", name), "company", name, what="")
    domains = q.domains_of_company(t.id)
    return CompanyAnswer(
        attributes=CompanyAttributes(createtime=format_rfc3339(t.createtime)),
        metadata=CompanyMetadata(
            name=t.name, domains=[d[2] for d in domains], domain_count=len(domains)
        ),
    )


async def get_company(svc: Service, req: GetCompanyRequest, p: Principal) -> CompanyAnswer:
    return await svc.read(lambda q: company_info(q, p, req.company))


METHODS = {
    "change_company": Method(ChangeCompanyRequest, change_company),
    "get_company": Method(GetCompanyRequest, get_company),
}
