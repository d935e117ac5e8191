"""The traffic: what happens on the platform, and what it counts.

:class:`Traffic` holds what every platform shares — who the users are, who
writes to them, the truth — and the scenarios that do not depend on the MTA
(IMAP/POP3 logins, webmail sessions, failed logins, garbage).
:class:`PostfixTraffic` adds the scenarios of a Postfix platform with rspamd (a
milter) and amavis (a content filter): inbound mail, submissions, rejections,
deliveries with their sieve actions, forwards, bounces.  A scenario decides what
happens (who, what, when, its fate), tells :class:`~.truth.Truth` what that
counts, and has the program modules write the lines; it writes no line itself.

:data:`SCENARIOS` weighs the kinds of scenario, :data:`TOUR` plays each kind once
at the start (so that even a small log has all of them), :meth:`Traffic.play`
runs one by name.
"""

from __future__ import annotations

import math
import random
from typing import Any

from .amavis import Amavis
from .base import Counter, Program, Run
from .dovecot import Dovecot
from .log import Log
from .noise import Noise
from .platform import (
    DAY,
    EXTERNAL_DOMAINS,
    FIRST,
    INBOUND_CLIENTS,
    LAST,
    MAIL_HOST,
    SPAM_CLIENTS,
    SPAM_WORDS,
    UNKNOWN_LOCALS,
    VMAIL_UID,
    WEBMAIL_UID,
    Host,
    SDomain,
    SUser,
)
from .postfix import Postfix
from .roundcube import Roundcube
from .rspamd import Rspamd
from .truth import (
    AUTORESPOND,
    DENIED,
    FORWARD,
    IMAP4,
    L_IMAP4,
    L_POP3,
    L_WEBMAIL,
    POP3,
    WEBMAIL,
    Truth,
)

#: (kind, weight): how often each kind of scenario is played.
SCENARIOS: tuple[tuple[str, float], ...] = (
    ("inbound", 34),
    ("submission", 11),
    ("webmail", 5),
    ("login", 22),
    ("reject", 8),
    ("postscreen", 1.5),
    ("milter_reject", 1.5),
    ("soft_reject", 0.5),
    ("blocked_spam", 0.6),
    ("blocked_virus", 0.3),
    ("local_app", 0.8),
    ("failed_login", 3),
    ("noise", 11),
)
#: every kind once at the start, so that even a small log has all of them
TOUR = (
    "inbound:ham",
    "inbound:alias",
    "inbound:ext",
    "inbound:forward",
    "inbound:forward_copy",
    "inbound:filter",
    "inbound:redirect",
    "inbound:vacation",
    "inbound:junk",
    "inbound:spam_rspamd",
    "inbound:spam_amavis",
    "inbound:ham_amavis",
    "inbound:multi",
    "submission",
    "submission",
    "webmail",
    "webmail_pickup",
    "login",
    "login",
    "reject",
    "reject",
    "postscreen",
    "milter_reject",
    "soft_reject",
    "blocked_spam",
    "blocked_virus",
    "local_app",
    "failed_login",
    "noise",
    "garbage",
)


#: what a platform of several hosts plays besides (whatever its MTA): twin queue ids
MULTI_ONLY: tuple[tuple[str, float], ...] = (("twin", 1.0),)
MULTI_TOUR_ONLY = ("twin", "twin")
#: and so the Postfix platform's on several hosts
MULTI_SCENARIOS = (*SCENARIOS, *MULTI_ONLY)
MULTI_TOUR = (*TOUR, *MULTI_TOUR_ONLY)


def profile(ts: int) -> float:
    """Traffic by hour of day: quiet at night, busy in office hours."""
    h = (ts % DAY) / 3600
    return 0.25 + (1.6 * math.sin(math.pi * (h - 6) / 16) if 6 <= h <= 22 else 0.0)


MEAN_PROFILE = sum(profile(h * 360) for h in range(240)) / 240


class Traffic:
    """Plays the traffic model: has the programs write lines, keeps the truth.

    A subclass for an MTA adds that MTA's programs in :meth:`programs` and its
    scenarios (``inbound``, ``submission``, ``reject_session``, ``postscreen``,
    ``milter_reject``, ``blocked``, ``local_app``, ``noise``, ``smtp_auth_failed``).
    """

    def __init__(
        self,
        rng: random.Random,
        users: list[SUser],
        domains: list[SDomain],
        log: Log,
        start: int,
        end: int,
        hosts: list[Host] | None = None,
    ) -> None:
        self.rng = rng
        self.hosts = hosts = hosts or [MAIL_HOST]
        self.multi = multi = len(hosts) > 1
        self.users = users
        self.domains = domains
        self.log = log
        self.start = start
        self.end = end
        self.long_from = start + (end - start) // 2
        self.truth = Truth(domains, start)
        self.mailboxes = [u for u in users if u.type == "mailbox"]
        self.plain = [u for u in self.mailboxes if u.plain] or self.mailboxes
        self.webmail_users = [u for u in self.mailboxes if u.webmail] or self.mailboxes
        self.autoresponders = [u for u in self.mailboxes if u.autorespond]
        self.redirecters = [u for u in self.mailboxes if u.redirect]
        self.forwarders = [u for u in users if u.forward_recipients]
        self.filters = [u for u in users if u.type == "filter"]
        # inbound targets, weighted: (address as sent, user)
        targets: list[tuple[str, SUser]] = []
        for u in users:
            targets += [(u.address, u)] * (3 if u.type == "mailbox" else 2)
            targets += [(a, u) for a in u.aliases]
        self.targets = targets
        #: per host, its domains and the targets of its users (all of them on one host)
        self.host_targets = [
            [p for p in targets if p[1].domain.host == h] for h in range(len(hosts))
        ]
        self.host_domains = [[d for d in domains if d.host == h] for h in range(len(hosts))]
        self.alias_targets = [(a, u) for u in users for a in u.aliases if u.type != "filter"]
        self.senders = [
            f"{rng.choice(FIRST)}.{rng.choice(LAST)}@{rng.choice(EXTERNAL_DOMAINS)}"
            for _ in range(60)
        ] + [
            f"{w}@{d}"
            for w, d in (
                ("newsletter", "shop.example.org"),
                ("no-reply", "accounts.example.net"),
                ("notifications", "github.example"),
                ("info", "bank.example"),
            )
        ]
        # each host's programs; the scenario at hand runs on one of them (see on())
        self._stacks: list[dict[str, Run | Program]] = []
        ids = None
        for host in hosts:
            self.run = run = Run(rng, log, host, ids, named=multi)
            if multi and ids is None:
                ids = Counter()  # the platform's count of session ids and Message-IDs
            self.dovecot = Dovecot(run)
            self.other = Noise(run)
            self.programs(run)
            self._stacks.append(
                {k: v for k, v in vars(self).items() if isinstance(v, Run | Program)}
            )
        self.here = len(hosts) - 1
        self.on(0)
        self.roundcube = Roundcube(self.run)  # the webmail runs on the first host
        self._by_address = {u.address: u for u in users}

    def programs(self, run: Run) -> None:
        """Create the MTA's programs of the host ``run`` (as attributes)."""

    def on(self, h: int) -> None:
        """From now on the programs are those of host ``h``."""
        if h != self.here:
            self.__dict__.update(self._stacks[h])
            self.here = h

    def on_host_of(self, pairs: list[tuple[str, SUser]]) -> list[tuple[str, SUser]]:
        """Go to the host of the first recipient; the recipients there (a message to users
        of several hosts reaches each by itself: the scenario plays the first one's)."""
        h = pairs[0][1].domain.host
        self.on(h)
        return [p for p in pairs if p[1].domain.host == h] if self.multi else pairs

    def pick_host(self) -> int:
        """A host for a scenario that concerns none in particular (and go there)."""
        h = self.rng.randrange(len(self.hosts)) if self.multi else 0
        self.on(h)
        return h

    def webmail_client(self) -> tuple[str, str]:
        """The webmail as a client of this host: (client, address)."""
        if self.here == 0:
            return "localhost[127.0.0.1]", "127.0.0.1"
        w = self.hosts[0]
        return f"{w.fqdn}[{w.ip}]", w.ip

    # -- small pieces ---------------------------------------------------------------------
    def size(self) -> int:
        return min(int(self.rng.lognormvariate(9.3, 1.1)) + 900, 30_000_000)

    def external(self) -> str:
        rng = self.rng
        if rng.random() < 0.6:
            return rng.choice(self.senders)
        return f"{rng.choice(FIRST)}{rng.randint(1, 999)}@{rng.choice(EXTERNAL_DOMAINS)}"

    def spam_client(self) -> tuple[str, str]:
        rng = self.rng
        a, b = rng.randint(2, 250), rng.randint(2, 250)
        form = rng.choice(SPAM_CLIENTS)
        client = form.format(a, b) if form.count("{}") == 2 else form.format(a)
        return client, client[client.index("[") + 1 : -1]

    def pick_targets(self, k: int) -> list[tuple[str, SUser]]:
        rng = self.rng
        out: list[tuple[str, SUser]] = []
        seen: set[int] = set()
        for _ in range(k * 3):
            r, u = rng.choice(self.targets)
            if id(u) in seen:
                continue
            if r == u.address and u.plain and rng.random() < 0.06:
                r = f"{u.local}+{rng.choice(('news', 'shop', 'lists', 'work'))}@{u.domain.name}"
            seen.add(id(u))
            out.append((r, u))
            if len(out) == k:
                break
        return out

    # -- scenarios of every platform -------------------------------------------------------
    def login(self, t: int, u: SUser | None = None) -> None:
        """An IMAP or POP3 client logs in (counted) and out later."""
        rng = self.rng
        if u is None:
            u = rng.choice(self.mailboxes)
        self.on(u.domain.host)
        service = "pop3" if u.pop3 and rng.random() < 0.7 else "imap"
        who = u.address if rng.random() < 0.95 else u.address.capitalize()
        ip = (
            f"203.0.113.{rng.randint(2, 250)}"
            if rng.random() < 0.8
            else f"2001:db8:{rng.randint(1, 999):x}::{rng.randint(1, 9)}"
        )
        mpid = rng.randint(1000, 60000)
        sess = self.dovecot.session()[:16]
        self.dovecot.login(t, service, who, ip, mpid, sess)
        k = L_POP3 if service == "pop3" else L_IMAP4
        self.truth.flow(u, t, POP3 if service == "pop3" else IMAP4)
        self.truth.last(u, t, k)
        out = t + rng.randint(1, 3600)
        if out < self.end:
            self.dovecot.logout(out, service, who, mpid, sess)

    def webmail_session(self, t: int, u: SUser | None = None) -> None:
        """A Roundcube login (counted), its own IMAP login (not counted), perhaps a message."""
        rng = self.rng
        if u is None:
            u = rng.choice(self.webmail_users)
        self.on(u.domain.host)
        sess = f"{rng.getrandbits(104):026x}"
        ip = f"203.0.113.{rng.randint(2, 250)}"
        self.roundcube.login(t, u, sess, ip)
        self.truth.flow(u, t, WEBMAIL)
        self.truth.last(u, t, L_WEBMAIL)
        old = rng.random() < 0.2
        for dt in (0, rng.randint(20, 300)):
            if t + dt >= self.end:
                break
            self.dovecot.webmail_login(t + dt, u, old, self.webmail_client()[1])
        ts = t + rng.randint(30, 900)
        if rng.random() < 0.5 and ts < self.end - 1800:
            self.submission(ts, u, webmail=True)

    def failed_logins(self, t: int) -> None:
        """Wrong passwords and unknown users, at the webmail, IMAP/POP3 and submission."""
        rng = self.rng
        u = rng.choice(self.mailboxes)
        self.on(u.domain.host)
        x = rng.random()
        ip = f"192.0.2.{rng.randint(2, 250)}"
        if x < 0.3:
            self.roundcube.failed(t, u, f"{rng.getrandbits(104):026x}", ip)
            self.dovecot.webmail_password_mismatch(t, u, self.webmail_client()[1])
        elif x < 0.6:
            who = rng.choice((u.address, "admin", "test", f"info@{u.domain.name}"))
            self.dovecot.unknown_user(t, who, ip)
        elif x < 0.8:
            self.dovecot.aborted_login(t, ip)
        else:
            self.smtp_auth_failed(t, ip)

    def garbage(self, t: int) -> None:
        self.other.garbage(t)
        self.truth.garbage()

    def twin(self, t: int) -> None:
        """Two hosts each receive a message in the same second under the same queue id.

        Every host draws its queue ids from the same sequence (as hosts whose queue
        files get the same inode in the same microsecond do): here two of them are at
        the same point of it, so that every log of several hosts has the same queue id
        in flight on two hosts at once.
        """
        rng = self.rng
        h1, h2 = rng.sample(range(len(self.hosts)), 2)
        r1, r2 = self._stacks[h1]["run"], self._stacks[h2]["run"]
        assert isinstance(r1, Run) and isinstance(r2, Run)
        r1.n = r2.n = max(r1.n, r2.n)
        for h in (h1, h2):
            self.inbound(t, [rng.choice(self.host_targets[h])], "ham", "milter")

    def new_submission(
        self, t: int, u: SUser | None, webmail: bool
    ) -> tuple[SUser, list[tuple[str, SUser | None]], str, str, int, str]:
        """What a user submits at ``t``: the user (drawn if None), the recipients, the
        queue id, the Message-ID, the size, and the login as the user typed it."""
        rng = self.rng
        if u is None:
            u = rng.choice(self.webmail_users if webmail else self.mailboxes)
        self.on(u.domain.host)  # the user's own server (Roundcube's smtp_host %h)
        rcpts = self.submission_rcpts(u)
        q = self.queue_id(t)
        mid = self.run.msgid(u.domain.name)
        size = self.size()
        sasl = u.address if rng.random() < 0.9 else u.address.title()
        return u, rcpts, q, mid, size, sasl

    def refused_target(self, targets: list[tuple[str, SUser]]) -> tuple[str, SUser]:
        """A recipient of ours (of ``targets``) an unwanted client names: an address, an
        alias, an address extension or an odd case of one."""
        rng = self.rng
        r, u = rng.choice(targets)
        if u.plain and rng.random() < 0.15:
            r = f"{u.local}+{rng.choice(('a', 'shop', 'x1'))}@{u.domain.name}"
        elif rng.random() < 0.1:
            r = r[0].upper() + r[1:]
        return r, u

    def submission_rcpts(self, u: SUser) -> list[tuple[str, SUser | None]]:
        """The recipients of a message ``u`` submits: (address, our user or None).

        Local recipients are users whose mail is not expanded into several recipients
        (sometimes by an alias), so their count is the same before and after expansion.
        """
        rng = self.rng
        k = rng.choice((1, 1, 1, 2, 2, 3, 4, 6))
        rcpts: list[tuple[str, SUser | None]] = []
        seen = {u.address}
        for _ in range(k):
            if rng.random() < 0.3:
                v = rng.choice(self.plain)
                if v.address in seen:
                    continue
                seen.add(v.address)
                r = v.address
                if v.aliases and rng.random() < 0.3:
                    r = rng.choice(v.aliases)
                rcpts.append((r, v))
            else:
                x = self.external()
                if x in seen:
                    continue
                seen.add(x)
                rcpts.append((x, None))
        if not rcpts:
            rcpts.append((self.external(), None))
        if rng.random() < 0.1 and self.autoresponders:  # to a colleague on holiday
            v = rng.choice(self.autoresponders)
            if v.address not in seen and not v.forward_recipients and not v.redirect:
                rcpts.append((v.address, v))
        return rcpts

    def noise(self, t: int) -> None:
        """Lines that count nothing: of the mail programs, of other programs, garbage."""
        rng = self.rng
        self.pick_host()
        x = rng.random()
        ip = f"198.18.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        if x < 0.54:
            self.mta_noise(t, x, ip)
        elif x < 0.58:
            self.dovecot.lmtp_connect(t)
        elif x < 0.62:
            self.dovecot.process_limit(t)
        elif x < 0.66:
            self.mta_warning(t, ip)
        else:
            self.other_noise(t, x, ip)

    def other_noise(self, t: int, x: float, ip: str) -> None:
        """Other programs' lines (understood or not) and garbage, by ``x`` in [0.66, 1)."""
        other = self.other
        foreign = self.truth.foreign
        if x < 0.74:
            foreign(other.cron(t))
        elif x < 0.82:
            foreign(other.sshd(t, ip))
        elif x < 0.86:
            foreign(other.systemd(t))
        elif x < 0.9:
            foreign(other.kernel(t, ip))
        elif x < 0.95:
            foreign(other.policyd_spf(t, ip))
        else:
            self.garbage(t)

    # -- delivery of one message to its (expanded) recipients ------------------------------
    def deliver(
        self,
        t: int,
        q: str,
        mid: str,
        sender: str,
        size: int,
        pairs: list[tuple[str, SUser]],
        spam: bool,
        *,
        actions: bool = True,
        local_sender: SUser | None = None,
        plain_only: bool = False,
        remove: bool = True,
    ) -> int:
        """Deliver ``q`` to each (address as sent, user): what happens and what it counts;
        the MTA's lines are written by the hooks below (a subclass's).

        Returns the time of the message's last line (its removal, logged when ``remove``).
        """
        rng = self.rng
        truth = self.truth
        end = t
        batch: list[SUser] = []  # the users the MTA delivered to locally so far
        for r, u in pairs:
            td = t + (rng.random() < 0.3)
            if u.domain.host != self.here:
                self.hand_over(td, q, mid, sender, size, r, u, spam)
                end = max(end, td)
                continue
            if u.type == "filter":
                self.relay_line(td, q, r, u)
                truth.receipt(u, td, spam, size)
                end = max(end, td)
                continue
            first: int | None = None
            spam_u = spam
            if u.delivery_local:
                status = "sent"
                if not plain_only and u.plain and u.domain.transport == "lmtp":
                    x = rng.random()
                    status = "bounced" if x < 0.02 else ("deferred" if x < 0.06 else "sent")
                if status == "bounced":  # over quota: denied, and the sender told
                    self.local_line(td, q, u, r, "bounced", "", batch)
                    truth.flow(u, td, DENIED)
                    end = max(
                        end, self.bounce_to_sender(td + rng.randint(0, 1), q, sender, local_sender)
                    )
                    continue
                if status == "deferred":
                    self.local_line(td, q, u, r, "deferred", "", batch)
                    td += rng.randint(300, 1200)
                    self.retry_line(td, q, sender, size, len(pairs))
                    status = "retried"
                if not self.stored_by_mta(td, q, u, r, spam):
                    sess = self.dovecot.session()
                    if actions:
                        spam_u = self.sieve(td, u, sess, mid, sender, size, spam)
                    elif u.sieve:
                        self.dovecot.sieve(td, u, sess, mid, "fileinto", "INBOX")
                    else:
                        self.dovecot.saved(td, u, sess, mid)
                    self.local_line(td, q, u, r, status, sess, batch)
                first = td
            fwd_first: int | None = None
            for f in u.forward_recipients:
                tf = td + (rng.random() < 0.5)
                self.forward_line(tf, q, f, r, mid)
                if fwd_first is None or tf < fwd_first:
                    fwd_first = tf
                end = max(end, tf)
            if fwd_first is not None:
                truth.flow(u, fwd_first, FORWARD)
                if first is None or fwd_first < first:
                    first = fwd_first
            if first is not None:
                truth.receipt(u, first, spam_u, size)
            end = max(end, td)
        if not remove:
            return end
        end += rng.random() < 0.5
        self.removed_line(end, q)
        return end

    def hand_over(
        self, t: int, q: str, mid: str, sender: str, size: int, r: str, u: SUser, spam: bool
    ) -> None:
        """``q`` goes by SMTP to ``u``'s own host, which receives it under a queue id of its
        own and delivers it (a hand-over inside the platform: it counts where it ends)."""
        here = self.here
        a = self.hosts[here]
        self.on(u.domain.host)
        c = self.queue_id(t)
        self.received_from(t, a, c, mid, sender, size, r)
        self.deliver(t + (self.rng.random() < 0.5), c, mid, sender, size, [(r, u)], spam,
                     plain_only=True)  # fmt: skip
        b = self.run.host
        self.on(here)
        self.handed_over_line(t, q, r, b, c)

    def received_from(
        self, t: int, a: Host, c: str, mid: str, sender: str, size: int, r: str
    ) -> None:
        """The MTA of this host receives message ``c`` (to ``r``) from the platform's
        host ``a``."""
        raise NotImplementedError

    def handed_over_line(self, t: int, q: str, r: str, b: Host, c: str) -> None:
        """``q`` (sent to ``r``) delivered to the platform's host ``b``, which took it as
        ``c``."""
        raise NotImplementedError

    def relay_line(self, t: int, q: str, r: str, u: SUser) -> None:
        """A filter-only account's mail (sent to ``r``) relayed to its own server."""
        raise NotImplementedError

    def local_line(
        self, t: int, q: str, u: SUser, r: str, status: str, sess: str, batch: list[SUser]
    ) -> None:
        """A delivery into ``u``'s mailbox (``r`` the address sent to): ``status`` sent,
        retried (sent after a deferral), deferred or bounced (over quota); ``sess`` the
        Dovecot session that stored it; ``batch`` the users delivered to before (the hook
        appends ``u`` if it opened or joined a batch)."""
        raise NotImplementedError

    def bounce_to_sender(self, t: int, q: str, sender: str, local: SUser | None) -> int:
        """The MTA's bounce of ``q`` to its sender (``local`` if ours); its last time."""
        raise NotImplementedError

    def retry_line(self, t: int, q: str, sender: str, size: int, nrcpt: int) -> None:
        """The MTA takes a deferred message up again."""
        raise NotImplementedError

    def stored_by_mta(self, t: int, q: str, u: SUser, r: str, spam: bool) -> bool:
        """Whether the MTA itself stores the message for ``u`` (its line written then),
        without Dovecot."""
        return False

    def forward_line(self, t: int, q: str, to: str, r: str | None, mid: str) -> None:
        """The message (sent to ``r``) forwarded to ``to`` outside; without ``r``, a
        delivery to ``to`` outside."""
        raise NotImplementedError

    def removed_line(self, t: int, q: str) -> None:
        """The MTA is done with the message."""
        raise NotImplementedError

    def sieve(
        self, t: int, u: SUser, sess: str, mid: str, sender: str, size: int, spam: bool
    ) -> bool:
        """Dovecot's lines of a delivery to ``u``; returns whether it ends up as spam."""
        rng = self.rng
        dovecot = self.dovecot
        if not u.sieve:
            dovecot.saved(t, u, sess, mid)
            return spam
        junk = (spam and u.junk_rule) or (not spam and rng.random() < 0.03)
        if u.autorespond and sender:
            if not spam and rng.random() < 0.6:
                dovecot.sieve(t, u, sess, mid, "vacation", sender)
                self.truth.flow(u, t, AUTORESPOND)
                self.vacation_reply(t + 1, u, sender)
            else:
                dovecot.sieve(
                    t, u, sess, mid, "", f"discarded duplicate vacation response to <{sender}>"
                )
        if u.redirect:
            for target in u.redirect:
                dovecot.sieve(t, u, sess, mid, "redirect", target)
            self.truth.flow(u, t, FORWARD)
            self.redirected(t + 1, u, sender, mid, size)
        if junk:
            dovecot.sieve(t, u, sess, mid, "fileinto", "Junk")
        elif not u.redirect or u.redirect_keep:
            dovecot.sieve(t, u, sess, mid, "fileinto", "INBOX")
        return spam or junk

    # -- the MTA's scenarios (a subclass writes them) --------------------------------------
    def submission(self, t: int, u: SUser | None = None, webmail: bool = False) -> None:
        raise NotImplementedError

    def smtp_auth_failed(self, t: int, ip: str) -> None:
        raise NotImplementedError

    def vacation_reply(self, t: int, u: SUser, to: str) -> None:
        """Pigeonhole sends the response through the MTA's sendmail, with a null sender."""
        c = self.queue_id(t)
        mid = self.dovecot.vacation_msgid(t)
        size = self.rng.randint(1200, 2600)
        self.sendmail_lines(t, c, "", size, mid, [to])
        local = self._by_address.get(to)
        if local is not None:
            self.deliver(
                t + 1, c, mid, "", size, [(to, local)], False, actions=False, plain_only=True
            )
        else:
            self.forward_line(t + 1, c, to, None, mid)
            self.removed_line(t + 1, c)

    def redirected(self, t: int, u: SUser, sender: str, mid: str, size: int) -> None:
        """The copy a sieve redirect sends (not the user's own message)."""
        c = self.queue_id(t)
        self.sendmail_lines(t, c, sender, size + 310, mid, list(u.redirect))
        for target in u.redirect:
            self.forward_line(t + 1, c, target, None, mid)
        self.removed_line(t + 1, c)

    def local_app(self, t: int) -> None:
        """A web application on this host mails a user (:meth:`app_lines`)."""
        rng = self.rng
        u = rng.choice(self.plain)
        self.on(u.domain.host)
        q = self.queue_id(t)
        mid = self.run.msgid("apps.northwind.example")
        size = rng.randint(1500, 20000)
        sender = "wordpress@apps.northwind.example"
        self.app_lines(t, q, sender, size, mid, u.address)
        self.deliver(t + 1, q, mid, sender, size, [(u.address, u)], False, plain_only=True)

    def app_lines(self, t: int, q: str, sender: str, size: int, mid: str, to: str) -> None:
        """The MTA takes a web application's message ``q`` to ``to``."""
        raise NotImplementedError

    def queue_id(self, t: int) -> str:
        """A new queue id (message id) of the MTA, for a message it takes at ``t``."""
        raise NotImplementedError

    def sendmail_lines(
        self, t: int, q: str, sender: str, size: int, mid: str, rcpts: list[str]
    ) -> None:
        """The MTA takes a message from its sendmail command (run by Dovecot's user)."""
        raise NotImplementedError

    # -- playing -----------------------------------------------------------------------------
    def play(self, kind: str, t: int) -> None:
        """Play one scenario of ``kind`` (of :data:`SCENARIOS` or :data:`TOUR`) at ``t``."""
        rng = self.rng
        if kind == "inbound":
            self.inbound(t)
        elif kind.startswith("inbound:"):
            what = kind[8:]
            u: SUser
            if what == "alias":
                self.inbound(
                    t, [rng.choice(self.alias_targets)] if self.alias_targets else None, "ham"
                )
            elif what == "ext":
                u = rng.choice(self.plain)
                self.inbound(t, [(f"{u.local}+tour@{u.domain.name}", u)], "ham")
            elif what in ("forward", "forward_copy", "filter", "redirect", "vacation"):
                pool = {
                    "forward": [x for x in self.users if x.type == "forward"],
                    "forward_copy": [x for x in self.mailboxes if x.forward_recipients],
                    "filter": self.filters,
                    "redirect": self.redirecters,
                    "vacation": self.autoresponders,
                }[what]
                if pool:
                    u = rng.choice(pool)
                    self.inbound(t, [(u.address, u)], "ham", "milter")
            elif what == "junk":
                pool = [x for x in self.mailboxes if x.junk_rule] or self.mailboxes
                u = rng.choice(pool)
                self.inbound(t, [(u.address, u)], "add header", "milter")
            elif what == "spam_rspamd":
                self.inbound(t, None, "rewrite subject", "milter")
            elif what == "spam_amavis":
                self.inbound(t, None, "amavis", "amavis")
            elif what == "ham_amavis":
                self.inbound(t, None, "ham", "amavis")
            elif what == "multi":
                self.inbound(t, self.pick_targets(3), "ham", "milter")
        elif kind == "submission":
            self.submission(t)
        elif kind == "webmail":
            self.webmail_session(t)
        elif kind == "webmail_pickup":
            self.submission(t, webmail=True)
        elif kind == "login":
            self.login(t)
        elif kind == "reject":
            self.reject_session(t)
        elif kind == "postscreen":
            self.postscreen(t)
        elif kind == "milter_reject":
            self.milter_reject(t)
        elif kind == "soft_reject":
            self.milter_reject(t, "soft reject")
        elif kind == "blocked_spam":
            self.blocked(t, False)
        elif kind == "blocked_virus":
            self.blocked(t, True)
        elif kind == "local_app":
            self.local_app(t)
        elif kind == "failed_login":
            self.failed_logins(t)
        elif kind == "garbage":
            self.garbage(t)
        elif kind == "twin":
            self.twin(t)
        else:
            self.noise(t)

    def inbound(self, t: int, *args: Any, **kwargs: Any) -> None:
        """A message from the outside to users: (t, [(address as sent, user)] or None,
        spam kind or None, path or None), the Nones drawn."""
        raise NotImplementedError

    def reject_session(self, t: int) -> None:
        raise NotImplementedError

    def postscreen(self, t: int) -> None:
        raise NotImplementedError

    def milter_reject(self, t: int, action: str = "reject") -> None:
        raise NotImplementedError

    def blocked(self, t: int, infected: bool) -> None:
        raise NotImplementedError

    def mta_noise(self, t: int, x: float, ip: str) -> None:
        """The MTA's and its filters' lines that count nothing, by ``x`` in [0, 0.54)."""
        raise NotImplementedError

    def mta_warning(self, t: int, ip: str) -> None:
        """A warning of the MTA that counts nothing."""
        raise NotImplementedError


class PostfixTraffic(Traffic):
    """The scenarios of a Postfix platform with rspamd (milter) and amavis (content filter)."""

    postfix: Postfix
    rspamd: Rspamd
    amavis: Amavis

    def programs(self, run: Run) -> None:
        self.postfix = Postfix(run, self.long_from)
        self.rspamd = Rspamd(run)
        self.amavis = Amavis(run)

    # -- the MTA's lines of a delivery (Traffic.deliver) ------------------------------------
    def received_from(
        self, t: int, a: Host, c: str, mid: str, sender: str, size: int, r: str
    ) -> None:
        pf = self.postfix
        sp = self.run.pid("smtpd")
        client = f"{a.fqdn}[{a.ip}]"
        pf.connect(t, sp, client)
        pf.client(t, sp, c, client)
        pf.cleanup(t, c, mid)
        pf.qmgr(t, c, sender, size, 1)
        pf.disconnect(t, sp, client, "ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5")

    def handed_over_line(self, t: int, q: str, r: str, b: Host, c: str) -> None:
        self.postfix.handed_over(t, q, r, b, c)

    def relay_line(self, t: int, q: str, r: str, u: SUser) -> None:
        self.postfix.relayed(t, q, r, u.relay)

    def local_line(
        self, t: int, q: str, u: SUser, r: str, status: str, sess: str, batch: list[SUser]
    ) -> None:
        extension = "+" in r.partition("@")[0]
        to = r if extension else u.address
        orig = r if not extension and r.lower() != u.address else None
        self.postfix.local(t, q, u, to, orig, "sent" if status == "retried" else status, sess)

    def bounce_to_sender(self, t: int, q: str, sender: str, local: SUser | None) -> int:
        c = self.postfix.qid(t)
        self.postfix.bounce_notice(t, q, c)
        self.dsn(t, c, sender, local)
        return t

    def retry_line(self, t: int, q: str, sender: str, size: int, nrcpt: int) -> None:
        self.postfix.qmgr(t, q, sender, size, nrcpt)

    def forward_line(self, t: int, q: str, to: str, r: str | None, mid: str) -> None:
        self.postfix.smtp_out(t, q, to, r, mid)

    def removed_line(self, t: int, q: str) -> None:
        self.postfix.removed(t, q)

    def queue_id(self, t: int) -> str:
        return self.postfix.qid(t)

    def sendmail_lines(
        self, t: int, q: str, sender: str, size: int, mid: str, rcpts: list[str]
    ) -> None:
        pf = self.postfix
        pf.pickup(t, q, VMAIL_UID, sender)
        pf.cleanup(t, q, mid)
        pf.qmgr(t, q, sender, size, len(rcpts))

    def dsn(self, t: int, c: str, to: str, local: SUser | None) -> None:
        """A bounce notification to the sender of a message (a receipt if the sender is ours)."""
        pf = self.postfix
        mid = f"{t}.{c}@{self.run.host.fqdn}"
        size = self.rng.randint(3000, 9000)
        pf.cleanup(t, c, mid)
        pf.qmgr(t, c, "", size, 1)
        if local is not None:
            self.deliver(
                t + 1,
                c,
                mid,
                "",
                size,
                [(local.address, local)],
                False,
                actions=False,
                plain_only=True,
            )
        else:
            pf.smtp_out(t + 1, c, to, None, mid)
            pf.removed(t + 1, c)

    # -- scenarios -------------------------------------------------------------------------
    def inbound(
        self,
        t: int,
        pairs: list[tuple[str, SUser]] | None = None,
        spam_kind: str | None = None,
        path: str | None = None,
    ) -> None:
        """A message from the outside to one or more of our users."""
        rng = self.rng
        if pairs is None:
            k = 1 if rng.random() < 0.8 else rng.randint(2, 4)
            pairs = self.pick_targets(k)
        pairs = self.on_host_of(pairs)
        pf = self.postfix
        if spam_kind is None:
            x = rng.random()
            spam_kind = (
                "ham"
                if x < 0.75
                else "add header"
                if x < 0.88
                else "rewrite subject"
                if x < 0.92
                else "amavis"
            )
        if path is None:
            path = "amavis" if spam_kind == "amavis" or rng.random() < 0.35 else "milter"
        spam = spam_kind != "ham"
        spammy = spam and rng.random() < 0.7
        if spammy:
            client, ip = self.spam_client()
            sender = f"{rng.choice(SPAM_WORDS)}{rng.randint(1, 9999)}@{rng.choice(SPAM_WORDS)}-mail.example.biz"  # noqa: E501
        else:
            client = rng.choice(INBOUND_CLIENTS)
            ip = client[client.index("[") + 1 : -1]
            sender = self.external()
        a = pf.qid(t)
        mid = self.run.msgid(sender.rpartition("@")[2])
        size = self.size()
        sp = self.run.pid("smtpd")
        pf.connect(t, sp, client)
        if rng.random() < 0.5:
            pf.tls_in(t, sp, client)
        if rng.random() < 0.1:
            # a recipient that does not exist, refused before the first good one
            d = pairs[0][1].domain
            bad = f"{rng.choice(UNKNOWN_LOCALS)}@{d.name}"
            pf.reject(
                t,
                sp,
                client,
                f"550 5.1.1 <{bad}>: Recipient address rejected: User unknown in virtual "
                "mailbox table",
                sender,
                bad,
                client.split("[")[0],
            )
            self.truth.deny_unknown(d.name, t)
        pf.client(t, sp, a, client)
        pf.cleanup(t, a, mid)
        sent_to = [r for r, _ in pairs]
        expanded = sum(
            1 if u.type == "filter" else int(u.delivery_local) + len(u.forward_recipients)
            for _, u in pairs
        )
        rspamd_spam = spam_kind in ("add header", "rewrite subject")
        if path == "milter" or rspamd_spam or rng.random() < 0.5:
            action = spam_kind if rspamd_spam else "no action"
            if action == "no action" and spam_kind == "ham" and rng.random() < 0.05:
                action = "greylist"  # rspamd greylisting a known sender: passes, ham
            self.rspamd.verdict(t, a, mid, ip, sender, sent_to, action)
        counts = (
            f"ehlo=2 starttls=1 mail=1 rcpt={len(pairs)} data=1 quit=1 commands={5 + len(pairs)}"
        )
        if path == "milter":
            pf.qmgr(t, a, sender, size, expanded)
            pf.disconnect(t, sp, client, counts)
            self.deliver(t + rng.randint(0, 2), a, mid, sender, size, pairs, spam)
            return
        # content filter: A goes to amavis (127.0.0.1:10024), comes back as B on :10025
        pf.qmgr(t, a, sender, size, len(pairs))
        pf.disconnect(t, sp, client, counts)
        self.filtered(
            t + rng.randint(0, 2),
            a,
            mid,
            sender,
            size,
            pairs,
            spam_kind == "amavis",
            expanded,
            ip,
            "RelayedInbound",
            spam,
        )

    def filtered(
        self,
        t: int,
        a: str,
        mid: str,
        sender: str,
        size: int,
        pairs: list[tuple[str, SUser]],
        amavis_spam: bool,
        expanded: int,
        ip: str,
        tag: str,
        spam: bool,
        local_sender: SUser | None = None,
        ports: tuple[int, int] = (10024, 10025),
    ) -> None:
        """``a`` through amavis, re-injected as B and delivered."""
        rng = self.rng
        pf = self.postfix
        b = pf.qid(t)
        rp = self.run.pid("reinject")
        xforward = rng.random() < 0.2
        pf.connect(t, rp, "localhost[127.0.0.1]")
        if xforward:
            pf.client(
                t, rp, b, f"localhost[127.0.0.1], orig_queue_id={a}, orig_client=unknown[{ip}]"
            )
        else:
            pf.client(t, rp, b, "localhost[127.0.0.1]")
        pf.cleanup(t, b, mid)
        grown = size + rng.randint(400, 1400)
        pf.qmgr(t, b, sender, grown, expanded)
        pf.disconnect(
            t,
            rp,
            "localhost[127.0.0.1]",
            f"ehlo=1 xforward=1 mail=1 rcpt={len(pairs)} data=1 quit=1 commands={5 + len(pairs)}",
        )
        sent_to = [r for r, _ in pairs]
        tail = [
            self.amavis.passed_inbound(amavis_spam, tag, ip, sender, sent_to, a, mid, size, b)
        ] + [pf.to_filter(a, r, ports, b) for r in sent_to]
        late = rng.random() < 0.2
        if not late:
            for line in tail:
                pf.emit(t, line)
            pf.removed(t, a)
        end = self.deliver(
            t + rng.randint(0, 1),
            b,
            mid,
            sender,
            size,
            pairs,
            spam or amavis_spam,
            local_sender=local_sender,
        )
        if late:  # amavis answers Postfix after B was already delivered
            tl = end + rng.randint(0, 2)
            for line in tail:
                pf.emit(tl, line)
            pf.removed(tl, a)

    def submission(self, t: int, u: SUser | None = None, webmail: bool = False) -> None:
        """A user sends a message (authenticated submission, or the webmail)."""
        rng = self.rng
        u, rcpts, a, mid, size, sasl = self.new_submission(t, u, webmail)
        pf = self.postfix
        if webmail and rng.random() < 0.4 and self.here == 0:  # sendmail on the webmail's host
            pf.pickup(t, a, WEBMAIL_UID, u.address)
            ip = "127.0.0.1"
            sp = None
        else:
            sp = self.run.pid("submission")
            if webmail:
                client, ip = self.webmail_client()
            else:
                ip = (
                    f"198.51.100.{rng.randint(2, 250)}"
                    if rng.random() < 0.7
                    else f"2001:db8:{rng.randint(1, 999):x}::{rng.randint(1, 999):x}"
                )
                client = f"unknown[{ip}]"
            port = f":{rng.randint(30000, 65000)}" if rng.random() < 0.5 else ""
            pf.connect(t, sp, client, "submission/smtpd")
            pf.submission_client(t, sp, a, f"{client}{port}", "LOGIN" if webmail else "PLAIN", sasl)
        pf.cleanup(t, a, mid)
        if rng.random() < 0.5:
            self.truth.foreign(self.other.opendkim(t, a, u.domain.name))
        # submit time = qmgr line: the truth of out_*
        pf.qmgr(t, a, u.address, size, len(rcpts))
        self.truth.sent(u, t, len(rcpts), size)
        if sp is not None:
            pf.disconnect(
                t,
                sp,
                client,
                f"ehlo=1 auth=1 mail=1 rcpt={len(rcpts)} data=1 quit=1 commands={5 + len(rcpts)}",
                "submission/smtpd",
            )
        local = [(r, v) for r, v in rcpts if v is not None]
        remote = [r for r, v in rcpts if v is None]
        tt = t + rng.randint(0, 2)
        if rng.random() < 0.25:
            # originating mail through amavis too (:10026 → :10027)
            self.outbound_filtered(tt, a, mid, u, size, local, remote, ip)
            return
        self.rspamd.verdict(
            t, a, mid, ip, u.address, [r for r, _ in rcpts], "no action", user=u.address
        )
        end = tt
        bounced = False
        for r in remote:
            x = rng.random()
            if x < 0.03 and not bounced:
                pf.smtp_out(tt, a, r, None, mid, "bounced")
                bounced = True
            elif x < 0.07:
                pf.smtp_out(tt, a, r, None, mid, "deferred")
                tr = tt + rng.randint(300, 1200)
                pf.qmgr(tr, a, u.address, size, len(rcpts))
                pf.smtp_out(tr, a, r, None, mid)
                end = max(end, tr)
            else:
                pf.smtp_out(tt, a, r, None, mid)
        if local:
            end = max(
                end,
                self.deliver(
                    tt,
                    a,
                    mid,
                    u.address,
                    size,
                    local,
                    False,
                    local_sender=u,
                    plain_only=True,
                    remove=False,
                ),
            )
        if bounced:
            self.bounce_back(end, a, u)
        pf.removed(end + (rng.random() < 0.5), a)

    def bounce_back(self, t: int, q: str, u: SUser) -> None:
        c = self.postfix.qid(t)
        self.postfix.bounce_notice(t, q, c)
        self.dsn(t, c, u.address, u)

    def outbound_filtered(
        self,
        t: int,
        a: str,
        mid: str,
        u: SUser,
        size: int,
        local: list[tuple[str, SUser]],
        remote: list[str],
        ip: str,
    ) -> None:
        """A user's message ``a`` through amavis, re-injected as B and delivered."""
        rng = self.rng
        pf = self.postfix
        b = pf.qid(t)
        rp = self.run.pid("reinject")
        pf.connect(t, rp, "localhost[127.0.0.1]")
        pf.client(t, rp, b, "localhost[127.0.0.1]")
        pf.cleanup(t, b, mid)
        n = len(local) + len(remote)
        pf.qmgr(t, b, u.address, size + rng.randint(300, 900), n)
        pf.disconnect(
            t,
            rp,
            "localhost[127.0.0.1]",
            f"ehlo=1 xforward=1 mail=1 rcpt={n} data=1 quit=1 commands={5 + n}",
        )
        rcpts = [*remote, *(r for r, _ in local)]
        self.amavis.passed_outbound(t, ip, u.address, rcpts, a, mid, size, b)
        for r in rcpts:
            pf.emit(t, pf.to_filter(a, r, (10026, 10027), b))
        pf.removed(t, a)
        tt = t + 1
        for r in remote:
            pf.smtp_out(tt, b, r, None, mid)
        self.deliver(tt, b, mid, u.address, size, local, False, local_sender=u, plain_only=True)

    def reject_session(self, t: int) -> None:
        """An unwanted client: rejections at RCPT time, permanent and temporary."""
        rng = self.rng
        h = self.pick_host()
        targets = self.host_targets[h]
        pf = self.postfix
        client, ip = self.spam_client()
        helo = client.split("[")[0] if not client.startswith("unknown") else f"[{ip}]"
        sender = (
            f"{rng.choice(SPAM_WORDS)}{rng.randint(1, 999)}@{rng.choice(SPAM_WORDS)}.example.biz"
        )
        sp = self.run.pid("smtpd")
        pf.connect(t, sp, client)
        n = rng.choice((1, 1, 1, 2, 3))
        for _ in range(n):
            x = rng.random()
            if x < 0.35:  # a real user (or alias, extension, odd case): denied for the user
                r, u = self.refused_target(targets)
                why = rng.choice(
                    (
                        f"554 5.7.1 Service unavailable; Client host [{ip}] blocked using "
                        f"zen.spamhaus.org; https://www.spamhaus.org/query/ip/{ip}",
                        f"550 5.7.23 <{r}>: Recipient address rejected: Message rejected due "
                        "to: SPF fail - not authorized. Please see http://www.openspf.net/Why?s=mfrom;"
                        f"id={sender};ip={ip};r=<UNKNOWN>",
                        f"504 5.5.2 <{helo}>: Helo command rejected: need fully-qualified hostname",
                    )
                )
                self.truth.flow(u, t, DENIED)
            elif x < 0.6:  # an unknown address of one of our domains
                d = rng.choice(self.host_domains[h])
                r = f"{rng.choice(UNKNOWN_LOCALS)}@{d.name}"
                why = (
                    f"550 5.1.1 <{r}>: Recipient address rejected: User unknown in virtual "
                    "mailbox table"
                )
                self.truth.deny_unknown(d.name, t)
            elif x < 0.75:  # not our domain at all: counts nowhere
                r = f"{rng.choice(FIRST)}@{rng.choice(EXTERNAL_DOMAINS)}"
                why = f"554 5.7.1 <{r}>: Relay access denied"
            elif x < 0.9:  # greylisting: try again later, not a denial
                r, _u = rng.choice(targets)
                why = (
                    f"450 4.2.0 <{r}>: Recipient address rejected: Greylisted, see "
                    f"http://postgrey.schweikert.ch/help/{r.partition('@')[2]}.html"
                )
            else:  # a warning only (soft_bounce / warn_if_reject): not a denial
                r, _u = rng.choice(targets)
                pf.reject_warning(t, sp, client, ip, sender, r, helo)
                continue
            pf.reject(t, sp, client, why, sender, r, helo)
        pf.disconnect(t + 1, sp, client, f"ehlo=1 mail=1 rcpt=0/{n} quit=1 commands=3/{3 + n}")

    def postscreen(self, t: int) -> None:
        """postscreen drops a client listed on a DNSBL (a denial for the recipient)."""
        rng = self.rng
        h = self.pick_host()
        pf = self.postfix
        p = self.run.pid("postscreen")
        _client, ip = self.spam_client()
        port = rng.randint(1024, 65000)
        pf.postscreen_connect(t, p, ip, port)
        r, u = rng.choice(self.host_targets[h])
        pf.postscreen_reject(t + 1, p, ip, port, r)
        self.truth.flow(u, t + 1, DENIED)

    def milter_reject(self, t: int, action: str = "reject") -> None:
        """rspamd (as a milter) refuses a message at the end of DATA."""
        rng = self.rng
        client, ip = self.spam_client()
        sender = (
            f"{rng.choice(SPAM_WORDS)}@{rng.choice(SPAM_WORDS)}-{rng.randint(1, 99)}.example.biz"
        )
        r, u = rng.choice(self.targets)
        self.on(u.domain.host)
        pf = self.postfix
        a = pf.qid(t)
        mid = self.run.msgid("bulk.example.biz")
        sp = self.run.pid("smtpd")
        cp = self.run.pid("cleanup")
        pf.connect(t, sp, client)
        pf.client(t, sp, a, client)
        pf.cleanup(t, a, mid, cp)
        self.rspamd.verdict(t, a, mid, ip, sender, [r], action)
        helo = client.split("[")[0]
        if action == "reject":
            pf.milter_reject(t, cp, a, client, "5.7.1 Spam message rejected", sender, r, helo)
            self.truth.flow(u, t, DENIED)
        else:  # soft reject: try again later
            pf.milter_reject(t, cp, a, client, "4.7.1 Try again later", sender, r, helo)
        pf.disconnect(t + 1, sp, client, "ehlo=1 mail=1 rcpt=1 data=0/1 quit=1 commands=4/5")

    def blocked(self, t: int, infected: bool) -> None:
        """amavis stops a message: a virus (denied) or spam into quarantine (in_spam)."""
        rng = self.rng
        pairs = [
            (r, u)
            for r, u in self.pick_targets(rng.choice((1, 1, 2)))
            if u.type == "mailbox" and u.plain
        ] or [(self.plain[0].address, self.plain[0])]
        pairs = self.on_host_of(pairs)
        pf = self.postfix
        client, ip = self.spam_client()
        sender = (
            f"{rng.choice(SPAM_WORDS)}{rng.randint(1, 99)}@{rng.choice(SPAM_WORDS)}.example.biz"
        )
        a = pf.qid(t)
        mid = self.run.msgid("bulk.example.biz")
        size = self.size()
        sp = self.run.pid("smtpd")
        pf.connect(t, sp, client)
        pf.client(t, sp, a, client)
        pf.cleanup(t, a, mid)
        pf.qmgr(t, a, sender, size, len(pairs))
        pf.disconnect(
            t,
            sp,
            client,
            f"ehlo=1 mail=1 rcpt={len(pairs)} data=1 quit=1 commands={4 + len(pairs)}",
        )
        tb = t + rng.randint(1, 3)
        aid, why = self.amavis.blocked(
            tb, infected, ip, sender, [r for r, _ in pairs], a, mid, size
        )
        for r, u in pairs:
            pf.discarded(tb, a, r, aid, why)
            if infected:
                self.truth.flow(u, tb, DENIED)
            else:
                self.truth.receipt(u, tb, True, size)
        pf.removed(tb, a)

    def app_lines(self, t: int, q: str, sender: str, size: int, mid: str, to: str) -> None:
        """Through smtpd on localhost (no auth)."""
        pf = self.postfix
        sp = self.run.pid("smtpd")
        pf.connect(t, sp, "localhost[127.0.0.1]")
        pf.client(t, sp, q, "localhost[127.0.0.1]")
        pf.cleanup(t, q, mid)
        pf.qmgr(t, q, sender, size, 1)
        pf.disconnect(
            t, sp, "localhost[127.0.0.1]", "ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5"
        )

    def smtp_auth_failed(self, t: int, ip: str) -> None:
        self.postfix.auth_failed(t, ip)

    def mta_noise(self, t: int, x: float, ip: str) -> None:
        if x < 0.46:
            self.postfix.noise(t, x, ip)
        elif x < 0.5:
            self.rspamd.milter_connection(t)
        else:
            self.amavis.esmtp(t)

    def mta_warning(self, t: int, ip: str) -> None:
        self.postfix.tlsmgr_warning(t)
