"""The catalogue of what mailtally counts, in the SPEC's own names (SPEC §3).

A *flow* counts what happened inside a period (messages, logins) and is summed
over the period.  A *gauge* is a level at a moment (users, services, storage) and
is reported as its value at the end of the period.

Flows are stored as one integer column each; gauges are stored as *deltas* (one
integer column each) so that a change dated in the past (an imported
``createtime``, a late quota report) is one small write instead of a rewrite of
every later period.
"""

from __future__ import annotations

__all__ = [
    "COMPANY_FLOWS",
    "DELIVERY_FLAGS",
    "FLOWS",
    "GAUGES",
    "LAST_TIMES",
    "LOGIN_SERVICES",
    "MESSAGE_FLOWS",
    "SERVICES",
    "SERVICE_STATES",
    "USER_TYPES",
]

#: ``messages.*`` — the nine message flows, in the reference's order.
MESSAGE_FLOWS: tuple[str, ...] = (
    "autorespond_count",
    "in_size",
    "out_msg_count",
    "in_spam",
    "out_size",
    "forward_count",
    "in_ham",
    "out_rcpt_count",
    "denied",
)

#: Protocols whose logins are counted (``logins.<service>``).
LOGIN_SERVICES: tuple[str, ...] = ("imap4", "pop3", "webmail")

#: Every flow column, as ``<group>.<key>``.  ``logins.auth_*`` are kept for users
#: only (SPEC §3), but rolled up like the others so one code path serves all.
FLOWS: tuple[str, ...] = (
    *(f"messages.{k}" for k in MESSAGE_FLOWS),
    *(f"logins.{k}" for k in LOGIN_SERVICES),
    "logins.auth_password",
    "logins.auth_token",
)

#: The flows a company or domain summary shows.
COMPANY_FLOWS: tuple[str, ...] = FLOWS[:-2]

#: The user summary's ``logins.last_*`` times (the latest such event).
LAST_TIMES: tuple[str, ...] = ("imap4", "pop3", "webmail", "smtprelay", "smtpin")

#: The five services of an account.
SERVICES: tuple[str, ...] = ("smtprelay", "smtpin", "imap4", "pop3", "webmail")
SERVICE_STATES: tuple[str, ...] = ("enabled", "disabled", "suspended")

#: Account types (``users.<type>``).
USER_TYPES: tuple[str, ...] = ("mailbox", "forward", "filter")

DELIVERY_FLAGS: tuple[str, ...] = (
    "delivery_local",
    "delivery_forward",
    "delivery_autorespond",
    "delivery_filter",
)

#: Every gauge, as ``<group>.<key>``, in the reference's order.
GAUGES: tuple[str, ...] = (
    *(f"services.{s}" for s in SERVICES),
    "deleted_users.storage_items_stored",
    "deleted_users.storage_current_size",
    "users.filter",
    "users.forward",
    "users.deleted",
    "users.mailbox",
    "users.alias",
    "storage.items_stored",
    "storage.current_size",
)


def column(metric: str) -> str:
    """The store column of a metric: ``messages.in_ham`` → ``messages_in_ham``."""
    return metric.replace(".", "_")
