"""The tenant tree: companies → domains → workgroups → users (SPEC §2).

Split along the SPEC's own lines:

* **who may see and change what** — :mod:`~mailtally.tree.scopes`: who is
  asking (:class:`Principal`), what it names (:class:`Target`), and the checks
  that ask :mod:`mailtally.access` (the one place that decides).  An object
  outside the caller's scope is reported as missing (error 2) so that tenants
  cannot probe each other; an object the caller may see but not change is
  error 4.
* **the actions that change the tree** — ``do_<verb>_<noun>`` functions that
  validate, change the tree inside one write transaction, keep the gauge
  history (``history.UserChange``) and write the audit log; each takes a
  :class:`Ctx` (the open store session, the clock, the period rules and who is
  acting).  :mod:`~mailtally.tree.actions` holds :class:`Ctx`, what every
  action shares, and the actions on companies and domains;
  :mod:`~mailtally.tree.accounts` those on accounts and their roles;
  :mod:`~mailtally.tree.workgroups` those on workgroups.
* **the reads** — :mod:`~mailtally.tree.searches` (what a search may list) and
  :mod:`~mailtally.tree.changes` (an object's audit entries, an account's
  attribute history).

:mod:`~mailtally.tree.values` reads a request's names and times into the
tree's forms.  Callers import the names below from ``mailtally.tree``; the
searches, changes and workgroup actions by their module.  A name with a
leading underscore is private to this package: its modules share it, nothing
outside imports it.
"""

from __future__ import annotations

from mailtally.access import COMPANY_ROLES, ROLES
from mailtally.tree.accounts import (
    authorize_change_user,
    do_change_user,
    do_delete_user,
    do_rename_user,
    do_restore_user,
    do_set_role,
    do_set_roles,
    user_for_change,
)
from mailtally.tree.actions import (
    Ctx,
    do_change_company,
    do_change_domain,
    do_delete_domain,
    do_restore_domain,
    domain_defaults,
)
from mailtally.tree.scopes import (
    ObjectType,
    Principal,
    Target,
    find_target,
    load_principal,
    own_company,
    require_account_action,
    require_readable,
    require_stats_readable,
    target_by_id,
    visible,
)
from mailtally.tree.values import format_rfc3339, normalize_address, normalize_domain

__all__ = [
    "COMPANY_ROLES",
    "ROLES",
    "Ctx",
    "ObjectType",
    "Principal",
    "Target",
    "authorize_change_user",
    "do_change_company",
    "do_change_domain",
    "do_change_user",
    "do_delete_domain",
    "do_delete_user",
    "do_rename_user",
    "do_restore_domain",
    "do_restore_user",
    "do_set_role",
    "do_set_roles",
    "domain_defaults",
    "find_target",
    "format_rfc3339",
    "load_principal",
    "normalize_address",
    "normalize_domain",
    "own_company",
    "require_account_action",
    "require_readable",
    "require_stats_readable",
    "target_by_id",
    "user_for_change",
    "visible",
]
