"""The actions on workgroups (SPEC §4): ``create_workgroup``, ``delete_workgroup``.

A workgroup lives inside a domain; every domain has ``staff`` (users join it
when they name none), and a workgroup also comes into being when a user names
it (``Queries.update_user_state``).  Whoever may create and delete the domain's
accounts (``Action.CREATE_USER`` on the domain: its domain and company admins,
operators) may create and delete its workgroups.  Like every change of the
tree, each lands in the audit log.
"""

from __future__ import annotations

from mailtally import access
from mailtally.access import Action, Obj, covers, forbidden
from mailtally.errors import EXISTS, FORBIDDEN, OMAError
from mailtally.tree.actions import Ctx
from mailtally.tree.scopes import Target, require_found

__all__ = ["do_create_workgroup", "do_delete_workgroup"]

#: the workgroup every domain has
STAFF = "staff"


def _domain(ctx: Ctx, name: str, verb: str, workgroup: str) -> Target:
    """The domain, if the actor may manage its accounts: error 2, then 4."""
    return require_found(
        ctx.q, ctx.actor, Action.CREATE_USER, "domain", name, f"{verb} workgroups of"
    )


def do_create_workgroup(ctx: Ctx, domain: str, workgroup: str) -> None:
    """A new, empty workgroup (error 7 if the domain has it already)."""
    d = _domain(ctx, domain, "create", workgroup)
    if not ctx.q.add_workgroup(d.company_id, d.id, workgroup):
        raise OMAError(
            EXISTS,
            f"workgroup '{workgroup}' already exists in domain '{d.name}'",
            {"workgroup": "exists"},
        )
    ctx.audit(d.company_id, "create_workgroup", f"{d.name}/{workgroup}", {})


def do_delete_workgroup(ctx: Ctx, domain: str, workgroup: str) -> None:
    """Delete an empty workgroup and the roles held on it.

    ``staff`` stays (error 4), and so does a workgroup with live accounts
    (error 4: move or delete them first; soft-deleted ones keep the name and
    are restored into it, which brings it back).  A role held on the workgroup
    goes with it, so the actor must hold every such role's rights itself
    (isolation rule 1, error 4).
    """
    d = _domain(ctx, domain, "delete", workgroup)
    if not ctx.q.has_workgroup(d.id, workgroup):
        raise access.not_found("workgroup", workgroup)
    if workgroup == STAFF:
        raise forbidden(f"delete workgroup '{STAFF}': every domain has it")
    live = ctx.q.workgroup_users(d.id, workgroup)
    if live:
        raise OMAError(
            FORBIDDEN,
            f"workgroup '{workgroup}' still has {live} live users; move or delete them first",
        )
    reach = Obj("workgroup", d.company_id, domain_id=d.id, workgroup=workgroup)
    holders = ctx.q.workgroup_role_holders(d.id, workgroup)
    for _, role in holders:
        if not covers(ctx.actor, role, reach):
            raise forbidden(f"take role {role} on '{d.name}/{workgroup}' away")
    ctx.q.drop_workgroup(d.id, workgroup)
    # (every process reads the holders' roles again at their next request; a
    # workgroup role makes no tokens, so none go with it)
    ctx.q.bump_user_credentials([uid for uid, _ in holders])
    ctx.audit(d.company_id, "delete_workgroup", f"{d.name}/{workgroup}", {})
