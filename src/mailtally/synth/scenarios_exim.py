"""The traffic of an Exim platform: Exim with SpamAssassin's spamd and Dovecot.

A hosting platform as cPanel, DirectAdmin or Debian build it: Exim receives and
delivers; spamd scans each inbound message at DATA time (Exim's ``spam`` ACL
condition); Dovecot stores the mail and serves IMAP/POP3; Roundcube is the webmail.
The first company's domains are delivered cPanel's way (LMTP into Dovecot, the
spam of users with a spam box into their spam folder by ``virtual_user_spam``),
the second company's Debian's way (a pipe to dovecot-lda); aliases and forwards
go through redirect routers, address extensions are a router suffix.  Everything
logs to one syslog stream (:mod:`.exim`), so the files are laid out as the Postfix
platform's.

What happens is the Postfix platform's traffic (:class:`~.scenarios.PostfixTraffic`),
and what it counts the same SPEC §3 rules (see the package docstring), with the
Exim specifics:

* ``out_*`` at the ``<=`` line of an authenticated submission (``A=``), with its
  envelope recipients (the ``for`` list, or each address its deliveries name: the
  same, as submissions are addressed);
* a message spamd calls spam (``result: Y``) that Exim accepts is ``in_spam`` for
  each user it reaches (the spam folder, the inbox tagged, or a forward);
* a permanent ``rejected RCPT`` is ``denied`` for the user (or the domain, for an
  unknown address), a temporary one counts nothing; ``**`` of a local delivery
  (mailbox full) is ``denied``, and Exim's bounce to a local sender a receipt;
* a message **rejected after DATA** (spam over the reject score, a virus) is a
  denial for each recipient, but the main log's line names none (only the reject
  log's copy lists them, as ``Envelope-to:`` lines, and mailtally reads the main
  log's lines only; :mod:`.exim` writes no copy): the truth keeps those denials
  apart (``denied_not_in_log`` of truth.json) and counts them for nobody.
"""

from __future__ import annotations

from .base import Run
from .exim import Exim
from .platform import (
    EXTERNAL_DOMAINS,
    FIRST,
    INBOUND_CLIENTS,
    SPAM_WORDS,
    UNKNOWN_LOCALS,
    Host,
    SUser,
)
from .scenarios import SCENARIOS, TOUR, Traffic
from .spamd import Spamd
from .truth import DENIED

#: the kinds of the Postfix platform's filters, which this platform has not
POSTFIX_ONLY = frozenset(
    {
        "inbound:spam_rspamd",
        "inbound:spam_amavis",
        "inbound:ham_amavis",
        "webmail_pickup",
        "postscreen",
        "milter_reject",
        "blocked_spam",
        "blocked_virus",
    }
)
#: (kind, weight): the Postfix platform's, less its filters', plus rejections after DATA
SCENARIOS_EXIM: tuple[tuple[str, float], ...] = (
    *((k, w) for k, w in SCENARIOS if k not in POSTFIX_ONLY),
    ("spam_reject", 1.5),
    ("virus", 0.3),
)
#: every kind once at the start, so that even a small log has all of them
TOUR_EXIM = (
    *(k for k in TOUR if k not in POSTFIX_ONLY),
    "inbound:spam",
    "spam_reject",
    "virus",
)
#: the account Exim asks spamd to scan for, by company (cPanel: the domain's owner)
SPAMD_USERS = (("nwhost", 1001), ("contoso", 1002))
#: the system user Dovecot delivers as (Pigeonhole's messages come from it)
VMAIL = "vmail"


class EximTraffic(Traffic):
    """The scenarios of an Exim platform with spamd (module docstring)."""

    exim: Exim
    spamd: Spamd

    def programs(self, run: Run) -> None:
        # +received_recipients from a quarter of the way on, the 4.97 ids from half way
        self.exim = Exim(run, self.long_from, self.start + (self.end - self.start) // 4)
        self.spamd = Spamd(run)

    def play(self, kind: str, t: int) -> None:
        rng = self.rng
        if kind == "inbound:junk":  # a user with cPanel's spam box
            pool = [
                x for x in self.mailboxes if x.junk_rule and x.domain.transport == "lmtp"
            ] or self.mailboxes
            u = rng.choice(pool)
            self.inbound(t, [(u.address, u)], "spam")
        elif kind == "inbound:spam":
            self.inbound(t, None, "spam")
        elif kind == "spam_reject":
            self.data_reject(t, "spam")
        elif kind == "virus":
            self.data_reject(t, "virus")
        elif kind == "soft_reject":
            self.data_reject(t, "temporary")
        else:
            super().play(kind, t)

    # -- Exim's lines of a delivery (Traffic.deliver) --------------------------------------
    def received_from(
        self, t: int, a: Host, c: str, mid: str, sender: str, size: int, r: str
    ) -> None:
        h = f"H={a.fqdn} ({a.fqdn}) [{a.ip}]:{self.rng.randint(1024, 65000)}"
        self.exim.arrival(t, self.exim.session(), c, sender, h, size, mid, [r])

    def handed_over_line(self, t: int, q: str, r: str, b: Host, c: str) -> None:
        self.exim.handed_over(t, q, r, b, c)

    def relay_line(self, t: int, q: str, r: str, u: SUser) -> None:
        self.exim.relayed(t, q, r, u.relay)

    def local_line(
        self, t: int, q: str, u: SUser, r: str, status: str, sess: str, batch: list[SUser]
    ) -> None:
        ex = self.exim
        if status == "bounced":
            ex.mailbox_full(t, q, u, r)
        elif status == "deferred":
            ex.local_deferred(t, q, u, r)
        elif u.domain.transport != "lmtp":
            ex.local(t, q, u, r, sess)
        else:  # cPanel's LMTP transport: further addresses of its batch are "->"
            mark = "->" if status == "sent" and batch and self.rng.random() < 0.5 else "=>"
            ex.local(t, q, u, r, sess, mark)
            if status == "sent":
                batch.append(u)

    def bounce_to_sender(self, t: int, q: str, sender: str, local: SUser | None) -> int:
        return self.bounce(t, q, sender, local)

    def retry_line(self, t: int, q: str, sender: str, size: int, nrcpt: int) -> None:
        self.exim.queue_run(t)

    def stored_by_mta(self, t: int, q: str, u: SUser, r: str, spam: bool) -> bool:
        if spam and u.junk_rule and u.domain.transport == "lmtp":
            self.exim.spam_box(t, q, u, r)  # cPanel's spam box: Exim writes into the folder
            return True
        return False

    def forward_line(self, t: int, q: str, to: str, r: str | None, mid: str) -> None:
        self.exim.remote(t, q, to, r, mid)

    def removed_line(self, t: int, q: str) -> None:
        self.exim.completed(t, q)

    def bounce(self, t: int, q: str, to: str, local: SUser | None) -> int:
        """Exim's bounce message to the sender of ``q`` (a receipt if the sender is ours);
        returns the time of its last line."""
        ex = self.exim
        c = ex.eid(t)
        size = self.rng.randint(3000, 9000)
        mid = f"E{c}@{self.run.host.fqdn}"
        ex.arrival(t, ex.session(), c, "", f"R={q} U=Debian-exim", size, mid, [to] if to else [])
        if local is not None:
            return self.deliver(
                t, c, mid, "", size, [(local.address, local)], False, actions=False, plain_only=True
            )
        if to:
            ex.remote(t, c, to, None, mid)
        ex.completed(t, c)
        return t

    # -- messages Exim takes from its sendmail command --------------------------------------
    def queue_id(self, t: int) -> str:
        return self.exim.eid(t)

    def sendmail_lines(
        self, t: int, q: str, sender: str, size: int, mid: str, rcpts: list[str]
    ) -> None:
        self.exim.arrival(t, self.exim.session(), q, sender, f"U={VMAIL}", size, mid, rcpts)

    # -- scenarios -------------------------------------------------------------------------
    def inbound(
        self,
        t: int,
        pairs: list[tuple[str, SUser]] | None = None,
        spam_kind: str | None = None,
        path: str | None = None,
    ) -> None:
        """A message from the outside to one or more of our users, scanned by spamd
        (``spam_kind`` "ham" or "spam"; ``path``, the Postfix platform's, is unused)."""
        rng = self.rng
        if pairs is None:
            k = 1 if rng.random() < 0.8 else rng.randint(2, 4)
            pairs = self.pick_targets(k)
        pairs = self.on_host_of(pairs)
        ex = self.exim
        if spam_kind is None:
            spam_kind = "ham" if rng.random() < 0.78 else "spam"
        spam = spam_kind != "ham"
        if spam and rng.random() < 0.7:
            client, _ip = self.spam_client()
            sender = f"{rng.choice(SPAM_WORDS)}{rng.randint(1, 9999)}@{rng.choice(SPAM_WORDS)}-mail.example.biz"  # noqa: E501
        else:
            client = rng.choice(INBOUND_CLIENTS)
            sender = self.external()
        q = ex.eid(t)
        mid = self.run.msgid(sender.rpartition("@")[2])
        size = self.size()
        p = ex.session()
        h = ex.connection(t, p, client, rng.randint(1024, 65000))
        if rng.random() < 0.1:
            # a recipient that does not exist, refused before the first good one
            d = pairs[0][1].domain
            ex.rejected_rcpt(
                t, p, h, sender, f"{rng.choice(UNKNOWN_LOCALS)}@{d.name}", "Unrouteable address"
            )
            self.truth.deny_unknown(d.name, t)
        score = rng.uniform(5.1, 9.9) if spam else rng.uniform(-4, 4.5)
        self.spamd.check(t, mid, size, spam, score, *self.spamd_user(pairs[0][1]))
        ex.arrival(t, p, q, sender, h, size, mid, [r for r, _ in pairs])
        if rng.random() < 0.5:
            ex.closed(t, p, h)
        self.deliver(t + rng.randint(0, 2), q, mid, sender, size, pairs, spam)

    def spamd_user(self, u: SUser) -> tuple[str, int]:
        return SPAMD_USERS[0 if u.domain.transport == "lmtp" else 1]

    def submission(self, t: int, u: SUser | None = None, webmail: bool = False) -> None:
        """A user sends a message: authenticated SMTP, from a mail client or the webmail."""
        rng = self.rng
        u, rcpts, q, mid, size, sasl = self.new_submission(t, u, webmail)
        ex = self.exim
        port = rng.randint(30000, 65000)
        if webmail:  # Roundcube's SMTP to the user's host, authenticated as the user
            w = self.hosts[0]
            name, ip = ("localhost", "127.0.0.1") if self.here == 0 else (w.fqdn, w.ip)
            h = f"H={name} (webmail.{u.domain.name}) [{ip}]:{port}"
            auth, proto = f"dovecot_login:{sasl}", "esmtpa"
        else:
            ip = (
                f"198.51.100.{rng.randint(2, 250)}"
                if rng.random() < 0.7
                else f"2001:db8:{rng.randint(1, 999):x}::{rng.randint(1, 999):x}"
            )
            helo = rng.choice(("[192.168.1.23]", "DESKTOP-4F2K9Q", "MacBook-Pro.local", "laptop"))
            h = f"H=({helo}) [{ip}]:{port}"
            method = "dovecot_plain" if rng.random() < 0.6 else "dovecot_login"
            auth, proto = f"{method}:{sasl}", "esmtpsa"
        p = ex.session()
        # submit time = the "<=" line: the truth of out_*
        ex.arrival(t, p, q, u.address, h, size, mid, [r for r, _ in rcpts], auth, proto)
        self.truth.sent(u, t, len(rcpts), size)
        local = [(r, v) for r, v in rcpts if v is not None]
        remote = [r for r, v in rcpts if v is None]
        tt = t + rng.randint(0, 2)
        end = tt
        bounced = False
        last_domain = ""
        for r in remote:
            x = rng.random()
            dom = r.rpartition("@")[2]
            if x < 0.03 and not bounced:
                ex.remote_failed(tt, q, r)
                bounced = True
                last_domain = ""
            elif x < 0.07:
                ex.remote_deferred(tt, q, r)
                tr = tt + rng.randint(300, 1200)
                ex.remote(tr, q, r, None, mid)
                end = max(end, tr)
                last_domain = ""
            else:  # one SMTP transaction per host: further recipients are "->"
                ex.remote(tt, q, r, None, mid, "->" if dom == last_domain else "=>")
                last_domain = dom
        if local:
            end = max(
                end,
                self.deliver(
                    tt, q, mid, u.address, size, local, False, local_sender=u, plain_only=True,
                    remove=False,
                ),
            )  # fmt: skip
        if bounced:
            end = max(end, self.bounce(end, q, u.address, u))
        ex.completed(end + (rng.random() < 0.5), q)

    def reject_session(self, t: int) -> None:
        """An unwanted client: rejections at RCPT time, permanent and temporary."""
        rng = self.rng
        host = self.pick_host()
        targets = self.host_targets[host]
        ex = self.exim
        client, ip = self.spam_client()
        p = ex.session()
        h = ex.connection(t, p, client, rng.randint(1024, 65000))
        sender = (
            f"{rng.choice(SPAM_WORDS)}{rng.randint(1, 999)}@{rng.choice(SPAM_WORDS)}.example.biz"
        )
        refused: set[str] = set()
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            x = rng.random()
            if x < 0.35:  # a real user (or alias, extension, odd case): denied for the user
                r, u = self.refused_target(targets)
                if r in refused:
                    # (the same RCPT refused twice in one session, in the same second, is
                    # what Exim's syslog copy of a rejection looks like: read as one)
                    continue
                refused.add(r)
                why = rng.choice(
                    (
                        f"JunkMail rejected - {client.partition('[')[0]} [{ip}] is in an RBL: "
                        "Client host blocked using zen.spamhaus.org",
                        "SPF check failed.",
                        "Sender verify failed",
                    )
                )
                ex.rejected_rcpt(t, p, h, sender, r, why)
                self.truth.flow(u, t, DENIED)
            elif x < 0.6:  # an unknown address of one of our domains
                d = rng.choice(self.host_domains[host])
                r = f"{rng.choice(UNKNOWN_LOCALS)}@{d.name}"
                why = rng.choice(("Unrouteable address", "No Such User Here"))
                ex.rejected_rcpt(t, p, h, sender, r, why)
                self.truth.deny_unknown(d.name, t)
            elif x < 0.75:  # not our domain at all: counts nowhere
                r = f"{rng.choice(FIRST)}@{rng.choice(EXTERNAL_DOMAINS)}"
                ex.rejected_rcpt(t, p, h, sender, r, "relay not permitted")
            elif x < 0.9:  # greylisting: try again later, not a denial
                r, _u = rng.choice(targets)
                ex.rejected_rcpt(
                    t, p, h, sender, r, "greylisted, please try again in 5 minutes", True
                )
            else:  # a warn verb: logged, nothing refused
                ex.warning(t, p, h, sender, ip)
        if rng.random() < 0.5:
            ex.incomplete(t + 1, p, h, sender)
        else:
            ex.closed(t + 1, p, h)

    def data_reject(self, t: int, kind: str) -> None:
        """Exim refuses a message at the end of DATA: spam over the reject score, a virus
        (denials no line credits: module docstring), or a temporary refusal (nothing)."""
        rng = self.rng
        client, _ip = self.spam_client()
        sender = (
            f"{rng.choice(SPAM_WORDS)}@{rng.choice(SPAM_WORDS)}-{rng.randint(1, 99)}.example.biz"
        )
        pairs = self.on_host_of(self.pick_targets(rng.choice((1, 1, 2))))
        ex = self.exim
        q = ex.eid(t)
        mid = self.run.msgid("bulk.example.biz")
        size = self.size()
        p = ex.session()
        h = ex.connection(t, p, client, rng.randint(1024, 65000))
        if kind == "spam":
            score = rng.uniform(15, 40)
            self.spamd.check(t, mid, size, True, score, *self.spamd_user(pairs[0][1]))
            why = f"rejected after DATA: Your message scored {score:.1f} SpamAssassin points."
        elif kind == "virus":
            why = "rejected after DATA: This message contains a virus (Eicar-Signature)."
        else:
            why = "temporarily rejected after DATA: Temporary local problem - please try later"
        ex.rejected_after_data(t, p, q, h, sender, why)
        if kind != "temporary":
            for _r, u in pairs:
                self.truth.denied_unlogged(u)
        ex.closed(t + 1, p, h)

    def app_lines(self, t: int, q: str, sender: str, size: int, mid: str, to: str) -> None:
        """Through sendmail (PHP's mail())."""
        self.exim.arrival(t, self.exim.session(), q, sender, "U=www-data", size, mid, [to])

    def smtp_auth_failed(self, t: int, ip: str) -> None:
        u = self.rng.choice(self.mailboxes)
        self.exim.auth_failed(t, ip, u.address)

    def mta_noise(self, t: int, x: float, ip: str) -> None:
        if x < 0.44:
            self.exim.noise(t, x, ip)
        else:
            self.spamd.child_cleanup(t)

    def mta_warning(self, t: int, ip: str) -> None:
        self.exim.auth_failed(t, ip, "admin")
