"""Exim's lines (4.96-4.98), through syslog: arrivals, deliveries, failures, deferrals,
``Completed``, ACL rejections and the chatter that never counts.

Exim logs to syslog here (``log_file_path = syslog``, as a host feeding a central
syslog sets it) with ``syslog_timestamp`` (the default): ``exim[pid]: YYYY-MM-DD
hh:mm:ss <text>``, the text as Exim's own main log has it (log.c).  The forms are
those of the source: receive.c's arrival line, deliver.c's ``delivery_log``,
``deferral_log``, ``failure_log`` and ``string_log_address`` (the final address,
then ``<top-level address>`` when it differs; the local part only for an accept
router's local delivery, ``log_as_local``), smtp_in.c's ACL rejections (``H=… F=<…>
[temporarily ]rejected RCPT <…>: …``, with the message id once DATA has begun).
The log_selector is a cPanel host's: ``+smtp_connection``, ``+tls_cipher``,
``+incoming_port``, the default ``+smtp_confirmation`` (``C="…"``), and
``+received_recipients`` (``for a b`` on ``<=``) from ``recipients_from`` on.

Each line is written as the main log has it.  Exim also writes a rejection to its
reject log, and through syslog that copy reaches the same stream
(``syslog_duplication``, on by default): a RCPT rejection (permanent or temporary)
is written twice here, as Exim does, the copy a few microseconds later (mailtally
counts it once: parsers ``_syslog_copy``).  For a rejection after DATA the copy adds
``[2\\N] Envelope-from: <…>``, ``[3\\N] Envelope-to: <…>`` … and the headers
(``rejected_header``, on by default); those copies are not written (such a
rejection counts nothing: the recipients of a rejection after DATA are read nowhere).

Message ids are 4.96's (``1vwrO3-00023j-01``, 6-6-2 base 62) before ``long_from``
and 4.97's (6-11-4) after, as on a host upgraded during the week.  The caller
(:mod:`.scenarios_exim`) draws the session's process id once (:meth:`Exim.session`)
and passes it to the lines of that SMTP session.
"""

from __future__ import annotations

from .base import Program, Run
from .platform import LAST, Host, SUser
from .postfix import mx, remote_ok

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
TLS_IN = "X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no"
TLS_OUT = "X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes"


def b62(n: int, width: int) -> str:
    """``n`` in Exim's id alphabet (base 62), ``width`` digits."""
    out = []
    for _ in range(width):
        n, r = divmod(n, 62)
        out.append(_B62[r])
    return "".join(reversed(out))


def host_field(relay: str) -> str:
    """``name [ip]`` of a relay written ``name[ip]:port`` (Postfix's form)."""
    name, _, rest = relay.partition("[")
    return f"{name} [{rest.partition(']')[0]}]"


class Exim(Program):
    """One host's Exim, writing to syslog."""

    def __init__(self, run: Run, long_from: int, recipients_from: int) -> None:
        super().__init__(run)
        rng = self.rng
        #: from this time on, 4.97's message ids (the host was upgraded)
        self.long_from = long_from
        #: from this time on, ``for …`` on arrival lines (+received_recipients)
        self.recipients_from = recipients_from
        self.pids = {k: [rng.randint(1000, 4_000_000) for _ in range(8)] for k in ("in", "out")}
        self._stamp_t = -1
        self._stamp = ""

    # -- ids and the line ---------------------------------------------------------------------
    def eid(self, t: int) -> str:
        """A new message id for a message received at ``t``."""
        n = self.run.next()
        if t < self.long_from:
            return f"{b62(t, 6)}-{b62((n * 7919) % 62**6, 6)}-{b62(n % 62**2, 2)}"
        return f"{b62(t, 6)}-{b62((n * 104729) % 62**11, 11)}-{b62(n % 62**4, 4)}"

    def session(self) -> int:
        """The process id of a new SMTP session (its lines share it)."""
        return self.rng.choice(self.pids["in"])

    def line(self, t: int, p: int, text: str) -> None:
        """``exim[p]: YYYY-MM-DD hh:mm:ss text``."""
        if t != self._stamp_t:
            s = t % 86400
            self._stamp_t = t
            self._stamp = (
                f"{self.run.log.days(t)[1][:10]} {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"
            )
        self.emit(t, f"exim[{p}]: {self._stamp} {text}")

    def out(self, t: int, text: str) -> None:
        """A line of a delivery process."""
        self.line(t, self.rng.choice(self.pids["out"]), text)

    # -- SMTP sessions --------------------------------------------------------------------
    def connection(self, t: int, p: int, client: str, port: int) -> str:
        """A client ``name[ip]`` connects; returns the ``H=`` field of its later lines."""
        name, _, rest = client.partition("[")
        ip = rest[:-1]
        if name == "unknown":
            h = f"[{ip}]:{port}"
            at_connect = h
        else:
            h = f"{name} ({name}) [{ip}]:{port}"
            at_connect = f"{name} [{ip}]:{port}"  # (no HELO yet)
        if self.rng.random() < 0.5:
            self.line(
                t,
                p,
                f"SMTP connection from {at_connect} (TCP/IP connection count = "
                f"{self.rng.randint(1, 12)})",
            )
        return f"H={h}"

    def closed(self, t: int, p: int, h: str) -> None:
        self.line(t, p, f"SMTP connection from {h[2:]} closed by QUIT")

    def incomplete(self, t: int, p: int, h: str, sender: str) -> None:
        self.line(t, p, f"{h} incomplete transaction (QUIT) from <{sender}>")

    def arrival(
        self,
        t: int,
        p: int,
        q: str,
        sender: str,
        host: str,
        size: int,
        mid: str,
        rcpts: list[str],
        auth: str = "",
        proto: str = "esmtps",
    ) -> None:
        """``<=``: ``host`` the ``H=…`` field, or ``U=user`` for a local submission
        (protocol ``local``, no TLS); ``auth`` the ``A=`` value."""
        if host.startswith("H="):
            head = f"{host} P={proto}" + (f" {TLS_IN}" if proto.startswith("esmtps") else "")
        else:
            head = f"{host} P=local"
        a = f" A={auth}" if auth else ""
        f = f" for {' '.join(rcpts)}" if t >= self.recipients_from and rcpts else ""
        self.line(t, p, f"{q} <= {sender or '<>'} {head}{a} S={size} id={mid}{f}")

    def rejected_rcpt(
        self, t: int, p: int, h: str, sender: str, r: str, why: str, temporary: bool = False
    ) -> None:
        """A RCPT rejection, and its reject-log copy (``syslog_duplication``)."""
        temp = "temporarily " if temporary else ""
        for _copy in range(2):
            self.line(t, p, f"{h} F=<{sender}> {temp}rejected RCPT <{r}>: {why}")

    def warning(self, t: int, p: int, h: str, sender: str, ip: str) -> None:
        """A ``warn`` verb of the RCPT ACL: logged, nothing refused."""
        self.line(
            t,
            p,
            f"{h} F=<{sender}> Warning: {ip} is listed at bl.spamcop.net "
            "(127.0.0.2: Blocked - see https://www.spamcop.net/bl.shtml)",
        )

    def rejected_after_data(self, t: int, p: int, q: str, h: str, sender: str, why: str) -> None:
        """The DATA ACL refused the message (``why`` begins with ``[temporarily ]rejected``)."""
        self.line(t, p, f"{q} {h} F=<{sender}> {why}")

    def auth_failed(self, t: int, ip: str, who: str) -> None:
        """A submission client fails SMTP AUTH (Dovecot as Exim's authenticator)."""
        self.line(
            t,
            self.session(),
            f"dovecot_login authenticator failed for (User) [{ip}]:"
            f"{self.rng.randint(1024, 65000)}: 535 Incorrect authentication data (set_id={who})",
        )

    # -- deliveries -----------------------------------------------------------------------
    def local(self, t: int, q: str, u: SUser, r: str, sess: str, mark: str = "=>") -> None:
        """A delivery into ``u``'s mailbox (``r`` the address it was sent to): cPanel's
        LMTP into Dovecot, or Debian's accept router and pipe to dovecot-lda, whose line
        names the local part only (``log_as_local``) and always the top address."""
        if u.domain.transport == "lmtp":
            top = f" <{r}>" if r != u.address else ""
            self.out(
                t,
                f"{q} {mark} {u.address}{top} R=virtual_user T=dovecot_virtual_delivery "
                f'C="250 2.0.0 <{u.address}> {sess} Saved"',
            )
        else:
            self.out(t, f"{q} {mark} {u.local} <{r}> R=dovecot_user T=dovecot_delivery")

    def spam_box(self, t: int, q: str, u: SUser, r: str) -> None:
        """cPanel's spam box: Exim writes the message into the user's spam folder."""
        top = f" <{r}>" if r != u.address else ""
        self.out(t, f"{q} => {u.address}{top} R=virtual_user_spam T=virtual_sa_userdelivery")

    def mailbox_full(self, t: int, q: str, u: SUser, r: str) -> None:
        """``**``: Dovecot refused the message over quota (a failure names the address)."""
        top = f" <{r}>" if r != u.address else ""
        self.out(
            t,
            f"{q} ** {u.address}{top} R=virtual_user T=dovecot_virtual_delivery: LMTP error "
            f"after end of data: 552 5.2.2 <{u.address}> Quota exceeded (mailbox for user is "
            "full)",
        )

    def local_deferred(self, t: int, q: str, u: SUser, r: str) -> None:
        """``==``: Dovecot asked to try again later; a queue run follows."""
        top = f" <{r}>" if r != u.address else ""
        self.out(
            t,
            f"{q} == {u.address}{top} R=virtual_user T=dovecot_virtual_delivery defer (-46): "
            f"LMTP error after end of data: 451 4.3.0 <{u.address}> Temporary internal error",
        )

    def remote(self, t: int, q: str, to: str, top: str | None, mid: str, mark: str = "=>") -> None:
        """A delivery to the MX of ``to`` (``top``: the address it was sent to, if not ``to``:
        a forward through a redirect router)."""
        relay, kind = mx(to)
        o = f" <{top}>" if top else ""
        conf = remote_ok(self.rng, kind, mid).replace("\\", "\\\\").replace('"', '\\"')
        self.out(
            t,
            f"{q} {mark} {to}{o} R=dnslookup T=remote_smtp H={host_field(relay)} {TLS_OUT} "
            f'C="{conf}"',
        )

    def remote_failed(self, t: int, q: str, to: str) -> None:
        """``**``: the remote MX refused the recipient."""
        relay, _kind = mx(to)
        self.out(
            t,
            f"{q} ** {to} R=dnslookup T=remote_smtp H={host_field(relay)}: SMTP error from "
            f"remote mail server after RCPT TO:<{to}>: 550 5.1.1 <{to}>: Recipient address "
            "rejected: User unknown",
        )

    def remote_deferred(self, t: int, q: str, to: str) -> None:
        relay, _kind = mx(to)
        self.out(
            t,
            f"{q} == {to} R=dnslookup T=remote_smtp defer (110): Connection timed out "
            f"H={host_field(relay)}",
        )

    def relayed(self, t: int, q: str, to: str, relay: str) -> None:
        """A filter-only account's mail, relayed to the customer's own server."""
        self.out(
            t,
            f"{q} => {to} R=customer_relay T=remote_smtp H={host_field(relay)} "
            f'C="250 2.0.0 Ok: queued as {self.rng.getrandbits(36):09X}"',
        )

    def handed_over(self, t: int, q: str, to: str, host: Host, c: str) -> None:
        """A delivery to another host of the platform, which received it as ``c``."""
        self.out(
            t,
            f"{q} => {to} R=dnslookup T=remote_smtp H={host.fqdn} [{host.ip}] {TLS_OUT} "
            f'C="250 OK id={c}"',
        )

    def completed(self, t: int, q: str) -> None:
        self.out(t, f"{q} Completed")

    def queue_run(self, t: int) -> None:
        p = self.rng.choice(self.pids["out"])
        self.line(t, p, f"Start queue run: pid={p}")

    # -- chatter --------------------------------------------------------------------------
    def noise(self, t: int, x: float, ip: str) -> None:
        """Exim's lines that count nothing, by ``x`` in [0, 0.44)."""
        rng = self.rng
        p = self.session()
        port = rng.randint(1024, 65000)
        if x < 0.15:
            self.line(t, p, f"SMTP connection from [{ip}]:{port} (TCP/IP connection count = 3)")
            self.line(t, p, f"SMTP connection from [{ip}]:{port} lost while reading message data")
        elif x < 0.22:
            self.line(t, p, f"no host name found for IP address {ip}")
        elif x < 0.28:
            q = rng.choice(self.pids["out"])
            self.line(t, q, f"Start queue run: pid={q}")
            self.line(t, q, f"End queue run: pid={q}")
        elif x < 0.32:
            self.line(
                t,
                p,
                f"TLS error on connection from (User) [{ip}]:{port} (SSL_accept): "
                "error:0A000126:SSL routines::unexpected eof while reading",
            )
        elif x < 0.36:
            self.line(
                t,
                p,
                "SMTP protocol synchronization error (input sent without waiting for greeting): "
                f'rejected connection from H=[{ip}]:{port} input="GET / HTTP/1.1"',
            )
        elif x < 0.40:
            helo = f"{rng.choice(LAST)}.example"
            self.line(
                t,
                p,
                f"H=({helo}) [{ip}]:{port} rejected EHLO or HELO {helo}: Invalid HELO name "
                "(See RFC2821 4.1.3)",
            )
        else:
            self.line(
                t,
                p,
                f"unexpected disconnection while reading SMTP command from [{ip}]:{port} D=10s",
            )
