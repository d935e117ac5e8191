"""The C parser (``_fastlog.Parser``) answers exactly as the Python one (``LineParser``).

``Parser.parse`` returns None where the C parser declines a line (a non-ASCII
line, a number too large for C, a stamp whose Python answer depends on the
StampParser's history); everywhere else its ParseResult must equal the
reference's.  The lines: every line the parser test tables parse, a generated
log (``mailtally synth``), classic stamps around new year / 29 February /
DST changes / the reference, and Hypothesis' arbitrary and mutated lines.
"""

from __future__ import annotations

import calendar
import gzip
import itertools
import json
import random
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import test_join_hosts
import test_parsers_dovecot
import test_parsers_exim
import test_parsers_fuzz
import test_parsers_misc
import test_parsers_postfix
from mailtally.ingest import LineParser
from mailtally.ingest.stamps import StampParser
from mailtally.store import open_store
from mailtally.synth import synthesize

_fastlog = pytest.importorskip("mailtally.ingest._fastlog")

REF = calendar.timegm((2026, 11, 28, 23, 0, 0))
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: A JSON escape of a character beyond ASCII (an rspamd JSON line through a shipper):
#: the C parser hands out ASCII text only, and leaves such a line to Python.
_ESCAPED_BEYOND_ASCII = r"\\u(?!00[0-7])[0-9a-fA-F]{4}"
#: ASCII lines the C parser may decline: a huge number, a one-digit-second RFC 3339
#: stamp (StampParser.rfc3339 answers it from its cache: see fl_stamp_rfc3339), or
#: _ESCAPED_BEYOND_ASCII.
_MAY_DECLINE = re.compile(r"\d{19}|\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d(?!\d)|" + _ESCAPED_BEYOND_ASCII)

#: records.h FL_MAX_RECORDS: a line of more records is left to Python (amavis's list of
#: re-injections: up to 1 + 2 x amavis.MAX_QUEUED_AS records).
FL_MAX_RECORDS = 16


def _too_many(res: object, line: str = "") -> bool:
    """More records than C keeps: in the reference's answer, or (when that has
    none, e.g. for a time out of range, which C checks after the records) in an
    amavis ``queued_as:`` list of more than 7 ids (a verdict and two records an id)."""
    if len(res.records) > FL_MAX_RECORDS:  # type: ignore[attr-defined]
        return True
    k = line.rfind("queued_as: ")
    return k >= 0 and 1 + 2 * len(line[k + 11 :].split(",")[0].split("/")) > FL_MAX_RECORDS


#: An amavis line that may be a piece of an entry amavis split (parse_other.c
#: amavis_piece): the reference joins the pieces, keeping them from line to line, so
#: the C parser leaves every such line to it (tests/test_amavis_split.py).
_AMAVIS_PIECE = re.compile(r"amavis[^:\s]*: \((?:.*\.\.\.$|[^)]*\) (?:\(!!?\))?\.\.\.)")


def _declinable(line: str, res: object) -> bool:
    """Whether the C parser may decline the ASCII ``line`` (whose reference answer
    is ``res``)."""
    return bool(_MAY_DECLINE.search(line) or _AMAVIS_PIECE.search(line)) or _too_many(res, line)


class Pair:
    """The reference and the C parser, with the same reference time, zone and slack."""

    def __init__(
        self, reference: float = REF, tz=None, slack: int = 3600, months: tuple = ()
    ) -> None:
        self.ref = LineParser(reference, tz, slack, dict(months))
        self.fast = _fastlog.Parser(StampParser(reference, tz, slack, dict(months)))
        self.declined = 0

    def check(self, line: str) -> object:
        """Both parse ``line``; the C parser's answer (None: declined).  (Parsing keeps a
        little context, stamps and an Exim rejection's syslog copy: both see each line
        once, in the same order.)"""
        errors = self.ref.errors
        want = self.ref.parse(line)
        got = self.fast.parse(line)
        if got is None:
            self.declined += 1
            assert not line.isascii() or _declinable(line, want), line
        else:
            assert got == want, line
            # The reference raised inside (and reported the line unknown): the C
            # parser must have left such a line to it.
            assert self.ref.errors == errors, line
        return got


def _pair_for(parser: LineParser) -> tuple[int, object, int, tuple]:
    st = parser.stamps
    return st.reference, st.tz, st.slack, st.months


# -- every line of the parser tables ----------------------------------------------------------


def _table_lines(monkeypatch) -> list[tuple[tuple[int, object, int, tuple], str]]:
    """Run the table tests of test_parsers_*.py, recording every line they parse (and
    the parser's reference, zone, slack and month names)."""
    seen: list[tuple[tuple[int, object, int, tuple], str]] = []
    original = LineParser.parse

    def spy(self, line):
        seen.append((_pair_for(self), line))
        return original(self, line)

    monkeypatch.setattr(LineParser, "parse", spy)
    for mod in (
        test_parsers_postfix,
        test_parsers_dovecot,
        test_parsers_misc,
        test_parsers_exim,
        test_join_hosts,
    ):
        for name, fn in vars(mod).items():
            if not name.startswith("test_") or not callable(fn) or hasattr(fn, "hypothesis"):
                continue
            marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "parametrize"]
            if not marks:
                if fn.__code__.co_argcount == 0:
                    fn()
                continue
            (mark,) = marks
            names, values = mark.args
            single = isinstance(names, str) and "," not in names
            for v in values:
                v = getattr(v, "values", v)  # pytest.param
                if single:
                    v = v if isinstance(v, tuple) and len(v) == 1 else (v,)
                fn(*v)
    monkeypatch.undo()
    seen.extend(((REF, None, 3600, ()), s) for s in test_parsers_fuzz.SEEDS)
    return seen


def test_every_table_line(monkeypatch) -> None:
    seen = _table_lines(monkeypatch)
    assert len(seen) > 150
    pairs: dict[tuple[int, object, int], Pair] = {}
    for key, line in seen:
        pair = pairs.get(key) or pairs.setdefault(key, Pair(*key))
        got = pair.check(line)
        if line.isascii() and not re.search(_ESCAPED_BEYOND_ASCII, line):
            assert got is not None or _declinable(line, LineParser(*key[:3]).parse(line)), line


# -- a generated log ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synth_log(tmp_path_factory):
    """(reference, lines) of each file of a small generated log (crossing a new year)."""
    base = tmp_path_factory.mktemp("synth")
    store = open_store(f"sqlite:///{base / 'store.sqlite3'}")
    try:
        result = synthesize(
            store, base / "logs", lines=20000, days=3, seed=5, start=date(2025, 12, 30)
        )
    finally:
        store.close()
    truth = json.loads(result.truth.read_text())
    out = []
    for name in truth["files"]:
        path = base / "logs" / name
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        out.append((path.stat().st_mtime, data))
    return out


def _split_lines(data: bytes) -> list[str]:
    """files.py's _lines."""
    lines = data.decode("utf-8", errors="replace").replace("\r\n", "\n").split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def test_synth_log(synth_log) -> None:
    total = declined = 0
    for mtime, data in synth_log:
        pair = Pair(mtime)
        for line in _split_lines(data):
            if line and not line.isspace():
                pair.check(line)
                total += 1
        declined += pair.declined
    assert total > 15000
    assert declined / total < 0.005


# -- stamps ----------------------------------------------------------------------------------------


def _classic(t: datetime) -> str:
    return f"{t:%b} {t.day:2d} {t:%H:%M:%S}"


def _stamp_lines(ref_local: datetime, around: list[datetime]) -> list[str]:
    """Postfix lines stamped (classic and offset-less RFC 3339) around the given moments."""
    lines = []
    for mid in around:
        for minutes in range(-70, 71, 1):
            for s in (0, 1, 29, 59):
                t = mid + timedelta(minutes=minutes, seconds=s)
                lines.append(f"{_classic(t)} mail postfix/qmgr[9]: 4F2A1B2C3D: removed")
                lines.append(f"{t:%Y-%m-%dT%H:%M:%S} mail postfix/qmgr[9]: 4F2A1B2C3D: removed")
        # second 60 (a leap second) and 61 (invalid)
        lines.append(f"{_classic(mid)[:-2]}60 mail postfix/qmgr[9]: 4F2A1B2C3D: removed")
        lines.append(f"{_classic(mid)[:-2]}61 mail postfix/qmgr[9]: 4F2A1B2C3D: removed")
    return lines


D = datetime

#: (zone, reference as local wall time, moments around which stamps are tried)
STAMP_CASES = [
    ("UTC", D(2027, 1, 1, 0, 10), [D(2026, 12, 31, 23, 30), D(2027, 1, 1, 0, 30)]),
    ("UTC", D(2026, 12, 31, 23, 59, 50), [D(2027, 1, 1, 0, 0), D(2026, 12, 31, 23, 0)]),
    ("UTC", D(2028, 3, 1, 12, 0), [D(2028, 2, 29, 12, 0), D(2028, 3, 1, 12, 30)]),
    ("UTC", D(2027, 3, 1, 12, 0), [D(2024, 2, 29, 12, 0), D(2027, 3, 1, 12, 30)]),
    ("Europe/Berlin", D(2026, 11, 28, 23, 0), [D(2026, 3, 29, 2, 0), D(2026, 10, 25, 2, 30)]),
    ("Europe/Berlin", D(2026, 3, 29, 3, 20), [D(2026, 3, 29, 2, 0), D(2026, 3, 29, 4, 0)]),
    ("America/New_York", D(2026, 11, 1, 1, 40), [D(2026, 11, 1, 1, 30), D(2026, 3, 8, 2, 30)]),
    ("Australia/Lord_Howe", D(2026, 11, 28, 23, 0), [D(2026, 4, 5, 1, 30), D(2026, 10, 4, 2, 15)]),
    ("Australia/Lord_Howe", D(2027, 1, 1, 0, 20), [D(2026, 12, 31, 23, 50)]),
    # a half-hour offset, and the reference in the middle of an hour (classic
    # stamps are cached per hour when the hour is linear)
    ("America/St_Johns", D(2026, 3, 8, 2, 30), [D(2026, 3, 8, 2, 0), D(2026, 11, 1, 1, 30)]),
]


@pytest.mark.parametrize(("tz", "ref_local", "around"), STAMP_CASES)
@pytest.mark.parametrize("slack", [3600, 0])
def test_stamps(tz: str, ref_local: datetime, around: list[datetime], slack: int) -> None:
    reference = int(ref_local.replace(tzinfo=ZoneInfo(tz)).timestamp())
    lines = _stamp_lines(ref_local, [*around, ref_local])
    warm = Pair(reference, tz, slack)  # in time order: the per-minute caches warm
    for line in lines:
        warm.check(line)
    shuffled = Pair(reference, tz, slack)
    for line in random.Random(1).sample(lines, len(lines)):
        shuffled.check(line)
    assert warm.declined == shuffled.declined == 0


def test_stamp_tables() -> None:
    """The reference's own stamp cases, and Roundcube's stamps, in lines."""
    lines = [
        f"{stamp} mail postfix/qmgr[9]: 4F2A1B2C3D: removed"
        for stamp in (
            "Nov 28 01:02:03",
            "Nov  3 04:05:06",
            "Nov 03 04:05:06",
            "Nov 3 04:05:06",
            "Nov 28 23:30:00",
            "Nov 29 03:00:00",
            "Dec 31 23:59:59",
            "Jan  1 00:00:00",
            "Feb 29 12:00:00",
            "Feb 30 12:00:00",
            "Nov 28 25:02:03",
            "Nov 28 01:61:03",
            "Nov 00 01:02:03",
            "Nov 32 01:02:03",
            "2026-11-28T01:02:03.123456+00:00",
            "2026-11-28T01:02:03Z",
            "2026-11-28t01:02:03z",
            "2026-11-28T01:02:03+0000",
            "2026-11-27T20:02:03-05:00",
            "2026-11-28T06:32:03+05:30",
            "2026-11-28T01:02:03+01",
            "2026-13-28T01:02:03Z",
            "2026-11-28T01:02:03+99:00",
            "2026-02-29T01:02:03Z",
            "2024-02-29T01:02:03Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:60-18:00",
            "2026-11-28T01:02:03",
            "2026-11-28T01:02:03,5",
        )
    ]
    login = "Successful login for a@b (ID: 1) from 1.2.3.4 in session s"
    lines += [
        f"[{stamp}]: {login}"
        for stamp in (
            "28-Nov-2026 01:02:03 +0000",
            "28-Nov-2026 02:02:03 +0100",
            "28-Nov-2026 02:02:03 Europe/Berlin",
            "28-Nov-2026 01:02:03",
            "2026-11-28 01:02:03 +0000",
            "2026-11-28 01:02:03 -05:00",
            "28-Nov-2026 01:02:03 Not/AZone",
            "28-Foo-2026 01:02:03 +0000",
            "28-nOVEMBER-2026 01:02:03 gmt",
            "0028-Nov-02026 01:02:03 Z",
            "29-Feb-2026 01:02:03 UTC",
            "28-Nov-99999999999999999999 01:02:03 Europe/Berlin",
            "28-Nov-2026 1:02:03 +0000",
            "28-Nov-2026-1 01:02:03",
        )
    ]
    for tz in (None, "Europe/Berlin"):
        pair = Pair(REF, tz)
        for line in lines:
            pair.check(line)
            pair.check(line)  # again: a warm cache


def test_a_one_digit_second_is_left_to_python() -> None:
    # StampParser.rfc3339 answers from its per-minute cache where a fresh parser
    # answers None (the Python reference depends on its history there).
    fast = _fastlog.Parser(StampParser(REF))
    assert fast.parse("2026-11-28T01:02:5 mail postfix/qmgr[1]: 4F2A1B2C3D: removed") is None


# -- Hypothesis -----------------------------------------------------------------------------------

_SAMPLES = [
    *test_parsers_fuzz.SEEDS,
    "Nov 28 01:02:03 mail postfix/smtpd[1]: NOQUEUE: milter-reject: END-OF-MESSAGE from "
    "h[1.2.3.4]: 5.7.1 Spam message rejected; from=<a@b> to=<c@d> proto=ESMTP helo=<h>",
    "Nov 28 01:02:03 mail postfix/cleanup[1]: 4F2A1B2C3D: message-id=<x@y>",
    "Nov 28 01:02:03 mail postfix/qmgr[1]: 4F2A1B2C3D: removed",
    "Nov 28 01:02:03 mail amavis[1]: (1-01) Blocked INFECTED (Eicar) "
    "{DiscardedInbound,Quarantined}, <a@b> -> <c@d>,<e@f>, quarantine: v-x.gz, Queue-ID: 4A",
    "2026-11-28T01:02:03+00:00 mail rspamd[1]: <t>; task; rspamd_task_write_log: id: <m@x>, "
    "qid: <4ABC>, (default: F (no action): [1/2] [])",
    "2026-11-28T01:02:03.5Z mail dovecot: lmtp(a@b)<1><s>: sieve: msgid=<m@x>: sent vacation "
    "response to <c@d>",
    "Nov 28 01:02:03 imap-login: Info: Login: user=<a@b>, method=PLAIN, rip=1.2.3.4, lip=5.6.7.8",
    "Nov 28 01:02:03 mail roundcube: <s> Successful login for a@b (ID: 1) from 1.2.3.4(X-Real: 5)",
    "Username\tQuota name\tType\tValue\tLimit\t%",
    # the shapes of issue 7's audit (quadratic in the old Python regexes, huge numbers)
    "Nov 28 01:02:03 mail amavis[1]: (1-01) Blocked SPAM {Quarantined}, " + "<a" * 200,
    "Nov 28 01:02:03 mail amavis[1]: (1-01) Passed CLEAN {R}, Queue-ID: 4A, "
    + "queued_as: 4B, " * 7,  # (a record each: at most FL_MAX_RECORDS in C)
    # amavis's lists of re-injections: within FL_MAX_RECORDS, over it (left to Python), and
    # over amavis.MAX_QUEUED_AS (not understood)
    "Nov 28 01:02:03 mail amavis[1]: (1-01) Passed SPAM, Queue-ID: 4A, queued_as: "
    + "/".join(f"4B{i}" for i in range(7))
    + ", 1 ms",
    "Nov 28 01:02:03 mail amavis[1]: (1-01) Passed SPAM, Queue-ID: 4A, queued_as: "
    + "/".join(f"4B{i}" for i in range(9))
    + "...",
    "Nov 28 01:02:03 mail amavis[1]: (1-01) Passed SPAM, queued_as: "
    + "/".join(f"4B{i}" for i in range(65)),
    # rspamd's JSON log: escapes, a key escaped, members in another order, a cut line
    '{"message": "id: <\\"x\\"@y>, qid: <4A\\u0042>, (default: T (add header): [1/2] '
    '[A(1){\\\\x09;}])", "fun\\u0063tion": "rspamd_task_write_log", "ts": 1795827723.25, '
    '"worker_type": "normal", "n": null, "b": false, "e": 1e-3}',
    '{"ts": 1795827723, "worker_type": "normal", "function": "rspamd_task_write_log", '
    '"message": "qid: <4ABC>, (default: F (no action): [1/2] [A(1){\\u00e9\\/\\n;',
    '{"ts": 1795827723, "worker_type": "normal", "function": "other", "message": "x"}',
    "2026-11-28T01:02:03+00:00 mail rspamd[1]: <t>; task; rspamd_task_write_log: id: <m@x>, "
    "qid: <4ABC>, " + "(x: T (" * 100,
    "Nov 28 01:02:03 mail postfix/smtpd[1]: 4F2A1B2C3D: reject: RCPT from h[1.2.3.4]: 554 5.7.1 "
    "x; from=<a@b> to=<" + " to=<" * 100,
    "Nov 28 01:02:03 mail postfix/smtpd[1]: 4F2A1B2C3D: client=h[1.2.3.4]:" + "0" * 700 + "25",
    "[" + "0" * 700 + "28-Nov-2026 01:02:03 +0000]: Successful login for a@b (ID: 1) from 1.2.3.4",
    # addresses and queue ids at stamps.MAX_ADDRESS (320) characters: a mutation crosses it
    "Nov 28 01:02:03 mail postfix/lmtp[1]: 4A: to=<"
    + "a" * 314
    + "@x.org>, orig_to=<"
    + "o" * 314
    + "@x.org>, relay=h[127.0.0.1]:24, status=sent (250 ok)",
    "Nov 28 01:02:03 mail postfix/smtpd[1]: 4A: client=h[1.2.3.4]:25, sasl_username="
    + "u" * 314
    + "@x.org, orig_queue_id=4"
    + "B" * 319,
    "Nov 28 01:02:03 mail dovecot: lmtp("
    + "u" * 314
    + "@x.org)<1><"
    + "s" * 320
    + ">: sieve: msgid=<m@x>: stored mail into mailbox 'Junk'",
    "u" * 314 + "@x.org\t" + "R" * 320 + "\tSTORAGE\t1\t-\t0",
]

_ascii = st.characters(max_codepoint=127)
_bits = st.sampled_from(
    [
        " ",
        ":",
        ": ",
        "[",
        "]",
        "(",
        ")",
        "<",
        ">",
        ",",
        ";",
        "\t",
        "\n",
        "\x1c",
        "\x00",
        "5",
        "9" * 25,
        "0" * 700,
        "9" * 5000,
        "4",
        "-",
        ".",
        "=",
        "é",
        "to=<",
        "queued as ",
        "status=",
        " from ",
        "+01:00",
        "Z",
    ]
)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    line = draw(st.sampled_from(_SAMPLES))
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(line)))
        j = draw(st.integers(i, min(len(line), i + 12)))
        ins = draw(st.one_of(st.text(_ascii, max_size=6), _bits, st.just("")))
        line = line[:i] + ins + line[j:]
    if draw(st.booleans()):
        line = line[: draw(st.integers(0, len(line)))]
    return line


@FAST
@given(st.lists(st.text(), max_size=5), st.lists(st.text(_ascii), max_size=5))
def test_any_text(lines: list[str], ascii_lines: list[str]) -> None:
    pair = Pair(REF, "Europe/Berlin")
    for line in lines + ascii_lines:
        pair.check(line)


@FAST
@given(st.lists(mutated(), min_size=1, max_size=12), st.sampled_from([None, "America/New_York"]))
def test_mutated_real_lines(lines: list[str], tz) -> None:
    pair = Pair(REF, tz)
    for line in lines:
        pair.check(line)


# -- count() ---------------------------------------------------------------------------------------


def _count_in_python(fast, data: bytes) -> dict[str, int]:
    counts = dict.fromkeys(("lines", "ok", "ignored", "unknown", "fallback", "records"), 0)
    for line in _split_lines(data):
        counts["lines"] += 1
        if not line or line.isspace():
            counts["ignored"] += 1
            continue
        res = fast.parse(line)
        if res is None:
            counts["fallback"] += 1
        else:
            counts[res.status] += 1
            counts["records"] += len(res.records)
    return counts


def test_count(synth_log) -> None:
    mtime, data = synth_log[0]
    extra = (
        b"\n\r\n  \t\r\n\xc2\x85\xe3\x80\x80\n\xc2\xa0x\n\xe2\x80\x8b\nlone\rcr\r\r\n"
        + _SAMPLES[0].encode()
        + b"\r\n\xff\xfe garbage\n"
        + _SAMPLES[3].encode()
        + b"\r"
    )
    for blob in (data, data[:5000] + extra, extra, b"", b"\n", b"x"):
        fast = _fastlog.Parser(StampParser(mtime))
        assert fast.count(blob) == _count_in_python(_fastlog.Parser(StampParser(mtime)), blob)


@FAST
@given(
    st.lists(st.one_of(st.binary(max_size=40), mutated().map(str.encode)), max_size=6),
    st.sampled_from([b"\n", b"\r\n", b"\r", b""]),
)
def test_count_any_bytes(pieces: list[bytes], sep: bytes) -> None:
    blob = sep.join(pieces)
    fast = _fastlog.Parser(StampParser(REF))
    assert fast.count(blob) == _count_in_python(_fastlog.Parser(StampParser(REF)), blob)


def test_parse_strips_one_newline() -> None:
    pair = Pair()
    for line in itertools.product(_SAMPLES[:3], ["\n", "\r\n", "\n\n", "\r\r\n", ""]):
        pair.check("".join(line))
