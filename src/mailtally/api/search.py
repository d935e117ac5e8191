"""``search_users``, ``search_domains``, ``search_workgroups`` and ``search_companies``.

OMA's request shapes (SPEC §4): ``criteria``, ``range`` {first, limit}, ``sort``
{by, direction}; a ``match`` pattern takes ``*`` and ``?``.  Each view decodes,
asks :mod:`mailtally.tree.searches` for the caller's scope (the permission table),
and has the store page through it (indexes, LIMIT/OFFSET) — never a list of a
whole domain in Python.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, UnsetType

from mailtally.access import Action
from mailtally.api.common import Answer, Method, Name, Part, Range, Request, WorkgroupName
from mailtally.api.service import Service
from mailtally.names import NAME_PATTERN
from mailtally.periods import format_time
from mailtally.store import Queries
from mailtally.tree import Principal, format_rfc3339
from mailtally.tree.scopes import require_found
from mailtally.tree.searches import domain_scope, require_platform, user_scope

__all__ = ["METHODS"]

#: a ``match`` pattern: ``*`` any run of characters, ``?`` one; every other
#: character (``%``, ``_`` and ``[`` too) stands for itself
Pattern = Annotated[str, msgspec.Meta(min_length=1, max_length=320, pattern=NAME_PATTERN)]
Direction = Literal["ascending", "descending"]


def _lower(pattern: str | None) -> str | None:
    return None if pattern is None else pattern.lower()


# -- search_users ------------------------------------------------------------------
UserField = Literal["createtime", "forward", "lastlogin", "status", "type", "workgroup"]
UserSortKey = Literal["user", "createtime", "lastlogin", "type", "workgroup", "delete_time"]


class UserCriteria(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    domain: Name | None = None
    match: Pattern | None = None
    type: Literal["mailbox", "forward", "filter"] | None = None
    workgroup: WorkgroupName | None = None
    deleted: bool = False


class UserSort(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    by: UserSortKey = "user"
    direction: Direction = "ascending"


class SearchUsersRequest(Request, kw_only=True):
    criteria: UserCriteria = msgspec.field(default_factory=UserCriteria)
    fields: Annotated[list[UserField], msgspec.Meta(max_length=16)] = msgspec.field(
        default_factory=list
    )
    range: Range = msgspec.field(default_factory=Range)
    sort: UserSort = msgspec.field(default_factory=UserSort)


class UserItem(Part, kw_only=True):
    """An account found; the fields asked for, and for a soft-deleted one its
    ``id`` (for ``restore_user``) and ``delete_time``."""

    user: str
    createtime: str | UnsetType = UNSET
    forward: str | UnsetType = UNSET
    lastlogin: str | UnsetType = UNSET
    status: Literal["active", "deleted"] | UnsetType = UNSET
    type: str | UnsetType = UNSET
    workgroup: str | UnsetType = UNSET
    id: int | UnsetType = UNSET
    delete_time: str | UnsetType = UNSET


class SearchUsersAnswer(Answer, kw_only=True):
    count: int
    total_count: int
    users: list[UserItem]


_forward = msgspec.json.Decoder(dict[str, object])


def _user_item(row: tuple, fields: frozenset[str], deleted: bool) -> UserItem:  # type: ignore[type-arg]
    uid, address, createtime, type_, workgroup, deletetime, lastlogin, state = row
    item = UserItem(user=address)
    if "createtime" in fields:
        item.createtime = format_rfc3339(createtime)
    if "forward" in fields:
        s = _forward.decode(state)
        recipients = s.get("forward_recipients") or []
        item.forward = ",".join(recipients) if s.get("delivery_forward") else ""  # type: ignore[arg-type]
    if "lastlogin" in fields:
        item.lastlogin = format_time(lastlogin)
    if "status" in fields:
        item.status = "deleted" if deleted else "active"
    if "type" in fields:
        item.type = type_
    if "workgroup" in fields:
        item.workgroup = workgroup
    if deleted:
        item.id = uid
        item.delete_time = format_rfc3339(deletetime)
    return item


def find_users(q: Queries, p: Principal, req: SearchUsersRequest) -> SearchUsersAnswer:
    c = req.criteria
    scope = user_scope(q, p, c.domain, c.workgroup)
    total, rows = q.search_users(
        domain_id=scope.domain_id,
        company_id=scope.company_id,
        deleted=c.deleted,
        match=_lower(c.match),
        type_=c.type,
        workgroup=c.workgroup,
        sort=req.sort.by,
        descending=req.sort.direction == "descending",
        first=req.range.first,
        limit=req.range.limit,
    )
    fields = frozenset(req.fields)
    users = [_user_item(r, fields, c.deleted) for r in rows]
    return SearchUsersAnswer(count=len(users), total_count=total, users=users)


async def search_users(svc: Service, req: SearchUsersRequest, p: Principal) -> SearchUsersAnswer:
    return await svc.read(lambda q: find_users(q, p, req))


# -- search_domains ----------------------------------------------------------------
DomainSortKey = Literal[
    "domain",
    "id",
    "users",
    "users/mailbox",
    "users/forward",
    "users/filter",
    "users/alias",
    "users/deleted",
    "delete_time",
]


class DomainCriteria(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    company: Name | None = None
    match: Pattern | None = None
    deleted: bool = False


class DomainSort(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    by: DomainSortKey = "domain"
    direction: Direction = "ascending"


class SearchDomainsRequest(Request, kw_only=True):
    criteria: DomainCriteria = msgspec.field(default_factory=DomainCriteria)
    range: Range = msgspec.field(default_factory=Range)
    sort: DomainSort = msgspec.field(default_factory=DomainSort)


class DomainCounts(Part, kw_only=True):
    """The domain's accounts now: live ones by type, alias addresses of live
    accounts, soft-deleted accounts (SPEC §3's ``users.*``)."""

    mailbox: int
    forward: int
    filter: int
    alias: int
    deleted: int


class DomainItem(Part, kw_only=True):
    domain: str
    id: int
    company: str
    counts: DomainCounts
    #: a deleted domain's deletion time
    delete_time: str | UnsetType = UNSET


class SearchDomainsAnswer(Answer, kw_only=True):
    count: int
    total_count: int
    domains: list[DomainItem]


def find_domains(q: Queries, p: Principal, req: SearchDomainsRequest) -> SearchDomainsAnswer:
    c = req.criteria
    company_id, domain_ids = domain_scope(q, p, c.company)
    total, rows = q.search_domains(
        company_id=company_id,
        domain_ids=domain_ids,
        deleted=c.deleted,
        match=_lower(c.match),
        sort=req.sort.by,
        descending=req.sort.direction == "descending",
        first=req.range.first,
        limit=req.range.limit,
    )
    domains = [
        DomainItem(
            domain=name,
            id=did,
            company=company,
            counts=DomainCounts(mailbox=mb, forward=fw, filter=fi, alias=al, deleted=de),
            delete_time=UNSET if deletetime is None else format_rfc3339(deletetime),
        )
        for did, name, company, deletetime, mb, fw, fi, al, de in rows
    ]
    return SearchDomainsAnswer(count=len(domains), total_count=total, domains=domains)


async def search_domains(
    svc: Service, req: SearchDomainsRequest, p: Principal
) -> SearchDomainsAnswer:
    return await svc.read(lambda q: find_domains(q, p, req))


# -- search_workgroups -------------------------------------------------------------
class WorkgroupCriteria(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    domain: Name
    match: Pattern | None = None


class WorkgroupSort(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    by: Literal["workgroup", "users"] = "workgroup"
    direction: Direction = "ascending"


class SearchWorkgroupsRequest(Request, kw_only=True):
    criteria: WorkgroupCriteria
    range: Range = msgspec.field(default_factory=Range)
    sort: WorkgroupSort = msgspec.field(default_factory=WorkgroupSort)


class WorkgroupItem(Part, kw_only=True):
    workgroup: str
    domain: str
    #: its live accounts
    users: int


class SearchWorkgroupsAnswer(Answer, kw_only=True):
    count: int
    total_count: int
    workgroups: list[WorkgroupItem]


def find_workgroups(
    q: Queries, p: Principal, req: SearchWorkgroupsRequest
) -> SearchWorkgroupsAnswer:
    c = req.criteria
    d = require_found(q, p, Action.READ, "domain", c.domain, "list the workgroups of")
    total, rows = q.search_workgroups(
        d.id,
        c.match,  # workgroup names keep their case: the pattern too
        by_users=req.sort.by == "users",
        descending=req.sort.direction == "descending",
        first=req.range.first,
        limit=req.range.limit,
    )
    items = [WorkgroupItem(workgroup=name, domain=d.name, users=n) for name, n in rows]
    return SearchWorkgroupsAnswer(count=len(items), total_count=total, workgroups=items)


async def search_workgroups(
    svc: Service, req: SearchWorkgroupsRequest, p: Principal
) -> SearchWorkgroupsAnswer:
    return await svc.read(lambda q: find_workgroups(q, p, req))


# -- search_companies --------------------------------------------------------------
class CompanyCriteria(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    match: Pattern | None = None


class CompanySort(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    by: Literal["company", "id", "domains", "users"] = "company"
    direction: Direction = "ascending"


class SearchCompaniesRequest(Request, kw_only=True):
    criteria: CompanyCriteria = msgspec.field(default_factory=CompanyCriteria)
    range: Range = msgspec.field(default_factory=Range)
    sort: CompanySort = msgspec.field(default_factory=CompanySort)


class CompanyItem(Part, kw_only=True):
    company: str
    id: int
    #: its live domains
    domains: int
    #: its live accounts
    users: int


class SearchCompaniesAnswer(Answer, kw_only=True):
    count: int
    total_count: int
    companies: list[CompanyItem]


def find_companies(q: Queries, p: Principal, req: SearchCompaniesRequest) -> SearchCompaniesAnswer:
    require_platform(p, "search companies (operators only)")
    total, rows = q.search_companies(
        req.criteria.match,
        req.sort.by,
        req.sort.direction == "descending",
        req.range.first,
        req.range.limit,
    )
    items = [CompanyItem(company=n, id=cid, domains=d, users=u) for cid, n, d, u in rows]
    return SearchCompaniesAnswer(count=len(items), total_count=total, companies=items)


async def search_companies(
    svc: Service, req: SearchCompaniesRequest, p: Principal
) -> SearchCompaniesAnswer:
    return await svc.read(lambda q: find_companies(q, p, req))


METHODS = {
    "search_users": Method(SearchUsersRequest, search_users),
    "search_domains": Method(SearchDomainsRequest, search_domains),
    "search_workgroups": Method(SearchWorkgroupsRequest, search_workgroups),
    "search_companies": Method(
        SearchCompaniesRequest,
        search_companies,
        admit=lambda p: require_platform(p, "search companies (operators only)"),
    ),
}
