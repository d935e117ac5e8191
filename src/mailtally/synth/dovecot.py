"""Dovecot's lines: IMAP/POP3 logins and logouts, failed logins, LMTP and dovecot-lda
deliveries with Pigeonhole sieve actions, and a little noise (Dovecot 2.3 formats).
"""

from __future__ import annotations

import base64

from .base import Program
from .platform import SUser


class Dovecot(Program):
    """One host's Dovecot."""

    def session(self) -> str:
        """A session id (22 characters of base64; logins show the first 16)."""
        v = (self.run.ids.next() * 0x9E3779B97F4A7C15F39CC0605CEDC835) & ((1 << 128) - 1)
        return base64.b64encode(v.to_bytes(16, "big")).decode()[:22]

    # -- deliveries (LMTP or dovecot-lda), sieve --------------------------------------------
    def _ctx(self, u: SUser, sess: str) -> str:
        kind = "lmtp" if u.domain.transport == "lmtp" else "lda"
        return f"dovecot: {kind}({u.address})<{self.pid('dovecot')}><{sess}>"

    def sieve(self, t: int, u: SUser, sess: str, mid: str, action: str, target: str) -> None:
        """A Pigeonhole action (``fileinto``, ``vacation``, ``redirect``, or ``""``: the
        text ``target`` as is), in the form of the delivery agent the domain uses."""
        new = u.domain.transport == "lmtp"
        if action == "fileinto":
            body = f"stored mail into mailbox '{target}'"
            if new and target != "INBOX":
                body = "fileinto action: " + body
        elif action == "vacation":
            body = f"sent vacation response to <{target}>"
        elif action == "redirect":
            body = f"forwarded to <{target}>"
            if new:
                body = "redirect action: " + body
        else:
            body = target
        self.emit(t, f"{self._ctx(u, sess)}: sieve: msgid=<{mid}>: {body}")

    def vacation_msgid(self, t: int) -> str:
        """The Message-ID of a vacation response Pigeonhole sends at ``t``."""
        return f"dovecot-sieve-{t}-{self.rng.randint(100000, 999999)}-0@{self.host.fqdn}"

    def saved(self, t: int, u: SUser, sess: str, mid: str) -> None:
        """A delivery without sieve."""
        self.emit(t, f"{self._ctx(u, sess)}: msgid=<{mid}>: saved mail to INBOX")

    # -- logins ---------------------------------------------------------------------------
    def login(self, t: int, service: str, who: str, ip: str, mpid: int, sess: str) -> None:
        """A successful IMAP/POP3 login, sometimes in the old form (IPv4-mapped, PID=)."""
        lip = self.host.ip
        if self.rng.random() < 0.15 and ":" not in ip:
            text = (
                f"dovecot: {service}-login: Login: user=<{who}>, method=PLAIN, rip=::ffff:{ip}, "
                f"lip=::ffff:{lip}, PID={mpid}, TLS"
            )
        else:
            text = (
                f"dovecot: {service}-login: Login: user=<{who}>, method=PLAIN, rip={ip}, "
                f"lip={lip}, mpid={mpid}, TLS, session=<{sess}>"
            )
        self.emit(t, text)

    def logout(self, t: int, service: str, who: str, mpid: int, sess: str) -> None:
        stats = (
            "top=0/0, retr=2/12345, del=2/2, size=12345"
            if service == "pop3"
            else "in=312 out=45123 deleted=0 expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 "
            "body_count=3 body_bytes=40211"
        )
        self.emit(t, f"dovecot: {service}({who})<{mpid}><{sess}>: Disconnected: Logged out {stats}")

    def webmail_login(self, t: int, u: SUser, old: bool, webmail: str = "127.0.0.1") -> None:
        """The webmail's own IMAP login (not counted), from loopback when the webmail runs
        on this host, else from ``webmail``'s address."""
        rng = self.rng
        mpid = rng.randint(1000, 60000)
        if webmail == "127.0.0.1":
            rip = "::ffff:127.0.0.1" if old else ("::1" if rng.random() < 0.2 else "127.0.0.1")
            lip = "::ffff:127.0.0.1" if old else rip
        else:
            rip, lip = (
                (f"::ffff:{webmail}", f"::ffff:{self.host.ip}") if old else (webmail, self.host.ip)
            )
        tail = (
            f"PID={mpid}, secured"
            if old
            else f"mpid={mpid}, secured, session=<{self.session()[:16]}>"
        )
        self.emit(
            t,
            f"dovecot: imap-login: Login: user=<{u.address}>, method=PLAIN, "
            f"rip={rip}, lip={lip}, {tail}",
        )

    def webmail_password_mismatch(self, t: int, u: SUser, webmail: str = "127.0.0.1") -> None:
        """The webmail's login with a wrong password, as Dovecot sees it."""
        lip = "127.0.0.1" if webmail == "127.0.0.1" else self.host.ip
        self.emit(
            t,
            f"dovecot: auth: passwd-file({u.address},{webmail},<{self.session()[:16]}>): "
            "Password mismatch",
        )
        self.emit(
            t,
            f"dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): "
            f"user=<{u.address}>, method=PLAIN, rip={webmail}, lip={lip}, secured, "
            f"session=<{self.session()[:16]}>",
        )

    def unknown_user(self, t: int, who: str, ip: str) -> None:
        """Logins as a user that does not exist, from ``ip``."""
        rng = self.rng
        self.emit(
            t,
            f"dovecot: auth-worker({rng.randint(1000, 60000)}): "
            f"passwd-file({who},{ip}): unknown user",
        )
        svc = rng.choice(("imap", "pop3"))
        self.emit(
            t + 2,
            f"dovecot: {svc}-login: Disconnected (auth failed, 3 attempts in 12 secs): "
            f"user=<{who}>, method=PLAIN, rip={ip}, lip={self.host.ip}, TLS, "
            f"session=<{self.session()[:16]}>",
        )

    def aborted_login(self, t: int, ip: str) -> None:
        self.emit(
            t,
            f"dovecot: pop3-login: Aborted login (no auth attempts in 0 secs): user=<>, "
            f"rip={ip}, lip={self.host.ip}, session=<{self.session()[:16]}>",
        )

    # -- noise ----------------------------------------------------------------------------
    def lmtp_connect(self, t: int) -> None:
        self.emit(t, f"dovecot: lmtp({self.rng.randint(1000, 60000)}): Connect from local")

    def process_limit(self, t: int) -> None:
        self.emit(
            t,
            "dovecot: master: Warning: service(imap-login): process_limit (100) reached, "
            "client connections are being dropped",
        )
