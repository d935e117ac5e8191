"""The platform: companies, domains, users of every type, their hosts, and the world outside.

:func:`build_model` draws the platform (not yet in a store); :func:`create_in_store`
creates it through the real tree actions; :func:`platform_json` is what
``platform.json`` says about it.  :class:`SUser` also carries the user's truth
(filled in by :mod:`.truth`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mailtally.errors import OMAError
from mailtally.periods import Periods
from mailtally.store import Store
from mailtally.tree import Ctx, Principal, do_change_company, do_change_domain, do_change_user

DAY = 86400
VMAIL_UID = 5000
WEBMAIL_UID = 33
WEBMAIL_HOSTS = ("127.0.0.1", "::1")


class SynthError(ValueError):
    """A request synthesize() cannot carry out (the message says why)."""


def rfc(ts: int) -> str:
    """``ts`` as an RFC 3339 UTC time (the tree's createtime form)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Host:
    """One mail server of the platform: its syslog hostname, its FQDN and its public IP."""

    name: str
    fqdn: str
    ip: str


#: The single host of a one-server platform.
MAIL_HOST = Host("mail", "mail.northwind.example", "10.0.0.1")
#: The most hosts a platform may have.
MAX_HOSTS = 16


def make_hosts(n: int) -> list[Host]:
    """The platform's mail servers: ``mail`` alone, or ``mx1`` … ``mxN``."""
    if n == 1:
        return [MAIL_HOST]
    return [Host(f"mx{i}", f"mx{i}.northwind.example", f"10.0.0.{i}") for i in range(1, n + 1)]


# -- the model -----------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class SDomain:
    name: str
    company: str
    transport: str  # "lmtp" (Dovecot LMTP) or "pipe" (dovecot-lda)
    createtime: int
    host: int = 0  # the index of the host that is its MX and keeps its mailboxes


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


# -- names ---------------------------------------------------------------------------------

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


# -- building it ---------------------------------------------------------------------------


def build_model(
    rng: random.Random, n_users: int, start: int, n_hosts: int = 1
) -> tuple[list[tuple[str, int]], list[SDomain], list[SUser]]:
    """Companies, domains and users (not yet in a store).

    With ``n_hosts`` hosts the domains are shared out among them in turn (the first
    company gets more domains if there are fewer than hosts).
    """
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
    k = 2
    while len(domains) < n_hosts:
        name, created = companies[0]
        dn = f"northwind{k}.example"
        domains.append(SDomain(dn, name, "lmtp", created + rng.randint(0, 60) * DAY))
        k += 1
    for i, d in enumerate(domains):
        d.host = i % n_hosts
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
    _assign_features(rng, domains, users, taken)
    return companies, domains, users


def build_scale_model(
    rng: random.Random,
    n_companies: int,
    n_domains: int,
    per_domain: int,
    start: int,
    n_hosts: int = 1,
) -> tuple[list[tuple[str, int]], list[SDomain], list[SUser]]:
    """A provider-scale platform: ``n_companies`` companies, ``n_domains`` domains
    shared out among them in turn, ``per_domain`` accounts in each.

    Names are numbered (``Company 1``, ``d1.example``, ``u1@d1.example`` …), so
    that any size is drawn in time linear in it; types, features and aliases are
    shared out as on the default platform.  Every company and account exists
    before ``start`` (by at least a year and a week), so that a history written as
    counts (:func:`mailtally.synth.history.write_history`) of up to a year finds
    them.
    """
    companies = [
        (f"Company {c + 1}", start - rng.randint(800, 900) * DAY) for c in range(n_companies)
    ]
    domains: list[SDomain] = []
    for i in range(n_domains):
        name, created = companies[i % n_companies]
        transport = "lmtp" if i % 2 == 0 else "pipe"
        domains.append(
            SDomain(f"d{i + 1}.example", name, transport, created + rng.randint(0, 30) * DAY)
        )
    for i, d in enumerate(domains):
        d.host = i % n_hosts
    users: list[SUser] = []
    taken: set[str] = set()
    for d in domains:
        for k in range(per_domain):
            address = f"u{k + 1}@{d.name}"
            taken.add(address)
            created = max(d.createtime, start - rng.randint(400, 700) * DAY)
            users.append(SUser(address, d, "mailbox", created))
    _assign_features(rng, domains, users, taken)
    return companies, domains, users


def _assign_features(
    rng: random.Random, domains: list[SDomain], users: list[SUser], taken: set[str]
) -> None:
    """Types (forward, filter, mailbox), features and aliases, a fixed share of each."""
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


def create_in_store(
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
                do_change_company(ctx, name, {"createtime": rfc(created)}, True)
            for d in domains:
                do_change_domain(ctx, d.name, d.company, {"createtime": rfc(d.createtime)}, True)
            for u in users:
                attrs: dict[str, Any] = {
                    "type": u.type,
                    "createtime": rfc(u.createtime),
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


def webmail_hosts(hosts: list[Host]) -> list[str]:
    """Where the webmail's IMAP logins come from: the loopback addresses of the first host,
    which runs it, and that host's address on the others."""
    return list(WEBMAIL_HOSTS) + ([hosts[0].ip] if len(hosts) > 1 else [])


def own_hosts(hosts: list[Host]) -> list[str]:
    """The platform's own hosts as a reader is told them: names, FQDNs, addresses."""
    return [h.name for h in hosts] + [h.fqdn for h in hosts] + [h.ip for h in hosts]


def platform_json(
    companies: list[tuple[str, int]],
    domains: list[SDomain],
    users: list[SUser],
    hosts: list[Host],
) -> dict[str, Any]:
    """What ``platform.json`` says: the platform as built (with its hosts when several)."""
    multi = len(hosts) > 1
    return {
        "timezone": "UTC",
        "webmail_hosts": webmail_hosts(hosts),
        **(
            {
                "hosts": [{"name": h.name, "fqdn": h.fqdn, "ip": h.ip} for h in hosts],
                "own_hosts": own_hosts(hosts),
                "webmail_host": hosts[0].name,
            }
            if multi
            else {}
        ),
        "webmail_uid": WEBMAIL_UID,
        "companies": [{"name": c, "createtime": rfc(ct)} for c, ct in companies],
        "domains": [
            {
                "name": d.name,
                "company": d.company,
                "createtime": rfc(d.createtime),
                "delivery": "Dovecot LMTP" if d.transport == "lmtp" else "dovecot-lda (pipe)",
                **({"host": hosts[d.host].name} if multi else {}),
            }
            for d in domains
        ],
        "users": [
            {
                "address": u.address,
                "domain": u.domain.name,
                "company": u.domain.company,
                "type": u.type,
                "createtime": rfc(u.createtime),
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
            for u in users
        ],
    }
