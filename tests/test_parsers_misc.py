"""Roundcube, rspamd, amavis, quota rows and timestamps."""

from __future__ import annotations

import calendar
import json
import os
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailtally.ingest import LineParser, StampParser, split_syslog
from mailtally.ingest.parsers import (
    FilterBlocked,
    QuotaHeader,
    QuotaRow,
    Record,
    Reinjected,
    SpamVerdict,
    WebmailLogin,
    tallied,
)
from mailtally.ingest.parsers.amavis import parse_amavis
from mailtally.ingest.stamps import MONTHS, month_table

REF = calendar.timegm((2026, 11, 28, 23, 0, 0))
T = calendar.timegm((2026, 11, 28, 1, 2, 3))
P = LineParser(reference=REF)


# -- Roundcube ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "t", "records"),
    [
        (
            "[28-Nov-2026 01:02:03 +0000]: <k3j4h5g6> Successful login for alice@example.com (ID: "
            "12) "
            "from 203.0.113.5 in session k3j4h5g6",
            T,
            (WebmailLogin("alice@example.com", "203.0.113.5"),),
        ),
        (
            "[28-Nov-2026 02:02:03 +0100]: Successful login for alice@example.com (ID: 12) from "
            "203.0.113.5 in session abc",
            T,
            (WebmailLogin("alice@example.com", "203.0.113.5"),),
        ),
        (
            "[28-Nov-2026 01:02:03 +0000]: Successful login for bob (ID: 7) from "
            "10.0.0.2(X-Real-IP: 203.0.113.6,X-Forwarded-For: 203.0.113.6) in session abc",
            T,
            (WebmailLogin("bob", "10.0.0.2"),),
        ),
        (
            "[28-Nov-2026 02:02:03 Europe/Berlin]: Successful login for carol@example.com (ID: 3) "
            "from "
            "2001:db8::5 in session abc",
            T,
            (WebmailLogin("carol@example.com", "2001:db8::5"),),
        ),
        (
            "Nov 28 01:02:03 web roundcube: <k3j4h5g6> Successful login for alice@example.com (ID: "
            "12) "
            "from 203.0.113.5 in session k3j4h5g6",
            T,
            (WebmailLogin("alice@example.com", "203.0.113.5"),),
        ),
        (
            "2026-11-28T01:02:03+00:00 web roundcube[311]: Successful login for alice@example.com "
            "(ID: 12) from 203.0.113.5 in session k3",
            T,
            (WebmailLogin("alice@example.com", "203.0.113.5"),),
        ),
        # Roundcube in a container (log_driver 'stdout', the official image): the line
        # "userlogins: " + text, verified in roundcube/roundcubemail: rcube.php write_log,
        # stdout branch, writes "$name: $line\n" (the line with "<sess> " in front when
        # session_key logging is on) and no date; rcmail.php log_login's text is
        # "Successful login for %s (ID: %d) from %s in session %s", written only when
        # log_logins is set.  With the runtime's stamp in front (docker logs -t) ...
        (
            "2026-11-28T01:02:03.123456789Z userlogins: <k3j4h5g6> Successful login for "
            "alice@example.com (ID: 12) from 203.0.113.5 in session k3j4h5g6",
            T,
            (WebmailLogin("alice@example.com", "203.0.113.5"),),
        ),
        # ... journald under the container's name (journalctl -o short-iso) ...
        (
            "2026-11-28T02:02:03+0100 web mail-roundcube-1[812]: userlogins: <k3j4h5g6> "
            "Successful login for alice@example.com (ID: 12) from 203.0.113.5 in session k3",
            T,
            (WebmailLogin("alice@example.com", "203.0.113.5"),),
        ),
        # ... a Kubernetes node's CRI log (/var/log/containers/*.log) ...
        (
            "2026-11-28T01:02:03.123456789Z stdout F userlogins: <k3j4h5g6> Successful login "
            "for alice@example.com (ID: 12) from 203.0.113.5 in session k3j4h5g6",
            T,
            (WebmailLogin("alice@example.com", "203.0.113.5"),),
        ),
        # ... or wrapped by php-fpm (catch_workers_output), in its own error_log
        (
            '[28-Nov-2026 01:02:03] WARNING: [pool www] child 8 said into stdout: "userlogins: '
            '<k3j4h5g6> Successful login for alice@example.com (ID: 12) from 203.0.113.5"',
            T,
            (WebmailLogin("alice@example.com", "203.0.113.5"),),
        ),
        (
            '[28-Nov-2026 01:02:03] NOTICE: [pool www] child 9 said into stderr: "userlogins: '
            'Successful login for bob@example.com (ID: 7) from 2001:db8::5 in session abc"',
            T,
            (WebmailLogin("bob@example.com", "2001:db8::5"),),
        ),
    ],
)
def test_roundcube(text: str, t: int, records: tuple[Record, ...]) -> None:
    res = P.parse(text)
    assert (res.status, res.program, res.time, res.records) == ("ok", "roundcube", t, records)


@pytest.mark.parametrize(
    "text",
    [
        "[28-Nov-2026 01:02:03 +0000]: <k3j4h5g6> Failed login for alice@example.com from "
        "203.0.113.5 in session k3j4h5g6 (error: 0)",
        "[28-Nov-2026 01:02:03 +0000]: PHP Warning: something in program/lib/x.php on line 3",
        '[28-Nov-2026 01:02:03] WARNING: [pool www] child 8 said into stdout: "errors: [28-Nov'
        '-2026 01:02:03 +0000]: DB Error"',
        "2026-11-28T01:02:03.123456789Z userlogins: <k3j4h5g6> Failed login for "
        "alice@example.com from 203.0.113.5 in session k3j4h5g6 (error: 0)",
    ],
)
def test_roundcube_ignored(text: str) -> None:
    assert P.parse(text).status == "ignored"


def test_roundcube_lines_whose_time_cannot_be_known_are_not_counted() -> None:
    # plain "docker logs" (no -t): the official image's stdout has no stamp
    res = P.parse(
        "userlogins: <k3j4h5g6> Successful login for alice@example.com (ID: 12) from "
        "203.0.113.5 in session k3j4h5g6"
    )
    assert (res.status, res.records) == ("unknown", ())
    # another container's CRI line is still nobody's
    assert P.parse("2026-11-28T01:02:03.1Z stdout F GET /index.html 200").status == "unknown"


# -- programs that never count --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "program"),
    [
        ("Nov 28 01:02:03 mx opendkim[55]: 4ABC12345D: DKIM verification successful", "opendkim"),
        ("Nov 28 01:02:03 mx opendmarc[56]: 4ABC12345D: example.org pass", "opendmarc"),
        (
            "Nov 28 01:02:03 mx policyd-spf[57]: prepend Received-SPF: Pass (mailfrom) "
            "identity=mailfrom; client-ip=198.51.100.7",
            "policyd-spf",
        ),
        (
            "Nov 28 01:02:03 mx postgrey[58]: action=greylist, reason=new, "
            "client_name=mail.other.org, sender=a@other.org, recipient=bob@example.com",
            "postgrey",
        ),
        (
            "Nov 28 01:02:03 mx postfix/postscreen[59]: PASS OLD [198.51.100.7]:4711",
            "postfix/postscreen",
        ),
        (
            "Nov 28 01:02:03 mx postfix/postsuper[60]: Deleted: 3 messages",
            "postfix/postsuper",
        ),
        (
            "Nov 28 01:02:03 mx postfix/postsuper[60]: 4ABC12345D: placed on hold",
            "postfix/postsuper",
        ),
        (
            "Nov 28 01:02:03 mx postfix/postsuper[60]: Requeued: 1 message",
            "postfix/postsuper",
        ),
        (
            "Nov 28 01:02:03 mx postfix/qmgr[61]: 4ABC12345D: sender delay notification: "
            "5BCD23456E",
            "postfix/qmgr",
        ),
    ],
)
def test_lines_of_programs_that_never_count_are_ignored(text: str, program: str) -> None:
    res = P.parse(text)
    assert (res.status, res.program, res.records) == ("ignored", program, ())
    assert tallied(program) == (program != "postfix/qmgr")


# -- rspamd --------------------------------------------------------------------------------

RSPAMD = (
    "rspamd_task_write_log: id: <m1@example.org>, qid: <4F2A1B2C3D>, ip: 203.0.113.9, "
    "from: <s@example.org>, (default: {flag} ({action}): [{score}/15.00] "
    "[BAYES_HAM(-3.00){{99%;}}]), "
    "len: 2345, time: 120.5ms, dns req: 18, digest: <0a1b2c>, rcpts: <bob@example.com>"
)


@pytest.mark.parametrize(
    ("flag", "action", "verdict"),
    [
        ("F", "no action", "ham"),
        ("F", "greylist", "ham"),
        ("T", "add header", "spam"),
        ("T", "rewrite subject", "spam"),
        ("T", "reject", "reject"),
        ("F", "soft reject", "tempfail"),
        ("T", "custom action", "spam"),
        ("S", "custom action", "ham"),
    ],
)
def test_rspamd_own_file_and_syslog(flag: str, action: str, verdict: str) -> None:
    body = RSPAMD.format(flag=flag, action=action, score="7.20")
    expected = (SpamVerdict("4F2A1B2C3D", verdict, "rspamd"),)  # type: ignore[arg-type]
    for text in (
        f"2026-11-28 01:02:03 #12345(normal) <ed2abb>; task; {body}",
        f"2026-11-28 01:02:03.123 #12345(rspamd_proxy) <ed2abb>; proxy; {body}",
        f"Nov 28 01:02:03 mail rspamd[12345]: <ed2abb>; task; {body}",
    ):
        res = P.parse(text)
        assert (res.status, res.program, res.time, res.records) == ("ok", "rspamd", T, expected)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-28 01:02:03 #12345(normal) <ed2abb>; task; accept_socket: accepted connection "
        "from ::1",
        "2026-11-28 01:02:03 #12345(normal) <ed2abb>; task; rspamd_task_write_log: id: <m@x>, "
        "ip: 127.0.0.1, (default: F (no action): [0.00/15.00] []), len: 10",
        "Nov 28 01:02:03 mail rspamd[1]: <ed2abb>; lua; greylist.lua:300: greylisted until ...",
    ],
)
def test_rspamd_ignored(text: str) -> None:
    assert P.parse(text).status == "ignored"


def test_rspamd_unreadable_verdict() -> None:
    text = (
        "Nov 28 01:02:03 mail rspamd[1]: <e>; task; rspamd_task_write_log: qid: <4F2A1B2C3D>, "
        "nothing"
    )
    assert P.parse(text).status == "unknown"


# rspamd 3.8+ `logging { json = true; }` (logger.c rspamd_log_fill_iov; logger_syslog.c
# from 3.8.2): one JSON object a line, the task line's text in "message".

RSPAMD_TASK = (
    "id: <m1@example.org>, qid: <4F2A1B2C3D>, ip: 203.0.113.9, from: <s@example.org>, "
    "(default: T (add header): [7.20/15.00] [BAYES_SPAM(5.10){99%;}]), len: 2345, "
    "time: 120.5ms, dns req: 18, digest: <0a1b2c>, rcpts: <bob@example.com>"
)


def rspamd_json(message: str = RSPAMD_TASK, function: str = "rspamd_task_write_log") -> str:
    """A line of rspamd's own JSON log (``message`` already escaped)."""
    return (
        '{"ts": 1795827723.12345, "pid": 12345, "severity": "notice", "worker_type": '
        f'"normal", "id": "ed2abb", "module": "task", "function": "{function}", '
        f'"message": "{message}"}}'
    )


RSPAMD_SPAM = (SpamVerdict("4F2A1B2C3D", "spam", "rspamd"),)


@pytest.mark.parametrize(
    ("line", "records"),
    [
        (rspamd_json(), RSPAMD_SPAM),
        # whole seconds (logger_syslog.c's %ld), and through syslog
        (rspamd_json().replace("1795827723.12345", "1795827723"), RSPAMD_SPAM),
        (f"Nov 28 01:02:03 mail rspamd[12345]: {rspamd_json()}", RSPAMD_SPAM),
        (f"2026-11-28T01:02:03+00:00 mail rspamd[12345]: {rspamd_json()}", RSPAMD_SPAM),
        # rspamd's escapes: '"' and '\' (a control byte was written \xHH before them)
        (
            rspamd_json(
                RSPAMD_TASK.replace("<s@example.org>", '<\\"s x\\"@example.org>')
                + ", subject: a\\\\x09b"
            ),
            RSPAMD_SPAM,
        ),
        # a shipper's escapes: \/ \uXXXX \n; an escaped queue id is read decoded
        (
            rspamd_json(
                RSPAMD_TASK.replace("qid: <4F2A1B2C3D>", "qid: <4F2A\\u0031B2C3D>").replace(
                    "ip: 203.0.113.9", "ip: 2001:db8::\\/64\\n\\t\\r\\b\\f"
                )
            ),
            (SpamVerdict("4F2A1B2C3D", "spam", "rspamd"),),
        ),
        # non-ASCII, raw or escaped beyond ASCII (the compiled parser leaves both to Python)
        (rspamd_json(RSPAMD_TASK.replace("s@example.org", "jörg@example.org")), RSPAMD_SPAM),
        (
            rspamd_json(RSPAMD_TASK.replace("s@example.org", "j\\u00f6rg\\ud83d\\ude00@x")),
            RSPAMD_SPAM,
        ),
        # members in another order, without spaces, a key escaped, more members
        (
            '{"message":"' + RSPAMD_TASK + '","function":"rspamd_task_write_lo\\u0067",'
            '"ts":1795827723.5,"id":"ed2abb","worker_type":"normal","pid":1,"x":null,'
            '"y":true,"z":-1.5e3}',
            RSPAMD_SPAM,
        ),
        (
            '{ "ts" : 1795827723 ,\t"worker_type" : "normal" , "function" : '
            '"rspamd_task_write_log" , "message" : "' + RSPAMD_TASK + '" }  ',
            RSPAMD_SPAM,
        ),
        # a key twice: the last value holds
        (
            rspamd_json().replace(
                '"function": "rspamd_task_write_log"',
                '"function": "x", "function": "rspamd_task_write_log"',
            ),
            RSPAMD_SPAM,
        ),
        # cut inside the message after the action (syslog's size limit), inside an escape
        (rspamd_json()[: rspamd_json().index(", len:")], RSPAMD_SPAM),
        (rspamd_json()[: rspamd_json().index(", len:")] + ", \\", RSPAMD_SPAM),
        (rspamd_json()[: rspamd_json().index(", len:")] + ", \\u00", RSPAMD_SPAM),
    ],
)
def test_rspamd_json(line: str, records: tuple[Record, ...]) -> None:
    res = P.parse(line)
    assert (res.status, res.program, res.time, res.records) == ("ok", "rspamd", T, records)


@pytest.mark.parametrize(
    ("line", "status", "program", "family"),
    [
        # other rspamd lines, of any function: understood, nothing to count
        (
            rspamd_json("accepted connection from 127.0.0.1 port 40000", "accept_socket"),
            "ignored",
            "rspamd",
            "",
        ),
        (
            f"Nov 28 01:02:03 mail rspamd[1]: {rspamd_json('lua cache loaded', 'rspamd_map')}",
            "ignored",
            "rspamd",
            "",
        ),
        # a task line without a queue id (rspamc), or cut before it
        (rspamd_json(RSPAMD_TASK.replace("qid: <4F2A1B2C3D>, ", "")), "ignored", "rspamd", ""),
        (rspamd_json()[: rspamd_json().index('"message"')], "ignored", "rspamd", ""),
        (rspamd_json()[: rspamd_json().index("qid:")], "ignored", "rspamd", ""),
        # cut after the queue id, before the action: the verdict is not understood
        (rspamd_json()[: rspamd_json().index("(default")], "unknown", "rspamd", "rspamd verdict"),
        # a "ts" that is no time: the verdict is not understood
        (rspamd_json().replace("1795827723.12345", "-1"), "unknown", "rspamd", ""),
        (rspamd_json().replace("1795827723.12345", "1.7e9"), "unknown", "rspamd", ""),
        (rspamd_json().replace("1795827723.12345", "253402300800"), "unknown", "rspamd", ""),
        # JSON that is not rspamd's, or no JSON object: not understood
        ('{"ts": 1795827723, "msg": "hello"}', "unknown", "", ""),
        (rspamd_json().replace('"ts": 1795827723.12345', '"ts": "1795827723"'), "unknown", "", ""),
        (rspamd_json().replace('"id": "ed2abb"', '"id": {"a": 1}'), "unknown", "", ""),
        (rspamd_json() + " trailing", "unknown", "", ""),
        (rspamd_json().replace("qid:", "q\\xid:"), "unknown", "", ""),
        (rspamd_json().replace('", "module"', '" "module"'), "unknown", "", ""),
        (rspamd_json()[: rspamd_json().index('"function"')], "unknown", "", ""),
        ("{", "unknown", "", ""),
        ("{}", "unknown", "", ""),
        # through syslog a message that is no rspamd JSON object is read as text
        (
            "Nov 28 01:02:03 mail rspamd[1]: {not json} rspamd_task_write_log: qid: <4F2A>, "
            "(default: T (reject): [1/2] [])",
            "ok",
            "rspamd",
            "",
        ),
        ("Nov 28 01:02:03 mail rspamd[1]: {}", "ignored", "rspamd", ""),
    ],
)
def test_rspamd_json_not_counted(line: str, status: str, program: str, family: str) -> None:
    res = P.parse(line)
    assert (res.status, res.program, res.family) == (status, program, family)


_JSON_PIECES = [
    "{", "}", "[", "]", ",", ":", " ", "\t", "\n", '"', '"ts"', '"message"', '"function"',
    '"a\\"b"', '"\\\\"', '"\\/x"', '"\\n\\t\\b\\f\\r"', '"\\x"', '"é"', '"\x01"',
    "1", "-1", "0", "01", "1.5", "1.", "1e5", "-2.5E-3", "1e", "-", "true", "false", "null",
    "tru", "NaN", "Infinity", "x",
]  # fmt: skip
_json_texts = st.lists(st.sampled_from(_JSON_PIECES), max_size=30).map(lambda p: "{" + "".join(p))


def _typed(members: dict[str, str] | None) -> object:
    return None if members is None else {k: (type(v), v) for k, v in members.items()}


_scalars = st.one_of(
    st.text(max_size=8),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)


@st.composite
def _json_objects(draw: st.DrawFn) -> str:
    """A flat object as a shipper would write it, maybe cut short."""
    members = draw(st.dictionaries(st.text(max_size=6), _scalars, max_size=6))
    sep = draw(st.sampled_from([(", ", ": "), (",", ":"), (" ,\t", " : ")]))
    text = json.dumps(members, ensure_ascii=draw(st.booleans()), separators=sep)
    return text[: draw(st.integers(1, len(text)))] if draw(st.booleans()) else text


@given(_json_texts | _json_objects())
def test_json_loads_reads_a_whole_object_as_the_scanner_does(text: str) -> None:
    """rspamd.json_members takes json.loads's answer for a whole object: the scanner
    (the C twin's rule) must give the same members, types included."""
    from mailtally.ingest.parsers import rspamd

    assert _typed(rspamd.json_members(text)) == _typed(rspamd._scan(text)), text


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "b": "x", "c": true, "d": false, "e": null, "f": -1.5e3}',
        '{"a": "\\"\\\\\\/\\b\\f\\n\\r\\t", "a": 2}',
        '{"a": {"b": 1}}',
        '{"a": [1]}',
        '{"a": 01}',
        '{"a": NaN}',
        '{"a": "x\x01y"}',
        "{ }  ",
        '{"a": 1} x',
    ],
)
def test_json_loads_and_the_scanner_agree_on(text: str) -> None:
    from mailtally.ingest.parsers import rspamd

    assert _typed(rspamd.json_members(text)) == _typed(rspamd._scan(text)), text


def test_a_brace_line_that_is_no_rspamd_json_is_read_as_before() -> None:
    """``{`` and ``}`` may begin an address (RFC 5322 atext): a quota report row of
    such a user is no JSON, and is read as any row is."""
    res = P.parse("{x}@example.com\tUser quota\tSTORAGE\t10\t-\t0")
    assert (res.status, res.program) == ("ok", "doveadm")
    assert res.records == (QuotaRow("{x}@example.com", "User quota", "STORAGE", 10240),)


# -- amavis ---------------------------------------------------------------------------------

AMAVIS = "Nov 28 01:02:03 mail amavis[2716]: (02716-07) "


@pytest.mark.parametrize(
    ("msg", "records"),
    [
        (
            "Passed CLEAN {RelayedInbound}, [203.0.113.9]:41234 [203.0.113.9] <s@example.org> -> "
            "<bob@example.com>, Queue-ID: 4ABC12345D, Message-ID: <m@example.org>, mail_id: "
            "X1y2Z3, "
            "Hits: -1.9, size: 2345, queued_as: 4DEF67890A, 420 ms",
            (
                SpamVerdict("4ABC12345D", "ham", "amavis"),
                Reinjected("4ABC12345D", "4DEF67890A"),
                SpamVerdict("4DEF67890A", "ham", "amavis"),
            ),
        ),
        (
            "Passed SPAM {RelayedTaggedInbound}, [203.0.113.9]:41234 [203.0.113.9] <s@example.org> "
            "-> "
            "<bob@example.com>, Queue-ID: 4Xk3Lq2Z9bz9rxG, Message-ID: <m@example.org>, mail_id: "
            "X, "
            "Hits: 9.1, size: 2345, queued_as: 4Xk3Lq2Z9bz9rxH, 420 ms",
            (
                SpamVerdict("4Xk3Lq2Z9bz9rxG", "spam", "amavis"),
                Reinjected("4Xk3Lq2Z9bz9rxG", "4Xk3Lq2Z9bz9rxH"),
                SpamVerdict("4Xk3Lq2Z9bz9rxH", "spam", "amavis"),
            ),
        ),
        (
            "Passed SPAMMY, [127.0.0.1] [203.0.113.9] <s@example.org> -> <bob@example.com>, "
            "Message-ID: <m@example.org>, Hits: 6.1, queued_as: 4DEF67890A, 420 ms",
            (SpamVerdict("4DEF67890A", "spam", "amavis"),),
        ),
        (
            "Passed BAD-HEADER-0 {RelayedInbound}, [203.0.113.9] <s@example.org> -> "
            "<bob@example.com>, "
            "Queue-ID: 4ABC12345D, Hits: 0.1, size: 10, queued_as: 4DEF67890A, 20 ms",
            (
                SpamVerdict("4ABC12345D", "ham", "amavis"),
                Reinjected("4ABC12345D", "4DEF67890A"),
                SpamVerdict("4DEF67890A", "ham", "amavis"),
            ),
        ),
        (
            "Blocked SPAM {DiscardedInbound,Quarantined}, [203.0.113.9]:41234 [203.0.113.9] "
            "<s@example.org> -> <bob@example.com>,<carol@example.com>, quarantine: spam-AbC.gz, "
            "Queue-ID: 4ABC12345D, Message-ID: <m@example.org>, mail_id: AbC, Hits: 25.1, size: "
            "2345, "
            "300 ms",
            (
                FilterBlocked(
                    "4ABC12345D",
                    ("bob@example.com", "carol@example.com"),
                    "SPAM",
                    ("DiscardedInbound", "Quarantined"),
                ),
            ),
        ),
        (
            "Blocked INFECTED (Eicar-Signature) {DiscardedInbound,Quarantined}, [203.0.113.9] "
            "<> -> <bob@example.com>, quarantine: virus-x, Queue-ID: 4ABC12345D, 30 ms",
            (
                FilterBlocked(
                    "4ABC12345D",
                    ("bob@example.com",),
                    "INFECTED",
                    ("DiscardedInbound", "Quarantined"),
                ),
            ),
        ),
        (
            "Blocked SPAM {BouncedInbound}, [203.0.113.9] <s@example.org> -> <bob@example.com>, "
            "Queue-ID: 4ABC12345D, Message-ID: <m@example.org>, mail_id: AbC, Hits: 25.1, 300 ms",
            (FilterBlocked("4ABC12345D", ("bob@example.com",), "SPAM", ("BouncedInbound",)),),
        ),
        # amavisd-new 2.13 $log_short_templ: one queue id per distinct re-injection, "/"
        (
            "Passed SPAM {RelayedTaggedInbound}, [203.0.113.9] <s@example.org> -> "
            "<bob@example.com>,<carol@example.com>,<dan@example.com>, Queue-ID: 4ABC12345D, "
            "Hits: 9.1, size: 2345, queued_as: 4DEF67890A/4Xk3Lq2Z9bz9rxH/4DEF67890C, 420 ms",
            (
                SpamVerdict("4ABC12345D", "spam", "amavis"),
                Reinjected("4ABC12345D", "4DEF67890A"),
                SpamVerdict("4DEF67890A", "spam", "amavis"),
                Reinjected("4ABC12345D", "4Xk3Lq2Z9bz9rxH"),
                SpamVerdict("4Xk3Lq2Z9bz9rxH", "spam", "amavis"),
                Reinjected("4ABC12345D", "4DEF67890C"),
                SpamVerdict("4DEF67890C", "spam", "amavis"),
            ),
        ),
        # a response without "queued as" is written whole: its first word is read (as
        # before), and it ends the list
        (
            "Passed CLEAN {RelayedInbound}, [203.0.113.9] <s@example.org> -> <bob@example.com>,"
            "<carol@example.com>, Queue-ID: 4ABC12345D, Hits: 1, size: 2345, queued_as: "
            "4DEF67890A/250 2.0.0 Ok, id=01234-05/4DEF67890C, 420 ms",
            (
                SpamVerdict("4ABC12345D", "ham", "amavis"),
                Reinjected("4ABC12345D", "4DEF67890A"),
                SpamVerdict("4DEF67890A", "ham", "amavis"),
                Reinjected("4ABC12345D", "250"),
                SpamVerdict("250", "ham", "amavis"),
            ),
        ),
        # the id of the message itself is no re-injection; the 64 ids of MAX_QUEUED_AS
        (
            "Passed CLEAN, [203.0.113.9] <s@example.org> -> <bob@example.com>, Queue-ID: "
            "4ABC12345D, Hits: 1, queued_as: 4ABC12345D/4DEF67890A, 1 ms",
            (
                SpamVerdict("4ABC12345D", "ham", "amavis"),
                SpamVerdict("4ABC12345D", "ham", "amavis"),
                Reinjected("4ABC12345D", "4DEF67890A"),
                SpamVerdict("4DEF67890A", "ham", "amavis"),
            ),
        ),
        (
            "Passed CLEAN, [203.0.113.9] <s@example.org> -> <bob@example.com>, Hits: 1, "
            "queued_as: " + "/".join(f"4D{i:08d}" for i in range(64)) + ", 1 ms",
            tuple(SpamVerdict(f"4D{i:08d}", "ham", "amavis") for i in range(64)),
        ),
        (
            # amavisd-new 2.6: no disposition flags, but a quarantine location
            "Blocked SPAM, [203.0.113.9] <s@example.org> -> <bob@example.com>, quarantine: "
            "spam-AbC.gz, Queue-ID: 4ABC12345D, Message-ID: <m@example.org>, Hits: 25.1, 300 ms",
            (FilterBlocked("4ABC12345D", ("bob@example.com",), "SPAM", ("Quarantined",)),),
        ),
    ],
)
def test_amavis(msg: str, records: tuple[Record, ...]) -> None:
    res = P.parse(AMAVIS + msg)
    assert (res.status, res.program, res.time, res.records) == ("ok", "amavis", T, records)


def test_amavis_split_line_waits_for_its_rest() -> None:
    """amavis splits a line at $logline_maxlen (980) with "...": such a line is the first
    piece of an entry, read when its rest comes (tests/test_amavis_split.py); text that
    ends so, given to parse_amavis alone, leaves the word cut there out."""
    msg = (
        "Passed CLEAN {RelayedInbound}, [203.0.113.9] <s@example.org> -> <bob@example.com>,"
        "<carol@example.com>, Queue-ID: 4ABC12345D, Hits: 1, size: 2345, queued_as: "
        "4DEF67890A/4DEF6..."
    )
    res = LineParser(reference=REF).parse(AMAVIS + msg)
    assert (res.status, res.program, res.records) == ("ignored", "amavis", ())
    assert parse_amavis("(02716-07) " + msg) == (
        SpamVerdict("4ABC12345D", "ham", "amavis"),
        Reinjected("4ABC12345D", "4DEF67890A"),
        SpamVerdict("4DEF67890A", "ham", "amavis"),
    )


@pytest.mark.parametrize(
    "text",
    [
        "Nov 28 01:02:03 mail amavis[2716]: (02716-07) Checking: ZAqZ9zH [203.0.113.9] <s@x> -> "
        "<b@y>",
        "Nov 28 01:02:03 mail amavis[2716]: starting.  /usr/sbin/amavisd at mail "
        "amavisd-new-2.13.0",
        "Nov 28 01:02:03 mail /usr/sbin/amavisd[2716]: (02716-07) Passed CLEAN, [127.0.0.1] <s@x> "
        "-> "
        "<b@y>, Hits: -, 20 ms",
    ],
)
def test_amavis_ignored(text: str) -> None:
    res = P.parse(text)
    assert res.status == "ignored" and res.program == "amavis"


# -- quota ----------------------------------------------------------------------------------


def test_quota_rows() -> None:
    rows = [
        ("Username\tQuota name\tType\tValue\tLimit\t%", (QuotaHeader(),)),
        (
            "alice@example.com\tUser quota\tSTORAGE\t10240\t1048576\t0\n",
            (QuotaRow("alice@example.com", "User quota", "STORAGE", 10485760),),
        ),
        (
            "alice@example.com\tUser quota\tMESSAGE\t42\t-\t0",
            (QuotaRow("alice@example.com", "User quota", "MESSAGE", 42),),
        ),
        (
            "bob@example.com\tUser quota\tSTORAGE\t-\t-\t0",
            (QuotaRow("bob@example.com", "User quota", "STORAGE", 0),),
        ),
    ]
    for text, records in rows:
        res = P.parse(text)
        assert (res.status, res.program, res.time, res.records) == ("ok", "doveadm", REF, records)
    assert P.parse("bob@example.com\tUser quota\tSTORAGE\tlots\t-\t0").status == "unknown"
    # a broken number: counting it would overflow the sums
    assert P.parse(f"bob@example.com\tUser quota\tSTORAGE\t{'9' * 25}\t-\t0").status == "unknown"
    assert P.parse(f"bob@example.com\tUser quota\tMESSAGE\t{'9' * 25}\t-\t0").status == "unknown"
    assert P.parse("a\tb").status == "unknown"


# -- stamps ---------------------------------------------------------------------------------


def utc(*args: int) -> int:
    return calendar.timegm((*args, 0, 0, 0)[:6])


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("Nov 28 01:02:03", utc(2026, 11, 28, 1, 2, 3)),
        ("Nov  3 04:05:06", utc(2026, 11, 3, 4, 5, 6)),
        ("Nov 03 04:05:06", utc(2026, 11, 3, 4, 5, 6)),
        ("Nov 3 04:05:06", utc(2026, 11, 3, 4, 5, 6)),
        ("Nov 28 23:30:00", utc(2026, 11, 28, 23, 30, 0)),  # within the slack of the reference
        ("Nov 29 03:00:00", utc(2025, 11, 29, 3, 0, 0)),  # after the reference: last year
        ("Dec 31 23:59:59", utc(2025, 12, 31, 23, 59, 59)),
        ("Jan  1 00:00:00", utc(2026, 1, 1, 0, 0, 0)),
        ("Feb 29 12:00:00", utc(2024, 2, 29, 12, 0, 0)),
        ("Feb 30 12:00:00", None),
        ("Foo 28 01:02:03", None),
        ("Nov 28 25:02:03", None),
        ("Nov 28 01:61:03", None),
    ],
)
def test_syslog_year_inference(stamp: str, expected: int | None) -> None:
    assert StampParser(REF).syslog(stamp) == expected


def test_syslog_new_year() -> None:
    # A file written on 1 January holds December's lines of the year before.
    sp = StampParser(utc(2027, 1, 1, 0, 10, 0))
    assert sp.syslog("Dec 31 23:59:00") == utc(2026, 12, 31, 23, 59, 0)
    assert sp.syslog("Jan  1 00:05:00") == utc(2027, 1, 1, 0, 5, 0)
    # …and a file written on 31 December may end with a line just past midnight.
    sp = StampParser(utc(2026, 12, 31, 23, 59, 50))
    assert sp.syslog("Jan  1 00:00:10") == utc(2027, 1, 1, 0, 0, 10)


def test_syslog_in_a_zone() -> None:
    sp = StampParser(REF, "Europe/Berlin")
    assert sp.syslog("Nov 28 02:02:03") == T  # CET = UTC+1
    assert sp.syslog("Jul  1 12:00:00") == utc(2026, 7, 1, 10, 0, 0)  # CEST = UTC+2
    ny = StampParser(REF, "America/New_York")
    # The repeated hour of the fall-back takes its first (daylight) occurrence.
    assert ny.syslog("Nov  1 01:30:00") == utc(2026, 11, 1, 5, 30, 0)
    lh = StampParser(REF, "Australia/Lord_Howe")  # a half-hour DST shift inside an hour
    assert lh.syslog("Apr  5 01:15:00") == utc(2026, 4, 4, 14, 15, 0)
    assert lh.syslog("Apr  5 01:45:00") is not None


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-11-28T01:02:03.123456+00:00", T),
        ("2026-11-28T01:02:03Z", T),
        ("2026-11-28t01:02:03z", T),
        ("2026-11-28T01:02:03+0000", T),
        ("2026-11-27T20:02:03-05:00", T),
        ("2026-11-28T06:32:03+05:30", T),
        ("2026-11-28 01:02:03", T),  # no offset: the deployment zone (UTC here)
        ("2026-11-28 01:02:03.5", T),
        ("2026-13-28T01:02:03Z", None),
        ("2026-11-28T01:02:03+99:00", None),
        ("2026-11-28T01:02:03 junk", None),
        ("2026-11-28", None),
    ],
)
def test_rfc3339(stamp: str, expected: int | None) -> None:
    assert StampParser(REF).rfc3339(stamp) == expected


def test_rfc3339_without_offset_in_a_zone() -> None:
    assert StampParser(REF, "Europe/Berlin").rfc3339("2026-11-28T02:02:03") == T


def test_roundcube_stamps() -> None:
    sp = StampParser(REF)
    assert sp.roundcube("28-Nov-2026 01:02:03 +0000") == T
    assert sp.roundcube("28-Nov-2026 02:02:03 +0100") == T
    assert sp.roundcube("28-Nov-2026 02:02:03 Europe/Berlin") == T
    assert sp.roundcube("28-Nov-2026 01:02:03") == T
    assert sp.roundcube("2026-11-28 01:02:03 +0000") == T
    assert sp.roundcube("28-Nov-2026 01:02:03 Not/AZone") is None
    assert sp.roundcube("28-Foo-2026 01:02:03 +0000") is None


def test_a_stamp_is_read_alike_whatever_line_came_before() -> None:
    """A one-digit second is no stamp, even right after a stamp of the same minute
    (the per-minute cache once answered for it)."""
    sp = StampParser(REF)
    assert sp.rfc3339("2026-11-28T01:02:03") == T
    assert sp.rfc3339("2026-11-28T01:02:5") is None
    assert StampParser(REF).rfc3339("2026-11-28T01:02:5") is None


def test_a_roundcube_date_no_calendar_has_is_no_stamp() -> None:
    sp = StampParser(REF)
    assert sp.roundcube(f"28-Nov-{'9' * 20} 01:02:03 Europe/Berlin") is None
    parser = LineParser(REF)
    line = f"[28-Nov-{'9' * 20} 01:02:03 Europe/Berlin]: <x> Successful login for bob (ID: 1)"
    assert parser.parse(line).status != "ok"
    assert parser.errors == 0


def test_reference_defaults_to_now() -> None:
    sp = StampParser()
    assert abs(sp.reference - time.time()) < 5
    mtime = os.stat(__file__).st_mtime
    assert StampParser(mtime).reference == int(mtime)


# -- split_syslog ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "Nov 28 01:02:03 mail postfix/submission/smtpd[1234]: 4ABC: client=x[1.2.3.4]\n",
            (T, "mail", "postfix/submission/smtpd", 1234, "4ABC: client=x[1.2.3.4]"),
        ),
        (
            "Nov 28 01:02:03 mail dovecot: imap-login: Login: user=<a>",
            (T, "mail", "dovecot", None, "imap-login: Login: user=<a>"),
        ),
        (
            "2026-11-28T01:02:03.123456+00:00 mx1 postfix-out/smtp[9]: hello",
            (T, "mx1", "postfix-out/smtp", 9, "hello"),
        ),
        (
            "Nov 28 01:02:03 imap-login: Info: Login: user=<a>",
            (T, "", "imap-login", None, "Info: Login: user=<a>"),
        ),
        (
            "Nov 28 01:02:03 mail last message repeated 3 times",
            (T, "mail", "", None, "last message repeated 3 times"),
        ),
        ("not a log line at all", None),
        ("", None),
    ],
)
def test_split_syslog(line: str, expected: tuple[object, ...] | None) -> None:
    got = split_syslog(line, StampParser(REF))
    assert (None if got is None else tuple(got)) == expected


def test_lines_without_a_header() -> None:
    assert P.parse("").status == "ignored"
    assert P.parse("   \n").status == "ignored"
    res = P.parse("hello world, this is not a log line")
    assert (res.status, res.program) == ("unknown", "")
    res = P.parse("Nov 28 01:02:03 mail sshd[22]: Accepted publickey for root")
    assert (res.status, res.program) == ("unknown", "sshd")
    res = P.parse("Nov 28 99:02:03 mail dovecot: imap-login: Login: user=<a>, rip=1.2.3.4")
    assert res.status == "unknown"  # a line understood but with an unreadable stamp


_iso_stamps = st.builds(
    "{:04d}-{:02d}-{:02d}{}{:02d}:{:02d}:{:02d}{}{}".format,
    # few minutes, so that consecutive stamps often share one (the cache's case),
    # around DST changes and with impossible dates and seconds
    st.sampled_from([2026]),
    st.sampled_from([2, 3, 10]),
    st.sampled_from([25, 29, 31]),
    st.sampled_from("Tt "),
    st.sampled_from([0, 2, 23]),
    st.sampled_from([0, 59]),
    st.integers(0, 61),
    st.sampled_from(["", ".", ".5", ",123456", ".0x"]),
    st.sampled_from(["", "Z", "+02:00", "-0530", "+01", "+2:00", "Q"]),
)


@given(st.lists(_iso_stamps, min_size=1, max_size=30), st.sampled_from(["UTC", "Europe/Amsterdam"]))
def test_rfc3339_cache_never_changes_an_answer(stamps: list[str], tz: str) -> None:
    """One parser reused (its per-minute cache warm) answers as a fresh one would."""
    warm = StampParser(tz=tz)
    for stamp in stamps:
        assert warm.rfc3339(stamp) == StampParser(tz=tz).rfc3339(stamp), stamp


# -- localised month names ([site] month_names) ----------------------------------------------

LOGIN = (
    " mx1 dovecot: imap-login: Login: user=<a@example.com>, method=PLAIN, rip=203.0.113.9, "
    "lip=10.0.0.1, mpid=1, TLS, session=<s1>"
)


@pytest.mark.parametrize(
    ("locale", "stamp", "month"),
    [
        # journalctl's "%b %d" under the locale: glibc's abmon, the day zero-padded
        ("de", "Mär 03 04:05:06", 3),
        ("de", "Mai 03 04:05:06", 5),
        ("de", "Okt 03 04:05:06", 10),
        ("de", "Dez 24 04:05:06", 12),
        ("de", "Okt  3 04:05:06", 10),  # space-padded, as syslog pads
        ("de", "Nov 03 04:05:06", 11),  # the English names stay understood
        ("de", "Oct 03 04:05:06", 10),
        ("fr", "déc. 03 04:05:06", 12),
        ("fr", "févr. 03 04:05:06", 2),
        ("fr", "juil. 14 04:05:06", 7),
        ("fr", "août 15 04:05:06", 8),
        ("fr", "mai 01 04:05:06", 5),
        ("es", "ene 07 04:05:06", 1),
        ("it", "ott 07 04:05:06", 10),
        ("nl", "mrt 07 04:05:06", 3),
        ("pl", "paź 07 04:05:06", 10),
        ("sv", "maj 07 04:05:06", 5),
        ("nb", "des. 07 04:05:06", 12),
        ("cs", "říj 07 04:05:06", 10),
        ("fi", "joulu 07 04:05:06", 12),
        ("ru", "дек 07 04:05:06", 12),
    ],
)
def test_localised_month_names(locale: str, stamp: str, month: int) -> None:
    day = int(stamp.split()[1])
    year = 2026 if (month, day) <= (11, 28) else 2025  # the latest not after REF
    want = calendar.timegm((year, month, day, 4, 5, 6))
    r = LineParser(reference=REF, months=month_table(locale)).parse(stamp + LOGIN)
    assert (r.status, r.time) == ("ok", want)
    # Without the setting a localised stamp is not understood: never guessed.
    bare = LineParser(reference=REF).parse(stamp + LOGIN)
    assert bare.status == ("ok" if stamp[:3] in MONTHS else "unknown")


def test_a_month_name_is_read_only_as_a_stamp() -> None:
    p = LineParser(reference=REF, months=month_table("de"))
    assert p.parse("Okt" + LOGIN).status == "unknown"  # no day and time after it
    assert p.parse("Oktober 03 04:05:06" + LOGIN).status == "unknown"
    assert p.parse("2026-10-03T04:05:06Z" + LOGIN).status == "ok"


# -- lines not understood name their family --------------------------------------------------

H = "Nov 28 01:02:03 mx1"
D = f"{H} dovecot:"  # (short names: one line each below)
PF = f"{H} postfix"


@pytest.mark.parametrize(
    ("line", "family"),
    [
        (
            f"{D} imap-login: Authenticated: user=<b@example.com>, rip=1.2.3.4",
            "dovecot login",
        ),
        (f"{D} pop3-login: Login: method=PLAIN, rip=1.2.3.4", "dovecot login"),
        (f"{D} lmtp(b@example.com): sieve: msgid=<m@x>: moved mail", "dovecot sieve"),
        (f"{D} lmtp(b@example.com): s9: sieve: msgid=<m@x>: moved mail", "dovecot sieve"),
        (
            f"{PF}/lmtp[1]: 1A0004: to=<b@example.com>, relay=mx1, no status",
            "postfix delivery",
        ),
        (f"{PF}/smtpd[1]: NOQUEUE: reject: RCPT from x[1.2.3.4]: nothing", "postfix reject"),
        (f"{PF}/smtpd[1]: NOQUEUE: reject-ish: something", "postfix reject"),
        (
            f"{PF}/smtpd[1]: proxy-reject: END-OF-MESSAGE: ; from=<a@b> to=<b@c>",
            "postfix reject",
        ),
        (f"{PF}/cleanup[1]: 1A0007: milter-reject: END-OF-MESSAGE from x", "postfix reject"),
        (f"{PF}/qmgr[1]: 1A0006: from=<a@b>, nrcpt=1 (queue active)", "postfix message"),
        (f"{PF}/smtpd[1]: 1A0008: client=nowhere", "postfix message"),
        (f"{PF}/qmgr[1]: 1A0009: something new", "postfix message"),
        (f"{H} amavis[3]: (12345-01) Passed, <a@b> -> <b@example.com>, Hits: -", "amavis verdict"),
        (
            f"{H} rspamd[9]: <ab>; task; rspamd_task_write_log: qid: <1A0005>, (new)",
            "rspamd verdict",
        ),
        (f"{H} rspamd[9]: <ab>; task; rspamd_task_write_log: qid: <1A0005", "rspamd verdict"),
        (
            f"{H} rspamd[9]: " + '{"function": "rspamd_task_write_log", "message": "qid: <1A0005'
            '>, (new)"}',
            "rspamd verdict",
        ),
        (
            f"{H} amavis[3]: (12345-01) Passed CLEAN, <a@b> -> <b@example.com>, Hits: 1, "
            "queued_as: " + "/".join(f"4D{i:08d}" for i in range(65)),
            "amavis verdict",
        ),
        (f"{H} roundcube: Successful login for b@example.com", "roundcube login"),
        (f"{H} pmg-smtp-filter[2]: 5F1C8A2B3D: SA score=high/5 time=1", "pmg verdict"),
        (f"{H} pmg-smtp-filter[2]: 5F1C8A2B3D: SA score=7/5.0.1 time=1", "pmg verdict"),
        (f"{H} pmg-smtp-filter[2]: 5F1C8A2B3D: accept mail to <b@example.com>", "pmg verdict"),
        (f"{H} roundcube: Successful login for b c from 1.2.3.4", "roundcube login"),
        # of no known family: the program names it
        (f"{H} someprogram[12]: something", ""),
        (f"{PF}/qmgr[1]: 1A0010: from=<{'a' * 400}@b>, size=1, nrcpt=1", ""),
    ],
)
def test_a_line_not_understood_names_its_family(line: str, family: str) -> None:
    r = P.parse(line)
    assert (r.status, r.family) == ("unknown", family)


# -- Proxmox Mail Gateway's filter ------------------------------------------------------------

PMG = "Nov 28 01:02:03 pmg pmg-smtp-filter[2146]: 5F1C8A2B3D4E6F70A81: "


@pytest.mark.parametrize(
    ("msg", "records"),
    [
        (
            "SA score=7/5 time=1.220 bayes=undefined autolearn=no hits=AWL(0.1),BAYES_99(3.5)",
            (SpamVerdict("5F1C8A2B3D4E6F70A81", "spam", "pmg"),),
        ),
        ("SA score=5/5 time=0.2", (SpamVerdict("5F1C8A2B3D4E6F70A81", "spam", "pmg"),)),
        ("SA score=4/5 time=0.2", (SpamVerdict("5F1C8A2B3D4E6F70A81", "ham", "pmg"),)),
        ("SA score=5/5.5 time=0.2", (SpamVerdict("5F1C8A2B3D4E6F70A81", "ham", "pmg"),)),
        ("SA score=6/5.50 time=0.2", (SpamVerdict("5F1C8A2B3D4E6F70A81", "spam", "pmg"),)),
        ("SA score=0/5.00", (SpamVerdict("5F1C8A2B3D4E6F70A81", "ham", "pmg"),)),
        (
            "accept mail to <bob@example.com> (4B7C9D2E1F) (rule: default-accept)",
            (Reinjected("5F1C8A2B3D4E6F70A81", "4B7C9D2E1F"),),
        ),
        ("new mail message-id=<m1@example.org>", ()),
        ("processing time: 1.4 seconds (1.2, 0.1, 0)", ()),
        ("block mail to <bob@example.com> (rule: Blacklist)", ()),
    ],
)
def test_pmg(msg: str, records: tuple[Record, ...]) -> None:
    r = P.parse(PMG + msg)
    assert (r.status, r.program, r.records) == (
        "ok" if records else "ignored",
        "pmg-smtp-filter",
        records,
    )
