"""``mailtally synth``: a generated platform, a realistic mixed mail log for it, and the truth.

:func:`synthesize` builds a platform (companies, domains, users of every type,
aliases, forwards, autoresponders, sieve redirects, webmail users) in a store
through the real tree actions, then plays a model of that platform's mail
traffic over ``days`` days and writes what the servers would have logged:

* ``mail.log.3.gz``, ``mail.log.2.gz``, ``mail.log.1``, ``mail.log`` — one
  syslog stream of Postfix, Dovecot (logins, LMTP/LDA, Pigeonhole sieve),
  rspamd and amavis lines (plus the usual noise of other programs and a few
  broken lines), rotated as logrotate does it: the oldest compressed, each
  file's mtime the time of its last line (so that the year of classic stamps
  can be inferred).  Classic ``Mmm dd hh:mm:ss`` stamps and RFC 3339 stamps
  alternate from file to file.
* ``roundcube/userlogins`` — Roundcube's own login log.
* ``quota/quota-YYYY-MM-DD.tsv`` — a daily ``doveadm -f tab quota get -A``
  report, its mtime the time of the report.
* ``platform.json`` — the platform as built.
* ``truth.json`` — the true totals, computed from the generator's own model
  of what happened (never by reading the lines back): per user and day (UTC),
  every flow metric of SPEC §3, the last login/receipt/submission times, and
  every storage report; per domain and company the same flows (which add the
  rejections of unknown addresses of the domain).  ``files`` lists the files
  in the order to ingest them; ``unknown_lines`` the lines, by program, that
  a reader is expected not to understand (other programs' noise, garbage);
  ``never_counted_lines`` those of programs that never count (opendkim …), which
  a reader understands and tallies apart.

The traffic covers inbound ham and spam (rspamd milter verdicts, amavis content
filtering with re-injection under a new queue id, sieve ``fileinto Junk``),
mail to aliases (``orig_to``) and to address extensions, authenticated and
webmail submissions with local and remote recipients, forwards (forward-only
users, mailboxes with forward recipients), sieve vacation responses and
redirects (the messages they send are not the user's), filter-only accounts
relayed to their own servers, rejections of every kind (``NOQUEUE: reject``,
``milter-reject``, amavis ``Blocked``, temporary ones that count nothing),
deferred and bounced deliveries, bounce notifications, IMAP/POP3 logins from
outside and from the webmail (not counted), Roundcube logins, failed logins.

What the model counts, per SPEC §3 (the choices a log leaves open):

* a receipt (``in_ham``/``in_size`` or ``in_spam``) per message and user, dated
  at the user's first successful delivery (local, forward or relay), sized as
  the sender sent it (before a content filter grew it);
* ``out_*`` at the submission's queueing (qmgr) line, with its envelope
  recipients — submissions are only addressed to users whose mail is not
  expanded into several recipients, so the count before and after Postfix's
  alias expansion is the same;
* a denial per recipient of a permanent rejection, or of a permanent local
  delivery failure (over quota); for an unknown address of a domain, the
  domain's and company's only;
* an amavis ``Blocked SPAM`` into quarantine is ``in_spam`` (SPEC: quarantined
  spam is received spam); other ``Blocked`` verdicts are denials.

Lines are streamed to the files through a small heap that orders the lines of
overlapping messages by time, so a million lines take seconds and little memory.
"""

from __future__ import annotations

import base64
import gzip
import heapq
import json
import math
import os
import random
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from mailtally.errors import OMAError
from mailtally.ingest.parsers import NEVER_COUNTED
from mailtally.periods import Periods
from mailtally.store import Store
from mailtally.tree import Ctx, Principal, do_change_company, do_change_domain, do_change_user

__all__ = ["LASTS", "METRICS", "SynthError", "SynthResult", "synthesize"]

#: The flow metrics of truth.json, in SPEC §3's names.
METRICS: tuple[str, ...] = (
    "in_ham",
    "in_size",
    "in_spam",
    "denied",
    "out_msg_count",
    "out_rcpt_count",
    "out_size",
    "forward_count",
    "autorespond_count",
    "imap4",
    "pop3",
    "webmail",
)
#: The ``logins.last_*`` times of truth.json.
LASTS: tuple[str, ...] = ("imap4", "pop3", "webmail", "smtpin", "smtprelay")

(
    IN_HAM,
    IN_SIZE,
    IN_SPAM,
    DENIED,
    OUT_MSG,
    OUT_RCPT,
    OUT_SIZE,
    FORWARD,
    AUTORESPOND,
    IMAP4,
    POP3,
    WEBMAIL,
) = range(len(METRICS))
L_IMAP4, L_POP3, L_WEBMAIL, L_SMTPIN, L_SMTPRELAY = range(len(LASTS))

DAY = 86400
HOST = "mail"
FQDN = "mail.northwind.example"
LIP = "10.0.0.1"
VMAIL_UID = 5000
WEBMAIL_UID = 33
WEBMAIL_HOSTS = ("127.0.0.1", "::1")
#: Programs whose lines are in the log but that mailtally does not read.
FOREIGN = ("CRON", "sshd", "systemd", "kernel", "opendkim", "policyd-spf")
GARBAGE = "(no program)"


class SynthError(ValueError):
    """A request synthesize() cannot carry out (the message says why)."""


# -- the platform ---------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class SDomain:
    name: str
    company: str
    transport: str  # "lmtp" (Dovecot LMTP) or "pipe" (dovecot-lda)
    createtime: int


@dataclass(eq=False, slots=True)
class SUser:
    address: str
    domain: SDomain
    type: str  # mailbox | forward | filter
    createtime: int
    quota: int = 0
    aliases: list[str] = field(default_factory=list)
    forward_recipients: list[str] = field(default_factory=list)
    delivery_local: bool = True
    autorespond: bool = False
    redirect: list[str] = field(default_factory=list)  # sieve redirect targets
    redirect_keep: bool = True
    sieve: bool = False
    junk_rule: bool = False  # sieve: spam-tagged mail into Junk
    webmail: bool = False
    pop3: bool = False
    relay: str = ""  # filter-only: the customer's own server, host[ip]:port
    rc_id: int = 0
    items: int = 0
    nbytes: int = 0
    #: truth: day index -> flows; day index -> last times; storage reports
    flows: dict[int, list[int]] = field(default_factory=dict)
    lasts: dict[int, list[int]] = field(default_factory=dict)
    reports: list[list[int]] = field(default_factory=list)

    @property
    def local(self) -> str:
        return self.address.partition("@")[0]

    @property
    def plain(self) -> bool:
        """A mailbox whose mail is neither forwarded nor redirected."""
        return self.type == "mailbox" and not self.forward_recipients and not self.redirect


FIRST = (
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "karl",
    "laura",
    "mallory",
    "nina",
    "oscar",
    "peggy",
    "quinn",
    "rupert",
    "sybil",
    "trent",
    "ursula",
    "victor",
    "walter",
    "xena",
    "yves",
    "zoe",
)
LAST = ("smith", "jones", "meyer", "garcia", "rossi", "novak", "berg", "silva", "kim", "dubois")
COMPANIES = (
    ("Northwind Hosting", ("northwind.example", "nwtraders.example", "northwind-shop.example")),
    ("Contoso Mail", ("contoso.example", "contoso-labs.example")),
)
ROLE_ALIASES = ("info", "sales", "billing", "support", "office", "contact", "hello", "jobs")
UNKNOWN_LOCALS = (
    "nobody",
    "admin",
    "test",
    "webmaster",
    "root",
    "noreply",
    "abuse2",
    "old.staff",
    "marketing",
    "hr",
    "ceo",
    "newsletter",
)
EXTERNAL_DOMAINS = (
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "web.de",
    "example.org",
    "mail.example.net",
    "fastmail.example",
    "uni-example.edu",
)
MX = {
    "gmail.com": ("gmail-smtp-in.l.google.com[142.250.27.27]:25", "gmail"),
    "yahoo.com": ("mta5.am0.yahoodns.net[67.195.204.72]:25", "yahoo"),
    "outlook.com": ("outlook-com.olc.protection.outlook.com[52.101.40.5]:25", "outlook"),
    "web.de": ("mx-ha03.web.de[212.227.17.8]:25", "postfix"),
}
INBOUND_CLIENTS = (
    "mail-wr1-f54.google.com[209.85.221.54]",
    "mail-ej1-f43.google.com[209.85.218.43]",
    "sonic301-21.consmr.mail.ir2.yahoo.com[77.238.176.98]",
    "mail-am6eur05on2071.outbound.protection.outlook.com[40.107.22.71]",
    "mout.web.de[212.227.15.3]",
    "mx.example.org[203.0.113.9]",
    "smtp.mail.example.net[198.51.100.40]",
    "out.fastmail.example[203.0.113.77]",
)
SPAM_CLIENTS = (
    "unknown[192.0.2.{}]",
    "static.{}.clients.example-isp.net[45.67.89.{}]",
    "ip-{}.dyn.example-broadband.com[185.220.101.{}]",
)
SPAM_WORDS = ("promo", "deals", "winner", "crypto", "pharma", "loan", "bonus", "offer")


def _rfc(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _build_model(
    rng: random.Random, n_users: int, start: int
) -> tuple[list[tuple[str, int]], list[SDomain], list[SUser]]:
    """Companies, domains and users (not yet in a store)."""
    n_companies = 2 if rng.random() < 0.7 else 1
    companies: list[tuple[str, int]] = []
    domains: list[SDomain] = []
    for ci in range(n_companies):
        name, names = COMPANIES[ci]
        created = start - rng.randint(300, 700) * DAY
        companies.append((name, created))
        count = rng.randint(2, len(names)) if ci == 0 else rng.randint(1, len(names))
        for dn in names[:count]:
            transport = "lmtp" if ci == 0 else "pipe"
            domains.append(SDomain(dn, name, transport, created + rng.randint(0, 60) * DAY))
    users: list[SUser] = []
    taken: set[str] = set()
    for i in range(n_users):
        d = domains[i % len(domains)] if i < len(domains) else rng.choice(domains)
        while True:
            first = rng.choice(FIRST)
            local = first if rng.random() < 0.5 else f"{first}.{rng.choice(LAST)}"
            if rng.random() < 0.2:
                local += str(rng.randint(2, 99))
            address = f"{local}@{d.name}"
            if address not in taken:
                break
        taken.add(address)
        created = max(d.createtime, start - rng.randint(2, 400) * DAY)
        u = SUser(address, d, "mailbox", created)
        users.append(u)
    # Types and features: a fixed share of each, at least a couple even on a small platform.
    order = list(users)
    rng.shuffle(order)
    n = len(order)
    n_fwd = max(2, n // 12)
    n_filter = max(1, n // 25)
    forwards, filters, mailboxes = (
        order[:n_fwd],
        order[n_fwd : n_fwd + n_filter],
        order[n_fwd + n_filter :],
    )
    for u in forwards:
        u.type = "forward"
        u.delivery_local = False
        u.forward_recipients = [f"{u.local}@{rng.choice(EXTERNAL_DOMAINS[:4])}"]
        if rng.random() < 0.3:
            u.forward_recipients.append(f"{u.local.split('.')[0]}.home@{EXTERNAL_DOMAINS[4]}")
    for k, u in enumerate(filters):
        u.type = "filter"
        u.delivery_local = False
        u.relay = f"mx{k + 1}.{u.local.split('.')[0]}-office.example[198.51.100.{20 + k}]:25"
    m = len(mailboxes)
    for k, u in enumerate(mailboxes):
        u.quota = rng.choice((0, 1 << 30, 2 << 30, 5 << 30))
        u.items = rng.randint(50, 4000)
        u.nbytes = u.items * rng.randint(8_000, 60_000)
        u.webmail = k % 3 == 0
        u.pop3 = k % 7 == 3
        u.sieve = k % 4 != 1
        u.junk_rule = u.sieve and k % 2 == 0
        u.rc_id = k + 1
    # features on distinct mailboxes, round robin, at least one or two each
    feats = list(mailboxes)
    rng.shuffle(feats)
    n_auto = max(2, m // 10)
    n_redirect = max(2, m // 12)
    n_fwd_copy = max(1, m // 15)
    for u in feats[:n_auto]:
        u.autorespond = u.sieve = True
    for u in feats[n_auto : n_auto + n_redirect]:
        u.sieve = True
        u.redirect = [f"{u.local.split('.')[0]}.mobile@{rng.choice(EXTERNAL_DOMAINS[:4])}"]
        if rng.random() < 0.3:
            u.redirect.append(f"{u.local.split('.')[0]}@{EXTERNAL_DOMAINS[5]}")
        u.redirect_keep = rng.random() < 0.6
    for u in feats[n_auto + n_redirect : n_auto + n_redirect + n_fwd_copy]:
        u.forward_recipients = [f"{u.local}@{rng.choice(EXTERNAL_DOMAINS[:4])}"]
    # aliases: role names first, then first.last forms; some in another domain of the company
    names_taken = set(taken)
    role = list(ROLE_ALIASES)
    alias_users = [u for u in users if u.type != "filter"]
    rng.shuffle(alias_users)
    for k, u in enumerate(alias_users[: max(3, len(alias_users) // 4)]):
        same_co = [d for d in domains if d.company == u.domain.company]
        count = 1 + (rng.random() < 0.3)
        for j in range(count):
            d = u.domain
            if (k + j) % 3 == 2 and len(same_co) > 1:
                d = rng.choice([x for x in same_co if x is not u.domain])
            base = role[(k + j) % len(role)] if (k + j) % 2 == 0 else f"{u.local}.mail"
            a = f"{base}@{d.name}"
            n_try = 2
            while a in names_taken:
                a = f"{base}{n_try}@{d.name}"
                n_try += 1
            names_taken.add(a)
            u.aliases.append(a)
    return companies, domains, users


def _create_in_store(
    store: Store,
    periods: Periods,
    companies: list[tuple[str, int]],
    domains: list[SDomain],
    users: list[SUser],
    now: int,
) -> None:
    with store.write() as q:
        ctx = Ctx(q, periods, now, Principal(name="synth", operator=True), client="mailtally synth")
        try:
            for name, created in companies:
                do_change_company(ctx, name, {"createtime": _rfc(created)}, True)
            for d in domains:
                do_change_domain(ctx, d.name, d.company, {"createtime": _rfc(d.createtime)}, True)
            for u in users:
                attrs: dict[str, Any] = {
                    "type": u.type,
                    "createtime": _rfc(u.createtime),
                    "name": u.local.replace(".", " ").title(),
                    "quota": u.quota,
                }
                if u.aliases:
                    attrs["aliases"] = list(u.aliases)
                if u.forward_recipients:
                    attrs["forward_recipients"] = list(u.forward_recipients)
                    attrs["delivery_forward"] = True
                if not u.delivery_local:
                    attrs["delivery_local"] = False
                if u.autorespond:
                    attrs["delivery_autorespond"] = True
                if u.type == "filter":
                    attrs["delivery_filter"] = True
                do_change_user(ctx, u.address, attrs, True, None)
        except OMAError as exc:
            raise SynthError(
                f"cannot create the platform in this store ({exc.message}); "
                "synth needs a store without it (a new --db)"
            ) from None


# -- writing the log ------------------------------------------------------------------------

_MON = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
CLASSIC, RFC3339 = 0, 1
MAIL, ROUNDCUBE, RAW = 0, 1, 2


class _Out:
    """One output file, written in large chunks (gzip or plain)."""

    def __init__(self, path: Path, compress: bool) -> None:
        self.path = path
        raw = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.raw = raw
        self.f = (
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) if compress else raw
        )
        self.buf: list[str] = []
        self.lines = 0
        self.last = 0

    def add(self, text: str, ts: int) -> None:
        self.buf.append(text)
        self.lines += 1
        self.last = ts
        if len(self.buf) >= 8192:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.f.write("".join(self.buf).encode("utf-8", "surrogateescape"))
            self.buf = []

    def close(self) -> None:
        """Flush and close; the file's mtime becomes the time of its last line."""
        self.flush()
        if self.f is not self.raw:
            self.f.close()
        self.raw.close()
        t = self.last
        if t:
            os.utime(self.path, (t, t))


class _Log:
    """Lines in time order: a heap of pending lines, rotated into the mail log files."""

    def __init__(self, out: Path, start: int, end: int) -> None:
        self.heap: list[tuple[int, int, int, str]] = []
        self.seq = 0
        self.count = 0
        span = end - start
        days = span // DAY
        if days >= 4:
            cuts = [start + round(i * days / 4) * DAY + 6 * 3600 + 25 * 60 for i in (1, 2, 3)]
        else:
            cuts = [start + i * span // 4 for i in (1, 2, 3)]
        # (name, compressed, stamp format, ends before)
        self.plan = [
            ("mail.log.3.gz", True, CLASSIC, cuts[0]),
            ("mail.log.2.gz", True, RFC3339, cuts[1]),
            ("mail.log.1", False, CLASSIC, cuts[2]),
            ("mail.log", False, RFC3339, 1 << 62),
        ]
        self.out = out
        self.index = 0
        self.files: list[_Out] = []
        self.cur = self._open(0)
        (out / "roundcube").mkdir(parents=True, exist_ok=True)
        self.rc = _Out(out / "roundcube" / "userlogins", False)
        self._stamp_ts = -1
        self._stamp = ""
        self._day_cache: dict[int, tuple[str, str, str]] = {}

    def _open(self, i: int) -> _Out:
        name, gz, _fmt, _end = self.plan[i]
        f = _Out(self.out / name, gz)
        self.files.append(f)
        return f

    def emit(self, ts: int, text: str, dest: int = MAIL) -> None:
        heapq.heappush(self.heap, (ts, self.seq, dest, text))
        self.seq += 1
        self.count += 1

    def flush_before(self, ts: int) -> None:
        heap = self.heap
        pop = heapq.heappop
        write = self._write
        while heap and heap[0][0] < ts:
            t, _s, dest, text = pop(heap)
            write(t, dest, text)

    def _days(self, ts: int) -> tuple[str, str, str]:
        d = ts // DAY
        v = self._day_cache.get(d)
        if v is None:
            dt = datetime.fromtimestamp(d * DAY, UTC)
            v = (
                f"{_MON[dt.month - 1]} {dt.day:2d} ",
                f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T",
                f"{dt.day:02d}-{_MON[dt.month - 1]}-{dt.year:04d} ",
            )
            self._day_cache[d] = v
        return v

    def _write(self, ts: int, dest: int, text: str) -> None:
        if dest == ROUNDCUBE:
            s = ts % DAY
            clock = f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"
            self.rc.add(f"[{self._days(ts)[2]}{clock} +0000]: {text}\n", ts)
            return
        while ts >= self.plan[self.index][3]:
            self.index += 1
            self.cur = self._open(self.index)
        if dest == RAW:
            self.cur.add(text + "\n", ts)
            return
        fmt = self.plan[self.index][2]
        if ts != self._stamp_ts:
            s = ts % DAY
            self._clock = f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"
            self._stamp_ts = ts
            self._frac = (ts * 7919) % 500_000
        if fmt == CLASSIC:
            self.cur.add(f"{self._days(ts)[0]}{self._clock} {HOST} {text}\n", ts)
        else:
            self._frac = frac = min(self._frac + 1 + (self.seq * 37) % 2000, 999_999)
            self.cur.add(f"{self._days(ts)[1]}{self._clock}.{frac:06d}+00:00 {HOST} {text}\n", ts)

    def close(self) -> list[Path]:
        self.flush_before(1 << 62)
        while self.index < len(self.plan) - 1:  # a short log: empty younger files
            self.index += 1
            self.cur = self._open(self.index)
        for f in self.files:
            f.close()
        self.rc.close()
        return [f.path for f in self.files]


# -- the traffic ----------------------------------------------------------------------------

_ALPHA51 = "0123456789BCDFGHJKLMNPQRSTVWXYbcdfghjklmnpqrstvwxy"


def _b51(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, len(_ALPHA51))
        out.append(_ALPHA51[r])
    return "".join(reversed(out))


def _profile(ts: int) -> float:
    """Traffic by hour of day: quiet at night, busy in office hours."""
    h = (ts % DAY) / 3600
    return 0.25 + (1.6 * math.sin(math.pi * (h - 6) / 16) if 6 <= h <= 22 else 0.0)


_MEAN_PROFILE = sum(_profile(h * 360) for h in range(240)) / 240


class _Gen:
    """Plays the traffic model: emits lines, keeps the truth."""

    def __init__(
        self,
        rng: random.Random,
        users: list[SUser],
        domains: list[SDomain],
        log: _Log,
        start: int,
        end: int,
    ) -> None:
        self.rng = rng
        self.users = users
        self.domains = domains
        self.log = log
        self.emit = log.emit
        self.start = start
        self.end = end
        self.n = 0
        self.long_from = start + (end - start) // 2
        self.unknown: dict[str, int] = {}
        self.never: dict[str, int] = {}  # lines of programs that never count (NEVER_COUNTED)
        self.domain_denied: dict[str, dict[int, int]] = {d.name: {} for d in domains}
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
        self.pids = {
            k: [rng.randint(1000, 60000) for _ in range(8)]
            for k in (
                "smtpd",
                "cleanup",
                "smtp",
                "lmtp",
                "pipe",
                "bounce",
                "pickup",
                "submission",
                "dovecot",
                "amavis",
                "rspamd",
                "postscreen",
                "reinject",
            )
        }
        self.qmgr_pid = rng.randint(900, 2000)
        self.amavis_n = 0
        self._by_address = {u.address: u for u in users}

    # -- ids ------------------------------------------------------------------------------
    def qid(self, t: int) -> str:
        self.n += 1
        n = self.n
        if t < self.long_from:
            return f"{(n * 0xB5AD4ECEDA1CE2A9) & 0xFFFFFFFFFF:010X}"
        return f"{_b51(t, 6)}{_b51(n % 51**4, 4)}z{_b51((n * 7919) % 51**4, 4)}"

    def session(self) -> str:
        self.n += 1
        v = (self.n * 0x9E3779B97F4A7C15F39CC0605CEDC835) & ((1 << 128) - 1)
        return base64.b64encode(v.to_bytes(16, "big")).decode()[:22]

    def msgid(self, domain: str) -> str:
        self.n += 1
        return f"{(self.n * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFF:012x}.{self.n}@{domain}"

    def pid(self, kind: str) -> int:
        return self.rng.choice(self.pids[kind])

    # -- truth ----------------------------------------------------------------------------
    def flow(self, u: SUser, ts: int, metric: int, n: int = 1) -> None:
        d = (ts - self.start) // DAY
        row = u.flows.get(d)
        if row is None:
            row = u.flows[d] = [0] * len(METRICS)
        row[metric] += n

    def last(self, u: SUser, ts: int, k: int) -> None:
        d = (ts - self.start) // DAY
        row = u.lasts.get(d)
        if row is None:
            row = u.lasts[d] = [0] * len(LASTS)
        if ts > row[k]:
            row[k] = ts

    def receipt(self, u: SUser, ts: int, spam: bool, size: int) -> None:
        if spam:
            self.flow(u, ts, IN_SPAM)
        else:
            self.flow(u, ts, IN_HAM)
            self.flow(u, ts, IN_SIZE, size)
        self.last(u, ts, L_SMTPIN)
        if u.type == "mailbox" and u.delivery_local:
            u.items += 1
            u.nbytes += size

    def deny_unknown(self, domain: str, ts: int) -> None:
        row = self.domain_denied[domain]
        d = (ts - self.start) // DAY
        row[d] = row.get(d, 0) + 1

    def foreign(self, ts: int, program: str, text: str) -> None:
        self.emit(ts, text)
        # A program that never counts is understood and tallied apart (issue 8); the
        # rest of other programs' noise is not understood.
        table = self.never if program in NEVER_COUNTED else self.unknown
        table[program] = table.get(program, 0) + 1

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

    def mx(self, address: str) -> tuple[str, str]:
        dom = address.rpartition("@")[2]
        found = MX.get(dom)
        if found is not None:
            return found
        return f"mx.{dom}[198.51.100.{sum(map(ord, dom)) % 200 + 50}]:25", "postfix"

    def remote_ok(self, kind: str, mid: str) -> str:
        rng = self.rng
        if kind == "gmail":
            return f"250 2.0.0 OK  {rng.randint(1_700_000_000, 1_800_000_000)} x{rng.randint(10, 99)}si{rng.randint(1000, 9999)}abc.{rng.randint(10, 99)} - gsmtp"  # noqa: E501
        if kind == "yahoo":
            return "250 ok dirdel"
        if kind == "outlook":
            return f"250 2.6.0 <{mid}> [InternalId=1{rng.randint(10**9, 10**10)}, Hostname=AM0PR0{rng.randint(1, 9)}MB1234.eurprd0{rng.randint(1, 9)}.prod.outlook.com] 9876 bytes in 0.{rng.randint(100, 999)}, 12.3 KB/sec Queued mail for delivery"  # noqa: E501
        return f"250 2.0.0 Ok: queued as {_b51(rng.randint(0, 51**9), 9)}"

    def delays(self) -> str:
        rng = self.rng
        a, b, c, d = rng.random() * 0.3, rng.random() * 0.05, rng.random() * 0.4, rng.random()
        return f"delay={a + b + c + d:.2g}, delays={a:.2g}/{b:.2g}/{c:.2g}/{d:.2g}"

    # -- postfix pieces -------------------------------------------------------------------
    def qmgr(self, t: int, q: str, sender: str, size: int, nrcpt: int) -> None:
        self.emit(
            t,
            f"postfix/qmgr[{self.qmgr_pid}]: {q}: from=<{sender}>, size={size}, nrcpt={nrcpt} "
            "(queue active)",
        )

    def removed(self, t: int, q: str) -> None:
        self.emit(t, f"postfix/qmgr[{self.qmgr_pid}]: {q}: removed")

    def smtp_out(
        self, t: int, q: str, to: str, orig: str | None, mid: str, status: str = "sent"
    ) -> None:
        relay, kind = self.mx(to)
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

    def rspamd(
        self,
        t: int,
        q: str,
        mid: str,
        ip: str,
        sender: str,
        rcpts: list[str],
        action: str,
        user: str | None = None,
    ) -> None:
        rng = self.rng
        spam = action in ("add header", "rewrite subject", "reject")
        score = rng.uniform(6.5, 14.5) if spam else rng.uniform(-4, 4.5)
        flag = "T" if spam else "F"
        syms = (
            "BAYES_SPAM(5.10){99.87%;},RBL_SPAMHAUS_XBL(4.00){45.67.89.12:from;},"
            "MIME_GOOD(-0.10){text/plain;}"
            if spam
            else "BAYES_HAM(-3.00){99.99%;},DKIM_TRACE(0.00){example.org:+;},"
            "R_SPF_ALLOW(-0.20){+ip4:209.85.128.0/17;},MIME_GOOD(-0.10){multipart/alternative;}"
        )
        u = f", user: {user}" if user else ""
        tag = f"{rng.getrandbits(24):06x}"
        self.emit(
            t,
            f"rspamd[{self.pid('rspamd')}]: <{tag}>; task; rspamd_task_write_log: id: <{mid}>, "
            f"qid: <{q}>, ip: {ip}{u}, from: <{sender}>, (default: {flag} ({action}): "
            f"[{score:.2f}/15.00] [{syms}]), len: {rng.randint(900, 90000)}, "
            f"time: {rng.uniform(20, 400):.3f}ms, dns req: {rng.randint(3, 40)}, "
            f"digest: <{rng.getrandbits(128):032x}>, rcpts: <{rcpts[0]}>, mime_rcpts: <{rcpts[0]}>",
        )

    def amavis_id(self) -> str:
        self.amavis_n += 1
        return f"({self.pids['amavis'][0]:05d}-{self.amavis_n % 100:02d})"

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
        """Deliver ``q`` to each (address as sent, user).

        Returns the time of the ``removed`` line (logged when ``remove``), else of the
        last delivery.
        """
        rng = self.rng
        emit = self.emit
        end = t
        for r, u in pairs:
            td = t + (rng.random() < 0.3)
            if u.type == "filter":
                p = self.pid("smtp")
                emit(
                    td,
                    f"postfix/smtp[{p}]: {q}: to=<{r}>, relay={u.relay}, {self.delays()}, "
                    f"dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as "
                    f"{rng.getrandbits(36):09X})",
                )
                self.receipt(u, td, spam, size)
                end = max(end, td)
                continue
            first: int | None = None
            spam_u = spam
            if u.delivery_local:
                mode = "sent"
                if not plain_only and u.plain and u.domain.transport == "lmtp":
                    x = rng.random()
                    mode = "bounced" if x < 0.02 else ("deferred" if x < 0.06 else "sent")
                extension = "+" in r.partition("@")[0]
                to = r if extension else u.address
                orig = r if not extension and r.lower() != u.address else None
                if mode == "bounced":
                    self.local_line(td, q, u, to, orig, "bounced", "")
                    self.flow(u, td, DENIED)
                    dsn_t = td + rng.randint(0, 1)
                    c = self.qid(dsn_t)
                    emit(
                        dsn_t,
                        f"postfix/bounce[{self.pid('bounce')}]: {q}: sender "
                        f"non-delivery notification: {c}",
                    )
                    self.dsn(dsn_t, c, sender, local_sender)
                    end = max(end, dsn_t)
                    continue
                if mode == "deferred":
                    self.local_line(td, q, u, to, orig, "deferred", "")
                    td += rng.randint(300, 1200)
                    self.qmgr(td, q, sender, size, len(pairs))
                sess = self.session()
                if actions:
                    spam_u = self.sieve(td, u, sess, mid, sender, size, spam)
                elif u.sieve:
                    self.sieve_line(td, u, sess, mid, "fileinto", "INBOX")
                else:
                    self.saved_line(td, u, sess, mid)
                self.local_line(td, q, u, to, orig, "sent", sess)
                first = td
            fwd_first: int | None = None
            for f in u.forward_recipients:
                tf = td + (rng.random() < 0.5)
                self.smtp_out(tf, q, f, r, mid)
                if fwd_first is None or tf < fwd_first:
                    fwd_first = tf
                end = max(end, tf)
            if fwd_first is not None:
                self.flow(u, fwd_first, FORWARD)
                if first is None or fwd_first < first:
                    first = fwd_first
            if first is not None:
                self.receipt(u, first, spam_u, size)
            end = max(end, td)
        if not remove:
            return end
        end += rng.random() < 0.5
        self.removed(end, q)
        return end

    def local_line(
        self, t: int, q: str, u: SUser, to: str, orig: str | None, status: str, sess: str
    ) -> None:
        o = f", orig_to=<{orig}>" if orig else ""
        if u.domain.transport == "pipe":
            self.emit(
                t,
                f"postfix/pipe[{self.pid('pipe')}]: {q}: to=<{to}>{o}, relay=dovecot, "
                f"{self.delays()}, dsn=2.0.0, status=sent (delivered via dovecot service)",
            )
            return
        if status == "sent":
            dsn, resp = "2.0.0", f"250 2.0.0 <{to}> {sess} Saved"
        elif status == "deferred":
            dsn = "4.3.0"
            resp = (
                f"host {FQDN}[private/dovecot-lmtp] said: 451 4.3.0 <{to}> Temporary internal "
                "error (in reply to end of DATA command)"
            )
        else:
            dsn = "5.2.2"
            resp = (
                f"host {FQDN}[private/dovecot-lmtp] said: 552 5.2.2 <{to}> Quota exceeded "
                "(mailbox for user is full) (in reply to end of DATA command)"
            )
        self.emit(
            t,
            f"postfix/lmtp[{self.pid('lmtp')}]: {q}: to=<{to}>{o}, "
            f"relay={FQDN}[private/dovecot-lmtp], {self.delays()}, dsn={dsn}, "
            f"status={status} ({resp})",
        )

    def _ctx(self, u: SUser, sess: str) -> str:
        kind = "lmtp" if u.domain.transport == "lmtp" else "lda"
        return f"dovecot: {kind}({u.address})<{self.pid('dovecot')}><{sess}>"

    def sieve_line(self, t: int, u: SUser, sess: str, mid: str, action: str, target: str) -> None:
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

    def saved_line(self, t: int, u: SUser, sess: str, mid: str) -> None:
        self.emit(t, f"{self._ctx(u, sess)}: msgid=<{mid}>: saved mail to INBOX")

    def sieve(
        self, t: int, u: SUser, sess: str, mid: str, sender: str, size: int, spam: bool
    ) -> bool:
        """Dovecot's lines of a delivery to ``u``; returns whether it ends up as spam."""
        rng = self.rng
        if not u.sieve:
            self.saved_line(t, u, sess, mid)
            return spam
        junk = (spam and u.junk_rule) or (not spam and rng.random() < 0.03)
        if u.autorespond and sender:
            if not spam and rng.random() < 0.6:
                self.sieve_line(t, u, sess, mid, "vacation", sender)
                self.flow(u, t, AUTORESPOND)
                self.vacation_reply(t + 1, u, sender)
            else:
                self.sieve_line(
                    t, u, sess, mid, "", f"discarded duplicate vacation response to <{sender}>"
                )
        if u.redirect:
            for target in u.redirect:
                self.sieve_line(t, u, sess, mid, "redirect", target)
            self.flow(u, t, FORWARD)
            self.redirected(t + 1, u, sender, mid, size)
        if junk:
            self.sieve_line(t, u, sess, mid, "fileinto", "Junk")
        elif not u.redirect or u.redirect_keep:
            self.sieve_line(t, u, sess, mid, "fileinto", "INBOX")
        return spam or junk

    def vacation_reply(self, t: int, u: SUser, to: str) -> None:
        """Pigeonhole sends the response through sendmail, with a null sender."""
        c = self.qid(t)
        mid = f"dovecot-sieve-{t}-{self.rng.randint(100000, 999999)}-0@{FQDN}"
        size = self.rng.randint(1200, 2600)
        self.emit(t, f"postfix/pickup[{self.pid('pickup')}]: {c}: uid={VMAIL_UID} from=<>")
        self.emit(t, f"postfix/cleanup[{self.pid('cleanup')}]: {c}: message-id=<{mid}>")
        self.qmgr(t, c, "", size, 1)
        local = self._by_address.get(to)
        if local is not None:
            self.deliver(
                t + 1, c, mid, "", size, [(to, local)], False, actions=False, plain_only=True
            )
        else:
            self.smtp_out(t + 1, c, to, None, mid)
            self.removed(t + 1, c)

    def redirected(self, t: int, u: SUser, sender: str, mid: str, size: int) -> None:
        """The copy a sieve redirect sends (not the user's own message)."""
        c = self.qid(t)
        self.emit(t, f"postfix/pickup[{self.pid('pickup')}]: {c}: uid={VMAIL_UID} from=<{sender}>")
        self.emit(t, f"postfix/cleanup[{self.pid('cleanup')}]: {c}: message-id=<{mid}>")
        self.qmgr(t, c, sender, size + 310, len(u.redirect))
        for target in u.redirect:
            self.smtp_out(t + 1, c, target, None, mid)
        self.removed(t + 1, c)

    def dsn(self, t: int, c: str, to: str, local: SUser | None) -> None:
        """A bounce notification to the sender of a message (a receipt if the sender is ours)."""
        mid = f"{t}.{c}@{FQDN}"
        size = self.rng.randint(3000, 9000)
        self.emit(t, f"postfix/cleanup[{self.pid('cleanup')}]: {c}: message-id=<{mid}>")
        self.qmgr(t, c, "", size, 1)
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
            self.smtp_out(t + 1, c, to, None, mid)
            self.removed(t + 1, c)

    # -- scenarios -------------------------------------------------------------------------
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

    def inbound(
        self,
        t: int,
        pairs: list[tuple[str, SUser]] | None = None,
        spam_kind: str | None = None,
        path: str | None = None,
    ) -> None:
        """A message from the outside to one or more of our users."""
        rng = self.rng
        emit = self.emit
        if pairs is None:
            k = 1 if rng.random() < 0.8 else rng.randint(2, 4)
            pairs = self.pick_targets(k)
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
        a = self.qid(t)
        mid = self.msgid(sender.rpartition("@")[2])
        size = self.size()
        sp = self.pid("smtpd")
        emit(t, f"postfix/smtpd[{sp}]: connect from {client}")
        if rng.random() < 0.5:
            emit(
                t,
                f"postfix/smtpd[{sp}]: Anonymous TLS connection established from {client}: "
                "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 "
                "server-signature RSA-PSS (2048 bits) server-digest SHA256",
            )
        if rng.random() < 0.1:
            # a recipient that does not exist, refused before the first good one
            d = pairs[0][1].domain
            bad = f"{rng.choice(UNKNOWN_LOCALS)}@{d.name}"
            emit(
                t,
                f"postfix/smtpd[{sp}]: NOQUEUE: reject: RCPT from {client}: 550 5.1.1 <{bad}>: "
                "Recipient address rejected: User unknown in virtual mailbox table; "
                f"from=<{sender}> to=<{bad}> proto=ESMTP helo=<{client.split('[')[0]}>",
            )
            self.deny_unknown(d.name, t)
        emit(t, f"postfix/smtpd[{sp}]: {a}: client={client}")
        emit(t, f"postfix/cleanup[{self.pid('cleanup')}]: {a}: message-id=<{mid}>")
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
            self.rspamd(t, a, mid, ip, sender, sent_to, action)
        if path == "milter":
            self.qmgr(t, a, sender, size, expanded)
            emit(
                t,
                f"postfix/smtpd[{sp}]: disconnect from {client} ehlo=2 starttls=1 mail=1 "
                f"rcpt={len(pairs)} data=1 quit=1 commands={5 + len(pairs)}",
            )
            self.deliver(t + rng.randint(0, 2), a, mid, sender, size, pairs, spam)
            return
        # content filter: A goes to amavis (127.0.0.1:10024), comes back as B on :10025
        self.qmgr(t, a, sender, size, len(pairs))
        emit(
            t,
            f"postfix/smtpd[{sp}]: disconnect from {client} ehlo=2 starttls=1 mail=1 "
            f"rcpt={len(pairs)} data=1 quit=1 commands={5 + len(pairs)}",
        )
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
        rng = self.rng
        emit = self.emit
        b = self.qid(t)
        rp = self.pid("reinject")
        xforward = rng.random() < 0.2
        emit(t, f"postfix/smtpd[{rp}]: connect from localhost[127.0.0.1]")
        if xforward:
            emit(
                t,
                f"postfix/smtpd[{rp}]: {b}: client=localhost[127.0.0.1], orig_queue_id={a}, "
                f"orig_client=unknown[{ip}]",
            )
        else:
            emit(t, f"postfix/smtpd[{rp}]: {b}: client=localhost[127.0.0.1]")
        emit(t, f"postfix/cleanup[{self.pid('cleanup')}]: {b}: message-id=<{mid}>")
        grown = size + rng.randint(400, 1400)
        self.qmgr(t, b, sender, grown, expanded)
        emit(
            t,
            f"postfix/smtpd[{rp}]: disconnect from localhost[127.0.0.1] ehlo=1 xforward=1 "
            f"mail=1 rcpt={len(pairs)} data=1 quit=1 commands={5 + len(pairs)}",
        )
        cat = "SPAM" if amavis_spam else "CLEAN"
        if amavis_spam:
            tag = "RelayedTaggedInbound"
        hits = f"{rng.uniform(6.3, 19):.3f}" if amavis_spam else f"{rng.uniform(-5, 3):.3f}"
        rcpts = ",".join(f"<{r}>" for r, _ in pairs)
        aid = self.amavis_id()
        amavis = (
            f"amavis[{self.pids['amavis'][0]}]: {aid} Passed {cat} {{{tag}}}, [{ip}]:"
            f"{rng.randint(1024, 65000)} [{ip}] <{sender}> -> {rcpts}, Queue-ID: {a}, "
            f"Message-ID: <{mid}>, mail_id: {rng.getrandbits(48):012x}, Hits: {hits}, "
            f"size: {size}, queued_as: {b}, {rng.randint(80, 3000)} ms"
        )
        tail = [amavis] + [
            f"postfix/smtp[{self.pid('smtp')}]: {a}: to=<{r}>, relay=127.0.0.1[127.0.0.1]:"
            f"{ports[0]}, {self.delays()}, dsn=2.0.0, status=sent (250 2.0.0 from "
            f"MTA(smtp:[127.0.0.1]:{ports[1]}): 250 2.0.0 Ok: queued as {b})"
            for r, _ in pairs
        ]
        late = rng.random() < 0.2
        if not late:
            for line in tail:
                emit(t, line)
            self.removed(t, a)
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
                emit(tl, line)
            self.removed(tl, a)

    def submission(self, t: int, u: SUser | None = None, webmail: bool = False) -> None:
        """A user sends a message (authenticated submission, or the webmail)."""
        rng = self.rng
        emit = self.emit
        if u is None:
            u = rng.choice(self.webmail_users if webmail else self.mailboxes)
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
        a = self.qid(t)
        mid = self.msgid(u.domain.name)
        size = self.size()
        sasl = u.address if rng.random() < 0.9 else u.address.title()
        if webmail and rng.random() < 0.4:
            emit(
                t,
                f"postfix/pickup[{self.pid('pickup')}]: {a}: uid={WEBMAIL_UID} from=<{u.address}>",
            )
            ip = "127.0.0.1"
            sp = None
        else:
            sp = self.pid("submission")
            if webmail:
                client, ip = "localhost[127.0.0.1]", "127.0.0.1"
            else:
                ip = (
                    f"198.51.100.{rng.randint(2, 250)}"
                    if rng.random() < 0.7
                    else f"2001:db8:{rng.randint(1, 999):x}::{rng.randint(1, 999):x}"
                )
                client = f"unknown[{ip}]"
            port = f":{rng.randint(30000, 65000)}" if rng.random() < 0.5 else ""
            emit(t, f"postfix/submission/smtpd[{sp}]: connect from {client}")
            emit(
                t,
                f"postfix/submission/smtpd[{sp}]: {a}: client={client}{port}, "
                f"sasl_method={'LOGIN' if webmail else 'PLAIN'}, sasl_username={sasl}",
            )
        emit(t, f"postfix/cleanup[{self.pid('cleanup')}]: {a}: message-id=<{mid}>")
        if rng.random() < 0.5:
            self.foreign(
                t,
                "opendkim",
                f"opendkim[{self.pids['cleanup'][0] + 7}]: {a}: "
                f"DKIM-Signature field added (s=mail, d={u.domain.name})",
            )
        # submit time = qmgr line: the truth of out_*
        self.qmgr(t, a, u.address, size, len(rcpts))
        self.flow(u, t, OUT_MSG)
        self.flow(u, t, OUT_RCPT, len(rcpts))
        self.flow(u, t, OUT_SIZE, size)
        self.last(u, t, L_SMTPRELAY)
        if sp is not None:
            emit(
                t,
                f"postfix/submission/smtpd[{sp}]: disconnect from {client} ehlo=1 auth=1 "
                f"mail=1 rcpt={len(rcpts)} data=1 quit=1 commands={5 + len(rcpts)}",
            )
        local = [(r, v) for r, v in rcpts if v is not None]
        remote = [r for r, v in rcpts if v is None]
        tt = t + rng.randint(0, 2)
        if rng.random() < 0.25:
            # originating mail through amavis too (:10026 → :10027)
            self.outbound_filtered(tt, a, mid, u, size, local, remote, ip)
            return
        self.rspamd(t, a, mid, ip, u.address, [r for r, _ in rcpts], "no action", user=u.address)
        end = tt
        bounced = False
        for r in remote:
            x = rng.random()
            if x < 0.03 and not bounced:
                self.smtp_out(tt, a, r, None, mid, "bounced")
                bounced = True
            elif x < 0.07:
                self.smtp_out(tt, a, r, None, mid, "deferred")
                tr = tt + rng.randint(300, 1200)
                self.qmgr(tr, a, u.address, size, len(rcpts))
                self.smtp_out(tr, a, r, None, mid)
                end = max(end, tr)
            else:
                self.smtp_out(tt, a, r, None, mid)
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
        self.removed(end + (rng.random() < 0.5), a)

    def bounce_back(self, t: int, q: str, u: SUser) -> None:
        c = self.qid(t)
        self.emit(
            t, f"postfix/bounce[{self.pid('bounce')}]: {q}: sender non-delivery notification: {c}"
        )
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
        rng = self.rng
        emit = self.emit
        b = self.qid(t)
        rp = self.pid("reinject")
        emit(t, f"postfix/smtpd[{rp}]: connect from localhost[127.0.0.1]")
        emit(t, f"postfix/smtpd[{rp}]: {b}: client=localhost[127.0.0.1]")
        emit(t, f"postfix/cleanup[{self.pid('cleanup')}]: {b}: message-id=<{mid}>")
        n = len(local) + len(remote)
        self.qmgr(t, b, u.address, size + rng.randint(300, 900), n)
        emit(
            t,
            f"postfix/smtpd[{rp}]: disconnect from localhost[127.0.0.1] ehlo=1 xforward=1 "
            f"mail=1 rcpt={n} data=1 quit=1 commands={5 + n}",
        )
        rcpts = ",".join(f"<{r}>" for r in [*remote, *(r for r, _ in local)])
        emit(
            t,
            f"amavis[{self.pids['amavis'][1]}]: {self.amavis_id()} Passed CLEAN "
            f"{{RelayedOutbound}}, ORIGINATING LOCAL [{ip}]:{rng.randint(1024, 65000)} [{ip}] "
            f"<{u.address}> -> {rcpts}, Queue-ID: {a}, Message-ID: <{mid}>, mail_id: "
            f"{rng.getrandbits(48):012x}, Hits: -, size: {size}, queued_as: {b}, "
            f"{rng.randint(80, 900)} ms",
        )
        for r in [*remote, *(r for r, _ in local)]:
            emit(
                t,
                f"postfix/smtp[{self.pid('smtp')}]: {a}: to=<{r}>, relay=127.0.0.1[127.0.0.1]:"
                f"10026, {self.delays()}, dsn=2.0.0, status=sent (250 2.0.0 from "
                f"MTA(smtp:[127.0.0.1]:10027): 250 2.0.0 Ok: queued as {b})",
            )
        self.removed(t, a)
        tt = t + 1
        for r in remote:
            self.smtp_out(tt, b, r, None, mid)
        self.deliver(tt, b, mid, u.address, size, local, False, local_sender=u, plain_only=True)

    def reject_session(self, t: int) -> None:
        """An unwanted client: rejections at RCPT time, permanent and temporary."""
        rng = self.rng
        emit = self.emit
        client, ip = self.spam_client()
        helo = client.split("[")[0] if not client.startswith("unknown") else f"[{ip}]"
        sender = (
            f"{rng.choice(SPAM_WORDS)}{rng.randint(1, 999)}@{rng.choice(SPAM_WORDS)}.example.biz"
        )
        sp = self.pid("smtpd")
        emit(t, f"postfix/smtpd[{sp}]: connect from {client}")
        n = rng.choice((1, 1, 1, 2, 3))
        for _ in range(n):
            x = rng.random()
            if x < 0.35:  # a real user (or alias, extension, odd case): denied for the user
                r, u = rng.choice(self.targets)
                if u.plain and rng.random() < 0.15:
                    r = f"{u.local}+{rng.choice(('a', 'shop', 'x1'))}@{u.domain.name}"
                elif rng.random() < 0.1:
                    r = r[0].upper() + r[1:]
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
                self.flow(u, t, DENIED)
            elif x < 0.6:  # an unknown address of one of our domains
                d = rng.choice(self.domains)
                r = f"{rng.choice(UNKNOWN_LOCALS)}@{d.name}"
                why = (
                    f"550 5.1.1 <{r}>: Recipient address rejected: User unknown in virtual "
                    "mailbox table"
                )
                self.deny_unknown(d.name, t)
            elif x < 0.75:  # not our domain at all: counts nowhere
                r = f"{rng.choice(FIRST)}@{rng.choice(EXTERNAL_DOMAINS)}"
                why = f"554 5.7.1 <{r}>: Relay access denied"
            elif x < 0.9:  # greylisting: try again later, not a denial
                r, _u = rng.choice(self.targets)
                why = (
                    f"450 4.2.0 <{r}>: Recipient address rejected: Greylisted, see "
                    f"http://postgrey.schweikert.ch/help/{r.partition('@')[2]}.html"
                )
            else:  # a warning only (soft_bounce / warn_if_reject): not a denial
                r, _u = rng.choice(self.targets)
                emit(
                    t,
                    f"postfix/smtpd[{sp}]: NOQUEUE: reject_warning: RCPT from {client}: 450 "
                    f"4.7.1 Client host rejected: cannot find your reverse hostname, [{ip}]; "
                    f"from=<{sender}> to=<{r}> proto=ESMTP helo=<{helo}>",
                )
                continue
            emit(
                t,
                f"postfix/smtpd[{sp}]: NOQUEUE: reject: RCPT from {client}: {why}; "
                f"from=<{sender}> to=<{r}> proto=ESMTP helo=<{helo}>",
            )
        emit(
            t + 1,
            f"postfix/smtpd[{sp}]: disconnect from {client} ehlo=1 mail=1 rcpt=0/{n} "
            f"quit=1 commands=3/{3 + n}",
        )

    def postscreen(self, t: int) -> None:
        rng = self.rng
        emit = self.emit
        p = self.pid("postscreen")
        _client, ip = self.spam_client()
        port = rng.randint(1024, 65000)
        emit(t, f"postfix/postscreen[{p}]: CONNECT from [{ip}]:{port} to [{LIP}]:25")
        emit(t, f"postfix/postscreen[{p}]: DNSBL rank {rng.randint(3, 9)} for [{ip}]:{port}")
        r, u = rng.choice(self.targets)
        emit(
            t + 1,
            f"postfix/postscreen[{p}]: NOQUEUE: reject: RCPT from [{ip}]:{port}: 550 5.7.1 "
            f"Service unavailable; client [{ip}] blocked using zen.spamhaus.org; "
            f"from=<spam{rng.randint(1, 99)}@bulk.example.biz>, to=<{r}>, proto=ESMTP, "
            f"helo=<{rng.choice(SPAM_WORDS)}.example.biz>",
        )
        self.flow(u, t + 1, DENIED)
        emit(t + 1, f"postfix/postscreen[{p}]: DISCONNECT [{ip}]:{port}")

    def milter_reject(self, t: int, action: str = "reject") -> None:
        """rspamd (as a milter) refuses a message at the end of DATA."""
        rng = self.rng
        emit = self.emit
        client, ip = self.spam_client()
        sender = (
            f"{rng.choice(SPAM_WORDS)}@{rng.choice(SPAM_WORDS)}-{rng.randint(1, 99)}.example.biz"
        )
        r, u = rng.choice(self.targets)
        a = self.qid(t)
        mid = self.msgid("bulk.example.biz")
        sp = self.pid("smtpd")
        cp = self.pid("cleanup")
        emit(t, f"postfix/smtpd[{sp}]: connect from {client}")
        emit(t, f"postfix/smtpd[{sp}]: {a}: client={client}")
        emit(t, f"postfix/cleanup[{cp}]: {a}: message-id=<{mid}>")
        self.rspamd(t, a, mid, ip, sender, [r], action)
        helo = client.split("[")[0]
        if action == "reject":
            emit(
                t,
                f"postfix/cleanup[{cp}]: {a}: milter-reject: END-OF-MESSAGE from {client}: "
                f"5.7.1 Spam message rejected; from=<{sender}> to=<{r}> proto=ESMTP "
                f"helo=<{helo}>",
            )
            self.flow(u, t, DENIED)
        else:  # soft reject: try again later
            emit(
                t,
                f"postfix/cleanup[{cp}]: {a}: milter-reject: END-OF-MESSAGE from {client}: "
                f"4.7.1 Try again later; from=<{sender}> to=<{r}> proto=ESMTP helo=<{helo}>",
            )
        emit(
            t + 1,
            f"postfix/smtpd[{sp}]: disconnect from {client} ehlo=1 mail=1 rcpt=1 data=0/1 "
            "quit=1 commands=4/5",
        )

    def blocked(self, t: int, infected: bool) -> None:
        """amavis stops a message: a virus (denied) or spam into quarantine (in_spam)."""
        rng = self.rng
        emit = self.emit
        pairs = [
            (r, u)
            for r, u in self.pick_targets(rng.choice((1, 1, 2)))
            if u.type == "mailbox" and u.plain
        ] or [(self.plain[0].address, self.plain[0])]
        client, ip = self.spam_client()
        sender = (
            f"{rng.choice(SPAM_WORDS)}{rng.randint(1, 99)}@{rng.choice(SPAM_WORDS)}.example.biz"
        )
        a = self.qid(t)
        mid = self.msgid("bulk.example.biz")
        size = self.size()
        sp = self.pid("smtpd")
        emit(t, f"postfix/smtpd[{sp}]: connect from {client}")
        emit(t, f"postfix/smtpd[{sp}]: {a}: client={client}")
        emit(t, f"postfix/cleanup[{self.pid('cleanup')}]: {a}: message-id=<{mid}>")
        self.qmgr(t, a, sender, size, len(pairs))
        emit(
            t,
            f"postfix/smtpd[{sp}]: disconnect from {client} ehlo=1 mail=1 rcpt={len(pairs)} "
            f"data=1 quit=1 commands={4 + len(pairs)}",
        )
        tb = t + rng.randint(1, 3)
        aid = self.amavis_id()
        mail_id = f"{rng.getrandbits(48):012x}"
        rcpts = ",".join(f"<{r}>" for r, _ in pairs)
        if infected:
            head = "Blocked INFECTED (Eicar-Signature) {DiscardedInbound,Quarantined}"
            quarantine = f"virus-{mail_id}"
            why = "INFECTED: Eicar-Signature"
        else:
            head = "Blocked SPAM {DiscardedInbound,Quarantined}"
            quarantine = f"spam-{mail_id}.gz"
            why = "spam"
        emit(
            tb,
            f"amavis[{self.pids['amavis'][2]}]: {aid} {head}, [{ip}]:{rng.randint(1024, 65000)} "
            f"[{ip}] <{sender}> -> {rcpts}, quarantine: {quarantine}, Queue-ID: {a}, "
            f"Message-ID: <{mid}>, mail_id: {mail_id}, Hits: "
            f"{'-' if infected else f'{rng.uniform(15, 40):.3f}'}, size: {size}, "
            f"{rng.randint(100, 4000)} ms",
        )
        for r, u in pairs:
            emit(
                tb,
                f"postfix/smtp[{self.pid('smtp')}]: {a}: to=<{r}>, relay=127.0.0.1"
                f"[127.0.0.1]:10024, {self.delays()}, dsn=2.7.0, status=sent (250 2.7.0 Ok, "
                f"discarded, id={aid[1:-1]} - {why})",
            )
            if infected:
                self.flow(u, tb, DENIED)
            else:
                self.receipt(u, tb, True, size)
        self.removed(tb, a)

    def local_app(self, t: int) -> None:
        """A web application on this host mails a user through smtpd on localhost (no auth)."""
        rng = self.rng
        emit = self.emit
        u = rng.choice(self.plain)
        a = self.qid(t)
        mid = self.msgid("apps.northwind.example")
        size = rng.randint(1500, 20000)
        sp = self.pid("smtpd")
        sender = "wordpress@apps.northwind.example"
        emit(t, f"postfix/smtpd[{sp}]: connect from localhost[127.0.0.1]")
        emit(t, f"postfix/smtpd[{sp}]: {a}: client=localhost[127.0.0.1]")
        emit(t, f"postfix/cleanup[{self.pid('cleanup')}]: {a}: message-id=<{mid}>")
        self.qmgr(t, a, sender, size, 1)
        emit(
            t,
            f"postfix/smtpd[{sp}]: disconnect from localhost[127.0.0.1] ehlo=1 mail=1 rcpt=1 "
            "data=1 quit=1 commands=5",
        )
        self.deliver(t + 1, a, mid, sender, size, [(u.address, u)], False, plain_only=True)

    def login(self, t: int, u: SUser | None = None) -> None:
        """An IMAP or POP3 client logs in (counted) and out later."""
        rng = self.rng
        if u is None:
            u = rng.choice(self.mailboxes)
        service = "pop3" if u.pop3 and rng.random() < 0.7 else "imap"
        who = u.address if rng.random() < 0.95 else u.address.capitalize()
        ip = (
            f"203.0.113.{rng.randint(2, 250)}"
            if rng.random() < 0.8
            else f"2001:db8:{rng.randint(1, 999):x}::{rng.randint(1, 9)}"
        )
        mpid = rng.randint(1000, 60000)
        sess = self.session()[:16]
        if rng.random() < 0.15 and ":" not in ip:  # the old form
            text = (
                f"dovecot: {service}-login: Login: user=<{who}>, method=PLAIN, rip=::ffff:{ip}, "
                f"lip=::ffff:{LIP}, PID={mpid}, TLS"
            )
        else:
            text = (
                f"dovecot: {service}-login: Login: user=<{who}>, method=PLAIN, rip={ip}, "
                f"lip={LIP}, mpid={mpid}, TLS, session=<{sess}>"
            )
        self.emit(t, text)
        k = L_POP3 if service == "pop3" else L_IMAP4
        self.flow(u, t, POP3 if service == "pop3" else IMAP4)
        self.last(u, t, k)
        out = t + rng.randint(1, 3600)
        if out < self.end:
            stats = (
                "top=0/0, retr=2/12345, del=2/2, size=12345"
                if service == "pop3"
                else "in=312 out=45123 deleted=0 expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 "
                "body_count=3 body_bytes=40211"
            )
            self.emit(
                out, f"dovecot: {service}({who})<{mpid}><{sess}>: Disconnected: Logged out {stats}"
            )

    def webmail_session(self, t: int, u: SUser | None = None) -> None:
        """A Roundcube login (counted), its own IMAP login (not counted), perhaps a message."""
        rng = self.rng
        if u is None:
            u = rng.choice(self.webmail_users)
        sess = f"{rng.getrandbits(104):026x}"
        ip = f"203.0.113.{rng.randint(2, 250)}"
        self.emit(
            t,
            f"<{sess[:8]}> Successful login for {u.address} (ID: {u.rc_id}) from {ip} "
            f"in session {sess}",
            ROUNDCUBE,
        )
        self.flow(u, t, WEBMAIL)
        self.last(u, t, L_WEBMAIL)
        old = rng.random() < 0.2
        for dt in (0, rng.randint(20, 300)):
            if t + dt >= self.end:
                break
            mpid = rng.randint(1000, 60000)
            rip = "::ffff:127.0.0.1" if old else ("::1" if rng.random() < 0.2 else "127.0.0.1")
            tail = (
                f"PID={mpid}, secured"
                if old
                else f"mpid={mpid}, secured, session=<{self.session()[:16]}>"
            )
            lip = "::ffff:127.0.0.1" if old else rip
            self.emit(
                t + dt,
                f"dovecot: imap-login: Login: user=<{u.address}>, method=PLAIN, "
                f"rip={rip}, lip={lip}, {tail}",
            )
        ts = t + rng.randint(30, 900)
        if rng.random() < 0.5 and ts < self.end - 1800:
            self.submission(ts, u, webmail=True)

    def failed_logins(self, t: int) -> None:
        rng = self.rng
        emit = self.emit
        u = rng.choice(self.mailboxes)
        x = rng.random()
        ip = f"192.0.2.{rng.randint(2, 250)}"
        if x < 0.3:
            sess = f"{rng.getrandbits(104):026x}"
            emit(
                t,
                f"<{sess[:8]}> Failed login for {u.address} from {ip} in session {sess} (error: 0)",
                ROUNDCUBE,
            )
            emit(
                t,
                f"dovecot: auth: passwd-file({u.address},127.0.0.1,<{self.session()[:16]}>): "
                "Password mismatch",
            )
            emit(
                t,
                f"dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): "
                f"user=<{u.address}>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1, secured, "
                f"session=<{self.session()[:16]}>",
            )
        elif x < 0.6:
            who = rng.choice((u.address, "admin", "test", f"info@{u.domain.name}"))
            emit(
                t,
                f"dovecot: auth-worker({rng.randint(1000, 60000)}): "
                f"passwd-file({who},{ip}): unknown user",
            )
            svc = rng.choice(("imap", "pop3"))
            emit(
                t + 2,
                f"dovecot: {svc}-login: Disconnected (auth failed, 3 attempts in 12 secs): "
                f"user=<{who}>, method=PLAIN, rip={ip}, lip={LIP}, TLS, "
                f"session=<{self.session()[:16]}>",
            )
        elif x < 0.8:
            emit(
                t,
                f"dovecot: pop3-login: Aborted login (no auth attempts in 0 secs): user=<>, "
                f"rip={ip}, lip={LIP}, session=<{self.session()[:16]}>",
            )
        else:
            sp = self.pid("submission")
            emit(t, f"postfix/submission/smtpd[{sp}]: connect from unknown[{ip}]")
            emit(
                t,
                f"postfix/submission/smtpd[{sp}]: warning: unknown[{ip}]: SASL LOGIN "
                "authentication failed: UGFzc3dvcmQ6",
            )
            emit(
                t + 1,
                f"postfix/submission/smtpd[{sp}]: lost connection after AUTH from unknown[{ip}]",
            )
            emit(
                t + 1,
                f"postfix/submission/smtpd[{sp}]: disconnect from unknown[{ip}] ehlo=1 "
                "auth=0/1 commands=1/2",
            )

    def noise(self, t: int) -> None:
        rng = self.rng
        emit = self.emit
        x = rng.random()
        ip = f"198.18.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
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
                f"postfix/anvil[{self.qmgr_pid + 3}]: statistics: max connection rate 3/60s "
                f"for (smtp:{ip}) at {self.log._days(t)[0]}00:00:01",
            )
        elif x < 0.42:
            emit(
                t,
                f"postfix/scache[{self.qmgr_pid + 5}]: statistics: start interval "
                f"{self.log._days(t)[0]}00:00:01",
            )
        elif x < 0.46:
            emit(
                t,
                f"postfix/smtpd[{self.pid('smtpd')}]: improper command pipelining after "
                f"CONNECT from unknown[{ip}]: EHLO x\\r\\n",
            )
        elif x < 0.5:
            emit(
                t,
                f"rspamd[{self.pid('rspamd')}]: <{rng.getrandbits(24):06x}>; milter; "
                "rspamd_milter_process_command: got connection from "
                f"127.0.0.1:{rng.randint(30000, 60000)}",
            )
        elif x < 0.54:
            emit(
                t,
                f"amavis[{self.pids['amavis'][3]}]: {self.amavis_id()} ESMTP :10024 "
                f"/var/lib/amavis/tmp/amavis-{t}: <> -> <postmaster@{FQDN}> Received: from "
                f"{FQDN} ([127.0.0.1])",
            )
        elif x < 0.58:
            emit(t, f"dovecot: lmtp({rng.randint(1000, 60000)}): Connect from local")
        elif x < 0.62:
            emit(
                t,
                "dovecot: master: Warning: service(imap-login): process_limit (100) reached, "
                "client connections are being dropped",
            )
        elif x < 0.66:
            emit(
                t,
                f"postfix/tlsmgr[{self.qmgr_pid + 9}]: warning: request to update table "
                "btree:/var/lib/postfix/smtpd_scache in non-postfix directory "
                "/var/lib/postfix",
            )
        elif x < 0.74:
            self.foreign(
                t,
                "CRON",
                f"CRON[{rng.randint(1000, 60000)}]: (root) CMD (command -v "
                "debian-sa1 > /dev/null && debian-sa1 1 1)",
            )
        elif x < 0.82:
            self.foreign(
                t,
                "sshd",
                f"sshd[{rng.randint(1000, 60000)}]: Failed password for "
                f"invalid user admin from {ip} port {rng.randint(1024, 65000)} "
                "ssh2",
            )
        elif x < 0.86:
            self.foreign(
                t, "systemd", "systemd[1]: Starting Daily apt upgrade and clean activities..."
            )
        elif x < 0.9:
            self.foreign(
                t,
                "kernel",
                f"kernel: [{rng.randint(10**5, 10**7)}.{rng.randint(0, 999999):06d}] "
                f"[UFW BLOCK] IN=eth0 OUT= SRC={ip} DST={LIP} LEN=44 PROTO=TCP "
                f"SPT={rng.randint(1024, 65000)} DPT=23",
            )
        elif x < 0.95:
            self.foreign(
                t,
                "policyd-spf",
                f"policyd-spf[{rng.randint(1000, 60000)}]: prepend "
                f"Received-SPF: None (mailfrom) identity=mailfrom; "
                f"client-ip={ip}; helo=x; envelope-from=<a@b.example>",
            )
        else:
            self.garbage(t)

    def garbage(self, t: int) -> None:
        rng = self.rng
        kind = rng.randrange(4)
        if kind == 0:
            text = "".join(rng.choice("abcdefghij klmnop,;=") for _ in range(rng.randint(5, 60)))
            text = "x" + text
        elif kind == 1:
            text = "\udcff\udcfe\x01\x02 binary \udc80\udc81"
        elif kind == 2:
            text = f"{self.log._days(t)[0]}{(t % DAY) // 3600:02d}:0"  # a line cut short
        else:
            text = "-- MARK --"
        self.emit(t, text, RAW)
        self.unknown[GARBAGE] = self.unknown.get(GARBAGE, 0) + 1


_SCENARIOS: tuple[tuple[str, float], ...] = (
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
_TOUR = (
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


def _dispatch(g: _Gen, kind: str, t: int) -> None:
    rng = g.rng
    if kind == "inbound":
        g.inbound(t)
    elif kind.startswith("inbound:"):
        what = kind[8:]
        u: SUser
        if what == "alias":
            g.inbound(t, [rng.choice(g.alias_targets)] if g.alias_targets else None, "ham")
        elif what == "ext":
            u = rng.choice(g.plain)
            g.inbound(t, [(f"{u.local}+tour@{u.domain.name}", u)], "ham")
        elif what in ("forward", "forward_copy", "filter", "redirect", "vacation"):
            pool = {
                "forward": [x for x in g.users if x.type == "forward"],
                "forward_copy": [x for x in g.mailboxes if x.forward_recipients],
                "filter": g.filters,
                "redirect": g.redirecters,
                "vacation": g.autoresponders,
            }[what]
            if pool:
                u = rng.choice(pool)
                g.inbound(t, [(u.address, u)], "ham", "milter")
        elif what == "junk":
            pool = [x for x in g.mailboxes if x.junk_rule] or g.mailboxes
            u = rng.choice(pool)
            g.inbound(t, [(u.address, u)], "add header", "milter")
        elif what == "spam_rspamd":
            g.inbound(t, None, "rewrite subject", "milter")
        elif what == "spam_amavis":
            g.inbound(t, None, "amavis", "amavis")
        elif what == "ham_amavis":
            g.inbound(t, None, "ham", "amavis")
        elif what == "multi":
            g.inbound(t, g.pick_targets(3), "ham", "milter")
    elif kind == "submission":
        g.submission(t)
    elif kind == "webmail":
        g.webmail_session(t)
    elif kind == "webmail_pickup":
        g.submission(t, webmail=True)
    elif kind == "login":
        g.login(t)
    elif kind == "reject":
        g.reject_session(t)
    elif kind == "postscreen":
        g.postscreen(t)
    elif kind == "milter_reject":
        g.milter_reject(t)
    elif kind == "soft_reject":
        g.milter_reject(t, "soft reject")
    elif kind == "blocked_spam":
        g.blocked(t, False)
    elif kind == "blocked_virus":
        g.blocked(t, True)
    elif kind == "local_app":
        g.local_app(t)
    elif kind == "failed_login":
        g.failed_logins(t)
    elif kind == "garbage":
        g.garbage(t)
    else:
        g.noise(t)


# -- the entry point ------------------------------------------------------------------------


@dataclass(slots=True)
class SynthResult:
    """What :func:`synthesize` wrote."""

    out: Path
    files: list[Path]
    truth: Path
    platform: Path
    lines: int
    bytes: int
    users: int
    domains: int
    companies: int
    start: int
    end: int
    seconds: float


def _day_key(start: int, d: int) -> str:
    return datetime.fromtimestamp(start + d * DAY, UTC).strftime("%Y%m%d")


def _default_start(days: int) -> int:
    today = datetime.now(UTC).date()
    return int(datetime(today.year, today.month, today.day, tzinfo=UTC).timestamp()) - days * DAY


def synthesize(
    store: Store,
    out: Path,
    *,
    lines: int = 100_000,
    days: int = 7,
    seed: int = 1,
    users: int | None = None,
    start: date | None = None,
    progress: Callable[[int], None] | None = None,
) -> SynthResult:
    """Create the platform in ``store`` and write the logs, platform.json and truth.json to ``out``.

    ``start`` is the first (UTC) day of the log (default: ``days`` days before
    today, so that the log ends at today's midnight).  The store must count in
    UTC, the zone of the truth's periods.
    """
    began = _time.monotonic()
    if lines < 100:
        raise SynthError("lines: at least 100")
    if not 1 <= days <= 366:
        raise SynthError("days: 1 to 366")
    with store.read() as q:
        zone = q.meta("timezone") or "UTC"
    if zone != "UTC":
        raise SynthError(f"synth writes UTC logs and truth; this store counts in {zone!r}")
    t0 = (
        _default_start(days)
        if start is None
        else int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp())
    )
    t_end = t0 + days * DAY
    n_users = users if users is not None else max(20, min(1500, lines // 600))
    if n_users < 8:
        raise SynthError("users: at least 8")
    rng = random.Random(seed)
    companies, domains, model = _build_model(rng, n_users, t0)
    out.mkdir(parents=True, exist_ok=True)
    _create_in_store(store, Periods("UTC"), companies, domains, model, t0)

    log = _Log(out, t0, t_end)
    g = _Gen(rng, model, domains, log, t0, t_end)
    quota_dir = out / "quota"
    quota_dir.mkdir(exist_ok=True)
    reports: list[Path] = []
    next_report = t0 + DAY - 15 * 60

    def report(ts: int) -> None:
        path = quota_dir / f"quota-{datetime.fromtimestamp(ts, UTC):%Y-%m-%d}.tsv"
        rows = ["Username\tQuota name\tType\tValue\tLimit\t%\n"]
        for u in model:
            if u.type != "mailbox":
                continue
            if rng.random() < 0.2:  # the user cleaned up
                gone = rng.randint(0, u.items // 3)
                u.nbytes -= gone * (u.nbytes // max(u.items, 1))
                u.items -= gone
            kib = u.nbytes // 1024
            limit = str(u.quota // 1024) if u.quota else "-"
            pct = str(min(100, kib * 100 // (u.quota // 1024))) if u.quota else "0"
            rows.append(f"{u.address}\tUser quota\tSTORAGE\t{kib}\t{limit}\t{pct}\n")
            rows.append(f"{u.address}\tUser quota\tMESSAGE\t{u.items}\t-\t0\n")
            u.reports.append([ts, u.items, kib * 1024])
        path.write_text("".join(rows))
        os.utime(path, (ts, ts))
        reports.append(path)

    # the traffic: a Poisson stream whose rate follows the day, aimed at `lines` lines
    busy_end = t_end - 1800  # the last half hour: only logins, so every message completes
    t = float(t0 + 5)
    scenarios = 0
    weights_total = sum(w for _, w in _SCENARIOS)
    kinds = [k for k, _ in _SCENARIOS]
    cum = []
    acc = 0.0
    for _, w in _SCENARIOS:
        acc += w
        cum.append(acc / weights_total)
    tour = list(_TOUR)
    tail_lines = 2 * 1800 // 60
    span = busy_end - t
    while True:
        # scenarios per second so that the whole log comes to about `lines` lines, with the
        # lines per scenario measured as we go
        avg = log.count / scenarios if scenarios >= 50 else 8.0
        rate = max(lines - tail_lines, 50) / avg / span
        t += rng.expovariate(rate * _profile(int(t)) / _MEAN_PROFILE)
        ti = int(t)
        if ti >= busy_end:
            break
        while ti >= next_report:
            log.flush_before(next_report)
            report(next_report)
            next_report += DAY
        log.flush_before(ti)
        if tour:
            kind = tour.pop(0)
        else:
            x = rng.random()
            kind = kinds[-1]
            for k, c in zip(kinds, cum, strict=True):
                if x < c:
                    kind = k
                    break
        _dispatch(g, kind, ti)
        scenarios += 1
        if progress is not None and scenarios % 5000 == 0:
            progress(log.count, int(t))
    # the quiet end: logins only, the last one just before the end
    t = float(busy_end)
    while t < t_end - 1:
        ti = int(t)
        while ti >= next_report:
            log.flush_before(next_report)
            report(next_report)
            next_report += DAY
        log.flush_before(ti)
        g.login(ti, rng.choice(g.mailboxes))
        t += rng.uniform(20, 100)
    log.flush_before(t_end - 1)
    g.login(t_end - 1, rng.choice(g.mailboxes))
    while next_report < t_end:
        report(next_report)
        next_report += DAY
    log_files = log.close()
    files = [*log_files, log.rc.path, *reports]

    # -- truth.json and platform.json
    def flows_of(rows: dict[int, list[int]]) -> dict[str, dict[str, int]]:
        return {
            _day_key(t0, d): {m: v for m, v in zip(METRICS, row, strict=True) if v}
            for d, row in sorted(rows.items())
            if any(row)
        }

    users_t: dict[str, Any] = {}
    dom_rows: dict[str, dict[int, list[int]]] = {d.name: {} for d in domains}
    co_rows: dict[str, dict[int, list[int]]] = {c: {} for c, _ in companies}

    def add_rows(target: dict[int, list[int]], rows: dict[int, list[int]]) -> None:
        for d, row in rows.items():
            acc_row = target.setdefault(d, [0] * len(METRICS))
            for i, v in enumerate(row):
                acc_row[i] += v

    for u in model:
        users_t[u.address] = {
            "domain": u.domain.name,
            "company": u.domain.company,
            "days": flows_of(u.flows),
            "last": {
                _day_key(t0, d): {k: v for k, v in zip(LASTS, row, strict=True) if v}
                for d, row in sorted(u.lasts.items())
            },
            "storage": u.reports,
        }
        add_rows(dom_rows[u.domain.name], u.flows)
        add_rows(co_rows[u.domain.company], u.flows)
    for d in domains:
        extra = {
            k: [0, 0, 0, v] + [0] * (len(METRICS) - 4) for k, v in g.domain_denied[d.name].items()
        }
        add_rows(dom_rows[d.name], extra)
        add_rows(co_rows[d.company], extra)
    total_lines = sum(f.lines for f in log.files) + log.rc.lines
    total_lines += sum(2 * sum(1 for u in model if u.type == "mailbox") + 1 for _ in reports)
    truth = {
        "timezone": "UTC",
        "seed": seed,
        "start": _rfc(t0),
        "end": _rfc(t_end),
        "start_ts": t0,
        "end_ts": t_end,
        "metrics": list(METRICS),
        "lasts": list(LASTS),
        "webmail_hosts": list(WEBMAIL_HOSTS),
        "files": [str(p.relative_to(out)) for p in files],
        "lines": total_lines,
        "unknown_lines": dict(sorted(g.unknown.items())),
        "never_counted_lines": dict(sorted(g.never.items())),
        "users": users_t,
        "domains": {
            d.name: {"company": d.company, "days": flows_of(dom_rows[d.name])} for d in domains
        },
        "companies": {c: {"days": flows_of(co_rows[c])} for c, _ in companies},
    }
    truth_path = out / "truth.json"
    truth_path.write_text(json.dumps(truth, indent=1, sort_keys=False) + "\n")
    platform = {
        "timezone": "UTC",
        "webmail_hosts": list(WEBMAIL_HOSTS),
        "webmail_uid": WEBMAIL_UID,
        "companies": [{"name": c, "createtime": _rfc(ct)} for c, ct in companies],
        "domains": [
            {
                "name": d.name,
                "company": d.company,
                "createtime": _rfc(d.createtime),
                "delivery": "Dovecot LMTP" if d.transport == "lmtp" else "dovecot-lda (pipe)",
            }
            for d in domains
        ],
        "users": [
            {
                "address": u.address,
                "domain": u.domain.name,
                "company": u.domain.company,
                "type": u.type,
                "createtime": _rfc(u.createtime),
                "quota": u.quota,
                "aliases": u.aliases,
                "forward_recipients": u.forward_recipients,
                "delivery_local": u.delivery_local,
                "autoresponder": u.autorespond,
                "sieve": u.sieve,
                "sieve_redirect": u.redirect,
                "sieve_junk_rule": u.junk_rule,
                "webmail": u.webmail,
                "pop3": u.pop3,
                "filter_relay": u.relay,
            }
            for u in model
        ],
    }
    platform_path = out / "platform.json"
    platform_path.write_text(json.dumps(platform, indent=1) + "\n")
    size = sum(p.stat().st_size for p in files)
    return SynthResult(
        out=out,
        files=files,
        truth=truth_path,
        platform=platform_path,
        lines=total_lines,
        bytes=size,
        users=len(model),
        domains=len(domains),
        companies=len(companies),
        start=t0,
        end=t_end,
        seconds=_time.monotonic() - began,
    )
