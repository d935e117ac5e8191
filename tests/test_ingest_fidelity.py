"""Issue 8's forms through the real ``mailtally ingest``, in both hot loops.

One small log holds a line (or a message) of each form added for today's hosts —
Dovecot 2.4 logins, Dovecot 2.2 sieve lines with a session id, a before-queue
filter's ``proxy-reject``, deliveries through an address extension, Roundcube in
containers — plus lines of programs that never count and one line of each family
that counts but in a form not known.  The counts land in a real store (on each
backend: conftest's ``store_url``); the report printed names what was ignored
and what was not understood.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ts
from mailtally.ingest.files import Ingester
from mailtally.periods import Periods
from mailtally.store import Store, open_store
from mailtally.store.base import KIND_CODES
from test_ingest_files import build_tree, write

pytestmark = pytest.mark.usefixtures("ingest_mode")

T0 = ts("2026-01-10T08:00:00Z")
S = "2026-01-10T08:00:00.000000+00:00 mx1"  # a syslog header's stamp and host
UTC = Periods("UTC")


def pf(daemon: str, msg: str, sec: int = 0) -> str:
    return f"2026-01-10T08:00:{sec:02d}.000000+00:00 mx1 postfix/{daemon}[100]: {msg}"


def message(qid: str, msgid: str, size: int, deliveries: list[str], sec: int = 0) -> list[str]:
    return [
        pf("smtpd", f"{qid}: client=mail.other.org[198.51.100.7]", sec),
        pf("cleanup", f"{qid}: message-id=<{msgid}>", sec),
        pf(
            "qmgr",
            f"{qid}: from=<x@other.org>, size={size}, nrcpt={len(deliveries)} (queue active)",
            sec,
        ),
        *deliveries,
        pf("qmgr", f"{qid}: removed", sec + 1),
    ]


def lmtp(qid: str, to: str, session: str, orig: str = "") -> str:
    o = f", orig_to=<{orig}>" if orig else ""
    return pf(
        "lmtp",
        f"{qid}: to=<{to}>{o}, relay=mx1[private/dovecot-lmtp], delay=0.1, "
        f"delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 <{to}> {session} Saved)",
    )


LOG: list[str] = [
    # Dovecot 2.4: syslog and Dovecot's own file; a 2.4 auth failure counts nothing
    f"{S} dovecot: imap-login: Logged in: user=<bob@example.com>, method=PLAIN, "
    "rip=203.0.113.9, lip=10.0.0.1, mpid=4711, TLS, session=<a1>",
    "2026-01-10T08:00:01.000000+00:00 pop3-login: Info: Logged in: user=<alice@example.com>, "
    "method=PLAIN, rip=203.0.113.10, lip=10.0.0.1, mpid=4712, TLS, session=<a2>",
    f"{S} dovecot: imap-login: Login aborted: Connection closed (auth failed, 3 attempts in 15 "
    "secs) (auth_failed): user=<carol@example.com>, method=PLAIN, rip=192.0.2.66, "
    "lip=10.0.0.1, TLS, session=<a3>",
    # Dovecot 2.2 sieve: fileinto Junk before the delivery, then redirect and vacation
    f"{S} dovecot: lmtp(carol@example.com): wArTL0TxF2AccAAAYr7Zvw: sieve: "
    "msgid=<m1@other.org>: stored mail into mailbox 'Junk'",
    *message(
        "1A0001",
        "m1@other.org",
        500,
        [lmtp("1A0001", "carol@example.com", "wArTL0TxF2AccAAAYr7Zvw")],
    ),
    f"{S} dovecot: lmtp(bob@example.com): SuVyGjQjNFg6GAAABNQJ0Q: sieve: "
    "msgid=<m2@other.org>: forwarded to <bob@elsewhere.org>",
    f"{S} dovecot: lmtp(bob@example.com): SuVyGjQjNFg6GAAABNQJ0Q: sieve: "
    "msgid=<m2@other.org>: sent vacation response to <x@other.org>",
    # proxy-reject: 554 denied, 451 not
    pf("smtpd", "1A0002: client=mail.other.org[198.51.100.7]"),
    pf(
        "smtpd",
        "1A0002: proxy-reject: END-OF-MESSAGE: 554 5.7.1 Rejected for policy reasons (X1); "
        "from=<x@other.org> to=<alice@example.com> proto=ESMTP helo=<mail.other.org>",
    ),
    pf(
        "smtpd",
        "proxy-reject: END-OF-MESSAGE: 451 4.5.0 Error in processing, id=1-01; "
        "from=<x@other.org> to=<bob@example.com> proto=ESMTP helo=<mail.other.org>",
    ),
    # NethServer: one message, two accounts through the address extension
    *message(
        "1A0003",
        "m3@other.org",
        700,
        [
            lmtp("1A0003", "vmail+bob@mail.example.net", "s3", "bob@example.com"),
            lmtp("1A0003", "vmail+alice@mail.example.net", "s3", "alice@example.com"),
        ],
        sec=2,
    ),
    # Roundcube in containers: docker logs -t, and wrapped by php-fpm
    "2026-01-10T08:00:03.123456789Z userlogins: <k3j4h5g6> Successful login for "
    "bob@example.com (ID: 12) from 203.0.113.5 in session k3j4h5g6",
    '[10-Jan-2026 08:00:04] WARNING: [pool www] child 8 said into stdout: "userlogins: '
    '<k3j4h5g6> Successful login for alice@example.com (ID: 7) from 203.0.113.6 in session x"',
    # programs that never count
    f"{S} opendkim[55]: 1A0003: DKIM verification successful",
    f"{S} opendkim[55]: 1A0003: s=sel d=other.org SSL",
    f"{S} postgrey[66]: action=pass, reason=triplet found, client_name=mail.other.org",
    f"{S} postfix/postscreen[77]: CONNECT from [198.51.100.7]:4711 to [10.0.0.1]:25",
    pf("qmgr", "1A0009: sender delay notification: 1A000A"),
]

#: One line of each family that counts, in a form not known: never set aside silently,
#: and the report names each family (parsers.families).
NOT_UNDERSTOOD: dict[str, str] = {
    "dovecot login": f"{S} dovecot: imap-login: Authenticated: user=<bob@example.com>, rip=1.2.3.4",
    "dovecot sieve": f"{S} dovecot: lmtp(bob@example.com): s9: sieve: msgid=<m9@x>: "
    "moved mail to somewhere",
    "postfix delivery": pf("lmtp", "1A0004: to=<bob@example.com>, relay=mx1, no status here"),
    "postfix reject": pf(
        "smtpd", "proxy-reject: END-OF-MESSAGE: ; from=<a@b> to=<bob@example.com>"
    ),
    "postfix message": pf("qmgr", "1A0006: from=<a@b>, nrcpt=1 (queue active)"),
    "amavis verdict": f"{S} amavis[3]: (12345-01) Passed, <a@b> -> <bob@example.com>, Hits: -",
    "rspamd verdict": f"{S} rspamd[9]: <ab12cd>; task; rspamd_task_write_log: id: <m@x>, "
    "qid: <1A0005>, ip: 1.2.3.4, from: <a@b>, (something new), len: 10, time: 1ms",
    "roundcube login": f"{S} roundcube: <k3j4h5g6> Successful login for bob@example.com",
    # Exim's own main log and through syslog, and spamd
    "exim arrival": "2026-01-10 08:00:05 1tFZ7e-00000000Ijk-2BKh <= a@b H=(x) [1.2.3.4] P=esmtp",
    "exim delivery": f"{S} exim[7]: 1tFZ7e-00000000Ijk-2BKh => bob@example.com",
    # (a bare recipient cut off before its ": why": one with it is read, test_format_audit)
    "exim reject": f"{S} exim[7]: H=(x) [1.2.3.4] F=<a@b> rejected RCPT bob@example.com",
    "spamd verdict": f"{S} spamd[8]: spamd: result: Y 15 - X scantime=0.5,size=2",
    # of no known family: by program
    "someprogram": f"{S} someprogram[12]: something else entirely",
}


def flows(store: Store) -> dict[str, int]:
    cols = (
        "messages_in_ham",
        "messages_in_spam",
        "messages_denied",
        "messages_forward_count",
        "messages_autorespond_count",
        "logins_imap4",
        "logins_pop3",
        "logins_webmail",
    )
    with store.read() as q:
        row = q.conn.execute(
            "SELECT " + ", ".join(f"COALESCE(SUM({c}), 0)" for c in cols) + " FROM flows "
            f"WHERE scope = 'c' AND kind = {KIND_CODES['day']}"
        ).fetchone()
    return dict(zip(cols, (int(v) for v in row), strict=True))


EXPECTED = {
    "messages_in_ham": 2,  # bob and alice through vmail+…; m2 never delivered here
    "messages_in_spam": 1,  # carol's Junk by the 2.2 sieve line
    "messages_denied": 1,  # the 554 proxy-reject
    "messages_forward_count": 1,
    "messages_autorespond_count": 1,
    "logins_imap4": 1,
    "logins_pop3": 1,
    "logins_webmail": 2,
}


@pytest.fixture
def store_db(store_url: str) -> str:
    """The URL of a store holding the tree, on the test's backend."""
    with open_store(store_url) as store:
        build_tree(store)
    return store_url


def cli_ingest(db: str, log: Path, *options: str) -> str:
    """What the real ``mailtally [OPTIONS] ingest --db DB LOG`` prints."""
    command = (sys.executable, "-c", "from mailtally.cli import main; main()", *options)
    return subprocess.run(
        [*command, "ingest", "--db", db, str(log)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout


def test_each_new_form_counts_and_the_report_names_what_it_set_aside(
    store_db: str, tmp_path: Path
) -> None:
    log = tmp_path / "mail.log"
    write(log, LOG + list(NOT_UNDERSTOOD.values()))
    out = cli_ingest(store_db, log)
    store = open_store(store_db)
    try:
        assert flows(store) == EXPECTED
    finally:
        store.close()
    ignored = [ln for ln in out.splitlines() if ln.startswith("ignored (programs")]
    assert ignored == [
        "ignored (programs that never count): opendkim 2, postfix/postscreen 1, postgrey 1"
    ]
    for family in NOT_UNDERSTOOD:
        assert family in out, out


def test_the_report_tallies_and_names_them(tmp_path: Path) -> None:
    """The same, on the report object: counts by family, a sample of each."""
    path = tmp_path / "x.sqlite3"
    store = open_store(f"sqlite:///{path}")
    try:
        build_tree(store)
        log = tmp_path / "mail.log"
        write(log, LOG + list(NOT_UNDERSTOOD.values()))
        report = Ingester(store, UTC).ingest([str(log)])
        assert flows(store) == EXPECTED
    finally:
        store.close()
    assert report.ignored_programs == {"opendkim": 2, "postgrey": 1, "postfix/postscreen": 1}
    assert {p: (int(c), s) for p, (c, s) in report.unknown.items()} == {
        p: (1, line) for p, line in NOT_UNDERSTOOD.items()
    }
