"""History written straight as counts: the days before the log, for provider-scale stores.

A 400-day history of 100,000 accounts is billions of log lines: too many to write
and read back in minutes.  :func:`write_history` gives every account a plain day
of mail for each of the ``days`` days before the log (received ham and spam,
submissions, IMAP/POP3/webmail logins, forwards for forward-only accounts) and
records those days through :func:`mailtally.record.record_events` — the one place
events become counts, as the log ingester does — as summed events (each event's
``count``), one write transaction per week of history
(or per day, past 28,571 accounts: :data:`BATCH_ACCOUNT_DAYS`).  The rows are therefore
exactly those ingestion would have made of a log of those events, and the same
days go into the truth (:class:`~.truth.Truth`, negative day indices, before the
log's first day), so truth.json covers history and log alike.

Cost (bench/RESULTS.md, "Provider scale"): about 7.4 s per day of 100,000 accounts
on the loaded 2-core machine, half of it drawing the days and making the events, half
``record_events`` and its upserts — 400 days take about 50 minutes, not yet the
"minutes" issue 9 asks for (a year of rows written per (scope, period) through the
store's bulk upsert, without event objects, is the next step).

Its own random source (from the seed), so that a platform without history writes
the same log, byte for byte, as before.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from mailtally.events import Event, Forward, Login, MessageIn, MessageOut
from mailtally.periods import Periods
from mailtally.record import Resolver, record_events
from mailtally.store import Store

from .platform import DAY, SUser
from .truth import (
    FORWARD,
    IMAP4,
    IN_HAM,
    IN_SIZE,
    IN_SPAM,
    L_IMAP4,
    L_POP3,
    L_SMTPIN,
    L_SMTPRELAY,
    L_WEBMAIL,
    OUT_MSG,
    OUT_RCPT,
    OUT_SIZE,
    POP3,
    WEBMAIL,
    Truth,
)

#: account-days of history recorded per write transaction (at most a week): bounds
#: synth's memory at provider scale (a week of 100,000 accounts' events took 1.3 GB)
BATCH_ACCOUNT_DAYS = 200_000


def _int(rng: random.Random, lo: int, hi: int) -> int:
    """A number from ``lo`` to ``hi``: ``randint``'s range at a third of its cost
    (billions of draws for a provider's year)."""
    return lo + int(rng.random() * (hi - lo + 1))


def _day_of(
    rng: random.Random, u: SUser, t: int
) -> tuple[list[Event], dict[int, int], dict[int, int]]:
    """One account's day starting at ``t``: its summed events, its flows and its last times."""
    ev: list[Event] = []
    flows: dict[int, int] = {}
    lasts: dict[int, int] = {}
    if u.type == "filter":
        return ev, flows, lasts  # relayed to the customer's server: counted by their log
    ham = _int(rng, 0, 12)
    if ham:
        size = ham * _int(rng, 4_000, 80_000)
        ts = t + _int(rng, 28_800, 72_000)
        ev.append(MessageIn(ts, u.address, size, False, ham))
        flows[IN_HAM], flows[IN_SIZE], lasts[L_SMTPIN] = ham, size, ts
    spam = _int(rng, 0, 3)
    if spam:
        ts = t + _int(rng, 0, DAY - 1)
        ev.append(MessageIn(ts, u.address, 0, True, spam))
        flows[IN_SPAM] = spam
        lasts[L_SMTPIN] = max(lasts.get(L_SMTPIN, 0), ts)
    if u.type == "forward":
        if ham:
            ev.append(Forward(t + _int(rng, 0, DAY - 1), u.address, ham))
            flows[FORWARD] = ham
        return ev, flows, lasts
    sent = _int(rng, 0, 4)
    if sent:
        rcpt, size = sent + _int(rng, 0, sent), sent * _int(rng, 2_000, 40_000)
        ts = t + _int(rng, 28_800, 72_000)
        ev.append(MessageOut(ts, u.address, rcpt, size, sent))
        flows[OUT_MSG], flows[OUT_RCPT], flows[OUT_SIZE], lasts[L_SMTPRELAY] = sent, rcpt, size, ts
    for service, metric, last, n in (
        ("pop3" if u.pop3 else "imap4", POP3 if u.pop3 else IMAP4, L_POP3 if u.pop3 else L_IMAP4,
         _int(rng, 0, 6)),
        ("webmail", WEBMAIL, L_WEBMAIL, _int(rng, 0, 2) if u.webmail else 0),
    ):  # fmt: skip
        if n:
            ts = t + _int(rng, 0, DAY - 1)
            ev.append(Login(ts, u.address, service, n))  # type: ignore[arg-type]
            flows[metric], lasts[last] = n, ts
    return ev, flows, lasts


def write_history(
    store: Store,
    periods: Periods,
    truth: Truth,
    users: list[SUser],
    start: int,
    days: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
    with_truth: bool = True,
) -> int:
    """Record ``days`` days of counts before ``start`` for ``users``, into the store and
    into ``truth``; return how many events (summed) were recorded.

    Accounts created later than a day are not counted that day.  Without
    ``with_truth`` the days go into the store only (a benchmark's year of 100,000
    accounts: its truth would not fit in memory).
    """
    rng = random.Random(f"history-{seed}")
    counted = 0
    first = start - days * DAY
    resolver: Resolver | None = None
    batch_days = max(1, min(7, BATCH_ACCOUNT_DAYS // max(1, len(users))))
    for batch in range(first, start, batch_days * DAY):
        events: list[Event] = []
        for t in range(batch, min(batch + batch_days * DAY, start), DAY):
            for u in users:
                if u.createtime > t:
                    continue
                ev, flows, lasts = _day_of(rng, u, t)
                events += ev
                if not with_truth:
                    continue
                for m, v in flows.items():
                    truth.flow(u, t, m, v)
                for k, ts in lasts.items():
                    truth.last(u, ts, k)
        with store.write() as q:
            if resolver is None:
                resolver = Resolver(q)
            resolver.q = q
            res = record_events(q, periods, events, resolver)
        if res.ignored:
            raise RuntimeError(f"history: addresses not in the tree: {res.ignored_addresses}")
        counted += res.counted
        if progress is not None:
            progress((min(batch + batch_days * DAY, start) - first) // DAY)
    return counted
