"""Dovecot log lines → records: IMAP/POP3 logins and Pigeonhole sieve actions.

The text parsed is what follows ``dovecot: `` in syslog (``imap-login: Login:
user=<…>, …``) or, for Dovecot's own log file, the line from the subsystem on
(``imap-login: Info: Login: …``); both carry the same fields.

Logins, Dovecot 2.x and the older form (``PID=`` instead of ``mpid=``, IPv4
addresses written ``::ffff:1.2.3.4``)::

    imap-login: Login: user=<alice@example.com>, method=PLAIN, rip=203.0.113.7,
        lip=10.0.0.1, mpid=12345, TLS, session=<abcDEF>

Only ``Login:`` is a login; ``Disconnected (auth failed …)``, ``Aborted login``,
``Login aborted`` and the like are failures and are ignored.

Sieve actions, in LMTP or LDA context (``lmtp(user)<pid><session>``,
``lmtp(pid, user)``, ``lda(user)``, the older ``deliver(user)``), Pigeonhole
0.4 and the 0.5 form with an ``<action> action:`` prefix::

    lmtp(alice@example.com)<1234><sess>: sieve: msgid=<x@y>: sent vacation response to <bob@z>
    lmtp(alice@example.com)<1234><sess>: sieve: msgid=<x@y>: forwarded to <carol@elsewhere.org>
    lmtp(alice@example.com)<1234><sess>: sieve: msgid=<x@y>: stored mail into mailbox 'Junk'
    lmtp(alice@example.com)<1234><sess>: sieve: msgid=<x@y>: fileinto action: stored mail …
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mailtally.ingest.stamps import MAX_MESSAGE_ID

__all__ = ["MailLogin", "SieveAction", "parse_dovecot"]


@dataclass(frozen=True, slots=True)
class MailLogin:
    """A successful IMAP or POP3 login; ``rip`` is the client's address as logged."""

    user: str
    rip: str
    service: Literal["imap4", "pop3"]


@dataclass(frozen=True, slots=True)
class SieveAction:
    """A Pigeonhole action done for ``user`` (the LMTP/LDA recipient).

    ``action`` is ``vacation`` (``target`` = the address answered), ``redirect``
    (``target`` = the address forwarded to) or ``fileinto`` (``target`` = the
    mailbox).  ``msgid`` is the message's Message-ID (without ``<>``; may be
    ``unspecified``) and ``session`` Dovecot's session id when logged — both let
    the joiner find the Postfix delivery the action belongs to.
    """

    user: str
    action: Literal["vacation", "redirect", "fileinto"]
    target: str
    msgid: str = ""
    session: str = ""


DovecotRecord = MailLogin | SieveAction

_LOGIN_SERVICES: dict[str, Literal["imap4", "pop3"]] = {
    "imap-login": "imap4",
    "pop3-login": "pop3",
}

#: Sieve result lines that are understood but count nothing.
_SIEVE_IGNORED: tuple[str, ...] = (
    "discarded",
    "discard",
    "marked message to be discarded",
    "not sending vacation response",
    "sent notification",
    "failed",
    "keep",
    "kept",
    "duplicate",
    "rejected",
    "refused",
    "sent rejection",
    "sending",
    "aborted",
    "execution",
    "skipped",
)

_LEVELS = ("Info: ", "Debug: ", "Warning: ", "Error: ", "Fatal: ", "Panic: ")


def _parse_login(rest: str, service: Literal["imap4", "pop3"]) -> MailLogin | None:
    u = rest.find("user=<")
    if u < 0:
        return None
    u += 6
    e = rest.find(">, ", u)
    if e < 0:
        e = rest.rfind(">")
        if e < u:
            return None
    user = rest[u:e]
    if not user:
        return None
    rip = ""
    r = rest.find("rip=", e)
    if r >= 0:
        r += 4
        k = rest.find(",", r)
        rip = rest[r:] if k < 0 else rest[r:k]
    return MailLogin(user, rip.strip(), service)


def _context(sub: str) -> tuple[str, str] | None:
    """User and session of ``lmtp(user)<pid><session>``, ``lmtp(pid, user)``, ``deliver(user)``."""
    p = sub.find("(")
    q = sub.find(")", p + 1)
    if p < 0 or q < 0:
        return None
    user = sub[p + 1 : q]
    c = user.find(", ")
    if c >= 0:
        user = user[c + 2 :]  # Dovecot 2.1: lmtp(12345, alice@example.com)
    session = ""
    tail = sub[q + 1 :]
    if tail.endswith(">"):
        b = tail.rfind("<")
        if b >= 0:
            session = tail[b + 1 : -1]
    return user, session


def _parse_sieve(user: str, session: str, rest: str) -> tuple[SieveAction, ...] | None:
    # rest: "msgid=<x@y>: <result>"
    if not rest.startswith("msgid="):
        return ()  # script compile errors and the like
    if rest.startswith("msgid=<"):
        e = rest.find(">: ", 7)
        if e < 0:
            return None
        msgid = rest[7:e]
        body = rest[e + 3 :]
    else:
        e = rest.find(": ", 6)
        if e < 0:
            return None
        msgid = rest[6:e]
        body = rest[e + 2 :]
    if len(msgid) > MAX_MESSAGE_ID:
        return None
    a = body.find(" action: ")
    if 0 < a < 24 and " " not in body[:a]:
        body = body[a + 9 :]  # Pigeonhole 0.5: "fileinto action: stored mail into …"
    if body.startswith("sent vacation response to <"):
        target = body[27:].rstrip()
        return (SieveAction(user, "vacation", target.rstrip(">"), msgid, session),)
    if body.startswith("forwarded to <"):
        e = body.find(">", 14)
        target = body[14:] if e < 0 else body[14:e]
        return (SieveAction(user, "redirect", target, msgid, session),)
    if body.startswith("stored mail into mailbox "):
        box = body[25:].strip()
        if len(box) >= 2 and box[0] in "'\"":
            e = box.rfind(box[0])
            if e > 0:
                box = box[1:e]
        return (SieveAction(user, "fileinto", box, msgid, session),)
    if body.startswith(_SIEVE_IGNORED):
        return ()
    return None


def parse_dovecot(msg: str) -> tuple[DovecotRecord, ...] | None:
    """Records of one Dovecot message text (``imap-login: Login: …``, ``lmtp(u): sieve: …``).

    Returns a non-empty tuple (understood, counted), ``()`` (understood, nothing
    to count) or None (a login or sieve line of a form not understood).
    """
    c = msg.find(": ")
    if c <= 0:
        return ()
    sub = msg[:c]
    rest = msg[c + 2 :]
    if rest.startswith(_LEVELS):
        if not rest.startswith("Info: "):
            return ()
        rest = rest[6:]
    service = _LOGIN_SERVICES.get(sub)
    if service is not None:
        if not rest.startswith("Login: "):
            return ()
        login = _parse_login(rest, service)
        return None if login is None else (login,)
    if rest.startswith("sieve: ") and sub.startswith(("lmtp(", "lda(", "deliver(")):
        ctx = _context(sub)
        if ctx is None or not ctx[0]:
            return None
        return _parse_sieve(ctx[0], ctx[1], rest[7:])
    return ()
