"""amavis(d-new) result lines → spam verdicts, re-injection links and blocked recipients.

::

    amavis[1234]: (01234-05) Passed CLEAN {RelayedInbound}, [203.0.113.9]:4000 [203.0.113.9]
        <a@b> -> <c@d>,<e@f>, Queue-ID: 4ABC, Message-ID: <m@x>, mail_id: xyz,
        Hits: -1.9, size: 2345, queued_as: 4DEF, 2345 ms
    amavis[1234]: (01234-06) Blocked SPAM {DiscardedInbound,Quarantined}, … <a@b> -> <c@d>,
        quarantine: spam-xyz.gz, Queue-ID: 4ABC, …

``Passed`` with category ``SPAM``/``SPAMMY`` is spam, any other category ham;
``Blocked`` (whatever the category: SPAM, INFECTED, BANNED, …) means the
listed recipients did not get the message in their mailbox; its flags say
where it went (``Quarantined``, ``DiscardedInbound``, ``BouncedInbound`` …).
``Queue-ID`` names the Postfix queue id that went into amavis, ``queued_as``
the ones it re-injected: amavisd-new 2.13's ``$log_short_templ`` (Amavis.pm,
``__DATA__``) writes one item per distinct response of the MTA it re-injected to,
joined by ``/`` (``queued_as: 4DEF/4DF0`` when the recipients' copies differ, e.g.
by their spam tag levels, and went back in several SMTP transactions): each is
re-injection of its own.  At most :data:`MAX_QUEUED_AS` of them are read.  Other
amavis lines are ignored.

An entry amavis split into several syslog lines (``...``: a verdict of a message to
many recipients) reaches :func:`parse_amavis` whole: ``LineParser`` joins its pieces
first (parsers/__init__.py ``_amavis_part``, ``LineParser._amavis``).  The rules below
for text cut by ``...`` serve only a line that is no such piece.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .families import AMAVIS_VERDICT
from .rspamd import SpamVerdict

__all__ = ["FilterBlocked", "Reinjected", "parse_amavis"]


@dataclass(frozen=True, slots=True)
class Reinjected:
    """A content filter passed message ``qid`` on as message ``new_qid``."""

    qid: str
    new_qid: str


@dataclass(frozen=True, slots=True)
class FilterBlocked:
    """A content filter stopped the message for ``recipients``.

    ``flags`` are amavis's disposition words (``DiscardedInbound``,
    ``Quarantined``, ``BouncedInbound`` …); ``Quarantined`` is added when the
    line names a ``quarantine:`` location without the flag (older amavis).
    """

    qid: str | None
    recipients: tuple[str, ...]
    category: str
    flags: tuple[str, ...] = ()


#: The most queue ids a line may name after ``queued_as:``: one per re-injection,
#: amavis makes at most one per recipient.  A longer list makes the line not
#: understood (the ingest report shows it): hardly a real entry has one -- one
#: syslog line of amavis ($logline_maxlen, 980 characters) holds about 60 Postfix
#: ids, and an entry split over several (joined by LineParser) would need as many
#: distinct re-injections --, and the joiner remembers at most 64 re-injections of
#: one message anyway (join.Joiner._link).
MAX_QUEUED_AS = 64

_HEAD = re.compile(r"^\([^)]*\) (Passed|Blocked) ([A-Z][A-Z0-9-]*)")
#: "Blocked INFECTED (Eicar-Signature) {DiscardedInbound,Quarantined}"
_FLAGS = re.compile(r"(?: \([^)]*\))? \{([^}]*)\}")
_SPAM = frozenset({"SPAM", "SPAMMY"})


def _rcpts(text: str, pos: int) -> str | None:
    """``<…> -> <a>,<b>``: the recipient list, as ``re.search(r"<[^>]*> -> ((?:<[^>]*>,)*<[^>]*>)",
    text, pos).group(1)`` would find it, in time linear in the text.

    The regex retried every ``<`` and scanned to the next ``>`` each time: a line
    of many ``<`` took quadratic time.  Every ``<`` before the same ``>`` shares
    that ``>``'s fate, so each ``>`` is looked at once.
    """
    n = len(text)
    i = text.find("<", pos)
    while i >= 0:
        j = text.find(">", i + 1)
        if j < 0:
            return None  # no later "<" has a ">" after it either
        k = j + 5
        if text.startswith(" -> <", j + 1):
            # the list: items "<…>" (each up to its first ">") joined by ","
            e = text.find(">", k + 1)
            if e < 0:
                return None
            while e + 2 < n and text[e + 1] == "," and text[e + 2] == "<":
                f = text.find(">", e + 3)
                if f < 0:
                    break
                e = f
            return text[k : e + 1]
        i = text.find("<", j + 1)
    return None


def _word_end(text: str, i: int) -> int:
    """Where the word (letters, digits, ``_``: a queue id's) that starts at ``i`` ends."""
    n = len(text)
    while i < n and (text[i].isalnum() or text[i] == "_"):
        i += 1
    return i


def _token(text: str, name: str, start: int = 0) -> str | None:
    i = text.find(name, start)
    if i < 0:
        return None
    i += len(name)
    return text[i : _word_end(text, i)] or None


def _queue_id(msg: str) -> str | None:
    """The ``Queue-ID: `` amavis wrote, read back from the line's end.

    The template writes ``<sender> -> <rcpts>, Queue-ID: %Q, Message-ID: <%m>,
    Resent-Message-ID: <%r>, mail_id: %i, Hits: …`` (each but Hits optional); the
    sender and the Message-ID are the sender's text, so the first ``Queue-ID: `` of
    the line may be theirs (``<"x, Queue-ID: 4VICTIM"@evil>``).  From the last
    ``, Hits: `` (nothing after it is the sender's) back over ``, mail_id: WORD``
    and up to two ``<…>`` ids (which hold no ``>``: parse_message_id), the word
    that ends just there after ``, Queue-ID: `` is amavis's.  A line not of that
    shape (split by amavis's ``...``, another template) is read as before: the
    first ``Queue-ID: ``.
    """
    h = -1 if msg.endswith("...") else msg.rfind(", Hits: ")
    if h >= 0:
        end = h
        k = msg.rfind(", mail_id: ", 0, end)
        if k >= 0 and k + 11 < end and _word_end(msg, k + 11) == end:
            end = k
        for _ in range(2):
            if end < 1 or msg[end - 1] != ">":
                break
            o = msg.find("<", msg.rfind(">", 0, end - 1) + 1, end)
            if o >= 14 and msg.startswith(", Message-ID: ", o - 14):
                end = o - 14
            elif o >= 21 and msg.startswith(", Resent-Message-ID: ", o - 21):
                end = o - 21
            else:
                break
        k = msg.rfind(", Queue-ID: ", 0, end)
        if k >= 0 and k + 12 < end and _word_end(msg, k + 12) == end:
            return msg[k + 12 : end]
    return _token(msg, "Queue-ID: ")


def parse_amavis(msg: str) -> tuple[SpamVerdict | Reinjected | FilterBlocked, ...] | str:
    """Records of one amavis log text; ``()`` for lines that count nothing, the family
    (``families``) of a verdict line not understood."""
    if not msg.startswith("("):
        return ()
    m = _HEAD.match(msg)
    if m is None:
        if ") Passed" in msg or ") Blocked" in msg:
            return AMAVIS_VERDICT
        return ()
    passed = m.group(1) == "Passed"
    category = m.group(2)
    qid = _queue_id(msg)
    if not passed:
        # "<sender> -> <rcpts>": the sender is the sender's text, and a sender
        # "<\"x> -> <victim@here>\"@evil>" would make the blocked message count for
        # victim; Postfix never writes " -> <" in an address, amavis writes it once:
        # with two the line is not understood (the Message-ID after it may hold one
        # too: the sender's own line, then not counted).
        r = _rcpts(msg, m.end())
        arrow = msg.find(" -> <")
        if r is None or msg.find(" -> <", arrow + 5) >= 0:
            return AMAVIS_VERDICT
        rcpts = tuple(a[1:] for a in r.split(">,") if a.startswith("<"))
        rcpts = tuple(a[:-1] if a.endswith(">") else a for a in rcpts)
        f = _FLAGS.match(msg, m.end())
        flags = tuple(x.strip() for x in f.group(1).split(",") if x.strip()) if f else ()
        if "Quarantined" not in flags and ", quarantine: " in msg:
            flags = (*flags, "Quarantined")
        return (FilterBlocked(qid, rcpts, category, flags),)
    verdict = "spam" if category.split("-")[0] in _SPAM else "ham"
    out: list[SpamVerdict | Reinjected | FilterBlocked] = []
    if qid:
        out.append(SpamVerdict(qid, verdict, "amavis"))
    ids = _queued_as(msg)
    if len(ids) > MAX_QUEUED_AS:
        return AMAVIS_VERDICT
    for new in ids:
        if qid and new != qid:
            out.append(Reinjected(qid, new))
        out.append(SpamVerdict(new, verdict, "amavis"))
    return tuple(out) if out else ()


def _queued_as(msg: str) -> list[str]:
    """The queue ids after the last ``queued_as: `` of ``msg`` (none if a ``>`` follows
    it: then it is inside an address or the Message-ID), in order (at most one more
    than MAX_QUEUED_AS): ``A/B/C`` gives each.  An item is read as _token reads a
    word; an item that is no queue id (amavis writes the MTA's whole response where
    it names none: ``250 2.0.0 Ok, id=…``) ends the list after its first word, as the
    single id of older versions was read.  A word cut by amavis's split of a long
    line (``…/4DF0...``, the rest on the next line) is left out: its end is unknown.
    """
    n = len(msg)
    cut = n - 3 if msg.endswith("...") else -1
    ids: list[str] = []
    # Only amavis's own "queued_as: " is read: the template writes it once, after the
    # sender, the recipients and the Message-ID, which the sender of the message
    # chooses and which each end in ">" (a Message-ID is "<[^<>]*>", parse_message_id);
    # nothing after it has one.  A Message-ID <x, queued_as: 4VICTIM> must not make
    # someone else's message a re-injection of this one, nor give it this one's
    # verdict, whether amavis re-injected (a later "queued_as: ") or not (milter).
    k = msg.rfind("queued_as: ")
    if k < 0 or msg.find(">", k) >= 0:
        return ids
    i = k + 11
    while True:
        e = _word_end(msg, i)
        if e in (i, cut):
            break
        ids.append(msg[i:e])
        if len(ids) > MAX_QUEUED_AS:
            return ids
        if not (e + 1 < n and msg[e] == "/" and (msg[e + 1].isalnum() or msg[e + 1] == "_")):
            break
        i = e + 1
    return ids
