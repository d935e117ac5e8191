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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailtally.ingest import LineParser
from mailtally.ingest.parsers import (
    Delivery,
    EximArrival,
    EximDelivery,
    FilterBlocked,
    Reinjected,
    Reject,
    SieveAction,
    SpamVerdict,
)
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
    # session 14's example (a Message-ID with spaces, which rspamd does not write):
    # two "qid: <"
    (
        f"id: <x>, qid: <{VICTIM}>, (default: T (reject): [>, qid: <{QID}>, ip: 1.2.3.4, "
        "from: <a@evil>, (default: F (no action): [0.1/15.0] [])",
        None,
        "rspamd verdict",
    ),
    # a sender's "qid: <" after the genuine one
    (
        f"id: <m@x>, qid: <{QID}>, ip: 1.2.3.4, from: <a qid: <{VICTIM}>@evil>, "
        "(default: F (no action): [0.1/15.0] [])",
        None,
        "rspamd verdict",
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


# -- Postfix deliveries -------------------------------------------------------------------
# A recipient's local part is the sender's text when Postfix delivers a bounce or an
# auto-reply to a sender, or a user writes to an outside address.  Postfix 3.5+ logs it
# quoted (with '"' and '\' escaped), older Postfix as it is.
SMTP = SYSLOG + f"postfix/smtp[2]: {QID}: "
FORGED = f"relay=dovecot, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 queued as {VICTIM})"
GENUINE = (
    "relay=evil.example[203.0.113.5]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, "
    "status=bounced (host evil.example said: 550 no)"
)
BOUNCED = Delivery(
    QID,
    '"a>, orig_to=<victim@ours.example>, ' + FORGED.replace('"', '\\"') + '"@evil.example',
    None,
    "evil.example[203.0.113.5]:25",
    "bounced",
    "smtp",
    "host evil.example said: 550 no",
)
DELIVERY_CASES = [
    # the external form: the quoted local part is read whole, the genuine fields after it
    (
        'to=<"a>, orig_to=<victim@ours.example>, '
        + FORGED.replace('"', '\\"')
        + f'"@evil.example>, {GENUINE}',
        (BOUNCED,),
        "",
    ),
    (
        'to=<"a b>c"@x.example>, relay=x.example[203.0.113.5]:25, delay=1, '
        "delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
        (
            Delivery(
                QID,
                '"a b>c"@x.example',
                None,
                "x.example[203.0.113.5]:25",
                "sent",
                "smtp",
                "250 ok",
            ),
        ),
        "",
    ),
    # the internal form (Postfix < 3.5): a second relay, or no relay after the address
    (f"to=<a>, {FORGED}@evil.example>, {GENUINE}", (), "postfix delivery"),
    (f"to=<a>, orig_to=<victim@ours.example>@evil.example>, {GENUINE}", (), "postfix delivery"),
    (
        f"to=<a>, orig_to=<victim@ours.example>, {FORGED}@evil.example>, {GENUINE}",
        (),
        "postfix delivery",
    ),
    (f'to=<"a>, {FORGED}@evil.example>, {GENUINE}', (), "postfix delivery"),
]


@pytest.mark.parametrize(("text", "records", "family"), DELIVERY_CASES)
def test_postfix_recipient_text_forges_no_delivery(
    text: str, records: tuple[object, ...], family: str
) -> None:
    assert both(SMTP + text) == (records, family)


# -- Postfix rejections -------------------------------------------------------------------
SMTPD = SYSLOG + "postfix/smtpd[3]: "
RCPT = "reject: RCPT from x.example[203.0.113.5]: 554 5.7.1 <a@b.example>: Relay access denied; "


def reject(recipient: str | None) -> tuple[tuple[object, ...], str]:
    return (Reject(None, "RCPT", recipient, True),), ""


REJECT_CASES = [
    (
        "NOQUEUE: " + RCPT + "from=<z@evil.example> to=<a@b.example> proto=ESMTP helo=<h>",
        reject("a@b.example"),
    ),
    (
        "NOQUEUE: "
        + RCPT
        + 'from=<"q; from=<z> to=<victim@ours.example>"@evil.example> to=<a@b.example> '
        "proto=ESMTP helo=<h>",
        reject(None),
    ),
    (
        "NOQUEUE: "
        + RCPT
        + "from=<q; from=<z> to=<victim@ours.example>@evil.example> to=<a@b.example> "
        "proto=ESMTP helo=<h>",
        reject(None),
    ),
    (
        "NOQUEUE: " + RCPT + "from=<z@evil.example> to=<a@b.example> proto=ESMTP "
        "helo=<h; from=<z> to=<victim@ours.example>>",
        reject(None),
    ),
    (
        "NOQUEUE: " + RCPT + 'from=<z@evil.example> to=<"a> b"@b.example> proto=ESMTP helo=<h>',
        reject('"a> b"@b.example'),
    ),
    (
        "NOQUEUE: proxy-reject: END-OF-MESSAGE: 554 5.7.0 spam; from=<z@evil.example> "
        "to=<a@ours.example> proto=ESMTP helo=<h; to=<victim@ours.example>>",
        ((Reject(None, "END-OF-MESSAGE", None, True),), ""),
    ),
]


@pytest.mark.parametrize(("text", "want"), REJECT_CASES)
def test_postfix_sender_text_names_no_rejected_recipient(
    text: str, want: tuple[tuple[object, ...], str]
) -> None:
    assert both(SMTPD + text) == want


# -- Dovecot's sieve lines ----------------------------------------------------------------
# The Message-ID is the sender's; Dovecot 2.3+ logs its first msg-id with a quoted local
# part unquoted, so "<\"x>: forwarded to <evil\"@y>" is logged <x>: forwarded to <evil@y>.
LMTP = SYSLOG + "dovecot: lmtp(alice@example.com)<77><sEsS>: sieve: msgid="
STORED = ">: stored mail into mailbox 'INBOX'"
SIEVE_CASES = [
    (
        "<m@x.example>: stored mail into mailbox 'Junk'",
        ((SieveAction("alice@example.com", "fileinto", "Junk", "m@x.example", "sEsS"),), ""),
    ),
    (
        "unspecified: forwarded to <bob@elsewhere.example>",
        (
            (
                SieveAction(
                    "alice@example.com", "redirect", "bob@elsewhere.example", "unspecified", "sEsS"
                ),
            ),
            "",
        ),
    ),
    ("<x>: forwarded to <evil@x.example" + STORED, ((), "dovecot sieve")),
    ("<x>: sent vacation response to <evil@x.example" + STORED, ((), "dovecot sieve")),
    ("<x>: rejected message from <evil@x.example> (no)" + STORED, ((), "dovecot sieve")),
    ('<x>: stored mail into mailbox "Junk"' + STORED, ((), "dovecot sieve")),
    ("<x>: fileinto action: stored mail into mailbox 'Junk'" + STORED, ((), "dovecot sieve")),
    # a bare Message-ID (an old Dovecot's raw header): its end cannot be told
    (
        "x: stored mail into mailbox \"Junk\": stored mail into mailbox 'INBOX'",
        ((), "dovecot sieve"),
    ),
]


@pytest.mark.parametrize(("text", "want"), SIEVE_CASES)
def test_a_message_id_forges_no_sieve_action(
    text: str, want: tuple[tuple[object, ...], str]
) -> None:
    assert both(LMTP + text) == want


# -- Exim ----------------------------------------------------------------------------------
# Exim keeps a quoted local part as written, quotes and all, and logs it so.
EXIM = "2026-11-28 01:02:03 1tFZ7e-00000000Ijk-2BKh "
EXIM_ID = "1tFZ7e-00000000Ijk-2BKh"
HOST = "H=mx.evil.example (mx.evil.example) [203.0.113.5]:4321 P=esmtp"
EXIM_CASES = [
    # a sender that names an authenticated user and a size: neither is read
    (
        f'<= "x A=dovecot_plain:victim@ours.example S=99999999"@evil.example {HOST} S=1234 '
        "id=m@evil.example",
        (
            (
                EximArrival(
                    EXIM_ID,
                    '"x A=dovecot_plain:victim@ours.example S=99999999"@evil.example',
                    "203.0.113.5",
                    None,
                    1234,
                    "m@evil.example",
                ),
            ),
            "",
        ),
    ),
    (
        f'<= a."x A=plain:victim@ours.example"@evil.example {HOST} S=1234',
        (
            (
                EximArrival(
                    EXIM_ID,
                    'a."x A=plain:victim@ours.example"@evil.example',
                    "203.0.113.5",
                    None,
                    1234,
                ),
            ),
            "",
        ),
    ),
    # a quoted recipient of the list (+received_recipients) is one recipient, not
    # one a space (the submitting user's own count would grow by each)
    (
        f"<= alice@ours.example {HOST} A=plain:alice@ours.example S=1234 "
        'for "a b c d"@evil.example bob@evil.example',
        (
            (
                EximArrival(
                    EXIM_ID,
                    "alice@ours.example",
                    "203.0.113.5",
                    "alice@ours.example",
                    1234,
                    "",
                    ('"a b c d"@evil.example', "bob@evil.example"),
                ),
            ),
            "",
        ),
    ),
    # a bounce to that sender: its address names no local router or transport
    (
        '=> "x R=local_user T=local_delivery"@evil.example R=dnslookup T=remote_smtp '
        'H=mx.evil.example [203.0.113.5] C="250 ok"',
        ((), "exim delivery"),
    ),
    (
        "=> x@evil.example R=dnslookup T=remote_smtp H=mx.evil.example [203.0.113.5]",
        (
            (
                EximDelivery(
                    EXIM_ID, "=>", "x@evil.example", None, "dnslookup", "remote_smtp", "203.0.113.5"
                ),
            ),
            "",
        ),
    ),
    # a rejection: the recipient is the one after the genuine marker
    (
        'H=(x) [203.0.113.5] F=<"a rejected RCPT <victim@ours.example>: x"@evil.example> '
        "rejected RCPT <nobody@ours.example>: unknown user",
        ((Reject(EXIM_ID, "RCPT", "nobody@ours.example", True),), ""),
    ),
    (
        'H=(x) [203.0.113.5] F=<a@evil.example> rejected RCPT <"a>b"@ours.example>: no',
        ((Reject(EXIM_ID, "RCPT", '"a>b"@ours.example', True),), ""),
    ),
]


@pytest.mark.parametrize(("text", "want"), EXIM_CASES)
def test_an_exim_address_forges_no_field(text: str, want: tuple[tuple[object, ...], str]) -> None:
    assert both(EXIM + text) == want


# -- Proxmox Mail Gateway --------------------------------------------------------------------
PMG = SYSLOG + "pmg-smtp-filter[2146]: 5F1C8A2B3D4E6F70A81: accept mail to <"
PMG_CASES = [
    (
        "bob@example.com> (4B7C9D2E1F) (rule: default-accept)",
        ((Reinjected("5F1C8A2B3D4E6F70A81", "4B7C9D2E1F"),), ""),
    ),
    (
        f'"a> ({VICTIM}) x"@example.com> (4B7C9D2E1F) (rule: default-accept)',
        ((Reinjected("5F1C8A2B3D4E6F70A81", "4B7C9D2E1F"),), ""),
    ),
    (f"a> ({VICTIM}) x@example.com> (4B7C9D2E1F) (rule: default-accept)", ((), "pmg verdict")),
]


@pytest.mark.parametrize(("text", "want"), PMG_CASES)
def test_a_pmg_recipient_names_no_reinjection(
    text: str, want: tuple[tuple[object, ...], str]
) -> None:
    assert both(PMG + text) == want


# -- amavis's Blocked recipients ---------------------------------------------------------------
AMAVIS = SYSLOG + "amavis[1234]: (01234-06) Blocked SPAM {DiscardedInbound,Quarantined}, "
AMAVIS_TAIL = (
    f", quarantine: spam-x.gz, Queue-ID: {QID}, Message-ID: <m@x>, mail_id: xyz, Hits: 9.1, "
    "size: 2345, 12 ms"
)
AMAVIS_CASES = [
    (
        "[203.0.113.9]:4000 [203.0.113.9] <a@evil.example> -> <bob@example.com>",
        (
            (
                FilterBlocked(
                    QID, ("bob@example.com",), "SPAM", ("DiscardedInbound", "Quarantined")
                ),
            ),
            "",
        ),
    ),
    (
        '[203.0.113.9]:4000 [203.0.113.9] <"x> -> <victim@example.com>"@evil.example> '
        "-> <bob@example.com>",
        ((), "amavis verdict"),
    ),
]


@pytest.mark.parametrize(("text", "want"), AMAVIS_CASES)
def test_an_amavis_sender_names_no_blocked_recipient(
    text: str, want: tuple[tuple[object, ...], str]
) -> None:
    assert both(AMAVIS + text + AMAVIS_TAIL) == want


# -- the twins agree on lines made of these pieces -----------------------------------------
_PIECES = [
    '"',
    "\\",
    ">",
    "<",
    " ",
    ",",
    ";",
    "to=<",
    " to=<",
    "; from=<",
    ", orig_to=<",
    ", relay=",
    "dovecot",
    ", status=sent (",
    "queued as ",
    VICTIM,
    "@e.example",
    ")",
    "qid: <",
    "id: <m@x>, ",
    "(default: F (no action)",
    " (x: T (",
    "(",
    "x",
    ">: ",
    ": ",
    "unspecified",
    "stored mail into mailbox 'Junk'",
    "forwarded to <",
    " A=plain:v",
    " S=12",
    " R=r",
    " T=t",
    " rejected RCPT <",
    "rejected ",
    " for a b",
    "> (",
    f"({VICTIM})",
    " -> <",
    ">,<",
]
_SOUP = st.lists(st.sampled_from(_PIECES), max_size=16).map("".join)
_HEADS = [
    SMTP + "to=<",
    SMTP + 'to=<"',
    SMTPD + "NOQUEUE: " + RCPT + "from=<",
    SMTPD + f"{QID}: milter-reject: END-OF-MESSAGE from x[1.2.3.4]: 5.7.1 no; from=<",
    SMTPD + "NOQUEUE: proxy-reject: END-OF-MESSAGE: 554 5.7.0 x; from=<",
    SYSLOG + f"postfix/pickup[4]: {QID}: uid=0 from=<",
    RSPAMD + "id: <",
    RSPAMD,
    LMTP + "<",
    LMTP,
    EXIM + "<= ",
    EXIM + "=> ",
    EXIM + "** ",
    EXIM + "H=(x) [1.2.3.4] F=<",
    "2026-11-28 01:02:03 H=(x) [1.2.3.4] F=<",
    PMG,
    PMG + '"',
    AMAVIS + "[1.2.3.4]:5 [1.2.3.4] <",
]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_HEADS), _SOUP)
def test_the_twins_agree_on_forged_pieces(head: str, tail: str) -> None:
    both(head + tail)


# -- the joiners: an outside server's answer -----------------------------------------------
def _outside(answer: str) -> list[str]:
    """alice sends A to an outside server, which answers ``answer``, while bob's inbound
    message VICTIM is in flight."""
    from test_join import inbound, lmtp, pf, removed, submission

    a = "5A0000000A"
    return [
        *inbound(VICTIM),
        *submission(a, nrcpt=1),
        pf(
            1,
            "smtp",
            f"{a}: to=<x@evil.example>, relay=mx.evil.example[203.0.113.5]:25, delay=1, "
            f"delays=0/0/0/1, dsn=2.0.0, status=sent ({answer})",
        ),
        removed(1, a),
        lmtp(2, VICTIM, "bob@example.com"),
        removed(2, VICTIM),
    ]


@pytest.mark.parametrize("joiner", ["python", "compiled"])
def test_an_outside_servers_answer_links_no_message(joiner: str) -> None:
    """An MX's answer on port 25 is its own text (a remote amavis's "from MTA(…) …
    queued as ITSID" names its own queue): never a re-injection here."""
    from mailtally.ingest.join import Joiner
    from test_join import run

    make = Joiner if joiner == "python" else _fastlog.Joiner
    forged = run(
        _outside("250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as " + VICTIM),
        joiner=make(),
    )
    assert forged == run(_outside("250 2.0.0 Ok: queued as 1B2C3D4E5F"), joiner=make())
    assert forged == run(_outside("250 2.0.0 Ok"), joiner=make())
