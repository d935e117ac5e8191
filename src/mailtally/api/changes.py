"""``get_user_changes``, ``get_domain_changes``, ``get_company_changes`` and
``get_user_attribute_history``: what the audit log and the account's versions
say (mailtally.tree.changes)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from mailtally.api.common import Answer, Method, Name, Range, Request
from mailtally.api.service import Service
from mailtally.tree import ObjectType, Principal
from mailtally.tree.changes import Change, Version, attribute_history, object_changes

__all__ = ["METHODS"]


class UserChangesRequest(Request, kw_only=True):
    user: Name
    range: Range = msgspec.field(default_factory=Range)


class DomainChangesRequest(Request, kw_only=True):
    domain: Name
    range: Range = msgspec.field(default_factory=Range)


class CompanyChangesRequest(Request, kw_only=True):
    #: default: the caller's own company
    company: Name | None = None
    range: Range = msgspec.field(default_factory=Range)


class ChangesAnswer(Answer, kw_only=True):
    """A page of an object's changes (the audit log)."""

    #: changes on this page
    count: int
    #: changes of the object in all
    total_count: int
    #: newest first
    changes: list[Change]


def _changes(kind: ObjectType, field: str) -> Any:
    async def view(svc: Service, req: Any, p: Principal) -> ChangesAnswer:
        name = getattr(req, field)
        r = req.range
        total, changes = await svc.read(
            lambda q: object_changes(q, p, kind, name, r.first, r.limit)
        )
        return ChangesAnswer(count=len(changes), total_count=total, changes=changes)

    view.__name__ = f"get_{kind}_changes"
    return view


class AttributeHistoryRequest(Request, kw_only=True):
    user: Name
    attribute: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class AttributeHistoryAnswer(Answer, kw_only=True):
    """The values an account's attribute took."""

    #: oldest first
    history: list[Version]


async def get_user_attribute_history(
    svc: Service, req: AttributeHistoryRequest, p: Principal
) -> AttributeHistoryAnswer:
    history = await svc.read(lambda q: attribute_history(q, p, req.user, req.attribute))
    return AttributeHistoryAnswer(history=history)


METHODS = {
    "get_user_changes": Method(UserChangesRequest, _changes("user", "user")),
    "get_domain_changes": Method(DomainChangesRequest, _changes("domain", "domain")),
    "get_company_changes": Method(CompanyChangesRequest, _changes("company", "company")),
    "get_user_attribute_history": Method(AttributeHistoryRequest, get_user_attribute_history),
}
