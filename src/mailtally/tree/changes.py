"""What the tree's history says: an object's audit entries (``get_*_changes``)
and an account's attribute values over time (``get_user_attribute_history``).

Both read what the tree actions wrote: the audit log (one row per change,
naming its object by kind and id, so that a renamed account keeps its
changes) and the account's versions (user_versions).  Scope first: the object
must be one the caller may read (error 2 if unseen, 4 if only seen).
"""

from __future__ import annotations

from typing import Any

import msgspec

from mailtally.errors import BAD_ATTRIBUTE, OMAError
from mailtally.history import UserState, decode_state
from mailtally.metrics import SERVICES
from mailtally.store.base import Queries
from mailtally.tree.scopes import (
    ObjectType,
    Principal,
    Target,
    find_target,
    own_company,
    require_stats_readable,
)
from mailtally.tree.values import format_rfc3339

__all__ = [
    "HISTORY_ATTRIBUTES",
    "Change",
    "Version",
    "attribute_history",
    "object_changes",
    "render_changes",
]

#: what a password (or any secret) shows as in a change
CHANGED = "(changed)"
#: a password ended by a grant or an alias beyond the admin that chose it
ENDED = "(ended)"
#: who an operator's change was made by, as tenants read it: an operator's name is
#: the login of one of the platform's most powerful accounts, which a tenant has no
#: use for (operators read the name; found in session 15's attack round)
OPERATOR = "(operator)"

#: what each method without attributes changed, as {attribute: new value}
_STATUS = {
    "delete_user": {"status": "deleted"},
    "restore_user": {"status": "active"},
    "delete_domain": {"status": "deleted"},
    "restore_domain": {"status": "active"},
}


def render_changes(method: str, detail: dict[str, Any]) -> dict[str, Any]:
    """An audit row's detail as ``{attribute: new value}`` (SPEC §4): the
    attributes a change_* set (a password as "(changed)"), and for the other
    methods what they changed."""
    out: dict[str, Any] = dict(_STATUS.get(method, {}))
    if detail.get("password") == "ended":
        # a grant or an alias put the account beyond the admin that had chosen
        # its password (tree/accounts.py, _end_password_beyond_its_setter)
        out["password"] = ENDED
    attributes = detail.get("attributes")
    if isinstance(attributes, dict):
        out |= {k: (CHANGED if k == "password" else v) for k, v in attributes.items()}
    if method == "set_role":
        out["role"] = {"role": detail.get("role", ""), "object": detail.get("object", "")}
    elif method in ("rename_user", "restore_user") and "user" in detail:
        out["user"] = detail["user"]
    elif method == "restore_domain" and "domain" in detail:
        out["domain"] = detail["domain"]
    elif method == "generate_token":
        out["token"] = {k: detail[k] for k in ("type", "reason", "duration") if k in detail}
    elif method == "logout_user":
        out["tokens"] = CHANGED
    return out


def _target(q: Queries, p: Principal, kind: ObjectType, name: str | None) -> Target:
    if kind == "company" and name is None:
        return own_company(q, p, "read the changes of your company")
    assert name is not None
    return require_stats_readable(p, find_target(q, kind, name), kind, name, what="the changes of")


class Change(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One audit entry of an object, as ``get_*_changes`` answer it."""

    time: str
    #: who made it: an account's address, or an operator's name (to a tenant's
    #: caller: ``(operator)``)
    by: str
    #: the client it named ("" for none)
    client: str
    method: str
    #: what it changed: {attribute: new value}
    changes: dict[str, Any]


def object_changes(
    q: Queries, p: Principal, kind: ObjectType, name: str | None, first: int, limit: int
) -> tuple[int, list[Change]]:
    """How many changes one object has, and those of the page (newest first)."""
    t = _target(q, p, kind, name)
    total, rows = q.changes_of(kind, t.id, first, limit)
    changes = []
    for time, actor, client, method, detail in rows:
        decoded = msgspec.json.decode(detail)
        changes.append(
            Change(
                time=format_rfc3339(time),
                by=actor if p.operator or "@" in actor else OPERATOR,
                client=client or "",
                method=method,
                changes=render_changes(method, decoded if isinstance(decoded, dict) else {}),
            )
        )
    return total, changes


def _value(state: UserState, attribute: str) -> Any:
    if attribute.startswith("service_"):
        return state.services.get(attribute[len("service_") :], "enabled")
    if attribute == "deletetime":
        return format_rfc3339(state.deletetime)
    value = getattr(state, attribute)
    return list(value) if isinstance(value, list) else value


#: the attributes an account's versions hold (its password is never kept in them)
HISTORY_ATTRIBUTES = (
    "type",
    "aliases",
    *(f"service_{s}" for s in SERVICES),
    "delivery_local",
    "delivery_forward",
    "delivery_autorespond",
    "delivery_filter",
    "forward_recipients",
    "quota",
    "workgroup",
    "name",
    "deletetime",
)


class Version(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A value an account's attribute took, and when."""

    time: str
    value: Any


def attribute_history(q: Queries, p: Principal, name: str, attribute: str) -> list[Version]:
    """Each value ``attribute`` took, with the time it took it, oldest first (a
    version that left it as it was adds nothing)."""
    t = _target(q, p, "user", name)
    if attribute not in HISTORY_ATTRIBUTES:
        reason = f"is not an attribute with a history (one of: {', '.join(HISTORY_ATTRIBUTES)})"
        raise OMAError(BAD_ATTRIBUTE, f"attribute '{attribute}' {reason}", {"attribute": reason})
    history: list[Version] = []
    for valid_from, state in q.all_user_versions(t.id):
        value = _value(decode_state(state), attribute)
        if not history or history[-1].value != value:
            history.append(Version(time=format_rfc3339(valid_from), value=value))
    return history
