"""Review probes: the parser rules of session 13 (Exim bare RCPT, rspamd severity,
Pigeonhole reject), the C parser against the reference, on edge cases."""

from __future__ import annotations

import pytest

from test_fastlog_parse import Pair

EXIM = "2026-11-28 01:02:03 1vAbCd-000123-Xy H=(x) [203.0.113.9] F=<s@x.org> "
DC = "Nov 28 01:02:03 mail dovecot: "
LINES = [
    EXIM + "rejected RCPT a@b: why",
    EXIM + "rejected RCPT a@b: ",
    EXIM + "rejected RCPT a@b:why",
    EXIM + "rejected RCPT :x: why",
    EXIM + "rejected RCPT a b: why",
    EXIM + "rejected RCPT a@b NOTIFY=NEVER: why",
    EXIM + "temporarily rejected RCPT a@b: why",
    EXIM + "rejected RCPT a\tb@c: why",
    "2026-11-28 01:02:03 H=(x) [203.0.113.9] F=<s@x.org> rejected RCPT bob@example.com: unknown",
    "2026-11-28 01:02:03 [notice] #1234(normal) <abcdef>; task; rspamd_task_write_log: id: <m@x>",
    "2026-11-28 01:02:03 [a] #1(x) <t>; y",
    "2026-11-28 01:02:03 [] #1(x) <t>; y",
    "2026-11-28 01:02:03 [abcdefghijkl] #1(x) <t>; y",
    "2026-11-28 01:02:03 [abcdefghijklm] #1(x) <t>; y",
    "2026-11-28 01:02:03 [12] #1(x) <t>; y",
    "2026-11-28 01:02:03 [no] #",
    "2026-11-28 01:02:03.123 [info] #1(normal) <t>; y",
    DC + "lmtp(bob@example.com)<4242><S1>: sieve: msgid="
    "<m@x>: rejected message from <s@x.org> (reject)",
    DC + "lmtp(bob@example.com)<4242><S1>: sieve: msgid="
    "<m@x>: rejected message from <s@x.org (ereject)",
    DC + "lmtp(bob@example.com)<4242><S1>: sieve: msgid=<m@x>: rejected message from <> (reject)",
    DC + "lmtp(bob@example.com)<4242><S1>: sieve: msgid="
    "unspecified: rejected message from <s@x> (reject)",
    DC + "lmtp(bob@example.com): sieve: msgid="
    "<m@x>: reject action: rejected message from <s@x> (reject)",
    DC + "lmtp(12345, bob@example.com): sieve: msgid=<m@x>: rejected message from <",
    DC + "lmtp(bob@example.com)<4242><S1>: sieve: msgid=<m@x>: not sending reject message to <>",
    DC + "lmtp(bob@example.com)<4242><S1>: sieve: msgid=<m@x>: not sending reject message "
    "(would cause second response to sender)",
    DC
    + "lmtp(bob@example.com)<4242><S1>: sieve: msgid=<m@x>: not sending reject message (skipped)",
]


@pytest.mark.parametrize("line", LINES)
def test_the_compiled_parser_reads_the_edges_of_the_new_rules_as_the_reference(line: str) -> None:
    Pair().check(line)  # (asserts the C parser's records are the reference's)


@pytest.mark.parametrize(
    "line",
    [
        EXIM + "rejected RCPT :x: why",
        EXIM + "rejected RCPT a\tb@c: why",
        EXIM + "rejected RCPT a b: why",
    ],
)
def test_a_bare_rejected_recipient_that_is_no_address_is_not_understood(line: str) -> None:
    """(review L7) A blank, a control character, ':' or '<>' in a bare recipient: no
    denial counted for it, the line reported as not understood."""
    assert Pair().ref.parse(line).status == "unknown"
