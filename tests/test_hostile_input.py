"""Log lines written by an attacker (issue 7, "The log files are untrusted input too").

Anyone may write to syslog (``logger -t postfix/smtpd …``) and remote senders
choose Message-IDs and addresses.  Each test here is an input that stalled or
bloated the ingester before it was bounded: it must now cost time and memory in
proportion to its size, and both implementations (the Python reference and the
compiled twin) must still agree exactly.  The sizes are modest and the time
bounds generous (a loaded CI machine): each would take many times the bound
without the fix.
"""

from __future__ import annotations

import gc
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailtally.ingest import LineParser, ParseResult, join
from mailtally.ingest.join import (
    MAX_HELD_RECIPIENTS,
    MAX_HELD_TOTAL,
    VERDICT_DEPTH,
    VERDICT_VISITS,
)
from mailtally.ingest.join import Joiner as PyJoiner
from mailtally.ingest.parsers import (
    Delivery,
    QmgrFrom,
    QmgrRemoved,
    QuotaRow,
    SmtpdClient,
    SpamVerdict,
    amavis,
    postfix,
    rspamd,
)
from mailtally.ingest.stamps import MAX_ADDRESS

_fastlog = pytest.importorskip("mailtally.ingest._fastlog")
CJoiner = _fastlog.Joiner

JOINERS = [pytest.param(PyJoiner, id="python"), pytest.param(CJoiner, id="compiled")]


def ok(t: int, *records: Any) -> ParseResult:
    return ParseResult("ok", "test", t, tuple(records))


def timed(f: Callable[[], Any]) -> tuple[Any, float]:
    """f() and the seconds it took, without a pause of the collector in them (late in
    the whole suite, a full collection of its heap alone can take half a second)."""
    gc.disable()
    try:
        t0 = time.perf_counter()
        out = f()
        return out, time.perf_counter() - t0
    finally:
        gc.enable()


def same(c: Any, p: Any) -> None:
    assert c.state() == p.state()
    assert c.counters() == p.counters()


# -- the verdict walk -----------------------------------------------------------------------


def linked_ids(k: int) -> list[ParseResult]:
    """K queue ids, each continuing every other (smtpd ``orig_queue_id=``), all in flight."""
    qids = [f"Q{i:04X}" for i in range(k)]
    out = [ok(1, QmgrFrom(q, "s@x.org", 100, 1)) for q in qids]
    for b in qids:
        for a in qids:
            if a != b:
                out.append(ok(1, SmtpdClient(b, "203.0.113.9", None, None, a)))
    return out


def chain_lines(k: int) -> list[str]:
    """The same, as the log lines an attacker writes with ``logger``."""
    qids = [f"6{i:09X}" for i in range(k)]
    lines = []
    for b in qids:
        for a in qids:
            if a != b:
                lines.append(
                    f"Jan  5 10:00:01 mx postfix/smtpd[1]: {b}: client=x[203.0.113.9], "
                    f"orig_queue_id={a}"
                )
    lines.append(
        "Jan  5 10:00:02 mx rspamd[9]: <ab12cd>; task; rspamd_task_write_log: id: <m@x>, "
        f"qid: <{qids[0]}>, ip: 203.0.113.9, from: <s@x.org>, (default: T (add header): "
        "[8.10/15.00] [BAYES_SPAM(5.10){99.00%;}]), len: 1000, time: 90.1ms, dns req: 12"
    )
    return lines


@pytest.mark.parametrize("joiner", JOINERS)
def test_a_verdict_on_linked_ids_is_cheap(joiner) -> None:
    """K=14 ids linked to each other: (K-1)^8 = 8e8 steps before (24 s), now < 1 s."""
    j = joiner()
    for r in linked_ids(14):
        j.feed(r)
    _, took = timed(lambda: j.feed(ok(2, SpamVerdict("Q0000", "spam"))))
    assert took < 1.0
    assert all(m[1]["spam"] is True for m in j.state()["msgs"])


def test_a_verdict_on_many_linked_ids_is_bounded_and_the_same_in_both() -> None:
    """K=64 (would never finish before): the walk stops at VERDICT_VISITS messages."""
    c, p = CJoiner(), PyJoiner()
    rs = [*linked_ids(64), ok(2, SpamVerdict("Q0000", "spam"))]
    for r in rs:
        assert c.feed(r) == p.feed(r)
    same(c, p)
    spam = [q for q, m in p.state()["msgs"] if m["spam"]]
    assert 1 < len(spam) <= VERDICT_VISITS


def test_linked_ids_as_log_lines_through_the_compiled_scan() -> None:
    """The same input as lines, through scan() (the path of `mailtally ingest`)."""
    data = ("\n".join(chain_lines(14)) + "\n").encode()
    parser = LineParser(reference=1_736_100_000)
    p = PyJoiner()
    c = CJoiner()
    _, took_p = timed(lambda: [p.feed(parser.parse(line)) for line in chain_lines(14)])
    fast = _fastlog.Parser(LineParser(reference=1_736_100_000).stamps)
    _, took_c = timed(lambda: _fastlog.scan(fast, c, memoryview(data), {}, lambda _: None))
    assert took_p < 2.0 and took_c < 1.0
    same(c, p)
    assert p.state()["msgs"] and all(m[1]["spam"] for m in p.state()["msgs"])


def reference_walk(children: dict[str, list[str]], qid: str) -> set[str]:
    """What the walk without a visited set reached: every id within VERDICT_DEPTH links."""
    out = {qid}

    def walk(a: str, depth: int) -> None:
        if depth < VERDICT_DEPTH:
            for b in children.get(a, []):
                out.add(b)
                walk(b, depth + 1)

    walk(qid, 0)
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, 11), st.integers(0, 11)).filter(lambda e: e[0] != e[1]),
        max_size=30,
    ),
    st.integers(0, 11),
    st.booleans(),
)
def test_the_bounded_walk_reaches_what_the_unbounded_one_did(edges, start, spam) -> None:
    """Below the visit bound, the new walk marks exactly the messages the old one did."""
    children: dict[str, list[str]] = {}
    rs = [ok(1, QmgrFrom(f"Q{i}", "s@x.org", 10, 1)) for i in range(12)]
    for a, b in edges:
        rs.append(ok(1, SmtpdClient(f"Q{b}", "203.0.113.9", None, None, f"Q{a}")))
        if f"Q{b}" not in children.setdefault(f"Q{a}", []):
            children[f"Q{a}"].append(f"Q{b}")
    rs.append(ok(2, SpamVerdict(f"Q{start}", "spam" if spam else "ham")))
    c, p = CJoiner(), PyJoiner()
    for r in rs:
        assert c.feed(r) == p.feed(r)
    same(c, p)
    # a message linked as a child takes its parent's verdict at the link, so only
    # the messages the walk reached have one
    expect = reference_walk(children, f"Q{start}")
    marked = {q for q, m in p.state()["msgs"] if m["spam"] is not None}
    assert marked == expect


# -- the C tables' hash ----------------------------------------------------------------------


def test_the_c_tables_hash_is_keyed_per_process() -> None:
    """Keys that collide in one process do not in another: none can be precomputed."""
    import subprocess
    import sys

    code = (
        "from mailtally.ingest import _fastlog;"
        "print([_fastlog._table_hash(b'<%d@x>' % i) for i in range(4)])"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(3)
    }
    assert len(runs) == 3
    here = [_fastlog._table_hash(b"<%d@x>" % i) for i in range(4)]
    assert str(here) not in runs
    assert len(set(here)) == 4


def test_many_messages_in_flight_are_cheap_and_the_same_in_both() -> None:
    """50,000 in-flight messages with Message-IDs alike but for a counter: linear."""
    from mailtally.ingest.parsers import CleanupMessageId

    rs = [
        ok(1, CleanupMessageId(f"Q{i:06X}", f"<{i:016x}@attacker.example>")) for i in range(50_000)
    ]
    c = CJoiner()
    _, took = timed(lambda: [c.feed(r) for r in rs])
    assert took < 2.0
    p = PyJoiner()
    for r in rs[:2000]:
        p.feed(r)
    c2 = CJoiner()
    for r in rs[:2000]:
        c2.feed(r)
    same(c2, p)


# -- linear scanners in place of backtracking regexes ------------------------------------------

# The regexes they replace, to check that the scanners find what these found.
OLD_RCPTS = re.compile(r"<[^>]*> -> ((?:<[^>]*>,)*<[^>]*>)")
OLD_ACTION = re.compile(r"\(\w[\w-]*: ([TFS]) \(([^)]*)\)")
OLD_TO = re.compile(r"(?:^|(?<=[\s,;]))to=<")
#: an address's end past a quoted local part (session 15: postfix._close)
OLD_ADDRESS = re.compile(r'("(?:[^"\\]|\\[\s\S])*"[^>]*|(?!"(?:[^"\\]|\\[\s\S])*")[^>]*)>')
OLD_SESSION = re.compile(r"<[^>]*> (\S+) Saved")

# texts made of the pieces the regexes care about, so that matches are common
PIECES = [
    "<",
    ">",
    " -> ",
    ",",
    "<a>",
    "(",
    ")",
    "x",
    "é",
    "a-b",
    ": ",
    "T",
    "F",
    " (",
    "to=<",
    '"',
    "\\",
    ";",
    " ",
    "\t",
    "\u2003",
    " Saved",
    "S",
    "-",
]
texts = st.lists(st.sampled_from(PIECES), max_size=24).map("".join)


@settings(max_examples=3000, deadline=None)
@given(texts, st.integers(0, 5))
def test_the_scanners_find_what_the_regexes_found(text: str, pos: int) -> None:
    m = OLD_RCPTS.search(text, pos)
    assert amavis._rcpts(text, pos) == (m.group(1) if m else None)
    m = OLD_ACTION.search(text, pos)
    found = rspamd._action_at(text, pos)
    assert found == ((*m.groups(), m.start(2)) if m else None)
    tos = list(OLD_TO.finditer(text))
    m = OLD_ADDRESS.match(text, tos[0].end()) if len(tos) == 1 else None
    assert postfix._only_to(text, 0) == (m.group(1) if m else None)
    m = OLD_SESSION.search(text)
    assert join._session(text) == (m.group(1) if m else None)


N = 200_000
#: a line of each shape the audit found quadratic (12-33 s each before)
QUADRATIC_LINES = {
    "amavis recipients": "Jan  5 10:00:01 mx amavis[1]: (01234-05) Blocked SPAM {Quarantined}, "
    + "<" * N
    + "é",
    "amavis queued_as": "Jan  5 10:00:01 mx amavis[1]: (01234-05) Passed CLEAN {RelayedInbound}, "
    "Queue-ID: 4ABC, " + "queued_as: " * (N // 11) + "é",
    "rspamd action": "Jan  5 10:00:01 mx rspamd[9]: <ab>; task; rspamd_task_write_log: id: <m@x>, "
    "qid: <4ABC>, é " + "(x: T (" * (N // 7),
    "amavis queued_as list": "Jan  5 10:00:01 mx amavis[1]: (01234-05) Passed CLEAN "
    "{RelayedInbound}, Queue-ID: 4ABC, queued_as: " + "4B/" * (N // 3) + "é",
    "rspamd json escapes": '{"ts": 1, "worker_type": "é", "function": "rspamd_task_write_log", '
    '"message": "qid: <4ABC>, ' + '\\"(x: T (' * (N // 9),
    "rspamd json members": '{"ts": 1, "worker_type": "é", ' + '"a": "\\u0041", ' * (N // 15),
    "postfix reject to=<": "Jan  5 10:00:01 mx postfix/smtpd[1]: 4ABC: reject: RCPT from "
    "x[1.2.3.4]:"
    " 554 5.7.1 é; to=<" + " to=<" * (N // 5),
}


@pytest.mark.parametrize("name", list(QUADRATIC_LINES))
def test_a_long_line_of_a_quadratic_shape_parses_in_linear_time(name: str) -> None:
    line = QUADRATIC_LINES[name]
    parser = LineParser(reference=1_736_100_000)
    _, took = timed(lambda: parser.parse(line))
    assert took < 1.0, took


def test_a_long_lmtp_answer_is_searched_in_linear_time() -> None:
    text = "<" * N + "> x"
    _, took = timed(lambda: join._session(text))
    assert took < 0.5
    text = "<> " + "<> a" * (N // 4)
    _, took = timed(lambda: join._session(text))
    assert took < 0.5


# -- huge digit runs, crafted states: the two implementations agree ------------------------------

Z = "0" * 700  # leading zeros: a small value in more digits than MAX_DIGITS
D = "9" * 5000  # more digits than Python's int() takes by default
DIGIT_LINES = [
    f"[{Z}28-Nov-2026 01:02:03 +0000]: Successful login for a@x.org (ID: 1) from 1.2.3.4",
    f"[{'0' * 600}28-Nov-2026 01:02:03 +0000]: Successful login for a@x.org (ID: 1) from 1.2.3.4",
    f"[28-Nov-{D} 01:02:03 +0000]: Successful login for a@x.org (ID: 1) from 1.2.3.4",
    f"[28-Nov-2026 01:02:03.{D} +0000]: Successful login for a@x.org (ID: 1) from 1.2.3.4",
    f"Nov 28 01:02:03 mx postfix/smtpd[{D}]: 4ABC: client=x[1.2.3.4]:{D}",
    f"Nov 28 01:02:03 mx postfix/smtpd[1]: 4ABC: client=x[1.2.3.4]:{Z}25",
    "Nov 28 01:02:03 mx postfix/smtp[1]: 4ABC: to=<b@x.org>, relay=x[127.0.0.1]:"
    f"{D}, delay=1, dsn=2.0.0, status=sent (250 ok)",
    "Nov 28 01:02:03 mx postfix/smtp[1]: 4ABC: to=<b@x.org>, relay=x[127.0.0.1]:"
    f"{Z}10024, delay=1, dsn=2.0.0, status=sent (250 ok)",
    "Nov 28 01:02:03 mx postfix/smtp[1]: 4ABC: to=<b@x.org>, relay=x[127.0.0.1]:"
    f"{'0' * 600}10024, delay=1, dsn=2.0.0, status=sent (250 2.0.0 queued as 4DEF)",
    f"Nov 28 01:02:03 mx postfix/qmgr[1]: 4ABC: from=<a@x.org>, size={D}, nrcpt=1 (queue active)",
    f"Nov 28 01:02:03 mx postfix/pickup[1]: 4ABC: uid={D} from=<a>",
    f"Nov 28 01:02:03 mx postfix/pickup[1]: 4ABC: uid={Z}33 from=<a>",
    f"2026-11-28T01:02:03.{D}+00:00 mx postfix/qmgr[1]: 4ABC: removed",
    f"a@x.org\tUser quota\tSTORAGE\t{D}\t-\t0",
    # Message-IDs at and over MAX_MESSAGE_ID characters (non-ASCII: more bytes than that)
    f"Nov 28 01:02:03 mx postfix/cleanup[1]: 4ABC: message-id=<{'m' * 998}>",
    f"Nov 28 01:02:03 mx postfix/cleanup[1]: 4ABC: message-id=<{'m' * 999}>",
    f"Nov 28 01:02:03 mx postfix/cleanup[1]: 4ABC: message-id=<{'é' * 998}>",
    f"Nov 28 01:02:03 mx postfix/cleanup[1]: 4ABC: message-id=<{'é' * 999}>",
    "Nov 28 01:02:03 mx dovecot: lmtp(a@x.org)<1><s>: sieve: msgid=<"
    + "m" * 999
    + ">: stored mail into mailbox 'Junk'",
    "Nov 28 01:02:03 mx dovecot: lmtp(a@x.org)<1><s>: sieve: msgid=<"
    + "é" * 998
    + ">: stored mail into mailbox 'Junk'",
]


def run_lines_both(
    lines: list[str], c_events: list[Any] | None = None
) -> tuple[Any, Any, dict[str, Any], dict[str, Any], list[Any]]:
    """Lines through the Python parser and joiner, and through scan() (C, Python fallback).

    The events the compiled joiner returns for lines of the fallback (with those of
    scan() before them) go to ``c_events`` when given; the rest stay in its outbox.
    """
    ref = 1_796_000_000
    parser = LineParser(reference=ref)
    p = PyJoiner(filter_ports=(10024,))
    unknown_p: dict[str, Any] = {}
    events: list[Any] = []
    for line in lines:
        r = parser.parse(line)
        if r.status == "ok":
            events.extend(p.feed(r))
        elif r.status == "unknown":
            key = r.family or r.program or "(no program)"  # as the report groups them
            unknown_p[key] = unknown_p.get(key, 0) + 1
    c = CJoiner(filter_ports=(10024,))
    fallback_parser = LineParser(reference=ref)
    unknown_c: dict[str, Any] = {}

    def fallback(line: str) -> None:
        r = fallback_parser.parse(line)
        if r.status == "ok":
            got = c.feed(r)
            if c_events is not None:
                c_events.extend(got)
        elif r.status == "unknown":
            key = r.family or r.program or "(no program)"
            unknown_c[key] = [unknown_c.get(key, [0])[0] + 1]

    fast = _fastlog.Parser(LineParser(reference=ref).stamps)
    data = ("\n".join(lines) + "\n").encode()
    raw: dict[str, Any] = {}
    _fastlog.scan(fast, c, data, raw, fallback)
    for k, v in raw.items():
        unknown_c[k] = [unknown_c.get(k, [0])[0] + v[0]]
    return p, c, unknown_p, {k: v[0] for k, v in unknown_c.items()}, events


@pytest.mark.parametrize("line", DIGIT_LINES, ids=range(len(DIGIT_LINES)))
@pytest.mark.parametrize("int_max_digits", [0, 640, 4300])
def test_a_huge_digit_run_gives_the_same_in_both(line: str, int_max_digits: int) -> None:
    """Whatever int()'s digit limit (PYTHONINTMAXSTRDIGITS), both paths answer alike."""
    import sys

    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(int_max_digits)
    try:
        p, c, up, uc, events = run_lines_both([line])
    finally:
        sys.set_int_max_str_digits(old)
    assert up == uc
    assert events == c.take()
    assert p.flush() == c.flush()
    same(c, p)
    assert p.errors == 0


def test_a_message_id_over_the_limit_makes_the_line_not_understood() -> None:
    """10,000 messages with 60 KB Message-IDs held 1.1 GB in the joiner before."""
    parser = LineParser(reference=1_796_000_000)
    for line in DIGIT_LINES[-6:]:
        r = parser.parse(line)
        over = "m" * 999 in line or "é" * 999 in line
        assert (r.status == "unknown") == over, line[:80]


# -- addresses and recipients held by the joiner -------------------------------------------------

S = "Nov 28 01:02:03 mx"


def address_lines(n: int, fill: str = "a") -> dict[str, str]:
    """A line of every shape with an address (or another name the joiner keeps) of
    ``n`` characters."""
    a = fill * (n - 6) + "@x.org"
    q = "4" + "B" * (n - 1)
    ok250 = "delay=1, dsn=2.0.0, status=sent (250 2.0.0"
    return {
        "to": f"{S} postfix/lmtp[1]: 4ABC: to=<{a}>, relay=mx[127.0.0.1]:24, {ok250} ok)",
        "orig_to": f"{S} postfix/lmtp[1]: 4ABC: to=<b@x.org>, orig_to=<{a}>, "
        f"relay=mx[127.0.0.1]:24, {ok250} ok)",
        "sasl": f"{S} postfix/smtpd[1]: 4ABC: client=x[1.2.3.4]:25, sasl_method=PLAIN, "
        f"sasl_username={a}",
        "orig_queue_id": f"{S} postfix/smtpd[1]: 4ABC: client=x[127.0.0.1]:25, orig_queue_id={q}",
        "client_ip": f"{S} postfix/smtpd[1]: 4ABC: client=x[{'1' * n}]:25",
        "pickup": f"{S} postfix/pickup[1]: 4ABC: uid=33 from=<{a}>",
        "qmgr": f"{S} postfix/qmgr[1]: 4ABC: from=<{a}>, size=1, nrcpt=1 (queue active)",
        "reject": f"{S} postfix/smtpd[1]: 4ABC: reject: RCPT from h[1.2.3.4]: 554 5.7.1 <{a}>: "
        f"Relay access denied; from=<s@x.org> to=<{a}> proto=ESMTP helo=<h>",
        "queued_as": f"{S} postfix/smtp[1]: 4ABC: to=<b@x.org>, relay=x[127.0.0.1]:10024, "
        f"{ok250} Ok: queued as {q})",
        "imap_login": f"{S} dovecot: imap-login: Login: user=<{a}>, method=PLAIN, "
        "rip=203.0.113.7, lip=10.0.0.1, mpid=1, session=<s>",
        "sieve_user": f"{S} dovecot: lmtp({a})<1><s>: sieve: msgid=<m@x>: "
        "stored mail into mailbox 'Junk'",
        "sieve_session": f"{S} dovecot: lmtp(u@x.org)<1><{q}>: sieve: msgid=<m@x>: "
        "stored mail into mailbox 'Junk'",
        "roundcube": f"[28-Nov-2026 01:02:03 +0000]: Successful login for {a} (ID: 1) "
        "from 1.2.3.4 in session s",
        "quota": f"{a}\tUser quota\tSTORAGE\t1\t-\t0",
        "quota_root": f"u@x.org\t{'R' * n}\tSTORAGE\t1\t-\t0",
        "amavis_rcpt": f"{S} amavis[1]: (1-01) Blocked SPAM {{Quarantined}}, [1.2.3.4]:1 "
        f"[1.2.3.4] <s@x.org> -> <{a}>, Queue-ID: 4ABC, Message-ID: <m@x>, mail_id: x, "
        "Hits: 9, size: 1, 1 ms",
        "amavis_queued_as": f"{S} amavis[1]: (1-01) Passed CLEAN {{R}}, [1.2.3.4]:1 [1.2.3.4] "
        "<s@x.org> -> <b@x.org>, Queue-ID: 4ABC, Message-ID: <m@x>, mail_id: x, Hits: 1, "
        f"size: 1, queued_as: {q}, 1 ms",
        "rspamd": "2026-11-28T01:02:03+00:00 mx rspamd[1]: <t>; task; rspamd_task_write_log: "
        f"id: <m@x>, qid: <{q}>, ip: 1.2.3.4, from: <s@x.org>, "
        "(default: T (add header): [9.00/15.00] [X(1.0){}]), len: 1, time: 1ms",
        "rspamd_json": '{"ts": 1795827723.5, "worker_type": "normal", "function": '
        f'"rspamd_task_write_log", "message": "id: <m@x>, qid: <{q}>, from: <\\"{a}\\">, '
        '(default: T (add header): [9.00/15.00] [X(1.0){}]), len: 1, time: 1ms"}',
        "amavis_queued_as_list": f"{S} amavis[1]: (1-01) Passed CLEAN {{R}}, [1.2.3.4]:1 "
        "[1.2.3.4] <s@x.org> -> <b@x.org>,<c@x.org>, Queue-ID: 4ABC, Message-ID: <m@x>, "
        f"mail_id: x, Hits: 1, size: 1, queued_as: 4DEF/{q}, 1 ms",
    }


@pytest.mark.parametrize("shape", list(address_lines(MAX_ADDRESS)))
def test_an_address_over_the_limit_makes_the_line_not_understood(shape: str) -> None:
    """At MAX_ADDRESS characters a line is understood; one more, and it is not understood
    in both paths, reported alike (non-ASCII included: the compiled parser hands such a
    line to the Python one, and the bound is in characters)."""
    parser = LineParser(reference=1_796_000_000)
    for fill in ("a", "é"):
        at, over = (
            address_lines(MAX_ADDRESS, fill)[shape],
            address_lines(MAX_ADDRESS + 1, fill)[shape],
        )
        assert parser.parse(at).status == "ok", shape
        assert parser.parse(over).status == "unknown", shape
        c_events: list[Any] = []
        p, c, up, uc, events = run_lines_both([at, over, at], c_events)
        assert up == uc and sum(up.values()) == 1
        assert events == c_events + c.take()
        assert p.flush() == c.flush()
        same(c, p)
        assert p.unknown == 0 and p.ok == 2  # (the joiner saw only the lines understood)


def deliveries(qid: str, n: int, t: int = 100, addr_len: int = 40) -> list[ParseResult]:
    """``n`` local deliveries of ``qid`` to distinct addresses (and a forward, a
    failure and a relay every few), then its ``removed``."""
    out = []
    for i in range(n):
        a = f"{i:06d}" + "r" * (addr_len - 12) + "@x.org"
        kind = i % 7
        if kind == 1:  # a forward to the outside
            d = Delivery(qid, "f" + a, a, "ext[198.51.100.1]:25", "sent", "smtp", "250 ok")
        elif kind == 2:  # a local failure
            d = Delivery(qid, a, None, "mx[127.0.0.1]:24", "bounced", "lmtp", "552 full")
        elif kind == 3:  # a relay to the customer's own server
            d = Delivery(qid, a, None, "ext[198.51.100.1]:25", "sent", "smtp", "250 ok")
        else:
            d = Delivery(qid, a, None, "mx[127.0.0.1]:24", "sent", "lmtp", "250 2.0.0 ok")
        out.append(ok(t, d))
    out.append(ok(t + 1, QmgrRemoved(qid)))
    return out


@pytest.mark.parametrize("extra", [0, 1, 500])
def test_a_message_holds_at_most_max_held_recipients(extra: int) -> None:
    """Deliveries past MAX_HELD_RECIPIENTS of one message are dropped, counted in
    ``dropped``, and the same in both joiners; the first ones still count."""
    n = MAX_HELD_RECIPIENTS + extra
    rs = [ok(99, SmtpdClient("4ABC", "203.0.113.9", 25, None, None)), *deliveries("4ABC", n)]
    c, p = CJoiner(), PyJoiner()
    for r in rs[:-1]:
        assert c.feed(r) == p.feed(r)
    assert c.dropped == p.dropped == extra
    same(c, p)
    held = p.state()["msgs"][0][1]
    assert sum(len(held[k]) for k in ("locals", "fwds", "bounced", "relays")) == min(
        n, MAX_HELD_RECIPIENTS
    )
    # a saved state carries the count on; the message's receipts are counted at removed
    c, p = CJoiner.from_state(c.state()), PyJoiner.from_state(p.state())
    ev_c, ev_p = c.feed(rs[-1]), p.feed(rs[-1])
    assert ev_c == ev_p
    assert len(ev_p) == MAX_HELD_RECIPIENTS  # one receipt or failure per recipient held
    assert c.counters() == p.counters() and p.counters()["dropped"] == extra


def held(j: Any) -> int:
    return sum(
        len(m[k]) for _, m in j.state()["msgs"] for k in ("locals", "fwds", "bounced", "relays")
    )


def test_all_messages_in_flight_hold_at_most_max_held_total() -> None:
    """Messages never removed, each with MAX_HELD_RECIPIENTS recipients: past
    MAX_HELD_TOTAL in all, the oldest are counted as they stand and dropped (as past
    max_entries), alike in both joiners, across a saved state too."""
    per = MAX_HELD_RECIPIENTS
    n_msgs = MAX_HELD_TOTAL // per + 5
    c, p = CJoiner(), PyJoiner()
    for i in range(n_msgs):
        if i == n_msgs // 2:  # the count is not state: both derive it when loading
            c, p = CJoiner.from_state(c.state()), PyJoiner.from_state(p.state())
        for r in deliveries(f"4A{i:04d}", per, t=100 + i)[:-1]:
            assert c.feed(r) == p.feed(r)
        assert held(p) <= MAX_HELD_TOTAL
    same(c, p)
    assert held(p) == MAX_HELD_TOTAL
    assert p.expired == 5 and p.dropped == 0
    assert len(p.state()["msgs"]) == MAX_HELD_TOTAL // per


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(["4A", "4B"]), st.integers(0, 1200), st.integers(0, 6)),
        min_size=1,
        max_size=12,
    )
)
def test_recipients_past_the_bound_are_dropped_alike(runs: list[tuple[str, int, int]]) -> None:
    """Runs of deliveries of two messages (repeated addresses, every kind of recipient,
    removed at random), crossing MAX_HELD_RECIPIENTS: the two joiners agree."""
    c, p = CJoiner(), PyJoiner()
    for t, (qid, n, mod) in enumerate(runs):
        rs = deliveries(qid, n, t=100 + t)
        # 0: not removed yet; else a stride (repeats across runs, other kinds), removed
        rs = rs[:-1] if mod == 0 else rs[::mod] + rs[-1:]
        for r in rs:
            assert c.feed(r) == p.feed(r)
        same(c, p)
    assert c.expire_all() == p.expire_all()
    same(c, p)


RSS_CHILD = r"""
import json, resource, sys
from mailtally.ingest import LineParser, _fastlog
from mailtally.ingest.join import Joiner as PyJoiner
kind, n = sys.argv[1], int(sys.argv[2])
ref = 1_796_000_000
def line(i):
    if kind == "long":  # a message each, to= and orig_to= of 30,000 characters
        a = f"{i:08d}" + "a" * 29_986 + "@x.org"
        qid, orig = f"{i:010X}", "o" + a
    else:  # one message, distinct addresses just under the bound
        a = f"{i:08d}" + "r" * 300 + "@x.org"
        qid, orig = "4ABCDEF", "o" + a[1:]
    return (f"Nov 28 01:02:03 mx postfix/lmtp[1]: {qid}: to=<{a}>, orig_to=<{orig}>, "
            "relay=mx[127.0.0.1]:24, delay=1, dsn=2.0.0, status=sent (250 2.0.0 ok)")
parser = LineParser(reference=ref)
p, c = PyJoiner(), _fastlog.Joiner()
fast = _fastlog.Parser(LineParser(reference=ref).stamps)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
raw = {}
for s in range(0, n, 100):
    chunk = [line(i) for i in range(s, min(n, s + 100))]
    for text in chunk:
        r = parser.parse(text)
        if r.status == "ok":
            p.feed(r)
    _fastlog.scan(fast, c, ("\n".join(chunk) + "\n").encode(), raw, lambda l: None)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
same = c.state() == p.state() and c.counters() == p.counters()
print(json.dumps({"grew_mb": (peak - base) / 1024, "same": same, "unknown": p.unknown,
                  "raw": sum(v[0] for v in raw.values()), "dropped": p.dropped}))
"""


@pytest.mark.parametrize(
    ("kind", "n"),
    [("long", 2_000), ("many", 40_000)],
)
def test_long_addresses_and_many_recipients_keep_the_joiner_small(kind: str, n: int) -> None:
    """2,000 messages with 30,000-character addresses grew this child by 336 MB before
    (both joiners in one process); 40,000 recipients of one message by 69 MB.
    Now the first lines are not understood, and the second are dropped past the bound."""
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, kind, str(n)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["same"], r
    assert r["grew_mb"] < 40, r
    if kind == "long":
        assert r["raw"] == n and r["dropped"] == 0, r  # (the parser never hands them over)
    else:
        assert r["raw"] == 0 and r["dropped"] == n - MAX_HELD_RECIPIENTS, r


def test_crafted_counters_in_a_state_are_clamped_alike() -> None:
    """A counter at 2**63 - 1 wrapped the compiled joiner's int64 at the next line."""
    state = PyJoiner().state()
    state["counters"] = {"lines": 2**63 - 1, "events": 2**70, "errors": -5, "ok": "7"}
    c, p = CJoiner.from_state(state), PyJoiner.from_state(state)
    for j in (c, p):
        for _ in range(3):
            j.feed(ParseResult("ignored", "x"))
        assert j.lines == 2**62 + 3
        assert j.events == 2**62 and j.errors == 0 and j.ok == 7
    same(c, p)


@pytest.mark.parametrize(
    "field",
    [("now", 2**62), ("next_sweep", 2**64), ("quota_time", -(2**64)), ("done", [["Q", 2**63]])],
)
def test_out_of_range_times_in_a_state_are_refused_by_both(field) -> None:
    state = PyJoiner().state()
    state[field[0]] = field[1]
    for joiner in (PyJoiner, CJoiner):
        with pytest.raises(OverflowError):
            joiner.from_state(state)


def state_with_everything() -> dict[str, Any]:
    """A state with a removed (held) message holding every kind of recipient, and a
    quota row waiting for its pair."""
    p = PyJoiner()
    for r in [
        ok(99, SmtpdClient("4ABC", "127.0.0.1", 25, None, None)),
        *deliveries("4ABC", 4),
        ok(100, QuotaRow("u@x.org", "User quota", "STORAGE", 5)),
    ]:
        p.feed(r)
    state = p.state()
    m = state["msgs"][0][1]
    assert m["removed"] is not None and m["locals"] and m["fwds"] and m["bounced"] and m["relays"]
    assert state["quota"]
    return state


#: where a time sits in a state: (msgs' first message dict → its key, or a path)
STATE_TIMES = ["removed", "locals", "fwds", "bounced", "relays", "quota"]


def set_time(state: dict[str, Any], where: str, value: Any) -> None:
    m = state["msgs"][0][1]
    if where == "removed":
        m["removed"] = value
    elif where == "quota":
        for row in state["quota"].values():
            row[4] = value
    else:
        for entry in m[where].values():
            entry[-2 if where == "locals" else -1] = value


@pytest.mark.parametrize("where", STATE_TIMES)
@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 2**80])
def test_out_of_range_message_and_quota_times_are_refused_by_both(where: str, value: int) -> None:
    """The C joiner reads these times as int64 and refused such a state, where the
    Python one loaded it (and then counted events at a time no C event can hold)."""
    state = state_with_everything()
    set_time(state, where, value)
    for joiner in (PyJoiner, CJoiner):
        with pytest.raises(OverflowError):
            joiner.from_state(state)


@pytest.mark.parametrize("where", STATE_TIMES)
@pytest.mark.parametrize("value", [2**63 - 1, -(2**63), "12", 7.9, True])
def test_message_and_quota_times_in_range_are_read_alike(where: str, value: Any) -> None:
    """In range, both read int(value): the same state, and the same events after."""
    state = state_with_everything()
    set_time(state, where, value)
    c, p = CJoiner.from_state(state), PyJoiner.from_state(state)
    same(c, p)
    assert p.state() == PyJoiner.from_state(p.state()).state()  # a fixed point
    more = [ok(200, QmgrRemoved("4ABC")), ok(300, QuotaRow("v@x.org", "q", "STORAGE", 1))]
    for r in more:
        assert c.feed(r) == p.feed(r)
    assert c.flush() == p.flush()
    same(c, p)


def time_values() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(),
        st.integers(-(2**63) - 2, -(2**63) + 2),
        st.integers(2**63 - 2, 2**63 + 2),
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e20, max_value=1e20),
        st.integers(-(10**20), 10**20).map(str),
        st.booleans(),
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(STATE_TIMES), time_values()), min_size=1, max_size=4))
def test_a_state_with_any_message_or_quota_time_loads_alike(
    edits: list[tuple[str, Any]],
) -> None:
    """Both joiners load the state, equal, or both refuse it."""
    state = state_with_everything()
    for where, value in edits:
        set_time(state, where, value)
    outcomes = []
    for joiner in (PyJoiner, CJoiner):
        try:
            outcomes.append(joiner.from_state(state).state())
        except (OverflowError, ValueError) as e:
            outcomes.append(type(e).__name__)
    assert outcomes[0] == outcomes[1]


# -- every parser, every shape: no line costs more than its length ----------------------------

#: pieces that a regex or a scan of the parsers stops at or searches for
PIECES_LONG = [
    "<",
    "(",
    "x: T (",
    " to=<",
    "to=<",
    "[",
    "]:",
    "queued_as: ",
    ", ",
    " ",
    "é",
    "9",
    ": ",
    "<> a",
    "=",
    "\t",
    "Saved ",
    "{",
    ") Passed ",
]


@pytest.mark.parametrize("piece", PIECES_LONG)
def test_no_line_shape_is_quadratic_in_the_python_parser(piece: str) -> None:
    """Each real line, with 60 KB of one piece inserted every 10 characters: linear.

    (Before issue 7, ``to=<`` took 2 s here; now every piece takes < 0.1 s.)
    """
    import test_parsers_fuzz

    parser = LineParser(reference=1_736_100_000)
    filler = piece * (60_000 // len(piece))
    worst = 0.0
    for seed in test_parsers_fuzz.SEEDS:
        for k in range(0, len(seed) + 1, 10):
            line = seed[:k] + filler + seed[k:]
            _, took = timed(lambda line=line: parser.parse(line))
            worst = max(worst, took)
    # a quadratic scan of 60 KB takes seconds; a linear one a few milliseconds
    assert worst < 1.0, worst
