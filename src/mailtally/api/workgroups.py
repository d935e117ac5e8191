"""``create_workgroup`` and ``delete_workgroup``."""

from __future__ import annotations

from mailtally.api.common import Done, Method, Name, Request, WorkgroupName
from mailtally.api.service import Service
from mailtally.tree import Principal
from mailtally.tree.workgroups import do_create_workgroup, do_delete_workgroup

__all__ = ["METHODS"]


class WorkgroupRequest(Request, kw_only=True):
    domain: Name
    workgroup: WorkgroupName


async def create_workgroup(svc: Service, req: WorkgroupRequest, p: Principal) -> Done:
    await svc.act(
        p, req.credentials.client, lambda ctx: do_create_workgroup(ctx, req.domain, req.workgroup)
    )
    return Done()


async def delete_workgroup(svc: Service, req: WorkgroupRequest, p: Principal) -> Done:
    await svc.act(
        p, req.credentials.client, lambda ctx: do_delete_workgroup(ctx, req.domain, req.workgroup)
    )
    return Done()


METHODS = {
    "create_workgroup": Method(WorkgroupRequest, create_workgroup),
    "delete_workgroup": Method(WorkgroupRequest, delete_workgroup),
}
