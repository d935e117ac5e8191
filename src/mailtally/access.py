"""Who may do what to which object: the one place that decides (SPEC §2).

Every method asks here *before* it touches anything else, and nothing else in
the project derives scope.  Three things decide:

* :data:`PERMISSIONS` — the table: for each role (and ``operator``, and
  ``self``: what any user may do to its own account), the actions it grants
  on each kind of object inside its reach.  SPEC §2's role table is this table
  read aloud; the README and the tests read from it too.
* :func:`contains` — a role's reach: a company role reaches its company and
  everything in it; a domain role its domain, its workgroups and its users (by
  the account's own domain, not an alias's); a workgroup role that workgroup
  and its users.  Reach is decided by ids, never by how a name is spelled
  (isolation rule 2).
* :func:`covers` — isolation rule 1: an account that holds roles may be
  changed, deleted, restored, renamed, given roles or made tokens for only by a
  caller whose own rights include every right those roles give, over every
  object they reach.  The same test decides which roles a caller may grant.

The answers follow isolation rule 3: an object the caller may not see (it holds
no :data:`SEE` over it) is answered exactly as a missing one (error 2), and the
check runs before any other tenant's data is looked at; an object it may see
but not act on is error 4.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol

from mailtally.errors import FORBIDDEN, NOT_FOUND, OMAError

__all__ = [
    "ACCOUNT_ACTIONS",
    "COMPANY_ROLES",
    "DOMAIN_ROLES",
    "KINDS",
    "METHOD_ACTIONS",
    "PERMISSIONS",
    "RESTRICTS",
    "ROLES",
    "ROLE_KIND",
    "Action",
    "Grant",
    "Obj",
    "actions",
    "allowed",
    "contains",
    "covers",
    "forbidden",
    "may_act_on_account",
    "not_found",
    "reaches_into",
    "require",
    "require_seen",
    "weighed_actions",
]


class Action(StrEnum):
    """What a caller may do to an object."""

    SEE = "see"  #: know that it exists (without it: error 2, as if missing)
    READ = "read"  #: read its statistics and attributes (stats_summary, get_*)
    CHANGE = "change"  #: change its attributes (a user's: any of them)
    CHANGE_SELF = "change_self"  #: change the attributes a user may change of itself
    CREATE_DOMAIN = "create_domain"  #: create domains in this company
    CREATE_USER = "create_user"  #: create accounts and alias addresses in this domain
    DELETE = "delete"
    RESTORE = "restore"
    RENAME = "rename"  #: give an account another address (issue 10's rename_user)
    SET_ROLE = "set_role"  #: grant or take away this account's roles
    MAKE_TOKEN = "make_token"  #: issue an API token that acts as this account (generate_token)
    LOGOUT = "logout"  #: end every session token of this account (logout_user)
    INGEST = "ingest"  #: send events for this company's accounts (ingest_events)


Kind = Literal["company", "domain", "workgroup", "user"]
KINDS: tuple[Kind, ...] = ("company", "domain", "workgroup", "user")

COMPANY_ROLES = ("company", "company_ro", "company_view", "company_mail", "company_token_only")
DOMAIN_ROLES = ("domain", "mail")
ROLES = (*COMPANY_ROLES, *DOMAIN_ROLES, "workgroup")
#: the kind of object each role is held on
ROLE_KIND: dict[str, Kind] = {
    **dict.fromkeys(COMPANY_ROLES, "company"),
    **dict.fromkeys(DOMAIN_ROLES, "domain"),
    "workgroup": "workgroup",
}

A = Action
_READER = frozenset({A.SEE, A.READ})
_ALL = frozenset(A)

#: role -> kind of object -> what the role grants on objects of that kind inside
#: its reach.  ``operator`` reaches everything; ``self`` is what every user may
#: do to its own account.
PERMISSIONS: dict[str, dict[Kind, frozenset[Action]]] = {
    "operator": dict.fromkeys(KINDS, _ALL),
    "company": {
        "company": frozenset({A.SEE, A.READ, A.CREATE_DOMAIN, A.INGEST}),
        "domain": frozenset({A.SEE, A.READ, A.CHANGE, A.DELETE, A.RESTORE, A.CREATE_USER}),
        "workgroup": _READER,
        "user": frozenset(
            {
                A.SEE,
                A.READ,
                A.CHANGE,
                A.DELETE,
                A.RESTORE,
                A.RENAME,
                A.SET_ROLE,
                A.MAKE_TOKEN,
                A.LOGOUT,
            }
        ),
    },
    "company_ro": dict.fromkeys(KINDS, _READER),
    "company_view": dict.fromkeys(KINDS, _READER),
    "company_mail": dict.fromkeys(KINDS, _READER),
    # sees its company's objects (so reading one is error 4, not 2), reads none
    "company_token_only": dict.fromkeys(KINDS, frozenset({A.SEE})),
    "domain": {
        "domain": frozenset({A.SEE, A.READ, A.CREATE_USER}),
        "workgroup": _READER,
        "user": frozenset(
            {A.SEE, A.READ, A.CHANGE, A.DELETE, A.RESTORE, A.RENAME, A.MAKE_TOKEN, A.LOGOUT}
        ),
    },
    "mail": {"domain": _READER, "workgroup": _READER, "user": _READER},
    "workgroup": {"workgroup": _READER, "user": _READER},
    "self": {"user": frozenset({A.SEE, A.READ, A.CHANGE_SELF, A.LOGOUT})},
}

#: role -> what holding it (anywhere) takes away from ``self``: a token-only
#: account reads nothing, not even itself.
RESTRICTS: dict[str, frozenset[Action]] = {"company_token_only": frozenset({A.READ})}

#: what changes an account or acts as it: isolation rule 1 applies
ACCOUNT_ACTIONS = frozenset(
    {A.CHANGE, A.DELETE, A.RESTORE, A.RENAME, A.SET_ROLE, A.MAKE_TOKEN, A.LOGOUT}
)


@dataclass(frozen=True, slots=True)
class Obj:
    """An object as the table sees it: its kind and where it sits in the tree.

    ``domain_id`` of a user is its own domain (an alias elsewhere does not put
    it there); ``workgroup`` of a user is the workgroup it belongs to.
    """

    kind: Kind
    company_id: int
    domain_id: int | None = None
    workgroup: str | None = None
    user_id: int | None = None


@dataclass(frozen=True, slots=True)
class Grant:
    """One role held: the role and the object it is held on (by id)."""

    role: str
    obj: Obj


def contains(reach: Obj, obj: Obj) -> bool:
    """Does a role held on ``reach`` reach ``obj``?  (By ids only.)"""
    if reach.company_id != obj.company_id:
        return False
    if reach.kind == "company":
        return True
    if obj.kind == "company":
        return False
    if reach.kind == "domain":
        return obj.domain_id == reach.domain_id
    if reach.kind == "workgroup":
        return (
            obj.kind in ("workgroup", "user")
            and obj.domain_id == reach.domain_id
            and obj.workgroup == reach.workgroup
        )
    return False


class Subject(Protocol):
    """What the table needs to know of a caller (``tree.Principal`` is one)."""

    @property
    def operator(self) -> bool: ...
    @property
    def user_id(self) -> int | None: ...
    @property
    def domain_id(self) -> int | None: ...
    @property
    def grants(self) -> tuple[Grant, ...]: ...


def actions(p: Subject, obj: Obj) -> frozenset[Action]:
    """Everything ``p`` may do to ``obj``."""
    if p.operator:
        return _ALL
    out: set[Action] = set()
    for g in p.grants:
        if contains(g.obj, obj):
            out |= PERMISSIONS[g.role].get(obj.kind, frozenset())
    if obj.kind == "user" and obj.user_id is not None and obj.user_id == p.user_id:
        own = set(PERMISSIONS["self"]["user"])
        for g in p.grants:
            own -= RESTRICTS.get(g.role, frozenset())
        out |= own
    return frozenset(out)


def reaches_into(p: Subject, domain: Obj) -> bool:
    """May ``p`` see any account of ``domain`` (the domain itself, a workgroup of
    it, or its own account there)?  Asked before an address in the domain is
    looked up, so that another tenant's addresses are never read."""
    if p.operator or p.domain_id == domain.domain_id:
        return True
    return any(
        contains(g.obj, domain)
        or (g.obj.kind == "workgroup" and g.obj.domain_id == domain.domain_id)
        for g in p.grants
    )


def allowed(p: Subject, action: Action, obj: Obj) -> bool:
    return action in actions(p, obj)


def covers(p: Subject, role: str, reach: Obj) -> bool:
    """Are all the rights of ``role`` held on ``reach`` inside ``p``'s own rights?

    For every kind of object the role grants anything on, ``p`` must be granted
    at least as much over the whole of ``reach`` (by roles that reach all of
    it): a domain admin covers another admin of its domain, not an admin of
    another domain, nor a company role.
    """
    if p.operator:
        return True
    mine: dict[Kind, set[Action]] = {}
    for g in p.grants:
        if contains(g.obj, reach):
            for kind, acts in PERMISSIONS[g.role].items():
                mine.setdefault(kind, set()).update(acts)
    return all(acts <= mine.get(kind, set()) for kind, acts in PERMISSIONS[role].items())


def may_act_on_account(
    p: Subject,
    action: Action,
    account: Obj,
    held: Iterable[Grant],
    alias_domains: Iterable[Obj] = (),
) -> bool:
    """``action`` on an account that holds the roles ``held`` and has aliases in
    ``alias_domains`` (isolation rule 1).

    An alias gives its account the mail of another domain: deleting, restoring
    or changing the account (its password, its type, its services) changes
    that domain's mail and its ``users.alias``, so the caller must manage every
    domain the aliases are in, as it must to add or remove one of them.
    """
    if action not in actions(p, account):
        return False
    if action in ACCOUNT_ACTIONS:
        return all(covers(p, g.role, g.obj) for g in held) and all(
            A.CREATE_USER in actions(p, d) for d in alias_domains
        )
    return True


# -- the answers ---------------------------------------------------------------------
def not_found(label: str, name: str, field: str | None = None) -> OMAError:
    """Error 2: the answer for a missing object and for one out of scope alike."""
    return OMAError(
        NOT_FOUND, f"{label} '{name}' does not exist", {field or label: "does not exist"}
    )


def forbidden(what: str) -> OMAError:
    return OMAError(FORBIDDEN, f"you may not {what}")


#: what a missing object is weighed as: the same work as an existing one
#: (rule 3: the time of an answer must not tell them apart), though no answer
#: is taken from it
_NOWHERE = Obj("user", 0, domain_id=0, workgroup="", user_id=0)


def weighed_actions(p: Subject, obj: Obj | None) -> frozenset[Action]:
    """:func:`actions` on ``obj``; none on a missing object (None), after the
    same work (rule 3)."""
    if obj is None:
        actions(p, _NOWHERE)
        return frozenset()
    return actions(p, obj)


def require_seen(p: Subject, obj: Obj | None, label: str, name: str) -> None:
    """Error 2 unless ``obj`` exists and ``p`` may see it."""
    if A.SEE not in weighed_actions(p, obj):
        raise not_found(label, name)


def require(p: Subject, action: Action, obj: Obj | None, label: str, name: str, what: str) -> None:
    """Scope, then permission: error 2 unless ``p`` sees ``obj``, error 4 unless
    it may ``action`` it (``what``: the sentence's verb phrase)."""
    acts = weighed_actions(p, obj)
    if A.SEE not in acts:
        raise not_found(label, name)
    if action not in acts:
        raise forbidden(what)


#: What each method of the API asks the table for: (action, kind of object, the
#: request field that names it).  Empty: the method acts on the caller alone.
#: The adversarial matrix (tests/test_isolation_matrix.py) reads this with the
#: app's method registry; a method missing here fails it.
METHOD_ACTIONS: dict[str, tuple[tuple[Action, Kind, str], ...]] = {
    "echo": (),
    "authenticate": (),  # its own tokens, its own extra_info
    "change_company": ((A.CHANGE, "company", "company"),),
    "get_company": ((A.READ, "company", "company"),),
    "change_domain": (
        (A.CHANGE, "domain", "domain"),
        (A.CREATE_DOMAIN, "company", "company"),
    ),
    "get_domain": ((A.READ, "domain", "domain"),),
    "delete_domain": ((A.DELETE, "domain", "domain"),),
    "change_user": (
        (A.CHANGE, "user", "user"),
        (A.CHANGE_SELF, "user", "user"),
        (A.CREATE_USER, "domain", "user"),
        (A.CREATE_USER, "domain", "attributes.aliases"),
    ),
    "get_user": ((A.READ, "user", "user"),),
    "delete_user": ((A.DELETE, "user", "user"),),
    "restore_user": (
        (A.RESTORE, "user", "user"),
        (A.CREATE_USER, "domain", "new_name"),
    ),
    "rename_user": (
        (A.RENAME, "user", "user"),
        (A.CREATE_USER, "domain", "new_name"),
    ),
    "restore_domain": ((A.RESTORE, "domain", "domain"),),
    "get_user_changes": ((A.READ, "user", "user"),),
    "get_domain_changes": ((A.READ, "domain", "domain"),),
    "get_company_changes": ((A.READ, "company", "company"),),
    "get_user_attribute_history": ((A.READ, "user", "user"),),
    "logout_user": ((A.LOGOUT, "user", "user"),),
    "generate_token": ((A.MAKE_TOKEN, "user", "user"),),
    "set_role": ((A.SET_ROLE, "user", "user"),),
    "stats_summary": (
        (A.READ, "company", "object"),
        (A.READ, "domain", "object"),
        (A.READ, "user", "object"),
    ),
    # stats_list: the caller's own company or domain (read, as stats_summary)
    "stats_list": ((A.READ, "company", ""), (A.READ, "domain", "")),
    "stats_snapshot": ((A.READ, "company", "object"), (A.READ, "domain", "object")),
    # stats_top: the object as stats_summary names it (a company or a domain)
    "stats_top": ((A.READ, "company", "object"), (A.READ, "domain", "object")),
    "ingest_events": ((A.INGEST, "company", "events"),),
    # ingest_tree: the domains and addresses of the companies the caller ingests for
    "ingest_tree": ((A.INGEST, "company", ""),),
    # searches (mailtally.tree.searches): a named domain or company must be read;
    # a workgroup admin reads its workgroup of a domain; without a domain, a
    # company role searches its company (search_companies: every company)
    "search_users": (
        (A.READ, "domain", "criteria.domain"),
        (A.READ, "workgroup", "criteria.workgroup"),
        (A.READ, "company", "criteria"),
    ),
    "search_domains": ((A.READ, "company", "criteria.company"),),
    "search_workgroups": ((A.READ, "domain", "criteria.domain"),),
    "search_companies": ((A.READ, "company", ""),),
    # whoever manages the domain's accounts manages its workgroups
    "create_workgroup": ((A.CREATE_USER, "domain", "domain"),),
    "delete_workgroup": ((A.CREATE_USER, "domain", "domain"),),
}
