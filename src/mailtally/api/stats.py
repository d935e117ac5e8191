"""``stats_summary`` (SPEC §5).

The answer for an object is cached as encoded bytes until anything a summary
shows may have changed (the service's generations) or the current period moves
on; OMA dashboards poll the same few summaries over and over.  A repeat costs
dict lookups: no thread hop, no store access, no encoding.

A miss is one reading session, which finds the object (unless the name index
below knows it) and builds its answer (unless another spelling of it just did),
in the event loop's thread (:meth:`mailtally.store.Store.read_now`), or on the
store's threads when that would have to wait.

Two caches, both bounded in bytes (:mod:`mailtally.api.service`):

* the answers, keyed by the canonical object — its kind and id — and the period
  kind, so every spelling of a name (case, IDNA, a trailing dot, an alias of a
  user) shares one answer, and one answer serves every caller allowed to read it;
* the name index: (caller, its roles, the object as the request spells it) →
  the object it resolved to, which the caller was found allowed to read.  It is
  valid while nothing changed (the service's generation), so a repeated request
  neither resolves nor authorises again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Literal, NamedTuple, TypeVar

import msgspec

from mailtally.api.common import Answer, Method, Name, Request, bad_request
from mailtally.api.service import Service
from mailtally.names import company_key
from mailtally.periods import Kind
from mailtally.store import Queries, StoreBusy
from mailtally.summary import (
    COMPANY,
    DOMAIN,
    CompanyPeriod,
    UserPeriod,
    company_summary,
    user_summary_text,
)
from mailtally.tree import (
    COMPANY_ROLES,
    ObjectType,
    Principal,
    Target,
    find_target,
    normalize_address,
    normalize_domain,
    own_company,
    require_stats_readable,
    visible,
)

__all__ = [
    "METHODS",
    "CompanySummaryAnswer",
    "UserSummaryAnswer",
    "readable_target",
    "resolve_object",
]

_encode = msgspec.json.Encoder().encode
T = TypeVar("T")


class StatsSummaryRequest(Request, kw_only=True):
    type: Literal["company", "domain", "user"] | None = None
    object: Name | None = None
    by: Literal["day", "week", "month"] | None = None


class UserSummaryAnswer(Answer, kw_only=True):
    """A user's statistics: its periods by key (``20261128``,
    ``20261123-20261129``, ``2026-11``), oldest first, every leaf a string."""

    summary: dict[str, UserPeriod]


class CompanySummaryAnswer(Answer, kw_only=True):
    """A company's or a domain's statistics: its periods by key, oldest first,
    every value an integer."""

    summary: dict[str, CompanyPeriod]


def resolve_object(
    q: Queries, p: Principal, type_: ObjectType | None, obj: str | None
) -> tuple[ObjectType, str]:
    """Apply SPEC §5's defaults: which object a request is about."""
    if obj is None:
        if p.operator:
            raise bad_request("object", "is required for an operator")
        if type_ is None:
            if any(r in COMPANY_ROLES for r, _ in p.roles):
                type_ = "company"
            elif any(r in ("domain", "mail") for r, _ in p.roles):
                # the domain its role names (its own, usually)
                dom = next(o for r, o in p.roles if r in ("domain", "mail"))
                return "domain", dom
            else:
                type_ = "user"
        if type_ == "company":
            row = q.company_by_id(p.company_id or 0)
            return "company", row[1] if row else ""
        if type_ == "domain":
            return "domain", p.name.rpartition("@")[2]
        return "user", p.name
    if type_ is None:
        if "@" in obj:
            type_ = "user"
        else:
            # a domain outside the caller's scope is inferred as no domain at all
            # (a company), or the error would tell tenants' domains apart
            dom = find_target(q, "domain", obj)
            type_ = "domain" if visible(p, dom) else "company"
    return type_, obj


def readable_target(q: Queries, p: Principal, req: StatsSummaryRequest) -> Target:
    """The object a request is about, if ``p`` may read its statistics (else error 2/4)."""
    type_, name = resolve_object(q, p, req.type, req.object)
    if req.object is None and type_ == "company":  # the caller's own, not named
        return own_company(q, p, "read the statistics of your company")
    return require_stats_readable(p, find_target(q, type_, name), type_, name)


def canonical_object(svc: Service, type_: str | None, obj: str | None) -> object:
    """What the cache keys an object by: its canonical name, so that the many
    spellings of one name (case, a trailing dot, IDNA) are one entry (rule 4).
    A name without ``@`` and without a type may be a domain or a company: both
    readings are in the key.  A malformed name is kept as it is (an error is
    never cached)."""
    if obj is None:
        return None
    company = (company_key(obj), obj if obj in svc.legacy_company_names else "")
    if type_ == "company":
        return company
    if obj.isascii():
        # the hot path, without IDNA: for ASCII, a user's or a domain's
        # canonical form is this (normalize_domain/_address only validate it
        # further, and an invalid name is never cached, so two spellings with
        # one key are both valid and the same name, or both invalid)
        key = obj.strip(" ").lower()
        key = key[:-1] if key.endswith(".") else key
    elif type_ == "user" or (type_ is None and "@" in obj):
        key = normalize_address(obj) or obj
    else:
        key = normalize_domain(obj) or obj
    return key if type_ is not None or "@" in obj else (key, company)


def summary_body(svc: Service, q: Queries, t: Target, by: Kind, now: int) -> bytes:
    """The encoded answer for ``t``: it depends on the object, not on who asks."""
    if t.type == "user":
        # built as text (summary.user_summary_text): the bytes msgspec would make
        # of UserSummaryAnswer, exactly as long as they are
        text = user_summary_text(q, svc.periods, t, by, now)
        return b"".join((_USER_HEAD, text.encode(), b"}"))
    scope = COMPANY if t.type == "company" else DOMAIN
    periods = company_summary(q, svc.periods, scope, t.id, t.createtime, by, now)
    body = _encode(CompanySummaryAnswer(summary=periods))
    # msgspec hands back its whole output buffer, grown by half as it went: up
    # to a third of it past the answer's end, which len() does not show.  The
    # answer cache is bounded by len(), so it keeps an exact copy.
    return bytes(memoryview(body))


#: a user answer up to its ``summary`` object: ``success`` first, as every Answer
_USER_HEAD = _encode(UserSummaryAnswer(summary={})).removesuffix(b"{}}")
assert _USER_HEAD.endswith(b'"summary":')


#: An answer's key: the canonical object (its kind and id: every spelling, case
#: and alias of a name resolves to the same one) and the period kind.
AnswerKey = tuple[str, int, str]
#: A request's key: the caller, its roles, and the object's canonical name
#: (:func:`canonical_object`: the many spellings of a name share one entry).
#: The caller's roles are part of it: an answer authorised by a principal loaded
#: just before a role change must not be served to the changed one.
RequestKey = tuple[str, tuple[tuple[str, str], ...], str | None, object, str]


class Named(NamedTuple):
    """What a request's spelling resolved to, for this caller (a name index entry)."""

    generation: int  #: Service.generation when the resolution began
    target: Target  #: the object, which the caller may read
    key: AnswerKey


class Cached(NamedTuple):
    """An encoded answer and what it was built from."""

    generation: int  #: Service.generation when the build began
    auth_generation: int  #: Service.auth_generation when the build began
    user: str | None  #: the user whose auth counts it shows (user shape), else None
    current: str  #: the key of the current period then
    body: bytes

    def fresh(self, svc: Service, current: str) -> bool:
        """Nothing it shows has changed since, and the current period is the same."""
        return (
            self.generation == svc.generation
            and self.current == current
            and (self.user is None or svc.auth_changed_at.get(self.user, 0) <= self.auth_generation)
        )


def _shared(
    flights: dict[object, tuple[object, asyncio.Future[T]]],
    key: object,
    stamp: object,
    make: Callable[[], Awaitable[T]],
) -> asyncio.Future[T]:
    """The work in flight for ``key`` begun at ``stamp``, or ``make()`` started now.

    Under load every connection polling a key misses at the same moment (right
    after a change): the first one does the work in the thread pool and the
    others await it instead of piling up work each (which kept the GIL from the
    event loop for a long while).  Work begun before the latest change is not
    joined.
    """
    flight = flights.get(key)
    if flight is not None and flight[0] == stamp:
        return flight[1]
    fut = asyncio.ensure_future(make())
    entry = (stamp, fut)
    flights[key] = entry

    def landed(_: asyncio.Future[T]) -> None:
        if flights.get(key) is entry:
            del flights[key]
        if not fut.cancelled():
            fut.exception()  # retrieved: errors reach every waiter through shield

    fut.add_done_callback(landed)
    return fut


async def stats_summary(svc: Service, req: StatsSummaryRequest, p: Principal) -> bytes:
    by: Kind = req.by or "day"
    now = svc.clock.now()
    current = svc.periods.key(by, now)
    key: RequestKey = (p.name, p.roles, req.type, canonical_object(svc, req.type, req.object), by)
    names, answers = svc.summary_names, svc.summary_cache
    # The hot path: a dashboard polling the same summary gets the encoded bytes
    # from memory, with no store access.
    named: Named | None = names.get(key)
    if named is not None and named.generation != svc.generation:
        named = None
    if named is not None:
        hit = answers.get(named.key)
        if hit is not None and hit.fresh(svc, current):
            svc.summary_hits += 1
            return hit.body
    svc.summary_misses += 1
    # A miss: which object, and may the caller read it (unless the name index
    # knows), and its answer (unless cached meanwhile), in one reading session.
    # Errors (2, 4, 5) are not cached; every waiter gets the error.
    stamp = (svc.generation, svc.auth_generation, current)
    known = None if named is None else named.target

    def work(q: Queries) -> tuple[Target, bytes, bool]:
        """The object, its encoded answer, and whether this built it."""
        t = known or readable_target(q, p, req)
        if known is None:  # another spelling of the object may have built it
            hit = answers.get((t.type, t.id, by))
            if hit is not None and hit.fresh(svc, current):
                return t, hit.body, False
        return t, summary_body(svc, q, t, by, now), True

    try:
        t, body, built = svc.store.read_now(work)
    except StoreBusy:
        # On the store's threads; concurrent misses of one key share the work.
        # shield: a caller that goes away must not cancel what the others await
        flight = key if known is None else named.key  # type: ignore[union-attr]
        t, body, built = await asyncio.shield(
            _shared(svc.summary_flights, flight, stamp, lambda: svc.read(work))
        )
    generation, auth_generation, cur = stamp
    if generation == svc.generation:  # else found or built from a state changed since
        akey: AnswerKey = (t.type, t.id, by)
        if known is None:
            names.put(key, Named(generation, t, akey))
        if built:
            user = t.name if t.type == "user" else None
            answers.put(akey, Cached(generation, auth_generation, user, cur, body))
    return body


METHODS: dict[str, Method] = {
    "stats_summary": Method(
        StatsSummaryRequest, stats_summary, answer=(UserSummaryAnswer, CompanySummaryAnswer)
    ),
}
