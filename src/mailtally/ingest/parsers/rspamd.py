"""rspamd's per-message log line → a spam verdict for a Postfix queue id.

rspamd logs one ``rspamd_task_write_log`` line per scanned message, to its own
file (``2026-11-28 01:02:03 #1234(normal) <tag>; task; rspamd_task_write_log:
…``) or to syslog (``rspamd[1234]: <tag>; task; rspamd_task_write_log: …``)::

    id: <m@x>, qid: <4ABC123>, ip: 203.0.113.9, from: <a@b>,
    (default: T (add header): [7.20/15.00] [SYMBOLS]), len: 2345, time: 120.1ms, …

The action decides the verdict: ``add header`` / ``rewrite subject`` → spam,
``no action`` / ``greylist`` → ham, ``reject`` → reject (Postfix's own
``milter-reject`` line counts the denial), ``soft reject`` → tempfail.  Every
other rspamd line is ignored.

rspamd 3.8+ with ``logging { json = true; }`` writes each line as one JSON object
instead (src/libserver/logger/logger.c rspamd_log_fill_iov for its own file,
logger_syslog.c for syslog from 3.8.2, where ``ts`` is whole seconds)::

    {"ts": 1795827723.12345, "pid": 1234, "severity": "notice", "worker_type":
     "normal", "id": "6a2f1c", "module": "task", "function": "rspamd_task_write_log",
     "message": "id: <m@x>, qid: <4ABC123>, …"}

The task line is the one whose ``function`` is ``rspamd_task_write_log``; its
``message`` is the text after ``rspamd_task_write_log: `` of the plain line, read
by the same rule.  Any other rspamd JSON line is ignored.  rspamd escapes only
``"`` and ``\\`` there (rspamd_common_logv has already written control bytes as
``\\xHH``); a re-serialising shipper may write any JSON escape, put the members in
another order or drop the spaces, all of which :func:`json_members` reads.  A line
cut inside the message (syslog's size limit) is read as far as it goes, as a cut
plain line is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from .families import RSPAMD_VERDICT

__all__ = ["SpamVerdict", "json_members", "parse_rspamd", "parse_rspamd_json"]

Verdict = Literal["spam", "ham", "reject", "tempfail"]


@dataclass(frozen=True, slots=True)
class SpamVerdict:
    """A spam filter's verdict on the message with Postfix queue id ``qid``."""

    qid: str
    verdict: Verdict
    source: str = "rspamd"


#: an opening parenthesis and the name after it: searched for, never backtracked
#: over (the name cannot hold a "(", so names found one after another never overlap)
_OPEN = re.compile(r"\(\w[\w-]*")


def _action_at(text: str, pos: int) -> tuple[str, str, int] | None:
    """``(default: T (add header)``: the flag, the action and where the action's
    text starts, as ``re.search(r"\\(\\w[\\w-]*: ([TFS]) \\(([^)]*)\\)", text,
    pos)``'s groups and ``start(2)`` would find them, in time linear in the text.

    The regex scanned from each candidate ``(`` to the next ``)``: a line of many
    ``(x: T (`` without a ``)`` took quadratic time.  Here a missing ``)`` ends the
    search at once (no later candidate has one either), and each name is read once.
    """
    n = len(text)
    m = _OPEN.search(text, pos)
    while m is not None:
        k = m.end()
        if (
            text.startswith(": ", k)
            and k + 2 < n
            and text[k + 2] in "TFS"
            and text.startswith(" (", k + 3)
        ):
            e = text.find(")", k + 5)
            if e < 0:
                return None
            return text[k + 2], text[k + 5 : e], k + 5
        m = _OPEN.search(text, k)
    return None


_VERDICTS: dict[str, Verdict] = {
    "no action": "ham",
    "greylist": "ham",
    "add header": "spam",
    "rewrite subject": "spam",
    "quarantine": "spam",
    "reject": "reject",
    "discard": "reject",
    "soft reject": "tempfail",
    "soft_reject": "tempfail",
}


def parse_rspamd(msg: str) -> tuple[SpamVerdict, ...] | str:
    """Records of one rspamd log text; ``()`` for lines that carry no verdict, the
    family (``families``) of a verdict line not understood."""
    if msg.startswith("{"):
        members = json_members(msg)
        if members is not None:
            recs = _json_task(members)
            if recs is not None:
                return recs
        # not rspamd's JSON object: read as text, as any other line
    i = msg.find("rspamd_task_write_log: ")
    if i < 0:
        return ()
    return _task(msg[i + 23 :])


#: an action's opening, ``(default: T (``, as :func:`_action` reads one (without its
#: closing ``)``): a second one after the first makes the line ambiguous
_CANDIDATE = re.compile(r"\(\w[\w-]*: [TFS] \(")


def _qid_at(rest: str) -> int | str:
    """Where the queue id's ``qid: <`` is in a task line's text; -1 when there is none,
    the family when the line names more than one.

    Senders write much of the line: the envelope sender (``from: <…>``, whose quoted
    local part rspamd logs unquoted, so with spaces, ``>`` and ``,``), the recipients
    and the symbols' options (after the verdict); the Message-ID comes first, before
    the queue id.  A sender's ``qid: <VICTIM>`` must not make the line a verdict on
    another message:

    - ``qid: <`` twice is ambiguous (one of them is a sender's): the line is not
      understood (its family) and linked to no message.
    - rspamd's log format (every version from 1.7 to 4.x: cfg_utils ``log_format_str``)
      opens ``id: <$mid>,$if_qid{ qid: <$>,}…``, and the Message-ID it logs holds no
      whitespace (mime_headers.c writes every byte that is not ``g_ascii_isgraph`` as
      ``?``).  So in a text that opens ``id: <`` and whose first space follows ``>,``
      (the Message-ID's end) the queue id is the field right after that space, or
      there is none: a line scanned without a queue id whose sender wrote one
      further on is a verdict on no message.
    - Any other text (a site's own ``log_format``): the one ``qid: <``.
    """
    q = rest.find("qid: <")
    if q >= 0 and rest.find("qid: <", q + 6) >= 0:
        return RSPAMD_VERDICT
    if rest.startswith("id: <"):
        s = rest.find(" ", 5)
        if s >= 2 and rest.startswith(">,", s - 2) and q != s + 1:
            return -1
    return q


def _task(rest: str) -> tuple[SpamVerdict, ...] | str:
    """The verdict of a task line's text (what follows ``rspamd_task_write_log: ``).

    The queue id is the one :func:`_qid_at` finds; the verdict is the action after
    it, ``(default: T (add header)``, when no second ``(name: T (`` follows the first
    one's opening: the envelope sender is logged before the verdict (and the
    recipients and symbols' options after it), and a sender's ``(x: F (no action)``
    must not decide the verdict of its message; with two the line is not understood.
    (The opening of the genuine one cannot be told from a sender's by its place:
    sender text may stand on both sides of it.)
    """
    q = _qid_at(rest)
    if type(q) is str:
        return q
    if q < 0:
        return ()  # scanned without a queue id (rspamc, a proxy check): nothing to join
    e = rest.find(">", q + 6)
    if e < 0:
        return RSPAMD_VERDICT
    qid = rest[q + 6 : e]
    if not qid or qid == "undef":
        return ()
    m = _action_at(rest, e)
    if m is None or _CANDIDATE.search(rest, m[2]) is not None:
        return RSPAMD_VERDICT
    verdict = _VERDICTS.get(m[1].strip().lower())
    if verdict is None:
        verdict = "spam" if m[0] == "T" else "ham"
    return (SpamVerdict(qid, verdict, "rspamd"),)


# -- rspamd's JSON log -------------------------------------------------------------------

#: A JSON number, as written (rspamd's "ts" and "pid"; a shipper's others).
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
#: The run of a JSON string up to its next quote or backslash.
_PLAIN = re.compile(r'[^"\\]*')
_HEX = frozenset("0123456789abcdefABCDEF")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_WS = " \t\n\r"


class Raw(str):
    """A JSON member's value that is no string (a number, ``true``, ``false``,
    ``null``), as written: ``type(v) is str`` tells strings from these."""

    __slots__ = ()


def _string(text: str, i: int) -> tuple[str, int, bool] | None:
    """The JSON string that opens at ``text[i]`` (a quote): ``(value, end, cut)``,
    ``end`` just past its closing quote; ``cut`` when the text ends inside it (the
    value then holds what was read, an escape cut short left out).  None for an
    escape JSON has not (``\\x``, ``\\u`` without four hex digits)."""
    n = len(text)
    j = i + 1
    parts: list[str] = []
    while True:
        e = _PLAIN.match(text, j).end()  # type: ignore[union-attr]
        if e > j:
            parts.append(text[j:e])
        if e >= n:
            return "".join(parts), n, True
        if text[e] == '"':
            return "".join(parts), e + 1, False
        # a backslash
        if e + 1 >= n:
            return "".join(parts), n, True
        c = text[e + 1]
        if c != "u":
            v = _ESCAPES.get(c)
            if v is None:
                return None
            parts.append(v)
            j = e + 2
            continue
        h = text[e + 2 : e + 6]
        if any(x not in _HEX for x in h):
            return None
        if len(h) < 4:
            return "".join(parts), n, True
        code = int(h, 16)
        j = e + 6
        if 0xD800 <= code < 0xE000:
            # a surrogate: a pair is one character; one alone is U+FFFD, as a file's
            # undecodable bytes are (files.py): no lone surrogate reaches the joiner's
            # state, which is saved as UTF-8
            low = text[j + 2 : j + 6] if code < 0xDC00 and text.startswith("\\u", j) else ""
            if len(low) == 4 and all(x in _HEX for x in low) and 0xDC00 <= int(low, 16) < 0xE000:
                code = 0x10000 + ((code - 0xD800) << 10) + (int(low, 16) - 0xDC00)
                j += 6
            else:
                code = 0xFFFD
        parts.append(chr(code))


def _ws(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in _WS:
        i += 1
    return i


def _no_constant(name: str) -> object:
    raise ValueError(name)  # NaN, Infinity: no JSON (json.loads takes them)


_LITERALS = {True: Raw("true"), False: Raw("false"), None: Raw("null")}


def json_members(text: str) -> dict[str, str] | None:
    """The members of the flat JSON object ``text`` (which starts with ``{``):
    strings decoded, other values as written (:class:`Raw`); None if ``text`` is no
    such object (a syntax error, a nested object or array, text after the ``}``).

    A text that ends before its ``}`` (a line cut short) gives the members read
    until then, and a string value cut short as far as it goes (a cut key, number or
    literal is left out).  A key given twice keeps its last value.

    A whole object is read by ``json.loads`` (C: a fifth of the time of the scanner),
    which answers the same (tests/test_parsers_misc.py checks it on arbitrary text)
    but for ``\\u`` escapes (it keeps a lone surrogate, where the scanner writes
    U+FFFD), so a text with one goes to the scanner, as does one json.loads refuses
    (cut, a leading zero, NaN …).
    """
    if "\\u" not in text:
        try:
            obj = json.loads(
                text, parse_int=Raw, parse_float=Raw, parse_constant=_no_constant, strict=False
            )
        except (ValueError, RecursionError):
            pass
        else:
            out: dict[str, str] = {}
            for k, v in obj.items():
                if type(v) is str or type(v) is Raw:
                    out[k] = v
                elif v is None or type(v) is bool:
                    out[k] = _LITERALS[v]
                else:
                    return None  # a nested object or array
            return out
    return _scan(text)


def _scan(text: str) -> dict[str, str] | None:
    """json_members, by scanning the text."""
    n = len(text)
    out: dict[str, str] = {}
    i = _ws(text, 1)
    if i < n and text[i] == "}":
        return out if _ws(text, i + 1) == n else None
    while True:
        if i >= n:
            return out
        if text[i] != '"':
            return None
        key = _string(text, i)
        if key is None:
            return None
        name, i, cut = key
        if cut:
            return out
        i = _ws(text, i)
        if i >= n:
            return out
        if text[i] != ":":
            return None
        i = _ws(text, i + 1)
        if i >= n:
            return out
        c = text[i]
        if c == '"':
            val = _string(text, i)
            if val is None:
                return None
            out[name], i, cut = val
            if cut:
                return out
        else:
            m = _NUMBER.match(text, i)
            if m is not None:
                e = m.end()
            else:
                for lit in ("true", "false", "null"):
                    if text.startswith(lit, i):
                        e = i + len(lit)
                        break
                    if n - i < len(lit) and lit.startswith(text[i:]):
                        return out  # cut inside a literal
                else:
                    return None
            if e >= n:
                return out  # a number at the very end may be cut: left out
            if text[e] not in ",}" and text[e] not in _WS:
                return None
            out[name] = Raw(text[i:e])
            i = e
        i = _ws(text, i)
        if i >= n:
            return out
        if text[i] == "}":
            return out if _ws(text, i + 1) == n else None
        if text[i] != ",":
            return None
        i = _ws(text, i + 1)


#: The latest time a stamp may name: 9999-12-31T23:59:59Z, as for the other stamps.
_MAX_TS = 253402300799
_TS = re.compile(r"([0-9]{1,12})(?:\.[0-9]+)?")


def parse_rspamd_json(line: str) -> tuple[tuple[SpamVerdict, ...] | str, int | None] | None:
    """rspamd's own JSON log line (``{"ts": …, "worker_type": …, "function": …,
    "message": …}``): its records (or the family of a verdict not understood) and its
    time (``ts``, epoch seconds; None if it is not ``digits[.digits]`` of a time up to
    9999); None for a line that is not such an object (not rspamd's)."""
    members = json_members(line)
    if members is None:
        return None
    ts = members.get("ts")
    if type(ts) is not Raw or type(members.get("worker_type")) is not str:
        return None
    recs = _json_task(members)
    if recs is None:
        return None
    m = _TS.fullmatch(ts)
    t = int(m.group(1)) if m is not None else None
    if t is not None and t > _MAX_TS:
        t = None
    return recs, t


def _json_task(members: dict[str, str]) -> tuple[SpamVerdict, ...] | str | None:
    """The records of rspamd's JSON object: its ``message`` read as a task line's text
    when ``function`` is ``rspamd_task_write_log``, ``()`` for any other function;
    None when ``function`` is not a string (or ``message`` is there and is not
    one).  A message cut off whole (the line ends before it) reads as ``""``."""
    fn = members.get("function")
    text = members.get("message", "")
    if type(fn) is not str or type(text) is not str:
        return None
    return _task(text) if fn == "rspamd_task_write_log" else ()
