"""A sender's text must never make a log line count for somebody else (session 15).

Much of a mail log line is written by remote parties: envelope addresses, Message-IDs,
HELO names, a remote server's answer, symbols' options.  Each case here is a line a
sender can make a server log, with the records it must give: never a verdict, a
delivery, a re-injection or a recipient taken from the sender's text.  Every case runs
on the reference parser and on the compiled one, which must give the same answer
(and must not decline the line: these are ASCII lines it reads itself).
"""

from __future__ import annotations

import calendar

import pytest

from mailtally.ingest import LineParser
from mailtally.ingest.parsers import SpamVerdict
from mailtally.ingest.stamps import StampParser

_fastlog = pytest.importorskip("mailtally.ingest._fastlog")

REF = calendar.timegm((2026, 11, 28, 23, 0, 0))
SYSLOG = "Nov 28 01:02:03 mail "
RSPAMD = SYSLOG + "rspamd[1]: <e>; task; rspamd_task_write_log: "
QID = "4F2A1B2C3D"
VICTIM = "9C8B7A6F5E"


def both(line: str) -> tuple[tuple[object, ...], str]:
    """(records, family) of ``line`` by the reference, after checking the compiled
    parser reads the line itself and gives the same."""
    want = LineParser(reference=REF).parse(line)
    got = _fastlog.Parser(StampParser(REF, None, 3600, {})).parse(line)
    assert got is not None, line
    assert got == want, line
    return want.records, want.family


def rspamd_json(message: str) -> str:
    """rspamd's own JSON log line (logging { json = true; }) of a task line's text."""
    esc = message.replace("\\", "\\\\").replace('"', '\\"')
    return (
        '{"ts": 1795827723.5, "pid": 1, "severity": "notice", "worker_type": "normal", '
        '"id": "6a2f1c", "module": "task", "function": "rspamd_task_write_log", '
        f'"message": "{esc}"}}'
    )


TAIL = "len: 2345, time: 120.1ms, dns req: 3, digest: <0a1b2c>"

# -- rspamd: (task line's text, the verdict it must give or None, the family) -------------
# rspamd logs the Message-ID first, with every byte that is not g_ascii_isgraph as "?"
# (so no spaces); the envelope sender (quoted local part logged unquoted: spaces, ">",
# "(") before the action; the recipients and the symbols' options after it.
RSPAMD_CASES = [
    # genuine lines: read as before
    (
        f"id: <m@x>, qid: <{QID}>, ip: 203.0.113.9, from: <a@b>, (default: T (add header): "
        f"[7.20/15.00] [A(1){{x;}}]), {TAIL}, rcpts: <c@d>, ",
        "spam",
        "",
    ),
    (
        f"id: <undef>, qid: <{QID}>, (default: F (no action): [0.1/15.00] []), {TAIL}",
        "ham",
        "",
    ),
    (f"qid: <{QID}>, (default: S (soft reject): [1/2] [])", "tempfail", ""),
    # a Message-ID without spaces cannot hold "qid: <"; one rspamd would not write
    # (with spaces) is still not read as the queue id: it is not the field after the
    # Message-ID's end
    (
        f"id: <x>,qid:<{VICTIM}>, qid: <{QID}>, (default: F (no action): [1/2] [])",
        "ham",
        "",
    ),
    # a line without a queue id, whose sender names one: nothing to join
    (
        f"id: <m@x>, ip: 203.0.113.9, from: <a, qid: <{VICTIM}>, (x: T (reject)@evil>, "
        f"(default: F (no action): [1/2] []), {TAIL}",
        None,
        "",
    ),
    (
        f"id: <m@x>, (default: F (no action): [1/2] []), {TAIL}, rcpts: <qid: <{VICTIM}>@e>, ",
        None,
        "",
    ),
    # the sender's action before the genuine one: ambiguous, not understood
    (
        f"id: <m@x>, qid: <{QID}>, ip: 203.0.113.9, from: <a (default: F (no action)@evil>, "
        f"(default: T (reject): [20/15] [X(1){{}}]), {TAIL}",
        None,
        "rspamd verdict",
    ),
    # …inside what would otherwise be read as the action's text
    (
        f"id: <m@x>, qid: <{QID}>, from: <a (default: F (no action@evil>, "
        f"(default: T (add header): [9/15] [])",
        None,
        "rspamd verdict",
    ),
    # …after it (a symbol's option, a recipient)
    (
        f"id: <m@x>, qid: <{QID}>, (default: T (add header): [9/15] [A(1){{(x: F (}}]), {TAIL}",
        None,
        "rspamd verdict",
    ),
    # a site's own log_format: a queue id named twice is ambiguous
    (
        f"qid: <{QID}>, from: <qid: <{VICTIM}>>, (default: F (no action): [1/2] [])",
        None,
        "rspamd verdict",
    ),
    (
        f"ip: 203.0.113.9, from: <x>, qid: <{VICTIM}>, y@e>, qid: <{QID}>, "
        "(default: F (no action): [1/2] [])",
        None,
        "rspamd verdict",
    ),
]


@pytest.mark.parametrize(("text", "verdict", "family"), RSPAMD_CASES)
@pytest.mark.parametrize("form", ["plain", "json"])
def test_rspamd_sender_text_names_no_message(
    text: str, verdict: str | None, family: str, form: str
) -> None:
    line = RSPAMD + text if form == "plain" else rspamd_json(text)
    records, fam = both(line)
    want = () if verdict is None else (SpamVerdict(QID, verdict, "rspamd"),)  # type: ignore[arg-type]
    assert records == want
    assert fam == family
