"""``change_domain``, ``get_domain``, ``delete_domain`` and ``restore_domain``."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from mailtally.api.common import (
    Answer,
    Done,
    Method,
    Name,
    OptionalName,
    Part,
    Request,
    ServiceState,
)
from mailtally.api.service import Service
from mailtally.history import decode_state
from mailtally.metrics import SERVICES
from mailtally.store import Queries
from mailtally.tree import (
    Principal,
    do_change_domain,
    do_delete_domain,
    do_restore_domain,
    domain_defaults,
    find_target,
    format_rfc3339,
    require_stats_readable,
)

__all__ = ["METHODS"]


class ChangeDomainRequest(Request, kw_only=True):
    domain: Name
    company: Name | None = None
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)
    create_only: bool = False


async def change_domain(svc: Service, req: ChangeDomainRequest, p: Principal) -> Done:
    await svc.act(
        p,
        req.credentials.client,
        lambda ctx: do_change_domain(ctx, req.domain, req.company, req.attributes, req.create_only),
    )
    return Done()


class DomainRequest(Request, kw_only=True):
    domain: Name


class DomainAttributes(Part, kw_only=True):
    """The domain's defaults for its new accounts, and its creation time."""

    service_smtprelay: ServiceState
    service_smtpin: ServiceState
    service_imap4: ServiceState
    service_pop3: ServiceState
    service_webmail: ServiceState
    quota: int
    createtime: str


class DomainMetadata(Part, kw_only=True):
    name: str
    company: str
    #: live accounts
    users: int
    #: soft-deleted accounts
    deleted_users: int
    workgroups: list[str]


class DomainAnswer(Answer, kw_only=True):
    """A domain: its defaults, and what it holds now."""

    attributes: DomainAttributes
    metadata: DomainMetadata


def domain_info(q: Queries, p: Principal, name: str) -> DomainAnswer:
    t = require_stats_readable(p, find_target(q, "domain", name), "domain", name, what="")
    row = q.domain_by_id(t.id)
    defaults = domain_defaults(row[5])
    company = q.company_by_id(t.company_id)
    users = q.users_of_domain(t.id)
    states = [decode_state(u[6]) for u in users]
    attributes = DomainAttributes(
        **{f"service_{s}": defaults.get(f"service_{s}", "enabled") for s in SERVICES},
        quota=int(defaults.get("quota", 0)),
        createtime=format_rfc3339(t.createtime),
    )
    return DomainAnswer(
        attributes=attributes,
        metadata=DomainMetadata(
            name=t.name,
            company=company[1] if company else "",
            users=sum(1 for s in states if s.deletetime is None),
            deleted_users=sum(1 for s in states if s.deletetime is not None),
            workgroups=sorted({"staff", *(s.workgroup for s in states)}),
        ),
    )


async def get_domain(svc: Service, req: DomainRequest, p: Principal) -> DomainAnswer:
    return await svc.read(lambda q: domain_info(q, p, req.domain))


async def delete_domain(svc: Service, req: DomainRequest, p: Principal) -> Done:
    await svc.act(p, req.credentials.client, lambda ctx: do_delete_domain(ctx, req.domain))
    return Done()


class RestoreDomainRequest(Request, kw_only=True):
    domain: Name
    #: which deleted domain (search_domains with deleted gives the ids)
    id: Annotated[int, msgspec.Meta(ge=1)] | None = None
    #: restore under this free name instead ("": not renamed)
    new_name: OptionalName | None = None


async def restore_domain(svc: Service, req: RestoreDomainRequest, p: Principal) -> Done:
    await svc.act(
        p,
        req.credentials.client,
        lambda ctx: do_restore_domain(ctx, req.domain, req.id, req.new_name or None),
    )
    return Done()


METHODS = {
    "change_domain": Method(ChangeDomainRequest, change_domain),
    "get_domain": Method(DomainRequest, get_domain),
    "delete_domain": Method(DomainRequest, delete_domain),
    "restore_domain": Method(RestoreDomainRequest, restore_domain),
}
