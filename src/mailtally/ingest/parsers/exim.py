"""Exim's main log, and SpamAssassin's ``spamd`` results.

Exim (checked against deliver.c, receive.c, smtp_in.c and log.c of 4.96-4.98) writes
one line per event of a message, after its message id: the old ``1abcDE-0001Ab-C2``
(6-6-2 base-62 characters) or the 4.97+ ``1tFZ7e-00000000Ijk-2BKh`` (6-11-4)::

    ID <= sender H=name (helo) [ip]:port P=esmtpsa A=dovecot_login:user S=1234 id=msgid for a b
    ID => final <top-level address> R=router T=transport H=host [ip] C="250 …"
    ID -> another address of the same batch …      ID *> … (-N)      ID >> … (cut-through)
    ID ** address <top> R=router T=transport: error      (4.98: "T=transport : error")
    ID Completed
    H=host [ip] F=<sender> rejected RCPT <address>: message    (and "temporarily rejected")

* ``<=`` (and ``(=`` of fakereject, which accepts the message) → :class:`EximArrival`;
  ``A=authenticator:id`` names the user, ``id=`` the Message-ID (default
  log_selector), ``for …`` the recipients (only with ``+received_recipients``).
* ``=>``/``->``/``*>``/``>>``/``**`` → :class:`EximDelivery`, saying what the line says:
  the final address, the top-level original address in ``<…>`` (logged when they
  differ: an alias or a forward; intermediate parents in ``(…)`` are skipped), the
  router, the transport and the IP of a remote host (``H=name [ip]``).
* ``Completed`` → :class:`EximCompleted`.
* ``rejected RCPT <address>`` → :class:`~.postfix.Reject` (stage ``RCPT``;
  permanent unless ``temporarily rejected``).  Rejections that name no recipient
  (``MAIL``, ``HELO``, connection, ``after DATA``) are understood and count nothing.
* Everything else (``==`` deferrals, ``SMTP connection from``, ``Start queue run``,
  ``no host name found``, frozen messages, retries…) is understood and counts nothing;
  a line of a counted family (a marker above, ``rejected``) that does not parse is
  not understood, and :func:`parse_exim` names its family (``exim arrival``, ``exim
  delivery``, ``exim reject``: :mod:`.families`).

The line prefix (date, ``.fff`` of +millisec, ``+ZZZZ`` of log_timezone, ``[pid]``
of +pid) is taken off by stamps._split for Exim's own file; in the syslog form the
text may still start with the date (``syslog_timestamp``, the default) and pid,
which :func:`parse_exim` skips.

spamd writes ``spamd: result: Y 15 - TESTS scantime=…,…,mid=<msgid>,autolearn=…``
(``Y`` spam, ``.`` ham) → :class:`SpamdResult`, joined to the message by its
Message-ID (a result line that does not parse is of the family ``spamd verdict``).
Its other lines (``identified spam``/``clean message``, which name no
message; ``connection from``, ``processing message``) count nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ..stamps import MAX_DIGITS, MAX_MESSAGE_ID, is_exim_id
from .families import EXIM_ARRIVAL, EXIM_DELIVERY, EXIM_REJECT, SPAMD_VERDICT
from .postfix import Reject, _quote_end

__all__ = [
    "EximArrival",
    "EximCompleted",
    "EximDelivery",
    "SpamdResult",
    "parse_exim",
    "parse_spamd",
]

DeliveryKind = Literal["=>", "->", "*>", ">>", "**"]


@dataclass(frozen=True, slots=True)
class EximArrival:
    """``ID <= sender …``: a message Exim accepted.

    ``client_ip`` is the IP of ``H=`` (None for a local submission, which has
    none); ``auth`` the id of ``A=authenticator:id`` (None without it);
    ``message_id`` the ``id=`` (without ``<>``; ``""`` when not logged);
    ``recipients`` the ``for …`` list (``+received_recipients``), None when not
    logged or cut off (``<trunc>``); ``local_user`` the ``U=`` of a local
    submission (``P=local``, ``P=local-…``: Exim's sendmail, the calling user's
    login name), None for others (an SMTP client's ``U=`` is its ident answer).
    """

    qid: str
    sender: str
    client_ip: str | None
    auth: str | None
    size: int
    message_id: str = ""
    recipients: tuple[str, ...] | None = None
    local_user: str | None = None


@dataclass(frozen=True, slots=True)
class EximDelivery:
    """``ID => final <top> R=router T=transport H=host [ip]`` and the other markers.

    ``kind`` is the marker (``**`` a permanent failure); ``orig`` the top-level
    address in ``<…>`` (None when not logged: the final address is the one the
    sender gave); ``ip`` the remote host's IP (``""`` for local transports);
    ``router``/``transport`` ``""`` when not logged.
    """

    qid: str
    kind: DeliveryKind
    to: str
    orig: str | None
    router: str
    transport: str
    ip: str = ""


@dataclass(frozen=True, slots=True)
class EximCompleted:
    """``ID Completed``: every address of the message is done."""

    qid: str


@dataclass(frozen=True, slots=True)
class SpamdResult:
    """``spamd: result: Y …,mid=<msgid>,…``: SpamAssassin's verdict on a message."""

    message_id: str
    verdict: Literal["spam", "ham"]


EximRecord = EximArrival | EximDelivery | EximCompleted | Reject | SpamdResult


def _skip_stamp(msg: str) -> str:
    """The text after a leading ``YYYY-MM-DD hh:mm:ss[.fff][ ±zzzz] `` and ``[pid] ``
    (the syslog form with ``syslog_timestamp``; a bare text is returned as is)."""
    if (
        len(msg) > 20
        and msg[4] == "-"
        and msg[7] == "-"
        and msg[10] == " "
        and msg[13] == ":"
        and msg[16] == ":"
        and msg[:4].isdigit()
        and msg[:4].isascii()
    ):
        p = 19
        if msg[p : p + 1] == "." and msg[p + 1 : p + 4].isdigit() and msg[p + 1 : p + 4].isascii():
            p += 4
        z = msg[p + 1 : p + 6]
        if (
            msg[p : p + 1] == " "
            and len(z) == 5
            and z[0] in "+-"
            and z[1:].isdigit()
            and z[1:].isascii()
            and msg[p + 6 : p + 7] == " "
        ):
            p += 6
        if msg[p : p + 1] == " ":
            msg = msg[p + 1 :]
    if msg.startswith("["):
        e = msg.find("] ")
        if e > 1 and msg[1:e].isdigit() and msg[1:e].isascii():
            msg = msg[e + 2 :]
    return msg


# The first " F=", " P=", " Q=", " R=" or " T=" after a delivery's address ends it.
_FIELD = re.compile(r" [FPQRT]=")


def _past_quotes(text: str, i: int) -> int:
    """The index just past the ``"…"`` string opening at ``text[i]`` (a quote;
    backslash pairs inside: postfix._quote_end); ``len(text)`` when it does not close."""
    e = _quote_end(text, i)
    return len(text) if e < 0 else e


def _unquoted(pattern: re.Pattern[str], text: str, start: int = 0) -> re.Match[str] | None:
    """The first match of ``pattern`` in ``text`` from ``start`` outside ``"…"`` strings.

    Exim keeps an address's quoted local part as the sender wrote it, quotes and all
    (parse.c read_local_part), and logs it so: ``<= "x A=dovecot_plain:victim S=9"@evil
    …``, ``=> "x R=local T=local_delivery"@evil …`` (a bounce to that sender), ``F=<"x
    rejected RCPT <victim@here>: y"@evil> rejected RCPT <…>``.  A field or marker is
    read only outside quotes, where the sender cannot write one."""
    i = start
    while True:
        q = text.find('"', i)
        m = pattern.search(text, i, len(text) if q < 0 else q)
        if m is not None or q < 0:
            return m
        i = _past_quotes(text, q)


def _words(text: str) -> list[str]:
    """``text.split()``, but a ``"…"`` string (a quoted local part, which Exim logs
    as written: ``for "a b"@here c@here``) is never split: one address is one
    word, however many spaces its sender put in it."""
    out = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        j = i
        while j < n and not text[j].isspace():
            j = _past_quotes(text, j) if text[j] == '"' else j + 1
        out.append(text[i:j])
        i = j
    return out


_SPACE = re.compile(" ")
_REJECTED = re.compile(r"(?:^| )rejected ")
_GT = re.compile(">")
_MARKERS: dict[str, DeliveryKind] = {"=>": "=>", "->": "->", "*>": "*>", ">>": ">>", "**": "**"}


def _name(rest: str, key: str) -> str:
    """The value of `` R=name`` / `` T=name`` in ``rest``: up to a space or ``:``."""
    i = rest.find(key)
    if i < 0:
        return ""
    i += len(key)
    j = i
    n = len(rest)
    while j < n and rest[j] != " " and rest[j] != ":":
        j += 1
    return rest[i:j]


def _bracket_ip(tokens: list[str], i: int) -> str | None:
    """The IP of the ``[ip]`` or ``[ip]:port`` token ``tokens[i]``; None if it is not one."""
    tok = tokens[i]
    if not tok.startswith("["):
        return None
    e = tok.find("]")
    if e < 2:
        return None
    return tok[1:e]


def _delivery(qid: str, kind: DeliveryKind, rest: str) -> EximDelivery | None:
    m = _unquoted(_FIELD, rest)
    if m is not None:
        head = rest[: m.start()]
        fields = rest[m.start() :]
    elif kind == "**":
        # no router took it: "** a@b: Unrouteable address" (4.98: "a@b : …")
        c = rest.find(": ")
        if c <= 0:
            return None
        head = rest[:c].rstrip(" ")
        fields = ""
    else:
        return None  # every delivery names its router or transport
    orig = None
    if head.endswith(">"):
        lt = head.rfind(" <")
        if lt < 0:
            return None
        orig = head[lt + 2 : -1]
        head = head[:lt]
    if head.endswith(")"):
        lp = head.find(" (")  # intermediate parents (+all_parents, pipes and files)
        if lp < 0:
            return None
        head = head[:lp]
    if not head or (" " in head and head[0] not in "|/" and not head.startswith("save ")):
        return None
    router = _name(fields, " R=")
    transport = _name(fields, " T=")
    if not router and not transport and kind != "**":
        return None
    ip = ""
    h = fields.find(" H=")
    if h >= 0:
        tokens = fields[h + 3 :].split(" ", 3)
        # "H=name [ip]", "H=name DS [ip]" (+dnssec); a local transport's "H=name" has none
        for i in (1, 2):
            if i < len(tokens):
                got = _bracket_ip(tokens, i)
                if got is not None:
                    ip = got
                    break
                if tokens[i] != "DS":
                    break
    return EximDelivery(qid, kind, head, orig, router, transport, ip)


def _value_end(rest: str, i: int) -> int:
    """The end of the field starting at ``i``: the next space, or for a ``KEY="…"``
    value the closing quote (``\\"`` and ``\\\\`` escaped, as Exim writes them)."""
    n = len(rest)
    eq = rest.find("=", i)
    sp = rest.find(" ", i)
    if sp < 0:
        sp = n
    if 0 <= eq < sp and rest[eq + 1 : eq + 2] == '"':
        j = eq + 2
        while j < n:
            c = rest[j]
            if c == "\\":
                j += 2
                continue
            if c == '"':
                return j + 1
            j += 1
        return n
    return sp


def _arrival(qid: str, rest: str) -> EximArrival | None:
    m = _unquoted(_SPACE, rest)  # the sender's end (_unquoted says why)
    sp = -1 if m is None else m.start()
    if sp <= 0:
        return None
    sender = rest[:sp]
    if sender == "<>":
        sender = ""
    i = sp + 1
    n = len(rest)
    client_ip: str | None = None
    auth: str | None = None
    size: int | None = None
    message_id = ""
    recipients: tuple[str, ...] | None = None
    ident = protocol = ""
    in_host = False
    while i < n:
        e = _value_end(rest, i)
        tok = rest[i:e]
        if in_host:
            # "H=name (helo) [ip]:port": the host ends at its [ip]
            if tok.startswith("["):
                b = tok.find("]")
                if b >= 2:
                    client_ip = tok[1:b]
                in_host = False
            elif "=" in tok:
                in_host = False
        if not in_host:
            if tok.startswith("H="):
                if tok.startswith("H=["):
                    b = tok.find("]")
                    if b >= 4:
                        client_ip = tok[3:b]
                else:
                    in_host = True
            elif tok.startswith("A=") and auth is None:
                c = tok.find(":")
                if c > 2:
                    c2 = tok.find(":", c + 1)  # "A=auth:id:sender" with +smtp_mailauth
                    auth = tok[c + 1 : c2] if c2 > 0 else tok[c + 1 :]
            elif tok.startswith("U=") and not ident:
                ident = tok[2:]
            elif tok.startswith("P=") and not protocol:
                protocol = tok[2:]
            elif tok.startswith("S=") and size is None:
                v = tok[2:]
                if not v or len(v) > MAX_DIGITS or not (v.isdigit() and v.isascii()):
                    return None
                size = int(v)
            elif tok.startswith(("id=", "id*=")) and not message_id:
                v = tok[tok.find("=") + 1 :]
                if v.startswith("<") and v.endswith(">"):
                    v = v[1:-1]
                if len(v) > MAX_MESSAGE_ID:
                    return None
                message_id = v
            elif tok == "for":
                rcpts = _words(rest[e + 1 :])
                if rcpts and not rcpts[-1].endswith("<trunc>"):
                    recipients = tuple(rcpts)
                break
        i = e + 1
    if size is None:
        return None
    local = protocol == "local" or protocol.startswith("local-")
    return EximArrival(
        qid,
        sender,
        client_ip,
        auth or None,
        size,
        message_id,
        recipients,
        ident if local and ident else None,
    )


def _rejected(qid: str | None, text: str) -> tuple[Reject, ...] | None:
    """``… F=<s> rejected RCPT <a>: why`` and the like: what was refused (module docstring)."""
    m = _unquoted(_REJECTED, text)  # not in the F=<sender> (_unquoted says why)
    if m is None:
        return None
    k = m.end() - 9
    permanent = not text[:k].endswith("temporarily ")
    what = text[k + 9 :]
    if not what.startswith("RCPT "):
        return ()  # MAIL, HELO/EHLO, connection, DATA, after DATA: no recipient named
    what = what[5:]
    if not what.startswith("<"):
        # a recipient sent without angle brackets ("RCPT TO:a@b", which Exim takes:
        # smtp_in.c logs "RCPT %s" of the argument as sent), then ": why"
        c = what.find(": ")
        rcpt = what[:c]
        if c <= 0 or any(ch <= " " or ch in ":<>" for ch in rcpt):
            return None
        return (Reject(qid, "RCPT", rcpt, permanent),)
    m = _unquoted(_GT, what, 1)
    if m is None:
        return None  # (Exim logs at most 100 characters of the command: cut off)
    rcpt = what[1 : m.start()]
    return (Reject(qid, "RCPT", rcpt or None, permanent),)


def parse_exim(msg: str) -> tuple[EximRecord, ...] | str:
    """Records of one Exim main log text (after the syslog header or the file's stamp);
    ``()`` for lines that count nothing, the family (``families``) of a line of a
    counted family not understood."""
    msg = _skip_stamp(msg)
    sp = msg.find(" ")
    first = msg[:sp] if sp > 0 else msg
    if is_exim_id(first):
        qid = first
        rest = msg[sp + 1 :] if sp > 0 else ""
        marker = rest[:3]
        if marker in ("<= ", "(= "):
            arr = _arrival(qid, rest[3:])
            return EXIM_ARRIVAL if arr is None else (arr,)
        kind = _MARKERS.get(rest[:2])
        if kind is not None and rest[2:3] == " ":
            d = _delivery(qid, kind, rest[3:])
            return EXIM_DELIVERY if d is None else (d,)
        if rest == "Completed" or rest.startswith("Completed "):
            return (EximCompleted(qid),)
        if " rejected " in rest or rest.startswith("rejected "):
            rej = _rejected(qid, rest)
            return EXIM_REJECT if rej is None else rej
        return ()  # "== … defer", frozen, "SMTP error from remote…", "removed by …"
    if " rejected " in msg:
        rej = _rejected(None, msg)
        return EXIM_REJECT if rej is None else rej
    return ()  # connections, queue runs, "no host name found", TLS errors…


def parse_spamd(msg: str) -> tuple[SpamdResult, ...] | str:
    """Records of one spamd log text: ``spamd: result: …`` → :class:`SpamdResult`
    (``spamd verdict``, the family, for a result line not understood)."""
    if not msg.startswith("spamd: result: "):
        return ()
    rest = msg[15:]
    if rest[:2] not in ("Y ", ". "):
        return SPAMD_VERDICT
    spam = rest[0] == "Y"
    k = rest.find(",mid=")  # (scantime= is always the first item: mid= follows a comma)
    if k < 0:
        return SPAMD_VERDICT
    v = rest[k + 5 :]
    c = v.find(",")
    if c >= 0:
        v = v[:c]
    if not v.startswith("<") or not v.endswith(">") or len(v) < 3:
        return ()  # "mid=(unknown)": a message without a Message-ID cannot be joined
    mid = v[1:-1]
    if len(mid) > MAX_MESSAGE_ID:
        return SPAMD_VERDICT
    return (SpamdResult(mid, "spam" if spam else "ham"),)
