"""The joiner's byte budgets (issue 7, "Peak RSS stays under 300 MB for any file").

Every field and table of the joiner is bounded in entries, but not their product:
messages in flight with every field at its bound, or keyed tables of long keys,
held hundreds of MB (and each commit copies the state).  ``join.MAX_HELD_BYTES``
bounds the strings of all messages in flight, ``MAX_TABLE_BYTES`` those of each
other keyed table; both joiners measure them alike (UTF-8 bytes) and expire the
same entries, so their events and saved states stay identical.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailtally.ingest import ParseResult
from mailtally.ingest.join import MAX_HELD_BYTES, MAX_TABLE_BYTES, _u8
from mailtally.ingest.join import Joiner as PyJoiner
from mailtally.ingest.parsers import (
    CleanupMessageId,
    Delivery,
    QmgrRemoved,
    QuotaRow,
    Reject,
    SieveAction,
    SmtpdClient,
    SpamVerdict,
)

_fastlog = pytest.importorskip("mailtally.ingest._fastlog")
CJoiner = _fastlog.Joiner


def ok(t: int, *records: Any) -> ParseResult:
    return ParseResult("ok", "t", t, tuple(records))


def same(c: Any, p: Any) -> None:
    assert c.state() == p.state()
    assert c.counters() == p.counters()


def at_bounds(i: int, ch: str = "a", t: int = 100) -> list[ParseResult]:
    """A message never removed, with a 320-character user, a 998-character Message-ID
    and one delivery (to= and orig_to= of 320 characters): 2.3 KB of strings."""
    q = f"{i:010X}"
    a = f"{i:08d}" + ch * 306 + "@x.org"
    return [
        ok(t, SmtpdClient(q, "203.0.113.9", 25, a, None)),
        ok(t, CleanupMessageId(q, a[:-6] + "m" * (998 - 314) + "@x.org")),
        ok(t, Delivery(q, a, "o" + a[1:], "mx[127.0.0.1]:24", "sent", "lmtp", "250 ok")),
    ]


def msg_bytes(state: dict[str, Any]) -> int:
    """The strings of the messages in a saved state, in UTF-8 bytes (MAX_HELD_BYTES)."""
    n = 0
    for _, m in state["msgs"]:
        n += sum(_u8(m[k]) for k in ("client", "sasl", "msgid", "parent"))
        for k in ("locals", "bounced", "fwds", "relays"):
            for key, v in m[k].items():
                n += _u8(key) + _u8(v[0]) + (_u8(v[1]) if k in ("locals", "bounced") else 0)
    return n


def test_messages_in_flight_hold_at_most_max_held_bytes() -> None:
    """9,000 messages at the bounds (21 MB of strings, under max_entries): past
    MAX_HELD_BYTES the oldest are counted as they stand and dropped, alike in both
    joiners, across a saved state too (the weights are derived when loading)."""
    n = 9_000
    c, p = CJoiner(), PyJoiner()
    for i in range(n):
        if i == n // 2:
            c, p = CJoiner.from_state(c.state()), PyJoiner.from_state(p.state())
        for r in at_bounds(i):
            assert c.feed(r) == p.feed(r)
    same(c, p)
    state = p.state()
    assert p._bytes == msg_bytes(state)
    # shed at the start of a line: at most one line's strings over the bound
    assert MAX_HELD_BYTES - 3_000 < msg_bytes(state) <= MAX_HELD_BYTES + 1_000
    assert p.expired > 1_000 and len(state["msgs"]) < n - 1_000
    # the oldest went, counted: one MessageIn each, for their one recipient
    assert state["msgs"][0][0] == f"{p.expired:010X}"


@pytest.mark.parametrize("ch", ["é", "€", "\U0001f600", "\udcff"])
def test_non_ascii_strings_are_weighed_in_utf8_alike(ch: str) -> None:
    """The compiled joiner holds UTF-8 (lone surrogates as "surrogatepass"): the Python
    one weighs the same bytes, so both shed the same messages (the Python parser hands
    such lines to either joiner)."""
    n = 6_000  # (3.8 KB of UTF-8 each with é: 23 MB)
    c, p = CJoiner(), PyJoiner()
    for i in range(n):
        for r in at_bounds(i, ch):
            assert c.feed(r) == p.feed(r)
    same(c, p)
    assert p.expired > 0
    assert p._bytes == msg_bytes(p.state()) <= MAX_HELD_BYTES + 4_000


def table_bytes(state: dict[str, Any], name: str) -> int:
    if name == "children":
        return sum(_u8(a) + sum(_u8(b) for b in bs) for a, _, bs in state["children"])
    if name == "quota":
        return sum(_u8(k) + _u8(v[0]) + _u8(v[1]) for k, v in state["quota"].items())
    if name == "quota_done":
        return sum(_u8(k) for k in state["quota_done"])
    return sum(_u8(row[0]) for row in state[name])


def flood(name: str, n: int) -> list[ParseResult]:
    """n lines that each add an entry of long keys to one keyed table."""
    user = "u" * 300 + "@x.org"
    mid = "m" * 992 + "@x.org"
    out = []
    for i in range(n):
        u, m, q = f"{i:08d}{user}", f"{i:08d}{mid}", f"{i:08d}" + "Q" * 312
        if name == "pending_junk":  # a junk fileinto before its delivery (never comes)
            r: Any = SieveAction(u, "fileinto", "Junk", m, f"{i:08d}" + "s" * 312)
        elif name == "sieve_fwd":
            r = SieveAction(u, "redirect", "x@y.org", m)
        elif name == "pending_verdicts":  # verdicts on messages not seen (yet)
            r = SpamVerdict(q, "spam")
        elif name == "children":  # 64 re-injections of each of n // 64 messages
            r = SmtpdClient(f"{i:08d}" + "B" * 312, "127.0.0.1", 25, None, f"{i // 64:08d}{q[8:]}")
        elif name == "done":  # messages rejected before queueing: done at once
            out.append(ok(100, SmtpdClient(q, "203.0.113.9", 25, None, None)))
            r = Reject(q, "DATA", None, True)
        else:  # quota rows of one kind only: never complete
            r = QuotaRow(u, "User quota " + "r" * 300, "STORAGE", i)
        out.append(ok(100, r))
    if name == "quota_done":  # each row completed: reported, remembered as done
        rows = []
        for i in range(n):
            u = f"{i:08d}{user}"
            rows += [
                ok(100, QuotaRow(u, "q", "STORAGE", 1)),
                ok(100, QuotaRow(u, "q", "MESSAGE", 1)),
            ]
        return rows
    return out


@pytest.mark.parametrize(
    ("name", "n"),
    [
        ("pending_junk", 3_000),
        ("sieve_fwd", 4_000),
        ("pending_verdicts", 15_000),
        ("children", 14_000),
        ("done", 15_000),
        ("quota", 6_000),
        ("quota_done", 15_000),
    ],
)
def test_keyed_tables_hold_at_most_max_table_bytes(name: str, n: int) -> None:
    """Lines that fill one keyed table with long keys (each line at the bounds the
    parsers allow): past MAX_TABLE_BYTES its oldest entries go (quota rows reported as
    they stand), alike in both joiners and across a saved state."""
    rs = flood(name, n)
    c, p = CJoiner(), PyJoiner()
    for k, r in enumerate(rs):
        if k == len(rs) // 2:
            c, p = CJoiner.from_state(c.state()), PyJoiner.from_state(p.state())
        assert c.feed(r) == p.feed(r)
    same(c, p)
    state = p.state()
    size = table_bytes(state, name)
    assert size <= MAX_TABLE_BYTES
    if name != "quota_done":  # (cleared whole past the bound)
        assert size > MAX_TABLE_BYTES - 30_000, size
    table = state[name]
    added = 2 * n if name == "pending_junk" else n  # (a key by Message-ID, one by session)
    if name == "children":
        added = n // 64
    assert len(table) < added, len(table)  # the bound, not max_entries, cut it
    if name == "quota":
        assert p.events > 0  # the oldest rows were reported as they stood


def test_an_entry_over_the_table_bound_alone_is_kept_alike() -> None:
    """Records handed to add()/feed() directly are not held to the parsers' bounds: an
    entry over MAX_TABLE_BYTES on its own stays (the one just added is never trimmed,
    its value is still to be stored), the older ones go, in both joiners."""
    big = "Q" * (MAX_TABLE_BYTES + 10)
    rs = [
        ok(100, SpamVerdict("small", "spam")),
        ok(100, SpamVerdict(big, "spam")),
        ok(100, SmtpdClient("B1", "127.0.0.1", 25, None, "A" + big)),
        ok(100, SmtpdClient("B2", "127.0.0.1", 25, None, "A" + big)),
        ok(100, QuotaRow("u@x.org", "q", "STORAGE", 1)),
        ok(100, QuotaRow("u" + big, "q", "STORAGE", 1)),
        ok(100, QuotaRow("u" + big, "q", "MESSAGE", 2)),
        ok(100, SpamVerdict("after", "ham")),
    ]
    c, p = CJoiner(), PyJoiner()
    for r in rs:
        assert c.feed(r) == p.feed(r)
        same(c, p)
    state = p.state()
    assert [q for q, *_ in state["pending_verdicts"]] == ["after"]
    assert [len(bs) for _, _, bs in state["children"]] == [2]
    assert p.events == 2  # u@x.org reported as it stood, then the big user's pair


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(1, 2_500),  # messages in the run
            st.sampled_from(["a", "é", "€", "\U0001f600"]),
            st.sampled_from(["open", "removed", "relinked"]),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_the_budget_expires_alike(runs: list[tuple[int, str, str]]) -> None:
    """Runs of messages at the bounds (of characters of 1 to 4 UTF-8 bytes), some
    removed, some re-linked (a parent, inherited sasl), crossing MAX_HELD_BYTES or not:
    the same events and state from both joiners, and the weight kept equal to what
    the messages hold."""
    c, p = CJoiner(), PyJoiner()
    base = 0
    for t, (n, ch, how) in enumerate(runs):
        for i in range(base, base + n):
            rs = at_bounds(i, ch, t=100 + t)
            if how == "removed":
                rs.append(ok(100 + t, QmgrRemoved(f"{i:010X}")))
            elif how == "relinked" and i:
                rs.append(
                    ok(100 + t, SmtpdClient(f"R{i:09X}", "10.0.0.1", 1, None, f"{i - 1:010X}"))
                )
            for r in rs:
                assert c.feed(r) == p.feed(r)
        base += n
        same(c, p)
        assert p._bytes == msg_bytes(p.state())
    assert c.expire_all() == p.expire_all()
    same(c, p)


# (VmHWM, not getrusage: ru_maxrss survives fork and exec, so a child of a large
# pytest process would report its parent's peak)
RSS_CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import hostile
run = hostile.CASES[sys.argv[2]]()
run()
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(json.dumps({"rss_mb": int(hwm) / 1024}))
"""


@pytest.mark.parametrize("pure", [False, True], ids=["compiled", "python"])
@pytest.mark.parametrize(
    ("case", "env", "bound"),
    [
        # 150,000 recipients of 320 characters, 1,000 to each message never removed:
        # 320-400 MB before (both paths), about 200 MB now
        ("recipients_at_the_bound", {"HOSTILE_RCPTS": "150000"}, 280),
        # 60,000 messages at the bounds: 330-380 MB before, about 200 MB now
        ("in_flight_at_the_bounds", {"HOSTILE_AT_BOUND_MSGS": "60000"}, 280),
    ],
)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""), reason="ASan's own memory")
def test_ingesting_a_file_at_the_bounds_keeps_rss_under_the_bound(
    case: str, env: dict[str, str], bound: int, pure: bool, tmp_path
) -> None:
    """`mailtally ingest` of a crafted file (bench/hostile.py's cases, scaled down)
    in a child process: its peak RSS, both paths."""
    bench = os.path.join(os.path.dirname(__file__), "..", "bench")
    e = dict(os.environ, **env)
    e["MAILTALLY_PURE_PYTHON"] = "1" if pure else "0"
    # the crafted log and its store (~150 MB) go under pytest's own temporary
    # folder, which it cleans, not into a mkdtemp() of /tmp that nobody removes
    e["TMPDIR"] = str(tmp_path)
    out = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, bench, case],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
        env=e,
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["rss_mb"] < bound, r
