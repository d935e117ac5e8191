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
from mailtally.ingest.join import VERDICT_DEPTH, VERDICT_VISITS
from mailtally.ingest.join import Joiner as PyJoiner
from mailtally.ingest.parsers import QmgrFrom, SmtpdClient, SpamVerdict, amavis, postfix, rspamd

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
OLD_ANGLE_TO = re.compile(r"(?:^|[\s,;])to=<([^>]*)>")
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
    assert rspamd._action(text, pos) == (m.groups() if m else None)
    m = OLD_ANGLE_TO.search(text)
    assert postfix._angle_to(text) == (m.group(1) if m else None)
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


def run_lines_both(lines: list[str]) -> tuple[Any, Any, dict[str, Any], dict[str, Any], list[Any]]:
    """Lines through the Python parser and joiner, and through scan() (C, Python fallback)."""
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
            unknown_p[r.program or "(no program)"] = (
                unknown_p.get(r.program or "(no program)", 0) + 1
            )
    c = CJoiner(filter_ports=(10024,))
    fallback_parser = LineParser(reference=ref)
    unknown_c: dict[str, Any] = {}

    def fallback(line: str) -> None:
        r = fallback_parser.parse(line)
        if r.status == "ok":
            c.feed(r)
        elif r.status == "unknown":
            key = r.program or "(no program)"
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
