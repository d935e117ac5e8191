"""A believable demo platform: one company, three domains, ~300 accounts, 14 months.

Built through the same actions and the same recording path as real data: the
tree through ``do_change_*``, activity through :func:`record_events` (with
per-day aggregated events, so building takes seconds, not minutes).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher

from mailtally.events import (
    Autoresponse,
    Event,
    Forward,
    Login,
    MessageDenied,
    MessageIn,
    MessageOut,
    StorageReport,
)
from mailtally.periods import Periods
from mailtally.record import record_events
from mailtally.store import Store
from mailtally.tree import (
    Ctx,
    Principal,
    do_change_company,
    do_change_domain,
    do_change_user,
    do_delete_user,
    do_set_role,
)

__all__ = ["DemoLogin", "build_demo"]

COMPANY = "Example Hosting"
DOMAINS = ("example.com", "example.net", "example.org")
DEMO_PASSWORD = "demo-password"
FIRST = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
         "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter",
         "yolanda")  # fmt: skip


@dataclass(frozen=True, slots=True)
class DemoLogin:
    user: str
    password: str
    role: str


def build_demo(
    store: Store, periods: Periods, hasher: PasswordHasher, now: int, seed: int = 7
) -> list[DemoLogin]:
    """Fill an empty store with the demo platform; returns the admin logins."""
    rng = random.Random(seed)
    operator = Principal(name="demo", operator=True)
    start_dt = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0) - timedelta(
        days=425
    )
    start = int(start_dt.timestamp())
    admin_hash = hasher.hash(DEMO_PASSWORD)
    user_hash = hasher.hash("user-password")
    logins: list[DemoLogin] = []
    users: list[tuple[str, int, str]] = []  # (address, createtime, type)

    def rfc(ts: int) -> str:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    with store.write() as q:
        ctx = Ctx(q, periods, now, operator, client="mailtally demo")
        # create_only: a store that holds the demo already is error 7, not a half-made one
        do_change_company(ctx, COMPANY, {"createtime": rfc(start)}, True)
        for d in DOMAINS:
            do_change_domain(ctx, d, COMPANY, {"createtime": rfc(start)}, False)
        do_change_domain(ctx, "example.org", None, {"quota": 5 * 2**30}, False)
        # accounts, created over the 14 months (growth), most in the first month
        n = 0
        for d, size in zip(DOMAINS, (150, 100, 50), strict=True):
            for i in range(size):
                local = f"{FIRST[i % len(FIRST)]}{i // len(FIRST) or ''}"
                address = f"{local}@{d}"
                created = start + int((rng.random() ** 2) * 400 * 86400)
                r = rng.random()
                type_ = "mailbox" if r < 0.85 else ("forward" if r < 0.95 else "filter")
                attrs: dict[str, object] = {
                    "type": type_,
                    "createtime": rfc(created),
                    "quota": rng.choice((0, 2**30, 5 * 2**30)),
                    "workgroup": rng.choice(("staff", "staff", "sales", "support")),
                    "name": local.capitalize(),
                }
                if type_ == "forward":
                    attrs["forward_recipients"] = [f"{local}@elsewhere.example"]
                    attrs["delivery_local"] = False
                    attrs["delivery_forward"] = True
                if rng.random() < 0.1:
                    attrs["delivery_autorespond"] = True
                if rng.random() < 0.1:
                    attrs["aliases"] = [f"{local}.alias@{d}"]
                do_change_user(ctx, address, attrs, False, user_hash)
                users.append((address, created, type_))
                n += 1
        # admins, one per role
        admins = (
            ("admin@example.com", "company", COMPANY),
            ("readonly@example.com", "company_ro", COMPANY),
            ("viewer@example.com", "company_view", COMPANY),
            ("mailadmin@example.com", "company_mail", COMPANY),
            ("postmaster@example.net", "domain", "example.net"),
            ("mail@example.org", "mail", "example.org"),
            ("lead@example.com", "workgroup", "example.com/sales"),
            ("tokens@example.com", "company_token_only", COMPANY),
        )
        for address, role, obj in admins:
            do_change_user(ctx, address, {"createtime": rfc(start)}, False, admin_hash)
            do_set_role(ctx, address, role, obj)
            logins.append(DemoLogin(address, DEMO_PASSWORD, role))
        logins.append(DemoLogin("alice@example.com", "user-password", "(none: itself)"))
        # some accounts are soft-deleted along the way
        for address, created, _ in rng.sample(users, 12):
            ctx.now = max(created + 86400, now - rng.randint(1, 200) * 86400)
            do_delete_user(ctx, address)
        ctx.now = now

    # 14 months of daily activity: weekly rhythm, growth with the accounts
    day = 86400
    for first in range(start, now, 30 * day):
        events: list[Event] = []
        for t in range(first, min(first + 30 * day, now), day):
            weekday = datetime.fromtimestamp(t, UTC).weekday()
            rhythm = 1.0 if weekday < 5 else 0.35
            for address, created, type_ in users:
                if created > t:
                    continue
                ts = t + rng.randint(8 * 3600, 18 * 3600)
                if ts > now:
                    continue
                n_in = int(rng.expovariate(1 / 18) * rhythm) + 1
                events.append(MessageIn(ts, address, n_in * rng.randint(4_000, 60_000), count=n_in))
                spam = int(rng.expovariate(1 / 4))
                if spam:
                    events.append(MessageIn(ts, address, 0, spam=True, count=spam))
                if rng.random() < 0.2:
                    events.append(MessageDenied(ts, address))
                if type_ == "forward":
                    events.append(Forward(ts, address, count=n_in))
                    continue
                if rng.random() < 0.7 * rhythm:
                    sent = rng.randint(1, 8)
                    events.append(
                        MessageOut(ts, address, sent * rng.randint(1, 3),
                                   sent * rng.randint(3_000, 90_000), count=sent)
                    )  # fmt: skip
                if rng.random() < 0.05:
                    events.append(Autoresponse(ts, address))
                service = rng.choice(("imap4", "imap4", "imap4", "pop3", "webmail"))
                events.append(Login(ts, address, service, count=rng.randint(1, 12)))  # type: ignore[arg-type]
            if rng.random() < 0.3:
                events.append(MessageDenied(t + 3600, f"nobody{rng.randint(1, 99)}@example.com"))
            if weekday == 6:  # a weekly quota report
                for address, created, _ in users:
                    if created <= t:
                        items = rng.randint(50, 5000)
                        size = items * rng.randint(20_000, 80_000)
                        events.append(StorageReport(t + 23 * 3600, address, items, size))
        with store.write() as q:
            record_events(q, periods, [e for e in events if e.time <= now])
    return logins
