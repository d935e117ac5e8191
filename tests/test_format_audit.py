"""An audit of the log parsers against what the programs really write (session 13).

Each line below was built from the program's own format string, read in its source
(the file named in the comment above it): mirrors of dovecot/core and
dovecot/pigeonhole 2.4.4, vdukhovni/postfix (HEAD, 3.12; not compared tag by tag
with 3.5-3.10), Exim/exim (HEAD, after 4.98), roundcube/roundcubemail 1.6.11,
rspamd/rspamd (HEAD, 3.9+; the JSON log in tags 3.8.0-3.13.2 too), and amavisd-new
2.13.0 from Debian 12's package.  The
settings are the defaults unless the comment names an option.

Every line goes through both the reference parser (``LineParser``) and its C twin
(``_fastlog.Parser``), which must agree.  ``FORMATS`` are lines mailtally reads as
SPEC §3 wants; ``NOT_COUNTED``, real lines that must count nothing and do not;
``GAPS``, real lines it misreads or does not count, marked ``xfail(strict=True)``
with what is wrong: when one is fixed, its test passes and the strict mark fails
the run, so the mark must go with the fix.  ``test_joined_*`` carry a whole message
through both joiners where the parser is right but the count is not.
"""

from __future__ import annotations

import calendar

import pytest

import test_join as _tj
from mailtally.events import Autoresponse, Event, MessageDenied, MessageIn
from mailtally.ingest import Joiner, LineParser
from mailtally.ingest.parsers import (
    Delivery,
    EximArrival,
    EximDelivery,
    FilterBlocked,
    MailLogin,
    QmgrFrom,
    Record,
    Reinjected,
    Reject,
    SieveAction,
    SmtpdClient,
    SpamVerdict,
    WebmailLogin,
)
from mailtally.ingest.stamps import StampParser

_fastlog = pytest.importorskip("mailtally.ingest._fastlog")

REF = calendar.timegm((2026, 11, 28, 23, 0, 0))
T = calendar.timegm((2026, 11, 28, 1, 2, 3))

SL = "Nov 28 01:02:03 mx "  # a syslog header
EXIM = "2026-11-28 01:02:03 "  # Exim's own main log (log_file_path, the default)
EID = "1tFZ7e-00000000Ijk-2BKh"  # Exim 4.97+ message id
QID = "4F2A1B2C3D"


def both(line: str) -> object:
    """The reference parser's result for ``line``, after checking the C twin agrees
    (fresh parsers: an Exim rejection's syslog copy is remembered across lines)."""
    want = LineParser(reference=REF).parse(line)
    got = _fastlog.Parser(StampParser(REF, None, 3600, {})).parse(line)
    if got is not None:  # None: the C parser hands the line back to the reference
        assert got == want, line
    return want


# -- formats mailtally reads as SPEC wants -----------------------------------------------------

FORMATS: list[tuple[str, tuple[Record, ...]]] = [
    # Dovecot 2.4 login: core src/login-common/client-common-auth.c sasl_callback
    # client_destroy_success(client, "Logged in"); login-settings.c defaults
    # login_log_format = "%{message}: %{elements}", login_log_format_elements =
    # "user=<%{user}> method=%{mechanism} rip=%{remote_ip} lip=%{local_ip}
    # mpid=%{mail_pid} %{secured} session=<%{session}>" (empty %{secured} left out).
    (
        SL + "dovecot: imap-login: Logged in: user=<alice@example.com>, method=PLAIN, "
        "rip=203.0.113.7, lip=10.0.0.1, mpid=12345, session=<abcDEF>",
        (MailLogin("alice@example.com", "203.0.113.7", "imap4"),),
    ),
    (
        SL + "dovecot[812]: pop3-login: Logged in: user=<bob@example.com>, method=PLAIN, "
        "rip=2001:db8::7, lip=2001:db8::1, mpid=12346, TLS, session=<abcDEG>",
        (MailLogin("bob@example.com", "2001:db8::7", "pop3"),),
    ),
    # Pigeonhole 2.4.4 action texts: src/lib-sieve/plugins/vacation/cmd-vacation.c
    # "sent vacation response to <%s>", cmd-redirect.c "forwarded to <%s>",
    # sieve-actions.c "stored mail into mailbox %s"; prefixes: core lib-lda/lda-settings.c
    # deliver_log_format = "msgid=%{msgid}: %{message}", lib-sieve/sieve.c "sieve: ",
    # lib-storage/mail-storage-settings.c mail_log_prefix =
    # "%{service}(%{user})<%{process:pid}><%{session}>: ".
    (
        SL + "dovecot: lmtp(alice@example.com)<4711><sEsSiOn>: sieve: msgid=<m@x.example>: "
        "sent vacation response to <bob@remote.example>",
        (
            SieveAction(
                "alice@example.com", "vacation", "bob@remote.example", "m@x.example", "sEsSiOn"
            ),
        ),
    ),
    (
        SL + "dovecot: lmtp(alice@example.com)<4711><sEsSiOn>: sieve: msgid=<m@x.example>: "
        "forwarded to <carol@elsewhere.org>",
        (
            SieveAction(
                "alice@example.com", "redirect", "carol@elsewhere.org", "m@x.example", "sEsSiOn"
            ),
        ),
    ),
    (
        SL + "dovecot: lmtp(alice@example.com)<4711><sEsSiOn>: sieve: msgid=<m@x.example>: "
        "stored mail into mailbox 'Junk'",
        (SieveAction("alice@example.com", "fileinto", "Junk", "m@x.example", "sEsSiOn"),),
    ),
    # Postfix smtpd_check.c log_whatsup: "%s: %s: %s from %s: %s;" + " from=<%s>" " to=<%s>"
    # " proto=%s" " helo=<%s>" (stage RCPT; BDAT with CHUNKING, Postfix 3.4+).
    (
        SL + "postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[198.51.100.9]: 550 5.1.1 "
        "<nobody@example.com>: Recipient address rejected: User unknown in virtual mailbox "
        "table; from=<bob@remote.example> to=<nobody@example.com> proto=ESMTP "
        "helo=<mail.remote.example>",
        (Reject(None, "RCPT", "nobody@example.com", True),),
    ),
    (
        SL + "postfix/smtpd[123]: NOQUEUE: reject: BDAT from mail.remote.example[198.51.100.9]: "
        "550 5.7.1 <alice@example.com>: Recipient address rejected: spam; "
        "from=<bob@remote.example> to=<alice@example.com> proto=ESMTP helo=<mail.remote.example>",
        (Reject(None, "BDAT", "alice@example.com", True),),
    ),
    # postscreen/postscreen_smtpd.c: "NOQUEUE: reject: RCPT from [%s]:%s: %.*s; from=<%s>,
    # to=<%s>, proto=%s, helo=<%s>" (commas, unlike smtpd's).
    (
        SL + "postfix/postscreen[123]: NOQUEUE: reject: RCPT from [198.51.100.9]:41234: 550 5.7.1 "
        "Service unavailable; client [198.51.100.9] blocked using zen.spamhaus.org; "
        "from=<spam@bad.example>, to=<alice@example.com>, proto=ESMTP, helo=<bad.example>",
        (Reject(None, "RCPT", "alice@example.com", True),),
    ),
    # cleanup/cleanup_milter.c: "%s: %s: %s from %s[%s]: %s;" (action "milter-reject", text =
    # the reply without its 3-digit code) + " from=<%s>" " to=<%s>" " proto=%s" " helo=<%s>".
    (
        SL + f"postfix/cleanup[123]: {QID}: milter-reject: END-OF-MESSAGE from "
        "mail.bad.example[198.51.100.9]: 5.7.1 Spam message rejected; from=<spam@bad.example> "
        "to=<alice@example.com> proto=ESMTP helo=<mail.bad.example>",
        (Reject(QID, "END-OF-MESSAGE", "alice@example.com", True, True),),
    ),
    # cleanup header_checks/body_checks REJECT (cleanup_message.c cleanup_act_log).
    (
        SL + f"postfix/cleanup[123]: {QID}: reject: header Subject: Buy now from "
        "mail.remote.example[198.51.100.9]; from=<bob@remote.example> to=<alice@example.com> "
        "proto=ESMTP helo=<mail.remote.example>: 5.7.1 message content rejected",
        (Reject(QID, "header", "alice@example.com", True),),
    ),
    # smtpd.c before-queue filter: "proxy-reject: END-OF-MESSAGE: 554 …; from=<…> to=<…> …"
    (
        SL + f"postfix/smtpd[123]: {QID}: proxy-reject: END-OF-MESSAGE: 554 5.7.0 Reject, "
        "id=01234-05 - spam; from=<bob@remote.example> to=<alice@example.com> proto=ESMTP "
        "helo=<mail.remote.example>",
        (Reject(QID, "END-OF-MESSAGE", "alice@example.com", True),),
    ),
    # smtpd.c "client=%s[%s]" with ", sasl_method=%s, sasl_username=%s" (port with
    # smtpd_client_port_logging = yes).
    (
        SL + f"postfix/submission/smtpd[123]: {QID}: client=laptop.example.net[203.0.113.5]:52811, "
        "sasl_method=PLAIN, sasl_username=alice@example.com",
        (SmtpdClient(QID, "203.0.113.5", 52811, "alice@example.com"),),
    ),
    # global/opened.c "%s: from=<%s>, size=%ld, nrcpt=%d%s%s%s" (qmgr).
    (
        SL + f"postfix/qmgr[123]: {QID}: from=<alice@example.com>, size=1234, nrcpt=2 "
        "(queue active)",
        (QmgrFrom(QID, "alice@example.com", 1234, 2),),
    ),
    # global/log_adhoc.c: "to=<%s>", ", orig_to=<%s>", ", relay=%s", ", conn_use=%d",
    # ", delay=…", ", delays=…", ", dsn=%s, status=%s (%s)" — lmtp, pipe, virtual, local, smtp.
    (
        SL + f"postfix/lmtp[123]: {QID}: to=<alice@example.com>, "
        "relay=mail.example.com[private/dovecot-lmtp], delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, "
        "status=sent (250 2.0.0 <alice@example.com> AbCdEf Saved)",
        (
            Delivery(
                QID,
                "alice@example.com",
                None,
                "mail.example.com[private/dovecot-lmtp]",
                "sent",
                "lmtp",
                "250 2.0.0 <alice@example.com> AbCdEf Saved",
            ),
        ),
    ),
    (
        SL + f"postfix/pipe[123]: {QID}: to=<alice@example.com>, orig_to=<sales@example.com>, "
        "relay=dovecot, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent "
        "(delivered via dovecot service)",
        (
            Delivery(
                QID,
                "alice@example.com",
                "sales@example.com",
                "dovecot",
                "sent",
                "pipe",
                "delivered via dovecot service",
            ),
        ),
    ),
    # local/forward.c "forwarded as %s".
    (
        SL + f"postfix/local[123]: {QID}: to=<alice@example.com>, relay=local, delay=0.1, "
        "delays=0/0/0/0.1, dsn=2.0.0, status=sent (forwarded as 5E3B2C1D4A)",
        (
            Delivery(
                QID,
                "alice@example.com",
                None,
                "local",
                "sent",
                "local",
                "forwarded as 5E3B2C1D4A",
                None,
                "5E3B2C1D4A",
            ),
        ),
    ),
    (
        SL + f"postfix/smtp[123]: {QID}: to=<carol@elsewhere.org>, orig_to=<alice@example.com>, "
        "relay=mx.elsewhere.org[192.0.2.20]:25, conn_use=2, delay=0.5, delays=0/0/0.2/0.3, "
        "dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9AB)",
        (
            Delivery(
                QID,
                "carol@elsewhere.org",
                "alice@example.com",
                "mx.elsewhere.org[192.0.2.20]:25",
                "sent",
                "smtp",
                "250 2.0.0 Ok: queued as 9AB",
                "9AB",
            ),
        ),
    ),
    # Exim smtp_in.c smtp_handle_acl_fail: "%s%s%#Y%s%#Y%#Y %srejected %s%s" with
    # sender_info " F=<%s>" and what = "RCPT %.*s" (the client's argument as sent).
    (
        EXIM + "H=(bad.example) [198.51.100.9]:41234 F=<spam@bad.example> rejected RCPT "
        "<alice@example.com>: Unknown user",
        (Reject(None, "RCPT", "alice@example.com", True),),
    ),
    # the same, rc DEFER: "temporarily " before "rejected" (greylisting): not a denial.
    (
        EXIM + "H=(bad.example) [198.51.100.9]:41234 F=<spam@bad.example> temporarily rejected "
        "RCPT <alice@example.com>: greylisted",
        (Reject(None, "RCPT", "alice@example.com", False),),
    ),
    # Exim receive.c "<=" with I= (+incoming_interface), A= and T="…" (+subject).
    (
        EXIM + f"{EID} <= alice@example.com H=(laptop) [203.0.113.5]:52811 I=[10.0.0.1]:587 "
        "P=esmtpsa X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no A=dovecot_plain:alice@example.com "
        'S=1234 id=s1@example.com T="for you"',
        (
            EximArrival(
                EID, "alice@example.com", "203.0.113.5", "alice@example.com", 1234, "s1@example.com"
            ),
        ),
    ),
    (
        EXIM + f"{EID} ** alice@example.com R=virtual_user T=dovecot_virtual_delivery: "
        "Mailbox quota exceeded",
        (
            EximDelivery(
                EID, "**", "alice@example.com", None, "virtual_user", "dovecot_virtual_delivery"
            ),
        ),
    ),
    # rspamd: src/libserver/cfg_utils.cxx default log_format_str (and conf/logging.inc,
    # its newlines written as spaces, cfg_utils.cxx "Filter \r\n"); logger.c "%s #%P(%s) "
    # after log_time's "%F %H:%M:%S" (".%5f" with log_usec), and syslog's "(%s) ".
    (
        "2026-11-28 01:02:03 #1234(normal) <6a2f1c>; task; rspamd_task_write_log: "
        f"id: <m@x.example>, qid: <{QID}>, ip: 198.51.100.9, from: <bob@remote.example>, "
        "(default: T (add header): [7.20/15.00] [BAYES_SPAM(5.10){99.9%;},R_SPF_FAIL(1.00)"
        "{-all;}]), len: 2345, time: 120.1ms, dns req: 12, digest: <0123abcd>, "
        "rcpts: <alice@example.com>, mime_rcpts: <alice@example.com>",
        (SpamVerdict(QID, "spam", "rspamd"),),
    ),
    (
        "2026-11-28 01:02:03.12345 #1234(normal) <6a2f1c>; task; rspamd_task_write_log: "
        f"id: <m@x.example>, qid: <{QID}>, ip: 198.51.100.9, from: <bob@remote.example>, "
        "(default: F (no action): [0.20/15.00] [ARC_NA(0.00){}]), len: 2345, time: 120.1ms, "
        "dns req: 12, digest: <0123abcd>",
        (SpamVerdict(QID, "ham", "rspamd"),),
    ),
    (
        SL + "rspamd[1234]: (normal) <6a2f1c>; task; rspamd_task_write_log: id: <m@x.example>, "
        f"qid: <{QID}>, ip: 198.51.100.9, from: <bob@remote.example>, (default: T (rewrite "
        "subject): [9.20/15.00] [BAYES_SPAM(5.10){99.9%;}]), len: 2345, time: 120.1ms, "
        "dns req: 12, digest: <0123abcd>",
        (SpamVerdict(QID, "spam", "rspamd"),),
    ),
    # rspamd's proxy worker in self-scan mode (the milter setup: worker-proxy.inc
    # self_scan = yes) writes the same line with its own process type.
    (
        "2026-11-28 01:02:03 #1234(rspamd_proxy) <6a2f1c>; proxy; rspamd_task_write_log: "
        f"id: <m@x.example>, qid: <{QID}>, ip: 198.51.100.9, from: <bob@remote.example>, "
        "(default: T (add header): [7.20/15.00] [BAYES_SPAM(5.10){99.9%;}]), len: 2345, "
        "time: 120.1ms, dns req: 12, digest: <0123abcd>",
        (SpamVerdict(QID, "spam", "rspamd"),),
    ),
    # rspamd 3.8+ `logging { type = "file"; json = true; }` (not in Debian 12's 3.4):
    # src/libserver/logger/logger.c rspamd_log_fill_iov, the same in tags 3.8.0-3.13.2 and
    # HEAD: '{"ts": %f, "pid": %P, "severity": "%s", "worker_type": "%s", "id": "%*.s",
    # "module": "%s", "function": "%s", "message": "' + the text + '"}'; the task line is
    # task.c rspamd_task_write_log's msg_notice_task (function "rspamd_task_write_log").
    # The text has "\"" and "\\" escaped only (rspamd_common_logv wrote control bytes
    # as \xHH before); ts is %f of rspamd_printf (fpconv_dtoa: "1795827723.123456").
    (
        '{"ts": 1795827723.123456, "pid": 1234, "severity": "notice", "worker_type": '
        '"normal", "id": "6a2f1c", "module": "task", "function": "rspamd_task_write_log", '
        f'"message": "id: <m@x.example>, qid: <{QID}>, ip: 198.51.100.9, from: '
        "<bob@remote.example>, (default: T (add header): [7.20/15.00] "
        "[BAYES_SPAM(5.10){99.9%;}]), len: 2345, time: 120.1ms, dns req: 12, digest: "
        '<0123abcd>"}',
        (SpamVerdict(QID, "spam", "rspamd"),),
    ),
    # a quoted local part in the sender: escaped '\"'; the proxy's self-scan ("proxy")
    (
        '{"ts": 1795827723, "pid": 1234, "severity": "notice", "worker_type": '
        '"rspamd_proxy", "id": "6a2f1c", "module": "proxy", "function": '
        f'"rspamd_task_write_log", "message": "id: <m@x.example>, qid: <{QID}>, ip: '
        '198.51.100.9, from: <\\"bob smith\\"@remote.example>, (default: F (no action): '
        "[0.20/15.00] [ARC_NA(0.00){}]), len: 2345, time: 120.1ms, dns req: 12, digest: "
        '<0123abcd>"}',
        (SpamVerdict(QID, "ham", "rspamd"),),
    ),
    # logger_syslog.c (3.8.2+): the same object through syslog, "ts": %ld (whole seconds)
    (
        SL + 'rspamd[1234]: {"ts": 1795827723, "pid": 1234, "severity": "notice", '
        '"worker_type": "normal", "id": "6a2f1c", "module": "task", "function": '
        f'"rspamd_task_write_log", "message": "id: <m@x.example>, qid: <{QID}>, ip: '
        "198.51.100.9, from: <bob@remote.example>, (default: T (rewrite subject): "
        '[9.20/15.00] [BAYES_SPAM(5.10){99.9%;}]), len: 2345, time: 120.1ms"}',
        (SpamVerdict(QID, "spam", "rspamd"),),
    ),
    # amavisd-new 2.13.0 (Debian 12's package, apt-get download): /usr/share/perl5/Amavis.pm,
    # the __DATA__ section of $log_short_templ (= $log_templ): "Passed #" / "Blocked #", the
    # category, " {[:actions_performed]}", ",[?%p|| %p][?%a||[?%l|| LOCAL]
    # [:client_addr_port]][?%e|| \[%e\]] %s -> [%D|…|,]", ", quarantine: %q",
    # ", Queue-ID: %Q", ", Message-ID: %m", ", mail_id: %i", ", Hits: …", ", size: %z",
    # ", queued_as: …", ", %y ms".
    (
        SL + "amavis[1234]: (01234-05) Passed SPAM {RelayedTaggedInbound,Quarantined}, "
        "[198.51.100.9]:41234 [198.51.100.9] <bob@remote.example> -> <alice@example.com>, "
        f"quarantine: spam-AbCdEf.gz, Queue-ID: {QID}, Message-ID: <m@x.example>, "
        "mail_id: AbCdEfGh, Hits: 7.2, size: 2345, queued_as: 5E3B2C1D4A, 2345 ms",
        (
            SpamVerdict(QID, "spam", "amavis"),
            Reinjected(QID, "5E3B2C1D4A"),
            SpamVerdict("5E3B2C1D4A", "spam", "amavis"),
        ),
    ),
    (
        SL + "amavis[1234]: (01234-05) Blocked SPAM {DiscardedInbound,Quarantined}, "
        "[198.51.100.9]:41234 [198.51.100.9] <bob@remote.example> -> <alice@example.com>, "
        f"quarantine: spam-AbCdEf.gz, Queue-ID: {QID}, Message-ID: <m@x.example>, "
        "mail_id: AbCdEfGh, Hits: 17.2, size: 2345, 2345 ms",
        (FilterBlocked(QID, ("alice@example.com",), "SPAM", ("DiscardedInbound", "Quarantined")),),
    ),
    # the same template, ", queued_as: " then [remote_mta_smtp_response|[~%x|["queued as
    # ([0-9A-Za-z]+)$"]|["%1"]|["%0"]]|/]: one item per distinct response of the MTA amavis
    # re-injected to (remote_mta_smtp_response: unique_ref over the recipients), joined by
    # "/" -- several when the recipients' copies differ (per-recipient spam tag levels) and
    # went back in several SMTP transactions.  Each is a re-injection of its own.
    (
        SL + "amavis[1234]: (01234-05) Passed CLEAN {RelayedInbound}, [198.51.100.9]:41234 "
        "[198.51.100.9] <bob@remote.example> -> <alice@example.com>,<carol@example.com>, "
        f"Queue-ID: {QID}, Message-ID: <m@x.example>, mail_id: AbCdEfGh, Hits: -1.9, "
        "size: 2345, queued_as: 5E3B2C1D4A/6F4C3D2E5B, 2345 ms",
        (
            SpamVerdict(QID, "ham", "amavis"),
            Reinjected(QID, "5E3B2C1D4A"),
            SpamVerdict("5E3B2C1D4A", "ham", "amavis"),
            Reinjected(QID, "6F4C3D2E5B"),
            SpamVerdict("6F4C3D2E5B", "ham", "amavis"),
        ),
    ),
    # Roundcube 1.6.11 program/include/rcmail.php log_login: "Successful login for %s (ID: %d)
    # from %s in session %s"; rcube.php write_log: "<" + session_id (log_session_id 8) + "> ",
    # syslog (log_driver 'syslog', syslog_id 'roundcube'); rcube_utils::remote_ip appends
    # " (X-Real-IP: …,X-Forwarded-For: …)".
    (
        SL + "roundcube: <abcd1234> Successful login for alice@example.com (ID: 12) from "
        "203.0.113.5 (X-Forwarded-For: 203.0.113.5) in session abcd1234abcd1234",
        (WebmailLogin("alice@example.com", "203.0.113.5"),),
    ),
]


#: Real lines that must count nothing (understood, ignored).
NOT_COUNTED = [
    # Dovecot 2.4 core src/login-common/client-common.c login_aborted_event: "Login aborted:
    # %s (%s)" and the login elements (client_get_log_str joins them with ", ").
    SL + "dovecot: imap-login: Login aborted: Connection closed (auth failed, 1 attempts in 2 "
    "secs) (auth_failed): user=<alice@example.com>, method=PLAIN, rip=203.0.113.7, "
    "lip=10.0.0.1, TLS, session=<abc>",
    # Roundcube 1.6.11 rcmail.php log_login: "Failed login for %s from %s in session %s
    # (error: %d)".
    SL + "roundcube: <abcd1234> Failed login for alice@example.com from 203.0.113.5 in session "
    "abcd1234abcd1234 (error: 0)",
    # Pigeonhole 2.4.4 ext-reject.c act_reject_commit "not sending reject message (skipped)"
    # (SIEVE_EXECUTE_FLAG_SKIP_RESPONSES: the keep stands).  Its "not sending reject message
    # to <>" cancels the keep: a reject (test_join.py).
    SL + "dovecot: lmtp(alice@example.com)<4711><sEsSiOn>: sieve: msgid=<m@x.example>: "
    "not sending reject message (skipped)",
    # Exim deliver.c "==" (a deferral: the message is still queued).
    EXIM + f"{EID} == carol@elsewhere.org R=dnslookup T=remote_smtp defer (-44) H=mx.elsewhere.org "
    "[192.0.2.20]: SMTP error from remote mail server after RCPT TO:<carol@elsewhere.org>: 451 "
    "4.7.1 Greylisted",
]


@pytest.mark.parametrize("line", NOT_COUNTED)
def test_line_counts_nothing(line: str) -> None:
    res = both(line)
    assert res.status == "ignored", res


# -- gaps: real lines misread or not counted ---------------------------------------------------

GAPS = [
    # Exim accepts a recipient without angle brackets ("RCPT TO:alice@example.com": smtp_in.c
    # hands smtp_cmd_data to parse_extract_address, which takes a bare addr-spec) and logs the
    # argument as sent: what = "RCPT %.*s" (smtp_in.c smtp_handle_acl_fail).  mailtally
    # reports the line "exim reject", not understood: the denial is not counted.
    # Fix: exim.py _rejected and parse_exim.c (its twin) take an address up to ":".
    pytest.param(
        EXIM + "H=(bad.example) [198.51.100.9]:41234 F=<spam@bad.example> rejected RCPT "
        "alice@example.com: Unknown user",
        (Reject(None, "RCPT", "alice@example.com", True),),
        id="exim-rcpt-reject-bare-address",
    ),
    # rspamd 3.0+ `logging { severity = true; }` (cfg_rcl.cxx "log_severity"; logger.c
    # "%s [%s] #%P(%s) ", rspamd_get_log_severity_string: the task line is msg_notice_task,
    # "notice").  mailtally takes the line for Exim's (stamps._split: program "exim") and
    # ignores it: the spam verdict is lost silently.  Fix: stamps.py _split and
    # parse_stamps.c accept "[level] " before "#pid(".
    pytest.param(
        "2026-11-28 01:02:03 [notice] #1234(normal) <6a2f1c>; task; rspamd_task_write_log: "
        f"id: <m@x.example>, qid: <{QID}>, ip: 198.51.100.9, from: <bob@remote.example>, "
        "(default: T (add header): [7.20/15.00] [BAYES_SPAM(5.10){99.9%;}]), len: 2345, "
        "time: 120.1ms, dns req: 12, digest: <0123abcd>",
        (SpamVerdict(QID, "spam", "rspamd"),),
        id="rspamd-severity-prefix",
    ),
]


@pytest.mark.parametrize(("line", "records"), [*FORMATS, *GAPS])
def test_line_is_counted(line: str, records: tuple[Record, ...]) -> None:
    """Both parsers read the line as these records (a gap's: as they should)."""
    res = both(line)
    assert res.status == "ok", res
    assert res.time == T
    assert res.records == records


@pytest.mark.parametrize("line", [p.values[0] for p in GAPS], ids=[p.id for p in GAPS])
def test_gap_lines_c_twin_agrees(line: str) -> None:
    """Whatever the reference makes of a gap's line, the C twin makes the same."""
    both(line)


# -- gaps the joiner makes of lines the parser reads right -------------------------------------


def _run(lines: list[str], joiner: object) -> list[Event]:
    parser = LineParser(reference=REF)
    events: list[Event] = []
    for line in lines:
        res = parser.parse(line)
        assert res.status != "unknown", line
        events.extend(joiner.feed(res))  # type: ignore[attr-defined]
    events.extend(joiner.flush())  # type: ignore[attr-defined]
    assert joiner.errors == 0  # type: ignore[attr-defined]
    return events


def _ex(sec: int, text: str) -> str:
    return f"2026-11-28 01:00:{sec:02d} {EID} {text}"


def _t(sec: int) -> int:
    return calendar.timegm((2026, 11, 28, 1, 0, sec))


#: An Exim filter's "vacation"/"mail" command or Exim's own Sieve "vacation"
#: (miscmods/exim_filter.c: the logged address is ">" + the recipients,
#: miscmods/sieve_filter.c: deliver_make_addr(">%.256s", sender)) is delivered by the
#: autoreply transport (Debian's exim4 config: router userforward, transport
#: address_reply) and logged by deliver.c as "=> >bob@… <alice@…> R=… T=…" (the top
#: address in "<…>", as for pipes and files).
EXIM_AUTOREPLY = [
    _ex(
        0,
        "<= bob@remote.example H=mx.remote.example (mx.remote.example) [198.51.100.7]:41234 "
        "P=esmtps X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no S=2345 id=m1@remote.example",
    ),
    _ex(1, "=> alice@example.com R=virtual_user T=dovecot_virtual_delivery"),
    _ex(2, "=> >bob@remote.example <alice@example.com> R=userforward T=address_reply"),
    _ex(3, "Completed"),
]


@pytest.mark.parametrize("which", ["python", "c"])
def test_joined_exim_autoreply_is_an_autoresponse(which: str) -> None:
    """Exim's autoreply ("=> >addr <user> … T=address_reply") is an auto-response
    of the user's, not a second receipt (both joiners counted one until session 13)."""
    joiner = Joiner() if which == "python" else _fastlog.Joiner()
    events = _run(EXIM_AUTOREPLY, joiner)
    received = [e for e in events if isinstance(e, MessageIn)]
    answered = [e for e in events if isinstance(e, Autoresponse)]
    assert received == [MessageIn(_t(1), "alice@example.com", 2345)]  # once per message and user
    assert [(e.user, e.count) for e in answered] == [("alice@example.com", 1)]


#: Pigeonhole's reject (2.4.4 src/lib-sieve/ext-reject.c act_reject_commit:
#: "rejected message from <%s> (%s)", after act_reject_start set *keep = FALSE: the
#: message is not stored; the rejection goes back to the sender as a DSN, so Postfix
#: logs the LMTP delivery status=sent).
SIEVE_REJECT = [
    *_tj.inbound("4F2A1B2C4F", msgid="m9@example.org"),
    _tj.dc(
        1,
        "lmtp(bob@example.com)<4242><Yn2LBZPxGFgFBgAA3AX0Sg>: sieve: msgid=<m9@example.org>: "
        "rejected message from <sender@example.org> (reject)",
    ),
    _tj.lmtp(1, "4F2A1B2C4F", "bob@example.com"),
    _tj.removed(2, "4F2A1B2C4F"),
]


@pytest.mark.parametrize("which", ["python", "c"])
def test_joined_sieve_reject_is_denied_not_received(which: str) -> None:
    """A Pigeonhole ``reject`` logged before the LMTP delivery: the message is
    neither stored nor forwarded, and refused for the user (SPEC §3: denied)."""
    joiner = Joiner() if which == "python" else _fastlog.Joiner()
    events = _run(SIEVE_REJECT, joiner)
    assert not [e for e in events if isinstance(e, MessageIn)]
    assert [(e.recipient, e.count) for e in events if isinstance(e, MessageDenied)] == [
        ("bob@example.com", 1)
    ]
