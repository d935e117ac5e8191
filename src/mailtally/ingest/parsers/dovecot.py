"""Dovecot log lines → records: IMAP/POP3 logins and Pigeonhole sieve actions.

The text parsed is what follows ``dovecot: `` in syslog (``imap-login: Login:
user=<…>, …``) or, for Dovecot's own log file, the line from the subsystem on
(``imap-login: Info: Login: …``); both carry the same fields.

Logins, Dovecot 2.x and the older form (``PID=`` instead of ``mpid=``, IPv4
addresses written ``::ffff:1.2.3.4``)::

    imap-login: Login: user=<alice@example.com>, method=PLAIN, rip=203.0.113.7,
        lip=10.0.0.1, mpid=12345, TLS, session=<abcDEF>

Dovecot 2.4 writes ``Logged in:`` where 2.3 wrote ``Login:``, with the same
fields (both verified in dovecot/core: 2.3.21 ``client-common-auth.c``
``client_destroy_success(client, "Login")``; 2.4.1 ``client_destroy_success(client,
"Logged in")``, the fields from ``login-settings.c`` ``login_log_format_elements``
and ``login_log_format = "%{message}: %{elements}"``).  Only those two are logins;
``Disconnected (auth failed …)`` (2.3), ``Login aborted: Connection closed (auth
failed, 1 attempts in 2 secs) (auth_failed): user=<…>`` (2.4.1
``client-common.c`` ``login_aborted_event``), ``Aborted login``, ``Login failed``
and the like are failures, understood and not counted.  Any other line of a
login process is *not understood* (so that a new form shows in the ingest
report instead of silently counting no logins, as 2.4 did at first).

Sieve actions, in LMTP or LDA context (Dovecot 2.2 puts the session id after
the context instead, ``lmtp(user): SESSIONID: sieve: …``, ``Info:`` before the id
in its own log file: Pigeonhole 0.4.24 ``lda-sieve-plugin.c`` creates its log
handler with ``mdctx->session_id`` as prefix, which ``sieve-error.c`` writes as
``"%s: "`` before ``"sieve: "``; Dovecot 2.2.36's LMTP prefix is
``mail_log_prefix = "%s(%u): "``; the action texts — ``stored mail into mailbox
%s``, ``forwarded to <%s>``, ``sent vacation response to <%s>`` — are the same
in Pigeonhole 0.4.24, 0.5.21 and 2.4.1) (``lmtp(user)<pid><session>``,
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

from .families import DOVECOT_LOGIN, DOVECOT_SIEVE

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
    (``target`` = the address forwarded to), ``fileinto`` (``target`` = the
    mailbox) or ``reject`` (``target`` = the sender refused: the message is not
    stored, and refused for the user).  ``msgid`` is the message's Message-ID
    (without ``<>``; may be ``unspecified``) and ``session`` Dovecot's session id
    when logged — both let the joiner find the Postfix delivery the action
    belongs to.
    """

    user: str
    action: Literal["vacation", "redirect", "fileinto", "reject"]
    target: str
    msgid: str = ""
    session: str = ""


DovecotRecord = MailLogin | SieveAction

_LOGIN_SERVICES: dict[str, Literal["imap4", "pop3"]] = {
    "imap-login": "imap4",
    "pop3-login": "pop3",
}

#: Pigeonhole's reject that sends no refusal but drops the message all the same
#: (ext-reject.c act_reject_commit: ``*keep = FALSE``; "(skipped)" keeps it).
_REJECTED_SILENTLY: tuple[str, ...] = (
    "not sending reject message to <>",
    "not sending reject message (would cause second response to sender)",
)

#: Sieve result lines that are understood but count nothing.
_SIEVE_IGNORED: tuple[str, ...] = (
    "discarded",
    "discard",
    "marked message to be discarded",
    "not sending",  # a vacation response, a reject message (Pigeonhole 0.4: "… to <>")
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

#: Lines of the login processes that are understood and count nothing: failures,
#: aborts, proxying (2.3 and 2.4 forms).  Anything else there is not understood.
_LOGIN_IGNORED: tuple[str, ...] = (
    "Disconnected",
    "Aborted login",
    "Login aborted",
    "Login failed",
    "Maximum number of connections",
    "proxy(",
    "ID sent:",
    "Connection closed",
    "Disconnecting",
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
    # The Message-ID is the sender's: Dovecot 2.3+ logs it as its first msg-id with
    # a quoted local part unquoted (mail_get_message_id: "<" + bare + ">"), so it may
    # hold spaces and ">: ", and a Message-ID "<x>: forwarded to <evil@x>" would be
    # read as a redirect, "<x>: stored mail into mailbox \"Junk\">" as a filing into
    # Junk.  The genuine ">: " that ends the Message-ID is then followed by
    # Pigeonhole's own text, so a forged action always leaves a second ">: " after
    # the first: such a line is not understood.  Without "<…>" Dovecot writes
    # "unspecified" (no Message-ID, or none valid); any other bare text is an old
    # Dovecot's raw header, whose end cannot be told: not understood either.
    if rest.startswith("msgid=<"):
        e = rest.find(">: ", 7)
        if e < 0 or rest.find(">: ", e + 3) >= 0:
            return None
        msgid = rest[7:e]
        body = rest[e + 3 :]
    elif rest.startswith("msgid=unspecified: "):
        msgid = "unspecified"
        body = rest[19:]
    else:
        return None
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
    if body.startswith("rejected message from <"):
        # Pigeonhole's reject and ereject (ext-reject.c: "rejected message from <%s>
        # (%s)"): the message is not kept, and refused for the user
        e = body.find(">", 23)
        target = body[23:] if e < 0 else body[23:e]
        return (SieveAction(user, "reject", target, msgid, session),)
    if body.startswith(_REJECTED_SILENTLY):
        # the same reject without its refusal sent (a null sender, or a second one):
        # ext-reject.c cancels the keep all the same
        return (SieveAction(user, "reject", "", msgid, session),)
    if body.startswith(_SIEVE_IGNORED):
        return ()
    return None


def parse_dovecot(msg: str) -> tuple[DovecotRecord, ...] | str:
    """Records of one Dovecot message text (``imap-login: Login: …``, ``lmtp(u): sieve: …``).

    Returns a non-empty tuple (understood, counted), ``()`` (understood, nothing
    to count) or the family of a login or sieve line of a form not understood
    (``families``).
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
        # "Login: " is Dovecot 2.3 and older, "Logged in: " Dovecot 2.4
        if rest.startswith(("Login: ", "Logged in: ")):
            login = _parse_login(rest, service)
        elif rest.startswith(_LOGIN_IGNORED):
            return ()
        else:
            return DOVECOT_LOGIN
        return DOVECOT_LOGIN if login is None else (login,)
    if sub.startswith(("lmtp(", "lda(", "deliver(")):
        if rest.startswith("sieve: "):
            ctx = _context(sub)
            if ctx is None or not ctx[0]:
                return DOVECOT_SIEVE
            sieve = _parse_sieve(ctx[0], ctx[1], rest[7:])
        else:
            sieve = _parse_sieve_session(sub, rest)
        return DOVECOT_SIEVE if sieve is None else sieve
    return ()


#: The longest session id taken in ``lmtp(user): SESSIONID: sieve:`` (Dovecot's are
#: 22 characters of base64); longer tokens are some other message.
_MAX_SESSION = 64


def _parse_sieve_session(sub: str, rest: str) -> tuple[SieveAction, ...] | None:
    """Dovecot 2.2's ``lmtp(user): SESSIONID: sieve: msgid=…``; ``()`` for other lines."""
    c = rest.find(": sieve: ", 1, _MAX_SESSION + 9)
    if c < 0:
        return ()
    session = rest[:c]
    if " " in session:
        return ()
    ctx = _context(sub)
    if ctx is None or not ctx[0]:
        return None
    return _parse_sieve(ctx[0], ctx[1] or session, rest[c + 9 :])
