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
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .families import RSPAMD_VERDICT

__all__ = ["SpamVerdict", "parse_rspamd"]

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


def _action(text: str, pos: int) -> tuple[str, str] | None:
    """``(default: T (add header)``: the flag and the action, as
    ``re.search(r"\\(\\w[\\w-]*: ([TFS]) \\(([^)]*)\\)", text, pos).groups()`` would
    find them, in time linear in the text.

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
            return text[k + 2], text[k + 5 : e]
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
    i = msg.find("rspamd_task_write_log: ")
    if i < 0:
        return ()
    rest = msg[i + 23 :]
    q = rest.find("qid: <")
    if q < 0:
        return ()  # scanned without a queue id (rspamc, a proxy check): nothing to join
    e = rest.find(">", q + 6)
    if e < 0:
        return RSPAMD_VERDICT
    qid = rest[q + 6 : e]
    if not qid or qid == "undef":
        return ()
    m = _action(rest, e)
    if m is None:
        return RSPAMD_VERDICT
    verdict = _VERDICTS.get(m[1].strip().lower())
    if verdict is None:
        verdict = "spam" if m[0] == "T" else "ham"
    return (SpamVerdict(qid, verdict, "rspamd"),)
