"""``create_workgroup`` and ``delete_workgroup``."""

from __future__ import annotations

from typing import Any

from mailtally.api.common import Method, Name, Request, WorkgroupName
from mailtally.api.service import Service
from mailtally.tree import Principal
from mailtally.tree.workgroups import do_create_workgroup, do_delete_workgroup

__all__ = ["METHODS"]


class WorkgroupRequest(Request, kw_only=True):
    domain: Name
    workgroup: WorkgroupName


async def create_workgroup(svc: Service, req: WorkgroupRequest, p: Principal) -> dict[str, Any]:
    await svc.act(
        p, req.credentials.client, lambda ctx: do_create_workgroup(ctx, req.domain, req.workgroup)
    )
    return {}


async def delete_workgroup(svc: Service, req: WorkgroupRequest, p: Principal) -> dict[str, Any]:
    await svc.act(
        p, req.credentials.client, lambda ctx: do_delete_workgroup(ctx, req.domain, req.workgroup)
    )
    return {}


METHODS = {
    "create_workgroup": Method(WorkgroupRequest, create_workgroup),
    "delete_workgroup": Method(WorkgroupRequest, delete_workgroup),
}
