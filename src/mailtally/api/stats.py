"""``stats_summary`` (SPEC §5).

The answer for a (caller, request) is cached as encoded bytes until anything a
summary shows may have changed (the service's generations) or the current period
moves on; OMA dashboards poll the same few summaries over and over.  A repeat
costs dict lookups: no thread hop, no store access, no encoding.
"""

from __future__ import annotations

import asyncio
from typing import Literal, NamedTuple

import msgspec

from mailtally.api.common import Method, Name, Request, bad_request
from mailtally.api.service import Service
from mailtally.names import company_key
from mailtally.periods import Kind
from mailtally.store import Queries
from mailtally.summary import stats_summary as build_summary
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

__all__ = ["METHODS", "resolve_object"]

_encode = msgspec.json.Encoder().encode


class StatsSummaryRequest(Request, kw_only=True):
    type: Literal["company", "domain", "user"] | None = None
    object: Name | None = None
    by: Literal["day", "week", "month"] | None = None


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
            type_ = "domain" if dom is not None and visible(p, dom) else "company"
    return type_, obj


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


def summary_body(
    svc: Service, q: Queries, p: Principal, req: StatsSummaryRequest, by: Kind, now: int
) -> tuple[bytes, str | None]:
    """The encoded answer, and the user whose ``logins.auth_*`` counts it shows, if any."""
    type_, name = resolve_object(q, p, req.type, req.object)
    t: Target
    if req.object is None and type_ == "company":  # the caller's own, not named
        t = own_company(q, p, "read the statistics of your company")
    else:
        t = require_stats_readable(p, find_target(q, type_, name), type_, name)
    summary = build_summary(q, svc.periods, t, by, now)
    return _encode({"success": True, "summary": summary}), t.name if t.type == "user" else None


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


#: Entries kept at most; past this the cache starts afresh (a bound, not an LRU:
#: dashboards poll a few keys, and a miss costs a millisecond or so).
MAX_CACHED = 10_000

_Build = asyncio.Future[tuple[bytes, str | None]]


async def stats_summary(svc: Service, req: StatsSummaryRequest, p: Principal) -> bytes:
    by: Kind = req.by or "day"
    now = svc.clock.now()
    current = svc.periods.key(by, now)
    # The caller's roles are part of the key: an answer authorised by a principal
    # loaded just before a role change must not be served to the changed one.
    key = (p.name, p.roles, req.type, canonical_object(svc, req.type, req.object), by)
    # The hot path: a dashboard polling the same summary gets the encoded bytes
    # from memory, with no thread hop and no store access.
    hit: Cached | None = svc.summary_cache.get(key)
    if hit is not None and hit.fresh(svc, current):
        return hit.body
    # A miss.  Under load every connection polling this key misses at the same
    # moment (right after a change), so the first one builds the answer in the
    # thread pool and the others await that same build instead of piling up a
    # build each (which kept the GIL from the event loop for a long while).  A
    # build that began before the latest change is not joined.
    stamp = (svc.generation, svc.auth_generation, current)
    flight: tuple[tuple[int, int, str], _Build] | None = svc.summary_flights.get(key)
    if flight is None or flight[0] != stamp:
        build = asyncio.ensure_future(svc.read(lambda q: summary_body(svc, q, p, req, by, now)))
        flight = (stamp, build)
        svc.summary_flights[key] = flight
        build.add_done_callback(lambda b: _landed(svc, key, flight, b))
    # shield: a caller that goes away must not cancel the build the others await
    body, _ = await asyncio.shield(flight[1])
    return body


def _landed(
    svc: Service,
    key: tuple[object, ...],
    flight: tuple[tuple[int, int, str], _Build],
    build: _Build,
) -> None:
    """A build finished: forget the flight and cache a successful answer."""
    if svc.summary_flights.get(key) is flight:
        del svc.summary_flights[key]
    if build.cancelled() or build.exception() is not None:
        return  # errors (2, 4, ...) are not cached; every waiter got the error
    body, user = build.result()
    generation, auth_generation, current = flight[0]
    if generation != svc.generation:
        return  # built from a state that has changed since; a later build replaces it
    if len(svc.summary_cache) >= MAX_CACHED:
        svc.summary_cache.clear()
    svc.summary_cache[key] = Cached(generation, auth_generation, user, current, body)


METHODS: dict[str, Method] = {
    "stats_summary": Method(StatsSummaryRequest, stats_summary),
}
