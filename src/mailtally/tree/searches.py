"""The searches that read the tree (SPEC §4 "More of OMA"): whose objects a
search may list, decided by the permission table before anything is read.

Each function here turns a search's criteria into the scope the store pages
through (a domain, a company, a list of domains, or everything), raising the
error the table gives: error 2 for a domain or company outside the caller's
scope (exactly as for a missing one), error 4 for one it may see but not read.
The store (:meth:`Queries.search_users` and its siblings) then filters by that
scope in SQL — a pattern or a workgroup in the criteria only narrows it, so no
criterion can reach another tenant's rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailtally.access import Action, Obj, actions, forbidden, not_found, weighed_actions
from mailtally.errors import BAD_REQUEST, OMAError
from mailtally.store.base import Queries
from mailtally.tree.scopes import (
    Principal,
    Target,
    _obj_of,
    find_target,
    own_company,
    require_found,
)

__all__ = [
    "PLATFORM",
    "UserScope",
    "domain_scope",
    "require_platform",
    "user_scope",
]

#: Every company at once: no company has id 0, so only rights that reach every
#: company (the operator's) reach it.  search_companies asks the table for it.
PLATFORM = Obj("company", 0)


@dataclass(frozen=True, slots=True)
class UserScope:
    """What a search_users request may list: one domain, one company, or (both
    None) every account of the platform."""

    domain_id: int | None = None
    company_id: int | None = None


def _readable_domain(q: Queries, p: Principal, name: str, workgroup: str | None) -> Target:
    """The domain ``name`` if ``p`` may read it (or, with ``workgroup``, that
    workgroup of it): error 2 unless it sees either, 4 unless it reads either."""
    t = find_target(q, "domain", name)
    acts = weighed_actions(p, _obj_of(t))
    if workgroup is not None:
        # a missing domain's workgroup is weighed as one of the stand-in's (rule 3)
        company_id, domain_id = (0, 0) if t is None else (t.company_id, t.id)
        wg = actions(p, Obj("workgroup", company_id, domain_id=domain_id, workgroup=workgroup))
        if t is not None:
            acts |= wg
    if Action.SEE not in acts:
        raise not_found("domain", name)
    if Action.READ not in acts:
        raise forbidden(f"list the users of domain '{t.name if t else name}'")
    assert t is not None
    return t


def user_scope(q: Queries, p: Principal, domain: str | None, workgroup: str | None) -> UserScope:
    """Where search_users looks.  A named domain must be readable (a workgroup
    admin reads its workgroup of it, when the criteria name the workgroup);
    without one, company roles search their company and operators everything
    (SPEC §4), and anyone else must name the domain (error 5)."""
    if domain is not None:
        return UserScope(domain_id=_readable_domain(q, p, domain, workgroup).id)
    if p.operator:
        return UserScope()
    if p.company_id is not None and Action.SEE in actions(p, Obj("company", p.company_id)):
        return UserScope(company_id=own_company(q, p, "list the users of your company").id)
    raise OMAError(
        BAD_REQUEST,
        "field 'criteria.domain' is required (only company roles may search their whole company)",
        {"criteria.domain": "is required"},
    )


def domain_scope(
    q: Queries, p: Principal, company: str | None
) -> tuple[int | None, list[int] | None]:
    """Where search_domains looks: (company id, domain ids), None for no limit.

    A named company must be readable (error 2 / 4).  Otherwise an operator sees
    every domain, a company role that reads its company all of that company's,
    and anyone else the domains its roles read (none: an empty list).
    """
    if company is not None:
        t = require_found(q, p, Action.READ, "company", company, "list the domains of")
        return t.id, None
    if p.operator:
        return None, None
    if p.company_id is not None and Action.READ in actions(p, Obj("company", p.company_id)):
        return p.company_id, None
    ids = sorted(
        {
            g.obj.domain_id
            for g in p.grants
            if g.obj.kind == "domain"
            and g.obj.domain_id is not None
            and Action.READ in actions(p, g.obj)
        }
    )
    return None, ids


def require_platform(p: Principal, what: str) -> None:
    """Error 4 unless ``p``'s rights reach every company (operators)."""
    if Action.READ not in actions(p, PLATFORM):
        raise forbidden(what)
