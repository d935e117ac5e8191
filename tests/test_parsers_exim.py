"""Exim's main log and spamd's results: a table of real-format lines and what each says.

The lines are written in each program's exact format, as its source builds them:
Exim 4.96-4.98 (deliver.c delivery_log / failure_log / string_log_address,
receive.c's "<=" line, smtp_in.c's smtp_handle_acl_fail, log.c's prefix) and
SpamAssassin's spamd/spamd.raw ("spamd: result: …").  Both forms of the log: Exim's
own mainlog (no host, no program; +millisec, log_timezone and +pid variants) and
syslog (``exim[pid]:``, with or without the date inside, syslog_timestamp).
"""

from __future__ import annotations

import calendar

import pytest

from mailtally.ingest import LineParser
from mailtally.ingest.parsers import (
    EximArrival,
    EximCompleted,
    EximDelivery,
    Record,
    Reject,
    SpamdResult,
)

REF = calendar.timegm((2026, 11, 28, 23, 0, 0))
T = calendar.timegm((2026, 11, 28, 1, 2, 3))
P = LineParser(reference=REF)

NEW = "1tFZ7e-00000000Ijk-2BKh"  # 4.97+: 6-11-4
OLD = "1abcDE-0001Ab-C2"  # before 4.97: 6-6-2
FILE = "2026-11-28 01:02:03"  # Exim's own mainlog, deployment zone (UTC here)
SYS = "Nov 28 01:02:03 mx1 exim[4321]:"

ARRIVAL_IN = EximArrival(
    NEW, "bob@remote.example", "198.51.100.7", None, 2345, "abc.123@remote.example"
)


@pytest.mark.parametrize(
    ("text", "records"),
    [
        # -- arrivals ---------------------------------------------------------------------
        (
            f"{FILE} {NEW} <= bob@remote.example H=mx.remote.example (mx.remote.example) "
            "[198.51.100.7]:41234 P=esmtps X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no S=2345 "
            "id=abc.123@remote.example",
            (ARRIVAL_IN,),
        ),
        # +millisec, log_timezone, +pid; the old id; the host without a name
        (
            f"2026-11-28 02:02:03.456 +0100 [12345] {OLD} <= bob@remote.example "
            "H=(helo.remote.example) [198.51.100.7] P=esmtp S=2345 id=abc.123@remote.example",
            (
                EximArrival(
                    OLD, "bob@remote.example", "198.51.100.7", None, 2345, "abc.123@remote.example"
                ),
            ),
        ),
        # an authenticated submission with +received_recipients, a subject with " for "
        # and an escaped quote in it, +smtp_mailauth's A=auth:id:sender
        (
            f"{FILE} {NEW} <= alice@example.com H=(laptop) [203.0.113.5]:52811 P=esmtpsa "
            "X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no A=dovecot_plain:alice@example.com:<> "
            'S=1234 id=x1@example.com T="Lunch \\"for\\" two for Carol" for carol@else.example '
            "dave@example.com Carol@Else.example",
            (
                EximArrival(
                    NEW,
                    "alice@example.com",
                    "203.0.113.5",
                    "alice@example.com",
                    1234,
                    "x1@example.com",
                    ("carol@else.example", "dave@example.com", "Carol@Else.example"),
                ),
            ),
        ),
        # IPv6, the host name only in brackets, a created Message-ID (id*= of +msg_id_created)
        (
            f"{FILE} {NEW} <= alice@example.com H=[2001:db8::5] P=esmtpa A=login:alice S=99 "
            "id*=E1tFZ7e-00000000Ijk-2BKh@mx1.example.com",
            (
                EximArrival(
                    NEW,
                    "alice@example.com",
                    "2001:db8::5",
                    "alice",
                    99,
                    "E1tFZ7e-00000000Ijk-2BKh@mx1.example.com",
                ),
            ),
        ),
        # a bounce (sender <>, R= the message it refers to), locally generated: no H=
        (
            f"{FILE} {NEW} <= <> R={OLD} U=Debian-exim P=local S=3100",
            (EximArrival(NEW, "", None, None, 3100, local_user="Debian-exim"),),
        ),
        # +received_recipients cut off by the log buffer: the recipients are not known
        (
            f"{FILE} {NEW} <= a@example.com H=(x) [203.0.113.5] P=esmtpa A=plain:a@example.com "
            "S=10 for b@x.example c@x.exam<trunc>",
            (EximArrival(NEW, "a@example.com", "203.0.113.5", "a@example.com", 10),),
        ),
        # fakereject: the message is accepted ("(=")
        (
            f"{FILE} {NEW} (= spam@spam.example H=(x) [198.51.100.9] P=esmtp S=500 id=s@x",
            (EximArrival(NEW, "spam@spam.example", "198.51.100.9", None, 500, "s@x"),),
        ),
        # -- deliveries -------------------------------------------------------------------
        # cPanel: Dovecot's LMTP through the lmtp driver (a local transport: no H=)
        (
            f"{FILE} {NEW} => alice@example.com R=virtual_user T=dovecot_virtual_delivery "
            'C="250 2.0.0 <alice@example.com> k2FvAQ Saved"',
            (
                EximDelivery(
                    NEW, "=>", "alice@example.com", None, "virtual_user", "dovecot_virtual_delivery"
                ),
            ),
        ),
        # cPanel: into the spam folder
        (
            f"{FILE} {NEW} => alice@example.com R=virtual_user_spam T=virtual_sa_userdelivery",
            (
                EximDelivery(
                    NEW,
                    "=>",
                    "alice@example.com",
                    None,
                    "virtual_user_spam",
                    "virtual_sa_userdelivery",
                ),
            ),
        ),
        # Debian: an accept router logs the local part only (log_as_local)
        (
            f"{FILE} {OLD} => alice <alice@example.com> R=local_user T=mail_spool",
            (EximDelivery(OLD, "=>", "alice", "alice@example.com", "local_user", "mail_spool"),),
        ),
        # an alias, with +all_parents' intermediate parent and +sender_on_delivery
        (
            f"{FILE} {NEW} => alice@example.com (team@example.com) <sales@example.com> "
            "F=<bob@remote.example> R=virtual_aliases T=dovecot_lmtp_udp",
            (
                EximDelivery(
                    NEW,
                    "=>",
                    "alice@example.com",
                    "sales@example.com",
                    "virtual_aliases",
                    "dovecot_lmtp_udp",
                ),
            ),
        ),
        # a forward to another server (+outgoing_port, DNSSEC)
        (
            f"{FILE} {NEW} => ext@gmail.example <alice@example.com> R=virtual_aliases "
            "T=remote_smtp H=gmail-smtp-in.l.google.example DS [192.0.2.10]:25 "
            'X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes C="250 2.0.0 OK 1764290400 x1si gsmtp"',
            (
                EximDelivery(
                    NEW,
                    "=>",
                    "ext@gmail.example",
                    "alice@example.com",
                    "virtual_aliases",
                    "remote_smtp",
                    "192.0.2.10",
                ),
            ),
        ),
        (
            f"{FILE} {NEW} -> dan@else.example R=dnslookup T=dkim_remote_smtp "
            'H=mx.else.example [2001:db8::25] C="250 OK" QT=1s DT=0.4s',
            (
                EximDelivery(
                    NEW,
                    "->",
                    "dan@else.example",
                    None,
                    "dnslookup",
                    "dkim_remote_smtp",
                    "2001:db8::25",
                ),
            ),
        ),
        # a pipe of a .forward (the top address in <>), a file, -N, cut-through
        (
            f"{FILE} {NEW} => |/usr/local/bin/vacation -a alice (alice@example.com) "
            "<alice@example.com> R=userforward T=address_pipe",
            (
                EximDelivery(
                    NEW,
                    "=>",
                    "|/usr/local/bin/vacation -a alice",
                    "alice@example.com",
                    "userforward",
                    "address_pipe",
                ),
            ),
        ),
        (
            f"{FILE} {NEW} => /home/alice/Mail/inbox <alice@example.com> R=userforward "
            "T=address_file",
            (
                EximDelivery(
                    NEW,
                    "=>",
                    "/home/alice/Mail/inbox",
                    "alice@example.com",
                    "userforward",
                    "address_file",
                ),
            ),
        ),
        (
            f"{FILE} {NEW} *> carol@else.example R=dnslookup T=remote_smtp H=mx.else.example "
            "[192.0.2.20]",
            (
                EximDelivery(
                    NEW, "*>", "carol@else.example", None, "dnslookup", "remote_smtp", "192.0.2.20"
                ),
            ),
        ),
        (
            f"{FILE} {NEW} >> alice@example.com R=smarthost T=remote_smtp_smarthost "
            "H=relay.example [192.0.2.30]",
            (
                EximDelivery(
                    NEW,
                    ">>",
                    "alice@example.com",
                    None,
                    "smarthost",
                    "remote_smtp_smarthost",
                    "192.0.2.30",
                ),
            ),
        ),
        # a local transport's host list: "H=name" without an address
        (
            f"{FILE} {NEW} => alice@example.com R=virtual_user T=lmtp_deliver H=mailstore",
            (EximDelivery(NEW, "=>", "alice@example.com", None, "virtual_user", "lmtp_deliver"),),
        ),
        # -- failures (4.96 ": msg", 4.98 " : msg") ----------------------------------------
        (
            f"{FILE} {NEW} ** alice@example.com R=virtual_user T=dovecot_virtual_delivery: "
            "Mailbox quota exceeded",
            (
                EximDelivery(
                    NEW, "**", "alice@example.com", None, "virtual_user", "dovecot_virtual_delivery"
                ),
            ),
        ),
        (
            f"{FILE} {NEW} ** nobody@else.example R=dnslookup T=remote_smtp H=mx.else.example "
            "[192.0.2.20] : SMTP error from remote mail server after RCPT "
            "TO:<nobody@else.example>: 550 5.1.1 No such user",
            (
                EximDelivery(
                    NEW, "**", "nobody@else.example", None, "dnslookup", "remote_smtp", "192.0.2.20"
                ),
            ),
        ),
        (
            f"{FILE} {NEW} ** nouser@example.com: Unrouteable address",
            (EximDelivery(NEW, "**", "nouser@example.com", None, "", ""),),
        ),
        (
            f"{FILE} {NEW} ** list@example.com <sales@example.com> R=virtual_aliases : "
            "The mail server could not deliver mail to list@example.com.",
            (
                EximDelivery(
                    NEW, "**", "list@example.com", "sales@example.com", "virtual_aliases", ""
                ),
            ),
        ),
        # -- Completed, rejections ---------------------------------------------------------
        (f"{FILE} {NEW} Completed", (EximCompleted(NEW),)),
        (f"{FILE} [777] {OLD} Completed QT=2s", (EximCompleted(OLD),)),
        (
            f"{FILE} H=mx.spam.example [198.51.100.9]:5123 F=<x@spam.example> rejected RCPT "
            "<alice@example.com>: Unrouteable address",
            (Reject(None, "RCPT", "alice@example.com", True),),
        ),
        (
            f"{FILE} H=(helo) [198.51.100.9] X=TLS1.2:ECDHE-RSA-AES256-GCM-SHA384:256 CV=no "
            "F=<x@spam.example> temporarily rejected RCPT <alice@example.com>: greylisted",
            (Reject(None, "RCPT", "alice@example.com", False),),
        ),
        (
            f"{FILE} H=(laptop) [203.0.113.5] F=<alice@example.com> "
            "A=dovecot_login:alice@example.com rejected RCPT <bob@remote.example> NOTIFY=NEVER: "
            "relay not permitted",
            (Reject(None, "RCPT", "bob@remote.example", True),),
        ),
        # -- the syslog form: with the date inside (syslog_timestamp) or not ----------------
        (f"{SYS} {FILE} {NEW} Completed", (EximCompleted(NEW),)),
        (
            f"{SYS} {NEW} <= bob@remote.example H=mx.remote.example [198.51.100.7] P=esmtps "
            "S=2345 id=abc.123@remote.example",
            (ARRIVAL_IN,),
        ),
        (
            f"Nov 28 01:02:03 mx1 exim4[4321]: {FILE}.123 {NEW} => alice@example.com "
            "R=virtual_user T=dovecot_virtual_delivery",
            (
                EximDelivery(
                    NEW, "=>", "alice@example.com", None, "virtual_user", "dovecot_virtual_delivery"
                ),
            ),
        ),
    ],
)
def test_exim(text: str, records: tuple[Record, ...]) -> None:
    res = P.parse(text)
    assert (res.status, res.program, res.time, res.records) == ("ok", "exim", T, records)


@pytest.mark.parametrize(
    "text",
    [
        f"{FILE} SMTP connection from mx.remote.example [198.51.100.7]:41234 "
        "(TCP/IP connection count = 1)",
        f"{FILE} SMTP connection from mx.remote.example [198.51.100.7] closed by QUIT",
        f"{FILE} no host name found for IP address 198.51.100.9",
        f"{FILE} Start queue run: pid=4242",
        f"{FILE} End queue run: pid=4242",
        f"{FILE} exim 4.98 daemon started: pid=1021, -q1h, listening for SMTP on port 25",
        f"{FILE} [4242] TLS error on connection from (helo) [198.51.100.9] (SSL_accept): timed out",
        f"{FILE} {NEW} == carol@else.example R=dnslookup T=remote_smtp defer (-44) "
        "H=mx.else.example [192.0.2.20]: SMTP error from remote mail server after RCPT TO: 451",
        f"{FILE} {NEW} Frozen (delivery error message)",
        f"{FILE} {NEW} Message is frozen",
        f"{FILE} {NEW} removed by root",
        f"{FILE} {NEW} SMTP error from remote mail server after end of data: 451 try later",
        # rejections that name no recipient
        f"{FILE} H=(helo) [198.51.100.9] F=<x@spam.example> rejected MAIL <x@spam.example>: "
        "sender verify failed",
        f"{FILE} H=(helo) [198.51.100.9] rejected EHLO or HELO helo: syntactically invalid",
        f"{FILE} {NEW} H=(helo) [198.51.100.9] F=<x@spam.example> rejected after DATA: Your "
        "message scored 15.2 SpamAssassin points",
        f"{SYS} SMTP connection from [198.51.100.7]:41234 (TCP/IP connection count = 1)",
        # spamd: lines that name no message, or a message without a Message-ID
        "Nov 28 01:02:03 mx1 spamd[4242]: spamd: connection from localhost [127.0.0.1]:45678 "
        "to port 783, fd 5",
        "Nov 28 01:02:03 mx1 spamd[4242]: spamd: processing message <abc.123@remote.example> "
        "for alice:1001",
        "Nov 28 01:02:03 mx1 spamd[4242]: spamd: identified spam (15.2/5.0) for alice:1001 in "
        "0.5 seconds, 2345 bytes.",
        "Nov 28 01:02:03 mx1 spamd[4242]: spamd: clean message (-1.0/5.0) for alice:1001 in "
        "0.3 seconds, 800 bytes.",
        "Nov 28 01:02:03 mx1 spamd[4242]: spamd: result: . -1 - MISSING_MID scantime=3.3,"
        "size=4260,user=debian-spamd,uid=117,required_score=5.0,rhost=127.0.0.1,"
        "raddr=127.0.0.1,rport=46436,mid=(unknown),autolearn=disabled",
    ],
)
def test_ignored(text: str) -> None:
    res = P.parse(text)
    assert res.status == "ignored", res
    assert res.program in ("exim", "spamd")


@pytest.mark.parametrize(
    ("text", "family"),
    [
        # counted families in a form not understood: reported with a sample, by family
        (f"{FILE} {NEW} <= bob@remote.example H=(x) [198.51.100.7] P=esmtp", "exim arrival"),
        (f"{SYS} {OLD} <= bob@remote.example H=(x) [198.51.100.7] S=12x", "exim arrival"),
        (f"{FILE} {NEW} (= bob@remote.example", "exim arrival"),  # no sender's fields
        (f"{FILE} {NEW} <= b@r.example S=1 id=<{'m' * 1000}@x>", "exim arrival"),  # id too long
        (f"{FILE} {NEW} => alice@example.com", "exim delivery"),  # no router or transport
        (f"{FILE} {NEW} => alice@example.com <sales@example.com", "exim delivery"),
        (f"{FILE} {NEW} -> a b c R=virtual_user T=lmtp", "exim delivery"),
        (f"{FILE} {NEW} *> carol@else.example (x R=dnslookup T=remote_smtp", "exim delivery"),
        (f"{FILE} {NEW} >> carol@else.example", "exim delivery"),
        (f"{FILE} {NEW} ** alice@example.com without a colon", "exim delivery"),
        (f"{SYS} {NEW} ** : Unrouteable address", "exim delivery"),
        (
            # a bare recipient cut off before its ": why" (a bare one with it is read:
            # test_format_audit.py)
            f"{FILE} H=(x) [198.51.100.9] F=<x@spam.example> rejected RCPT alice@example.com",
            "exim reject",
        ),
        (
            f"{FILE} H=(x) [198.51.100.9] F=<x@spam.example> rejected RCPT <" + "a" * 98,
            "exim reject",
        ),
        (f"{SYS} {NEW} H=(x) [198.51.100.9] temporarily rejected RCPT <a@b", "exim reject"),
        # an address longer than stamps.MAX_ADDRESS: read, then too long (of no family,
        # as Postfix's)
        (f"{FILE} {NEW} => {'a' * 321}@example.com R=virtual_user T=dovecot_virtual_delivery", ""),
        (
            "Nov 28 01:02:03 mx1 spamd[4242]: spamd: result: ? 3 - X scantime=1,mid=<a@b>",
            "spamd verdict",
        ),
        (
            "Nov 28 01:02:03 mx1 spamd[4242]: spamd: result: Y 15 - X scantime=0.5,size=2",
            "spamd verdict",
        ),
        (
            f"Nov 28 01:02:03 mx1 spamd[4242]: spamd: result: . 0 - X scantime=1,mid=<{'m' * 999}>",
            "spamd verdict",
        ),
    ],
)
def test_not_understood(text: str, family: str) -> None:
    res = P.parse(text)
    assert (res.status, res.family) == ("unknown", family), res
    assert res.program in ("exim", "spamd")
    assert res.program in ("exim", "spamd")


@pytest.mark.parametrize(
    ("text", "verdict", "mid"),
    [
        (
            "Nov 28 01:02:03 mx1 spamd[4242]: spamd: result: Y 15 - BAYES_99,URIBL_BLACK "
            "scantime=0.5,size=2345,user=alice,uid=1001,required_score=5.0,rhost=localhost,"
            "raddr=127.0.0.1,rport=45678,mid=<abc.123@remote.example>,autolearn=no "
            "autolearn_force=no",
            "spam",
            "abc.123@remote.example",
        ),
        (
            "Nov 28 01:02:03 mx spamd[4242]: spamd: result: . -1 - DKIM_SIGNED,SPF_PASS "
            "scantime=3.4,size=120289,user=debian-spamd,uid=119,required_score=5.0,"
            "rhost=127.0.0.1,raddr=127.0.0.1,rport=44944,mid=<11111111111111@uexample.org>,"
            "bayes=0.000012,autolearn=disabled",
            "ham",
            "11111111111111@uexample.org",
        ),
        # no test hit: the tests field is empty
        (
            "2026-11-28T01:02:03+00:00 mx1 spamd[4242]: spamd: result: .  0 -  scantime=0.1,"
            "size=800,user=alice,uid=1001,required_score=5.0,rhost=localhost,raddr=127.0.0.1,"
            "rport=45679,mid=<x1@example.com>,autolearn=ham",
            "ham",
            "x1@example.com",
        ),
    ],
)
def test_spamd(text: str, verdict: str, mid: str) -> None:
    res = P.parse(text)
    assert (res.status, res.program, res.time, res.records) == (
        "ok",
        "spamd",
        T,
        (SpamdResult(mid, verdict),),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("text", "program"),
    [
        # Dovecot's own file with an ISO log_timestamp is not Exim's
        (
            "2026-11-28 01:02:03 imap-login: Info: Login: user=<alice@example.com>, method=PLAIN, "
            "rip=203.0.113.5, lip=192.0.2.1, mpid=1, TLS",
            "dovecot",
        ),
        # rspamd's own file neither
        (
            "2026-11-28 01:02:03 #1234(normal) <abc123>; task; rspamd_task_write_log: id: <x@y>, "
            "qid: <4F2A1B2C3D>, ip: 198.51.100.7, from: <a@b>, (default: F (no action): [1.0/15.0] "
            "[X]), len: 10, time: 1ms, dns req: 0, digest: <d>, rcpts: <c@d>",
            "rspamd",
        ),
    ],
)
def test_other_files_with_the_same_stamp(text: str, program: str) -> None:
    assert P.parse(text).program == program


def test_the_mainlog_stamp_is_local_time_of_the_deployment_zone() -> None:
    line = f"{FILE} {NEW} Completed"
    berlin = LineParser(reference=REF, tz="Europe/Berlin")
    assert berlin.parse(line).time == T - 3600
    # ... unless the line carries its zone (log_timezone)
    assert berlin.parse(f"{FILE} +0000 {NEW} Completed").time == T


@pytest.mark.parametrize(
    ("text", "local_user"),
    [
        (f"{NEW} <= alice@example.com U=www-data P=local S=1234 id=w1@example.com", "www-data"),
        (f"{NEW} <= alice@example.com U=apache P=local-esmtp S=1234", "apache"),
        (f"{NEW} <= root@example.com U=root P=local S=99", "root"),
        # an SMTP client's U= is its ident answer: no local user
        (f"{NEW} <= a@b.example H=(x) [198.51.100.7] U=www-data P=esmtp S=1", None),
        (f"{NEW} <= a@b.example P=local S=1", None),
    ],
)
def test_the_user_of_a_local_submission(text: str, local_user: str | None) -> None:
    for line in (f"{FILE} {text}", f"{SYS} {text}"):
        (rec,) = P.parse(line).records
        assert isinstance(rec, EximArrival) and rec.local_user == local_user, line


def test_a_rejection_exim_writes_twice_to_syslog_counts_once() -> None:
    # Through syslog, a rejection reaches the stream from the main log and the reject
    # log alike (syslog_duplication, Exim's default): the second copy counts nothing.
    reject = f"{SYS} H=(x) [198.51.100.9] F=<s@spam.example> rejected RCPT <alice@example.com>: no"
    other = reject.replace("alice@", "bob@")
    p = LineParser(reference=REF)
    got = [p.parse(x).status for x in (reject, reject, f"{SYS} {NEW} Completed", reject, other)]
    assert got == ["ok", "ignored", "ok", "ok", "ok"]
    # a third copy in a row is another rejection (pairs are copies)
    assert [p.parse(x).status for x in (other, other)] == ["ignored", "ok"]
    # Exim's own main log holds each rejection once: two alike are two rejections
    own = reject.replace(SYS, FILE)
    assert [p.parse(own).status for _ in range(2)] == ["ok", "ok"]


_RCPT = "H=(x) [198.51.100.9] F=<s@spam.example> rejected RCPT <alice@example.com>: no"
_RCPT2 = _RCPT.replace("alice@", "bob@")
_RFC = "2026-11-28T01:02:03.{} mx1 exim[4321]: 2026-11-28 01:02:03 " + _RCPT


@pytest.mark.parametrize(
    "lines",
    [
        # RFC 3339 syslog stamps (rsyslog on Debian 12+, journald): the copies differ
        # in their microseconds
        [(_RFC.format("123456+00:00"), "ok"), (_RFC.format("123571+00:00"), "ignored")],
        # ... or straddle a second
        [
            ("2026-11-28T01:02:03.999990Z mx1 exim4[7]: " + _RCPT, "ok"),
            ("2026-11-28T01:02:04.000012Z mx1 exim4[7]: " + _RCPT, "ignored"),
        ],
        # two rejections in a row that are not copies: other text, other process, other
        # host, or 2 s apart
        [(f"{SYS} {_RCPT}", "ok"), (f"{SYS} {_RCPT2}", "ok")],
        [(f"{SYS} {_RCPT}", "ok"), (f"Nov 28 01:02:03 mx1 exim[4322]: {_RCPT}", "ok")],
        [(f"{SYS} {_RCPT}", "ok"), (f"Nov 28 01:02:03 mx2 exim[4321]: {_RCPT}", "ok")],
        [(f"{SYS} {_RCPT}", "ok"), (f"Nov 28 01:02:05 mx1 exim[4321]: {_RCPT}", "ok")],
        # a copy after lines of other hosts and programs (merged hosts, a busy syslog)
        [
            (f"{SYS} {_RCPT}", "ok"),
            (f"Nov 28 01:02:03 mx2 exim[4321]: {_RCPT}", "ok"),
            (f"Nov 28 01:02:03 mx1 exim[4322]: {_RCPT2}", "ok"),
            ("Nov 28 01:02:03 mx1 postfix/smtpd[9]: connect from x[198.51.100.9]", "ignored"),
            (f"Nov 28 01:02:04 mx2 exim[4321]: {_RCPT}", "ignored"),
            (f"Nov 28 01:02:04 mx1 exim[4322]: {_RCPT2}", "ignored"),
            (f"{SYS} {_RCPT}", "ignored"),
        ],
        # Exim without the pid in its tag: processes' copies interleave
        [
            (f"Nov 28 01:02:03 mx1 exim: {_RCPT}", "ok"),
            (f"Nov 28 01:02:03 mx1 exim: {_RCPT2}", "ok"),
            (f"Nov 28 01:02:03 mx1 exim: {_RCPT}", "ignored"),
            (f"Nov 28 01:02:03 mx1 exim: {_RCPT2}", "ignored"),
        ],
    ],
)
def test_the_syslog_copy_of_a_rejection_is_its_host_process_and_text(
    lines: list[tuple[str, str]],
) -> None:
    p = LineParser(reference=REF)
    assert [(x, p.parse(x).status) for x, _ in lines] == lines
