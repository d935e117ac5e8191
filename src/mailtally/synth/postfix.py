"""Postfix's lines: smtpd, submission, postscreen, cleanup, qmgr, smtp, lmtp, pipe, bounce …

Each method writes one line (or a fixed group) as Postfix 3.x logs it; the
caller (:mod:`.scenarios`) decides the message, its queue ids and its fate.
Methods that take ``sp`` (an smtpd process id) write lines of one SMTP session,
which the caller draws once with ``pid("smtpd")`` (or ``"submission"``,
``"reinject"``).
"""

from __future__ import annotations

import random

from .base import Program, Run
from .platform import SPAM_WORDS, Host, SUser

_ALPHA51 = "0123456789BCDFGHJKLMNPQRSTVWXYbcdfghjklmnpqrstvwxy"

#: Remote MX hosts by domain: (relay, the form of their answer).
MX = {
    "gmail.com": ("gmail-smtp-in.l.google.com[142.250.27.27]:25", "gmail"),
    "yahoo.com": ("mta5.am0.yahoodns.net[67.195.204.72]:25", "yahoo"),
    "outlook.com": ("outlook-com.olc.protection.outlook.com[52.101.40.5]:25", "outlook"),
    "web.de": ("mx-ha03.web.de[212.227.17.8]:25", "postfix"),
}


def b51(n: int, width: int) -> str:
    """``n`` in Postfix's long queue id alphabet (base 51), ``width`` digits."""
    out = []
    for _ in range(width):
        n, r = divmod(n, len(_ALPHA51))
        out.append(_ALPHA51[r])
    return "".join(reversed(out))


def mx(address: str) -> tuple[str, str]:
    """The relay a message to ``address`` goes to, and the form of its answer."""
    dom = address.rpartition("@")[2]
    found = MX.get(dom)
    if found is not None:
        return found
    return f"mx.{dom}[198.51.100.{sum(map(ord, dom)) % 200 + 50}]:25", "postfix"


def remote_ok(rng: random.Random, kind: str, mid: str) -> str:
    """A remote MX's answer to a message (``kind`` of :func:`mx`)."""
    if kind == "gmail":
        return f"250 2.0.0 OK  {rng.randint(1_700_000_000, 1_800_000_000)} x{rng.randint(10, 99)}si{rng.randint(1000, 9999)}abc.{rng.randint(10, 99)} - gsmtp"  # noqa: E501
    if kind == "yahoo":
        return "250 ok dirdel"
    if kind == "outlook":
        return f"250 2.6.0 <{mid}> [InternalId=1{rng.randint(10**9, 10**10)}, Hostname=AM0PR0{rng.randint(1, 9)}MB1234.eurprd0{rng.randint(1, 9)}.prod.outlook.com] 9876 bytes in 0.{rng.randint(100, 999)}, 12.3 KB/sec Queued mail for delivery"  # noqa: E501
    return f"250 2.0.0 Ok: queued as {b51(rng.randint(0, 51**9), 9)}"


class Postfix(Program):
    """One host's Postfix."""

    def __init__(self, run: Run, long_from: int) -> None:
        super().__init__(run)
        #: from this time on, long queue ids (enable_long_queue_ids was switched on)
        self.long_from = long_from

    # -- ids and small pieces -------------------------------------------------------------
    def qid(self, t: int) -> str:
        n = self.run.next()
        if t < self.long_from:
            return f"{(n * 0xB5AD4ECEDA1CE2A9) & 0xFFFFFFFFFF:010X}"
        return f"{b51(t, 6)}{b51(n % 51**4, 4)}z{b51((n * 7919) % 51**4, 4)}"

    def delays(self) -> str:
        rng = self.rng
        a, b, c, d = rng.random() * 0.3, rng.random() * 0.05, rng.random() * 0.4, rng.random()
        return f"delay={a + b + c + d:.2g}, delays={a:.2g}/{b:.2g}/{c:.2g}/{d:.2g}"

    def remote_ok(self, kind: str, mid: str) -> str:
        return remote_ok(self.rng, kind, mid)

    # -- the queue ------------------------------------------------------------------------
    def qmgr(self, t: int, q: str, sender: str, size: int, nrcpt: int) -> None:
        self.emit(
            t,
            f"postfix/qmgr[{self.run.qmgr_pid}]: {q}: from=<{sender}>, size={size}, "
            f"nrcpt={nrcpt} (queue active)",
        )

    def removed(self, t: int, q: str) -> None:
        self.emit(t, f"postfix/qmgr[{self.run.qmgr_pid}]: {q}: removed")

    def cleanup(self, t: int, q: str, mid: str, cp: int | None = None) -> None:
        """cleanup's message-id line (its process ``cp``, drawn here unless given)."""
        if cp is None:
            cp = self.pid("cleanup")
        self.emit(t, f"postfix/cleanup[{cp}]: {q}: message-id=<{mid}>")

    def pickup(self, t: int, q: str, uid: int, sender: str) -> None:
        self.emit(t, f"postfix/pickup[{self.pid('pickup')}]: {q}: uid={uid} from=<{sender}>")

    def bounce_notice(self, t: int, q: str, c: str) -> None:
        """``q``'s sender is sent a non-delivery notification, queued as ``c``."""
        self.emit(
            t,
            f"postfix/bounce[{self.pid('bounce')}]: {q}: sender non-delivery notification: {c}",
        )

    # -- smtpd sessions -------------------------------------------------------------------
    def connect(self, t: int, sp: int, client: str, service: str = "smtpd") -> None:
        self.emit(t, f"postfix/{service}[{sp}]: connect from {client}")

    def tls_in(self, t: int, sp: int, client: str) -> None:
        self.emit(
            t,
            f"postfix/smtpd[{sp}]: Anonymous TLS connection established from {client}: "
            "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 "
            "server-signature RSA-PSS (2048 bits) server-digest SHA256",
        )

    def client(self, t: int, sp: int, q: str, client: str, service: str = "smtpd") -> None:
        self.emit(t, f"postfix/{service}[{sp}]: {q}: client={client}")

    def disconnect(self, t: int, sp: int, client: str, counts: str, service: str = "smtpd") -> None:
        self.emit(t, f"postfix/{service}[{sp}]: disconnect from {client} {counts}")

    def reject(
        self, t: int, sp: int, client: str, why: str, sender: str, r: str, helo: str
    ) -> None:
        """``NOQUEUE: reject`` at RCPT time."""
        self.emit(
            t,
            f"postfix/smtpd[{sp}]: NOQUEUE: reject: RCPT from {client}: {why}; "
            f"from=<{sender}> to=<{r}> proto=ESMTP helo=<{helo}>",
        )

    def reject_warning(
        self, t: int, sp: int, client: str, ip: str, sender: str, r: str, helo: str
    ) -> None:
        self.emit(
            t,
            f"postfix/smtpd[{sp}]: NOQUEUE: reject_warning: RCPT from {client}: 450 "
            f"4.7.1 Client host rejected: cannot find your reverse hostname, [{ip}]; "
            f"from=<{sender}> to=<{r}> proto=ESMTP helo=<{helo}>",
        )

    def milter_reject(
        self, t: int, cp: int, q: str, client: str, reply: str, sender: str, r: str, helo: str
    ) -> None:
        """cleanup (``cp``) reports a milter's refusal at the end of DATA."""
        self.emit(
            t,
            f"postfix/cleanup[{cp}]: {q}: milter-reject: END-OF-MESSAGE from {client}: "
            f"{reply}; from=<{sender}> to=<{r}> proto=ESMTP helo=<{helo}>",
        )

    def submission_client(
        self, t: int, sp: int, q: str, client: str, method: str, sasl: str
    ) -> None:
        self.emit(
            t,
            f"postfix/submission/smtpd[{sp}]: {q}: client={client}, "
            f"sasl_method={method}, sasl_username={sasl}",
        )

    def auth_failed(self, t: int, ip: str) -> None:
        """A submission client fails SASL authentication and goes away."""
        sp = self.pid("submission")
        self.connect(t, sp, f"unknown[{ip}]", "submission/smtpd")
        self.emit(
            t,
            f"postfix/submission/smtpd[{sp}]: warning: unknown[{ip}]: SASL LOGIN "
            "authentication failed: UGFzc3dvcmQ6",
        )
        self.emit(
            t + 1,
            f"postfix/submission/smtpd[{sp}]: lost connection after AUTH from unknown[{ip}]",
        )
        self.disconnect(
            t + 1, sp, f"unknown[{ip}]", "ehlo=1 auth=0/1 commands=1/2", "submission/smtpd"
        )

    def postscreen_connect(self, t: int, p: int, ip: str, port: int) -> None:
        """A client connects to postscreen (``p``) and is ranked on DNSBLs."""
        self.emit(t, f"postfix/postscreen[{p}]: CONNECT from [{ip}]:{port} to [{self.host.ip}]:25")
        self.emit(
            t, f"postfix/postscreen[{p}]: DNSBL rank {self.rng.randint(3, 9)} for [{ip}]:{port}"
        )

    def postscreen_reject(self, t: int, p: int, ip: str, port: int, r: str) -> None:
        """postscreen refuses the client's recipient ``r`` and drops it."""
        rng = self.rng
        self.emit(
            t,
            f"postfix/postscreen[{p}]: NOQUEUE: reject: RCPT from [{ip}]:{port}: 550 5.7.1 "
            f"Service unavailable; client [{ip}] blocked using zen.spamhaus.org; "
            f"from=<spam{rng.randint(1, 99)}@bulk.example.biz>, to=<{r}>, proto=ESMTP, "
            f"helo=<{rng.choice(SPAM_WORDS)}.example.biz>",
        )
        self.emit(t, f"postfix/postscreen[{p}]: DISCONNECT [{ip}]:{port}")

    # -- deliveries -----------------------------------------------------------------------
    def smtp_out(
        self, t: int, q: str, to: str, orig: str | None, mid: str, status: str = "sent"
    ) -> None:
        """A delivery to a remote MX: sent, deferred or bounced."""
        relay, kind = mx(to)
        o = f", orig_to=<{orig}>" if orig else ""
        p = self.pid("smtp")
        if self.rng.random() < 0.3:
            self.emit(
                t,
                f"postfix/smtp[{p}]: Trusted TLS connection established to {relay}: TLSv1.3 with "
                "cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 "
                "server-signature ECDSA (P-256) server-digest SHA256",
            )
        if status == "sent":
            resp, dsn = self.remote_ok(kind, mid), "2.0.0"
        elif status == "deferred":
            resp = f"connect to {relay.rsplit(':', 1)[0]}:25: Connection timed out"
            dsn = "4.4.1"
        else:
            resp = (
                f"host {relay.rsplit(':', 1)[0]} said: 550 5.1.1 <{to}>: Recipient address "
                "rejected: User unknown in virtual mailbox table (in reply to RCPT TO command)"
            )
            dsn = "5.1.1"
        self.emit(
            t,
            f"postfix/smtp[{p}]: {q}: to=<{to}>{o}, relay={relay}, {self.delays()}, dsn={dsn}, "
            f"status={status} ({resp})",
        )

    def relayed(self, t: int, q: str, to: str, relay: str) -> None:
        """A delivery to a filter-only customer's own server."""
        p = self.pid("smtp")
        self.emit(
            t,
            f"postfix/smtp[{p}]: {q}: to=<{to}>, relay={relay}, {self.delays()}, "
            f"dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as "
            f"{self.rng.getrandbits(36):09X})",
        )

    def local(
        self, t: int, q: str, u: SUser, to: str, orig: str | None, status: str, sess: str
    ) -> None:
        """A delivery to Dovecot: LMTP (sent, deferred, bounced) or dovecot-lda by pipe."""
        o = f", orig_to=<{orig}>" if orig else ""
        if u.domain.transport == "pipe":
            self.emit(
                t,
                f"postfix/pipe[{self.pid('pipe')}]: {q}: to=<{to}>{o}, relay=dovecot, "
                f"{self.delays()}, dsn=2.0.0, status=sent (delivered via dovecot service)",
            )
            return
        fqdn = self.host.fqdn
        if status == "sent":
            dsn, resp = "2.0.0", f"250 2.0.0 <{to}> {sess} Saved"
        elif status == "deferred":
            dsn = "4.3.0"
            resp = (
                f"host {fqdn}[private/dovecot-lmtp] said: 451 4.3.0 <{to}> Temporary internal "
                "error (in reply to end of DATA command)"
            )
        else:
            dsn = "5.2.2"
            resp = (
                f"host {fqdn}[private/dovecot-lmtp] said: 552 5.2.2 <{to}> Quota exceeded "
                "(mailbox for user is full) (in reply to end of DATA command)"
            )
        self.emit(
            t,
            f"postfix/lmtp[{self.pid('lmtp')}]: {q}: to=<{to}>{o}, "
            f"relay={fqdn}[private/dovecot-lmtp], {self.delays()}, dsn={dsn}, "
            f"status={status} ({resp})",
        )

    def handed_over(self, t: int, q: str, to: str, host: Host, c: str) -> None:
        """A delivery to another host of the platform, which queued it as ``c``."""
        self.emit(
            t,
            f"postfix/smtp[{self.pid('smtp')}]: {q}: to=<{to}>, relay={host.fqdn}[{host.ip}]:25, "
            f"{self.delays()}, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as {c})",
        )

    def to_filter(self, q: str, to: str, ports: tuple[int, int], b: str) -> str:
        """The text of a hand-over to a content filter on ``ports[0]``, which re-injected
        the message on ``ports[1]`` as ``b`` (returned, not written: the caller decides
        when amavis answered)."""
        return (
            f"postfix/smtp[{self.pid('smtp')}]: {q}: to=<{to}>, relay=127.0.0.1[127.0.0.1]:"
            f"{ports[0]}, {self.delays()}, dsn=2.0.0, status=sent (250 2.0.0 from "
            f"MTA(smtp:[127.0.0.1]:{ports[1]}): 250 2.0.0 Ok: queued as {b})"
        )

    def discarded(self, t: int, q: str, to: str, aid: str, why: str) -> None:
        """The content filter took the message and discarded it (quarantine)."""
        self.emit(
            t,
            f"postfix/smtp[{self.pid('smtp')}]: {q}: to=<{to}>, relay=127.0.0.1"
            f"[127.0.0.1]:10024, {self.delays()}, dsn=2.7.0, status=sent (250 2.7.0 Ok, "
            f"discarded, id={aid} - {why})",
        )

    # -- noise ----------------------------------------------------------------------------
    def noise(self, t: int, x: float, ip: str) -> None:
        """Lines that count nothing (``x`` in [0, 0.46) picks which, as the caller drew it)."""
        emit = self.emit
        if x < 0.25:
            sp = self.pid("smtpd")
            emit(t, f"postfix/smtpd[{sp}]: connect from unknown[{ip}]")
            emit(t, f"postfix/smtpd[{sp}]: lost connection after EHLO from unknown[{ip}]")
            emit(t, f"postfix/smtpd[{sp}]: disconnect from unknown[{ip}] ehlo=1 commands=1")
        elif x < 0.32:
            emit(
                t,
                f"postfix/smtpd[{self.pid('smtpd')}]: warning: hostname "
                f"host-{ip.replace('.', '-')}.example.net does not resolve to address {ip}: "
                "Name or service not known",
            )
        elif x < 0.38:
            emit(
                t,
                f"postfix/anvil[{self.run.qmgr_pid + 3}]: statistics: max connection rate 3/60s "
                f"for (smtp:{ip}) at {self.run.log.days(t)[0]}00:00:01",
            )
        elif x < 0.42:
            emit(
                t,
                f"postfix/scache[{self.run.qmgr_pid + 5}]: statistics: start interval "
                f"{self.run.log.days(t)[0]}00:00:01",
            )
        else:
            emit(
                t,
                f"postfix/smtpd[{self.pid('smtpd')}]: improper command pipelining after "
                f"CONNECT from unknown[{ip}]: EHLO x\\r\\n",
            )

    def tlsmgr_warning(self, t: int) -> None:
        self.emit(
            t,
            f"postfix/tlsmgr[{self.run.qmgr_pid + 9}]: warning: request to update table "
            "btree:/var/lib/postfix/smtpd_scache in non-postfix directory "
            "/var/lib/postfix",
        )
