"""Postfix log lines → records.

Only lines that carry something countable are turned into records; they all
begin with a queue id (``4F2A1B2C3D:`` short hex ids, ``4Xk3Lq2Z9bz9rxG:`` long
ids) or ``NOQUEUE:``.  Every other Postfix line (``connect from``, ``warning:``,
TLS chatter, ``anvil`` statistics, SASL failures, postscreen verdicts …) is
*ignored*: understood, nothing to count.  A queue-id line of a form not listed
here is *not understood*, so that a new or unexpected form shows up in the
ingest report instead of vanishing.

The parser is told the daemon (the last part of the syslog tag:
``postfix/submission/smtpd`` → ``smtpd``) but does not depend on it: a
``to=…, status=`` line is a delivery whichever transport logged it, because
``syslog_name`` can be anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailtally.events import MAX_MESSAGE_SIZE, MAX_RECIPIENTS
from mailtally.ingest.stamps import MAX_DIGITS, MAX_MESSAGE_ID

from .families import POSTFIX_DELIVERY, POSTFIX_MESSAGE, POSTFIX_REJECT

__all__ = [
    "POSTFIX_DAEMONS",
    "CleanupMessageId",
    "Delivery",
    "Discard",
    "Pickup",
    "QmgrFrom",
    "QmgrRemoved",
    "Reject",
    "SmtpdClient",
    "parse_postfix",
]


@dataclass(frozen=True, slots=True)
class SmtpdClient:
    """``QID: client=host[ip]:port, sasl_method=…, sasl_username=…, orig_queue_id=…``.

    ``orig_qid`` is set when a content filter re-injected the message with
    XFORWARD: it names the queue id this message continues.
    """

    qid: str
    client_ip: str
    client_port: int | None = None
    sasl_username: str | None = None
    orig_qid: str | None = None


@dataclass(frozen=True, slots=True)
class Pickup:
    """``QID: uid=33 from=<alice@example.com>`` — a message submitted by sendmail(1)."""

    qid: str
    uid: int
    sender: str


@dataclass(frozen=True, slots=True)
class CleanupMessageId:
    """``QID: message-id=<…>`` (cleanup)."""

    qid: str
    message_id: str


@dataclass(frozen=True, slots=True)
class QmgrFrom:
    """``QID: from=<a@b>, size=1234, nrcpt=2 (queue active)`` (qmgr)."""

    qid: str
    sender: str
    size: int
    nrcpt: int


@dataclass(frozen=True, slots=True)
class QmgrRemoved:
    """``QID: removed`` — the message has left the queue; nothing more will happen to it."""

    qid: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """``QID: to=<…>, orig_to=<…>, relay=…, …, status=sent (response)``.

    ``service`` is the daemon that logged it (``smtp``, ``lmtp``, ``local``,
    ``virtual``, ``pipe`` or a custom ``syslog_name`` part); ``response`` is the
    text in parentheses after the status.  ``queued_as`` is the queue id named
    by ``… queued as NEWID`` in the response (a content filter's re-injection,
    or a remote Postfix); ``forwarded_as`` is local(8)'s ``forwarded as NEWID``.
    """

    qid: str
    to: str
    orig_to: str | None
    relay: str
    status: str
    service: str
    response: str = ""
    queued_as: str | None = None
    forwarded_as: str | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    """A rejection: ``reject:`` / ``milter-reject:`` with or without a queue id.

    ``permanent`` is True for a 5xx answer; a 4xx answer (greylisting, soft
    reject) asks the sender to try again and is not counted.  ``recipient`` is
    the ``to=`` of the line, None when the line names none (``MAIL from``).
    """

    qid: str | None
    stage: str
    recipient: str | None
    permanent: bool
    milter: bool = False


@dataclass(frozen=True, slots=True)
class Discard:
    """``QID: milter-discard:`` / ``discard:`` — the message was silently dropped."""

    qid: str


PostfixRecord = (
    SmtpdClient | Pickup | CleanupMessageId | QmgrFrom | QmgrRemoved | Delivery | Reject | Discard
)

#: Postfix daemons, to recognise a Postfix line whose syslog_name lacks "postfix".
POSTFIX_DAEMONS: frozenset[str] = frozenset(
    {
        "anvil",
        "bounce",
        "cleanup",
        "discard",
        "error",
        "lmtp",
        "local",
        "master",
        "pickup",
        "pipe",
        "postdrop",
        "postscreen",
        "qmgr",
        "scache",
        "sendmail",
        "smtp",
        "smtpd",
        "tlsmgr",
        "tlsproxy",
        "trivial-rewrite",
        "verify",
        "virtual",
        "dnsblog",
        "proxymap",
        "showq",
        "flush",
        "oqmgr",
        "postlogd",
    }
)

#: Queue-id lines that are understood but carry nothing to count.
_QID_IGNORED: tuple[str, ...] = (
    "reject_warning:",
    "milter-hold:",
    "hold:",
    "warning:",
    "info:",
    "replace:",
    "prepend:",
    "redirect:",
    "filter:",
    "milter-reject_warning",
    "sender non-delivery notification:",
    "sender delay notification:",
    "requeued",
    "placed on hold",
    "released from hold",
    "sender delivery status notification:",
    "postmaster non-delivery notification:",
    "postmaster delivery status notification:",
    "resent-message-id=",
    "host ",
    "lost connection",
    "conversation with",
    "enabling PIX workarounds",
    "Cannot start TLS",
    "cannot start TLS",
    "SMTPUTF8",
)


#: ``NOQUEUE:`` lines besides _QID_IGNORED's that are understood and count nothing.
_NOQUEUE_IGNORED: tuple[str, ...] = ("client=", "discard:", "milter-discard:")


def _quote_end(text: str, i: int) -> int:
    """Just past the ``"…"`` string (an address's quoted local part) opening at
    ``text[i]``, backslash pairs inside; -1 when it does not close."""
    n = len(text)
    j = i + 1
    while j < n:
        c = text[j]
        if c == '"':
            return j + 1
        j += 2 if c == "\\" else 1
    return -1


def _close(text: str, start: int) -> int:
    """Where the ``>`` that closes the address beginning at ``start`` (just after its
    ``<``) is; -1 if there is none.

    The local part of an address is the sender's (or the recipient's) text.  Postfix
    3.5+ logs addresses in their external form (``info_log_address_format =
    external``): a local part holding a space or any of ``()<>@,;:\\".[]`` is quoted
    whole, with ``"`` and ``\\`` escaped by a backslash (global/quote_822_local.c), so
    a ``>`` or ``, relay=`` a sender writes there stands inside the quotes: the quoted
    local part is skipped before the ``>`` is looked for.  The domain is a host name or
    an address literal trivial-rewrite accepts, neither of which holds a ``>``.  A quote
    that does not close (a cut line; the unquoted internal form of older Postfix) is
    not skipped: the callers' rules for ambiguous lines see to those.
    """
    i = _quote_end(text, start) if text.startswith('"', start) else -1
    return text.find(">", start if i < 0 else i)


def _to_at(text: str, i: int = 0) -> int:
    """Where the first `` to=<`` at or after ``i`` is (at the start, or after a space,
    ``,`` or ``;``); -1 if there is none."""
    i = text.find("to=<", i)
    while i >= 0:
        if i == 0 or text[i - 1] in ",;" or text[i - 1].isspace():
            return i
        i = text.find("to=<", i + 1)
    return -1


def _only_to(text: str, start: int) -> str | None:
    """The address of the `` to=<…>`` at or after ``start`` when it is the only one in
    ``text``; None when there is none or there are several.

    A rejection line ends ``…; from=<SENDER> to=<RECIPIENT> proto=ESMTP helo=<HELO>``,
    and the sender writes its reply text's ``<address>``, SENDER, RECIPIENT and the
    HELO name (raw, spaces and all: smtpd collapses HELO's arguments), which older
    Postfix logs unquoted: a second `` to=<`` among them cannot be told from the
    genuine one, and the rejection then counts for no recipient (Postfix itself never
    writes two).
    """
    first = _to_at(text)
    if first < start or _to_at(text, first + 4) >= 0:
        return None
    e = _close(text, first + 4)
    return None if e < 0 else text[first + 4 : e]


_CODE = re.compile(r"(?:^|[\s:])([45])(?:\d\d[ -]|\d\d$|\.\d{1,3}\.\d{1,3})")


def _angle(text: str, start: int) -> tuple[str, int]:
    """The address in ``<…>`` beginning at ``start`` (just after ``<``), and the end
    index; its end is found by :func:`_close`."""
    e = _close(text, start)
    if e < 0:
        e = text.find(",", start)
        if e < 0:
            e = len(text)
        return text[start:e], e
    return text[start:e], e + 1


def _field(text: str, name: str, start: int = 0) -> str | None:
    """The value of ``name`` (``", relay="``) up to the next comma, or None."""
    i = text.find(name, start)
    if i < 0:
        return None
    i += len(name)
    e = text.find(",", i)
    return text[i:] if e < 0 else text[i:e]


def _parse_client(qid: str, rest: str) -> SmtpdClient | None:
    # client=host[ip]:port, sasl_method=PLAIN, sasl_username=u, orig_queue_id=Q, orig_client=…
    e = rest.find(", ", 7)
    client = rest[7:] if e < 0 else rest[7:e]
    b = client.rfind("[")
    if b < 0 or (not client.endswith("]") and "]:" not in client):
        return None
    k = client.find("]", b)
    ip = client[b + 1 : k]
    port: int | None = None
    tail = client[k + 1 :]
    if (
        tail.startswith(":")
        and len(tail) <= MAX_DIGITS + 1
        and tail[1:].isdigit()
        and tail[1:].isascii()
    ):
        port = int(tail[1:])
    sasl: str | None = None
    orig: str | None = None
    if e >= 0:
        sasl = _field(rest, ", sasl_username=", e)
        orig = _field(rest, ", orig_queue_id=", e)
    return SmtpdClient(qid, ip, port, sasl or None, orig or None)


def _parse_qmgr_from(qid: str, rest: str) -> QmgrFrom | None:
    # from=<a@b>, size=1234, nrcpt=2 (queue active)
    i = rest.rfind(", size=")
    if i < 0:
        return None
    sender = rest[6:i]
    if sender.endswith(">"):
        sender = sender[:-1]
    j = rest.find(", nrcpt=", i)
    if j < 0:
        return None
    size_text = rest[i + 7 : j]
    k = j + 8
    e = rest.find(" ", k)
    nrcpt_text = rest[k:] if e < 0 else rest[k:e]
    if not (size_text.isdigit() and nrcpt_text.isdigit()):
        return None
    if not (size_text.isascii() and nrcpt_text.isascii()):
        return None
    # (length first: int() of a huge digit string is slow)
    if len(size_text) > 20 or len(nrcpt_text) > 20:
        return None
    size, nrcpt = int(size_text), int(nrcpt_text)
    if size > MAX_MESSAGE_SIZE or nrcpt > MAX_RECIPIENTS:
        return None  # a broken line: counting it would overflow the sums
    return QmgrFrom(qid, sender, size, nrcpt)


def _after_word(text: str, word: str) -> str | None:
    """The token following ``word`` in ``text`` (stripped of punctuation), or None."""
    i = text.find(word)
    if i < 0:
        return None
    i += len(word)
    e = i
    n = len(text)
    while e < n and (text[e].isalnum() or text[e] in "_-"):
        e += 1
    return text[i:e] or None


def _parse_delivery(qid: str, rest: str, service: str) -> Delivery | None:
    # to=<x>, orig_to=<y>, relay=r, delay=d, delays=a/b/c/d, dsn=2.0.0, status=sent (resp)
    to, pos = _angle(rest, 4)
    orig: str | None = None
    if rest.startswith(", orig_to=<", pos):
        orig, pos = _angle(rest, pos + 11)
    # Postfix writes ", relay=" right after the addresses (global/log_adhoc.c), once.
    # An address of the unquoted internal form (Postfix < 3.5) may hold a whole forged
    # "a>, relay=dovecot, …, status=sent (queued as VICTIM)": it would end at its
    # first ">", and its fields be read; the genuine ", relay=" then comes again
    # after them (and a sender's "a>, orig_to=<v@x>@evil>" is followed by "@evil>"):
    # such a line is not understood.  (A remote server's answer after "status=" may
    # name a relay too: that line is not understood either; it is no delivery to
    # anybody but that server's user.)
    if not rest.startswith(", relay=", pos) or rest.find(", relay=", pos + 8) >= 0:
        return None
    relay = _field(rest, "relay=", pos) or ""
    s = rest.find("status=", pos)
    if s < 0:
        return None
    s += 7
    e = rest.find(" ", s)
    if e < 0:
        status = rest[s:]
        response = ""
    else:
        status = rest[s:e]
        response = rest[e + 1 :]
        if response.startswith("(") and response.endswith(")"):
            response = response[1:-1]
    if status.endswith(","):
        status = status[:-1]
    queued_as = forwarded_as = None
    if status == "sent":
        if response.startswith("forwarded as "):
            forwarded_as = _after_word(response, "forwarded as ")
        elif "queued as " in response:
            # A content filter answers "… from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok:
            # queued as 4DEF"; the last "queued as" is the re-injected message.
            k = response.rfind("queued as ")
            queued_as = _after_word(response[k:], "queued as ")
    return Delivery(
        qid, to, orig or None, relay, status, service, response, queued_as, forwarded_as
    )


def _permanent(text: str) -> bool | None:
    m = _CODE.search(text)
    if m is None:
        return None
    return m.group(1) == "5"


def _parse_reject(qid: str | None, rest: str, milter: bool) -> Reject | None:
    # reject: RCPT from host[ip]: 550 5.1.1 <x>: Recipient address rejected: …; from=<a> to=<x> …
    # reject: header Subject: … from host[ip]; from=<a> to=<b> proto=ESMTP helo=<h>: 5.7.1 text
    sp = rest.find(" ")
    stage = rest[:sp] if sp > 0 else rest
    tail_at = rest.rfind("; from=<")
    if tail_at < 0:
        tail_at = rest.rfind("; to=<")
    recipient = _only_to(rest, tail_at) if tail_at >= 0 else None
    if stage in ("header", "body"):
        # The reply text follows the envelope part: "… helo=<h>: 5.7.1 message content rejected".
        k = rest.rfind(">: ")
        permanent = _permanent(rest[k + 1 :] if k >= 0 else rest)
    else:
        f = rest.find(" from ")
        head = rest[f + 6 : tail_at] if tail_at > f >= 0 else rest[sp + 1 :]
        # Skip the client "host[ip]:" so that digits of an address are never read as a code.
        b = head.find("]")
        permanent = _permanent(head[b + 1 :] if b >= 0 else head)
    if permanent is None:
        return None
    return Reject(qid, stage, recipient or None, permanent, milter)


def _parse_proxy_reject(qid: str | None, rest: str) -> Reject | None:
    """A before-queue content filter's refusal, as smtpd logs it (Postfix smtpd.c)::

        proxy-reject: END-OF-MESSAGE: 554 5.7.1 text; from=<a> to=<b> proto=ESMTP helo=<h>

    (after ``QID: ``, ``NOQUEUE: `` or nothing, as amavis and Proxmox Mail Gateway
    setups log it).  The reply comes right after the stage, with no client part: the
    code is read there only, never in the filter's free text of the envelope part.
    """
    c = rest.find(": ")
    if c <= 0:
        return None
    stage = rest[:c]
    tail_at = rest.rfind("; from=<")
    if tail_at < 0:
        tail_at = rest.rfind("; to=<")
    reply = rest[c + 2 : tail_at] if tail_at > c else rest[c + 2 :]
    permanent = _permanent(reply)
    if permanent is None:
        return None  # no code ("END-OF-MESSAGE: ; from=…"): not a form we can count
    recipient = _only_to(rest, tail_at) if tail_at > c else None
    return Reject(qid, stage, recipient or None, permanent)


def parse_postfix(daemon: str, msg: str) -> tuple[PostfixRecord, ...] | str:
    """Records of one Postfix message text (after ``prog[pid]: ``).

    Returns a non-empty tuple (understood, counted), ``()`` (understood, nothing
    to count) or the family of a line not understood (``families``).
    """
    c = msg.find(": ")
    if c <= 0:
        return ()
    head = msg[:c]
    rest = msg[c + 2 :]
    if head == "NOQUEUE":
        if rest.startswith("reject: "):
            r = _parse_reject(None, rest[8:], False)
        elif rest.startswith("milter-reject: "):
            r = _parse_reject(None, rest[15:], True)
        elif rest.startswith("proxy-reject: "):
            r = _parse_proxy_reject(None, rest[14:])
        elif rest.startswith(_QID_IGNORED) or rest.startswith(_NOQUEUE_IGNORED):
            return ()
        else:
            return POSTFIX_REJECT  # a rejection-like line of a form not known: shown
        return POSTFIX_REJECT if r is None else (r,)
    if head == "Deleted" or head == "Requeued":
        return ()  # postsuper's summary, "Deleted: 3 messages": no queue id
    if head == "proxy-reject":  # smtpd without a queue id yet
        r = _parse_proxy_reject(None, rest)
        return POSTFIX_REJECT if r is None else (r,)
    # Short ids are upper-case hex, long ones mixed-case base-52 with digits; plain
    # lower-case words ("warning", "statistics") are log prefixes, not ids.
    if not (head.isalnum() and head.isascii() and 3 <= len(head) <= 24):
        return ()
    if head.islower() and head.isalpha():
        return ()
    qid = head
    c0 = rest[:1]
    rec: PostfixRecord | None
    family = POSTFIX_MESSAGE
    if c0 == "t" and rest.startswith("to=<"):
        rec = _parse_delivery(qid, rest, daemon)
        family = POSTFIX_DELIVERY
    elif c0 == "c" and rest.startswith("client="):
        rec = _parse_client(qid, rest)
    elif c0 == "m" and rest.startswith("message-id="):
        mid = rest[11:].strip()
        if mid.startswith("<") and mid.endswith(">"):
            mid = mid[1:-1]
        if len(mid) > MAX_MESSAGE_ID:
            return POSTFIX_MESSAGE
        rec = CleanupMessageId(qid, mid)
    elif c0 == "f" and rest.startswith("from=<"):
        if ", size=" in rest:
            rec = _parse_qmgr_from(qid, rest)
        elif ", status=" in rest:
            return ()  # "from=<a>, status=expired, returned to sender"
        else:
            return POSTFIX_MESSAGE
    elif rest == "removed" or rest.startswith("removed "):
        rec = QmgrRemoved(qid)
    elif c0 == "u" and rest.startswith("uid="):
        sp = rest.find(" ", 4)
        uid = rest[4:sp] if sp > 0 else rest[4:]
        f = rest.find("from=<")
        if f < 0 or len(uid) > MAX_DIGITS or not (uid.isdigit() and uid.isascii()):
            return POSTFIX_MESSAGE
        rec = Pickup(qid, int(uid), _angle(rest, f + 6)[0])
    elif rest.startswith("reject: "):
        rec = _parse_reject(qid, rest[8:], False)
        family = POSTFIX_REJECT
    elif rest.startswith("milter-reject: "):
        rec = _parse_reject(qid, rest[15:], True)
        family = POSTFIX_REJECT
    elif rest.startswith("proxy-reject: "):
        rec = _parse_proxy_reject(qid, rest[14:])
        family = POSTFIX_REJECT
    elif rest.startswith("milter-discard: ") or rest.startswith("discard: "):
        rec = Discard(qid)
    elif rest.startswith(_QID_IGNORED):
        return ()
    else:
        return POSTFIX_MESSAGE
    return family if rec is None else (rec,)
