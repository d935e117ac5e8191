"""What the mail platform did, as mailtally understands it.

Every source of data — log parsers (after joining lines by queue id), the JSON
``ingest_events`` method, the API's own authentication counter, the demo — speaks
in these events.  :func:`mailtally.record.record_events` is the one place that
turns them into counts.

Times are UTC epoch seconds.  Addresses are as the mail server saw them (any case;
an alias is resolved to its real user when recorded).  ``count`` lets a source
that has already aggregated (the demo, a replay) hand over many identical events
at once; parsers and ``ingest_events`` always use 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "MAX_MESSAGE_SIZE",
    "MAX_RECIPIENTS",
    "MAX_STORED_BYTES",
    "MAX_STORED_ITEMS",
    "ApiAuth",
    "Autoresponse",
    "Event",
    "Forward",
    "Login",
    "MessageDenied",
    "MessageIn",
    "MessageOut",
    "StorageReport",
]

#: Bounds of the numbers of one event (a log line, an ``ingest_events`` event).
#: Far above what a mail platform sees, and low enough that a period's sums stay
#: within the store's 64-bit integers: a value past them is a broken line or a
#: bad event, not mail, and must not overflow (or stop) the counting.
MAX_MESSAGE_SIZE = 2**40  # bytes of one message (1 TiB)
MAX_RECIPIENTS = 2**24  # recipients of one message
MAX_STORED_BYTES = 2**50  # bytes one account stores (1 PiB)
MAX_STORED_ITEMS = 2**40  # messages one account stores


@dataclass(frozen=True, slots=True)
class MessageIn:
    """A message received for ``user``: ``in_ham``/``in_size``, or ``in_spam``."""

    time: int
    user: str
    size: int
    spam: bool = False
    count: int = 1


@dataclass(frozen=True, slots=True)
class MessageDenied:
    """An inbound message rejected for one recipient (``messages.denied``).

    ``recipient`` is a user (or alias) — counted for the user, its domain and
    company — or an unknown address of a known domain — counted for the domain
    and company only.
    """

    time: int
    recipient: str
    count: int = 1


@dataclass(frozen=True, slots=True)
class MessageOut:
    """A message ``user`` submitted (authenticated relay or webmail)."""

    time: int
    user: str
    recipients: int
    size: int
    count: int = 1


@dataclass(frozen=True, slots=True)
class Forward:
    """A message forwarded on ``user``'s behalf (``forward_count``)."""

    time: int
    user: str
    count: int = 1


@dataclass(frozen=True, slots=True)
class Autoresponse:
    """An auto-response sent on ``user``'s behalf (``autorespond_count``)."""

    time: int
    user: str
    count: int = 1


@dataclass(frozen=True, slots=True)
class Login:
    """A successful login by IMAP, POP3 or webmail."""

    time: int
    user: str
    service: Literal["imap4", "pop3", "webmail"]
    count: int = 1


@dataclass(frozen=True, slots=True)
class ApiAuth:
    """A successful authentication to this API (``logins.auth_password|auth_token``)."""

    time: int
    user: str
    method: Literal["password", "token"]
    count: int = 1


@dataclass(frozen=True, slots=True)
class StorageReport:
    """A quota report: ``user`` stores ``items`` messages of ``bytes`` bytes at ``time``."""

    time: int
    user: str
    items: int
    bytes: int


Event = (
    MessageIn
    | MessageDenied
    | MessageOut
    | Forward
    | Autoresponse
    | Login
    | ApiAuth
    | StorageReport
)
