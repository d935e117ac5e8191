"""Review of rspamd's JSON lines and amavis's ``queued_as: A/B/C`` (session 14): the C
twin against the reference on generated lines around the new code paths (cut at
every byte, odd escapes, numbers, nesting, lists at the record limits), and lines
whose sender-chosen text must not forge a verdict or a re-injection."""

from __future__ import annotations

import calendar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailtally.ingest import LineParser
from mailtally.ingest.parsers import Reinjected, SpamVerdict
from mailtally.ingest.stamps import StampParser

_fastlog = pytest.importorskip("mailtally.ingest._fastlog")

REF = calendar.timegm((2026, 11, 28, 23, 0, 0))
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def both(line: str) -> object:
    """The reference's result for ``line``, after checking the C twin agrees (or
    declines the line)."""
    want = LineParser(reference=REF).parse(line)
    got = _fastlog.Parser(StampParser(REF, None, 3600, {})).parse(line)
    if got is not None:
        assert got == want, line
    return want


# -- rspamd JSON -----------------------------------------------------------------------

_ESCAPES = [
    '\\"',
    "\\\\",
    "\\/",
    "\\b",
    "\\f",
    "\\n",
    "\\r",
    "\\t",
    "\\u0041",
    "\\u0000",
    "\\u007f",
    "\\u00e9",
    "\\ud83d\\ude00",
    "\\ud800",
    "\\udc00x",
    "\\u12",
    "\\u004",
    "\\u",
    "\\x41",
    "\\",
    "\x00",
    "\t",
    '"',
]
_TEXT = st.lists(
    st.one_of(
        st.sampled_from(_ESCAPES),
        st.text(alphabet="qid: <>(),TFS4A-_ abcdefghrjkt", max_size=6),
        st.sampled_from(
            [
                "qid: <4F2A>",
                "(default: T (add header): [",
                "(default: F (no action)",
                "(default: S (soft reject)",
                "rspamd_task_write_log: ",
                "undef",
            ]
        ),
    ),
    max_size=8,
).map("".join)
_NUMBERS = [
    "1795827723.5",
    "1795827723",
    "0",
    "-1",
    "1e9",
    "1.5e3",
    "1E+5",
    "-0",
    "00",
    "01",
    "1795827723.",
    "1.",
    "-",
    "99999999999999999999999999",
    "253402300799",
    "253402300800",
    "999999999999.999",
    "1.5.5",
    "NaN",
    "Infinity",
    "tru",
    "true",
    "null",
    "false",
]
_KEYS = ["ts", "pid", "severity", "worker_type", "id", "module", "function", "message"]


@st.composite
def _value(draw: st.DrawFn, key: str) -> str:
    kind = draw(st.integers(0, 9))
    if kind < 5 and key != "ts":
        if key == "function":
            return '"' + draw(st.sampled_from(["rspamd_task_write_log", "other", ""])) + '"'
        return '"' + draw(_TEXT) + '"'
    if kind < 8:
        return draw(st.sampled_from(_NUMBERS))
    return draw(st.sampled_from(["{}", "[1]", '{"a":{"b":[]}}', '"x"', "[[[[[[[[", '{"ts":1}']))


@st.composite
def json_lines(draw: st.DrawFn) -> str:
    keys = list(draw(st.permutations(_KEYS))) if draw(st.booleans()) else list(_KEYS)
    keys = keys[: draw(st.integers(len(keys) - 2, len(keys)))]
    keys += draw(st.lists(st.sampled_from([*_KEYS, "x", "t\\u0073"]), max_size=2))
    ws = st.sampled_from(["", "", " ", "\t", "\r", "\n", "\x0b", "  "])
    members = [
        draw(ws) + '"' + k + '"' + draw(ws) + ":" + draw(ws) + draw(_value(k)) + draw(ws)
        for k in keys
    ]
    line = "{" + ",".join(members) + draw(st.sampled_from(["}", "}", "} ", "}x", "}}", ",}", ""]))
    head = draw(
        st.sampled_from(
            [
                "",
                "",
                "",
                "Nov 28 01:02:03 mail rspamd[1]: ",
                "2026-11-28T01:02:03Z mail rspamd: ",
            ]
        )
    )
    return head + line


@SETTINGS
@given(json_lines())
def test_json_lines_agree_cut_anywhere(line: str) -> None:
    for i in range(len(line) + 1):
        both(line[:i])


@SETTINGS
@given(st.text(alphabet='{}[]":,\\u0123456789abcdefnrtlsTF.-+eE \t', max_size=40))
def test_brace_soup_agrees(tail: str) -> None:
    both("{" + tail)
    both('{"ts":1,"worker_type":"w","function":"rspamd_task_write_log","message":"' + tail)


def test_json_lines_at_the_sizes() -> None:
    """Lines of 64 KiB and 1 MiB, a message of only escapes, deep nesting: the same
    answers (and no crash under ASan: make test-asan)."""
    head = '{"ts":1795827723.5,"worker_type":"normal","function":"rspamd_task_write_log",'
    big = "x" * (1 << 20)
    for line in [
        head + '"message":"qid: <4F2A>, ' + big[:65536] + ' (default: T (reject): [)"}',
        head + '"message":"qid: <4F2A>, (default: T (reject): [' + "\\u0041" * 20000 + '"}',
        head + '"message":"' + "\\\\" * 40000,
        head + '"message":"' + big + "\\",
        head + '"x":' + "[" * 100000,
        head + '"message":"qid: <4F2A>, (default: T (reject): []"}' + " " * 70000,
        '{"ts":' + "9" * 70000 + ',"worker_type":"n","function":"f","message":""}',
    ]:
        both(line)
        for cut in (len(line) - 1, len(line) - 2, len(line) - 5, len(line) - 6, len(line) - 7):
            both(line[:cut])


# -- amavis queued_as ------------------------------------------------------------------

_AM = "Nov 28 01:02:03 mail amavis[1]: (1-01) Passed {cat}, <a@b> -> <c@d>,<e@f>, Queue-ID: "


@SETTINGS
@given(
    st.sampled_from(["CLEAN", "SPAM", "SPAMMY", "BAD-HEADER-0"]),
    st.sampled_from(["4A", "4B", ""]),
    st.sampled_from([0, 1, 2, 6, 7, 8, 9, 15, 16, 17, 63, 64, 65, 66, 300]),
    st.lists(st.sampled_from(["4B", "4C", "4A", "A_b", "x" * 30, "", "-"]), min_size=1),
    st.sampled_from(["/", "/", "//", " /", "/ ", "/-"]),
    st.sampled_from(["", ", 12 ms", "...", "/...", "/", " ...", "..", ", queued_as: 5X/5Y"]),
    st.sampled_from(["", ", Message-ID: <x, queued_as: 4V1/4V2>", ", Message-ID: <queued_as: 4A>"]),
)
def test_amavis_lists_agree(
    cat: str, qid: str, n: int, pool: list[str], sep: str, tail: str, mid: str
) -> None:
    ids = sep.join(pool[k % len(pool)] for k in range(n))
    line = _AM.format(cat=cat) + qid + mid + ", Hits: 1, size: 9, queued_as: " + ids + tail
    both(line)
    for cut in range(max(0, len(line) - 12), len(line)):
        both(line[:cut])


# -- sender-chosen text ---------------------------------------------------------------


def test_a_message_id_names_no_re_injection() -> None:
    """amavis logs the Message-ID (``<[^<>]*>``, spaces and colons kept) before its
    own ``queued_as``: the sender's ``queued_as: 4VICTIM`` in it linked the victim's
    message to the sender's (Reinjected) and gave it the sender's verdict."""
    line = (
        _AM.format(cat="SPAM") + "4A, Message-ID: <x, queued_as: 4VICTIM/4V2>, mail_id: m, "
        "Hits: 9, size: 9, queued_as: 4B, 12 ms"
    )
    got = both(line)
    assert got.records == (  # type: ignore[attr-defined]
        SpamVerdict("4A", "spam", "amavis"),
        Reinjected("4A", "4B"),
        SpamVerdict("4B", "spam", "amavis"),
    )
    # no queued_as of amavis's own: none from the Message-ID either
    got = both(line.replace(", queued_as: 4B", ""))
    assert got.records == (SpamVerdict("4A", "spam", "amavis"),)  # type: ignore[attr-defined]


def test_a_sender_names_no_re_injection() -> None:
    """The envelope sender (a quoted local part keeps spaces) comes before too."""
    line = (
        "Nov 28 01:02:03 mail amavis[1]: (1-01) Passed CLEAN, [1.2.3.4]:5 "
        '<"x, queued_as: 4VICTIM"@evil.example> -> <c@d>, Queue-ID: 4A, '
        "Message-ID: <m@x>, mail_id: m, Hits: -1, size: 9, 3 ms"
    )
    got = both(line)
    assert got.records == (SpamVerdict("4A", "ham", "amavis"),)  # type: ignore[attr-defined]


def test_a_sender_or_message_id_names_no_queue_id() -> None:
    """The sender (before amavis's ``Queue-ID:``) and the Message-ID (after it)
    named the message whose verdict and re-injection the line gave."""
    tail = ", mail_id: m_1, Hits: 9, size: 9, queued_as: 4B, 3 ms"
    want = (
        SpamVerdict("4A", "spam", "amavis"),
        Reinjected("4A", "4B"),
        SpamVerdict("4B", "spam", "amavis"),
    )
    for line in [
        "Nov 28 01:02:03 mail amavis[1]: (1-01) Passed SPAM {RelayedInbound}, [1.2.3.4]:5 "
        '<"x, Queue-ID: 4VICTIM, "@evil.example> -> <c@d>, Queue-ID: 4A, '
        "Message-ID: <m@x>" + tail,
        _AM.format(cat="SPAM") + '4A, Message-ID: <"x, Queue-ID: 4V, Message-ID: <y">, '
        "Resent-Message-ID: <r<q>" + tail,
        "Nov 28 01:02:03 mail amavis[1]: (1-01) Passed SPAM, "
        '<"x, Queue-ID: 4V, Hits: 1"@e> -> <c@d>, Queue-ID: 4A, Message-ID: <m@x>' + tail,
    ]:
        assert both(line).records == want, line  # type: ignore[attr-defined]
    # Blocked: the same rule names the message held back
    got = both(
        "Nov 28 01:02:03 mail amavis[1]: (1-01) Blocked SPAM {DiscardedInbound}, "
        '<"x, Queue-ID: 4V, "@e> -> <c@d>, Queue-ID: 4A, Hits: 9, size: 9, 3 ms'
    )
    assert got.records[0].qid == "4A"  # type: ignore[attr-defined]


@SETTINGS
@given(
    st.sampled_from(["", '<"x, Queue-ID: 4V, Hits: 1"@e> ', "<a@b> "]),
    st.sampled_from(["", ", Queue-ID: 4A", ", Queue-ID: ", ", Queue-ID: 4A_"]),
    st.sampled_from(
        ["", ", Message-ID: <m>", ', Message-ID: <"a<b, Queue-ID: 4V">', ", Message-ID: <>"]
    ),
    st.sampled_from(["", ", Resent-Message-ID: <r>", ", Resent-Message-ID: <x, Hits: 1>"]),
    st.sampled_from(["", ", mail_id: m_1", ", mail_id: ", ", mail_id: a b"]),
    st.sampled_from([", Hits: 9, size: 9, 3 ms", ", Hits: -", "...", ", Hits: 9..."]),
)
def test_amavis_queue_ids_agree(
    sender: str, qid: str, mid: str, resent: str, mail_id: str, hits: str
) -> None:
    for verb in ("Passed SPAM", "Blocked SPAM {DiscardedInbound},"):
        line = (
            f"Nov 28 01:02:03 mail amavis[1]: (1-01) {verb} {sender}-> <c@d>"
            + qid
            + mid
            + resent
            + mail_id
            + hits
        )
        both(line)
        for cut in range(len(line) - 40, len(line)):
            both(line[:cut])
