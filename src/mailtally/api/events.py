"""``ingest_events`` (SPEC §7; not in OMA): JSON events in, counted once.

A batch is checked whole before anything is counted: one bad event and the
batch is refused with error 6, ``hints`` naming each bad event
(``events[3].size``), and nothing counted.  A ``batch_id`` already counted is
acknowledged (``duplicate: true``) and not counted again; the check and the
counting share one transaction, so two concurrent retries count once.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any
from weakref import WeakKeyDictionary

import msgspec

from mailtally.access import Action, allowed
from mailtally.api.common import MIB, Answer, Method, Request
from mailtally.api.service import Service
from mailtally.errors import BAD_ATTRIBUTE, FORBIDDEN, OMAError
from mailtally.events import (
    MAX_MESSAGE_SIZE,
    MAX_RECIPIENTS,
    MAX_STORED_BYTES,
    MAX_STORED_ITEMS,
    Autoresponse,
    Event,
    Forward,
    Login,
    MessageDenied,
    MessageIn,
    MessageOut,
    StorageReport,
)
from mailtally.periods import parse_rfc3339
from mailtally.record import Resolver, record_events
from mailtally.store import Queries
from mailtally.tree import Principal, normalize_address

__all__ = ["METHODS", "parse_event"]

#: how far in the future an event's time may be (clock skew between hosts)
MAX_SKEW = 300
MAX_HINTS = 50

# kind -> (required fields besides time/kind, optional fields)
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "message_in": (("user", "size"), ("spam",)),
    "message_denied": (("recipient",), ()),
    "message_out": (("user", "recipients", "size"), ()),
    "forward": (("user",), ()),
    "autoresponse": (("user",), ()),
    "login": (("user", "service"), ()),
    "storage": (("user", "items", "bytes"), ()),
}


class IngestEventsRequest(Request, kw_only=True):
    # any text but U+0000, which PostgreSQL's text cannot hold (an agent's ids are
    # its source name, file names and positions: never a NUL)
    batch_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern="^[^\x00]*\\Z")]
    events: list[Any]


class BadEvent(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _count(ev: dict[str, Any], field: str, maximum: int, minimum: int = 0) -> int:
    v = ev[field]
    if not isinstance(v, int) or isinstance(v, bool) or not minimum <= v <= maximum:
        raise BadEvent(field, f"must be a whole number from {minimum} to {maximum}")
    return v


def _time(ev: dict[str, Any], now: int) -> int:
    if "time" not in ev:
        raise BadEvent("time", "is required, an RFC 3339 time")
    try:
        return parse_rfc3339(ev["time"], now, max_ahead=MAX_SKEW)
    except ValueError as exc:
        raise BadEvent("time", str(exc)) from None


def parse_event(raw: Any, now: int) -> Event:
    """One JSON event → an internal event, or BadEvent naming the field."""
    if not isinstance(raw, dict):
        raise BadEvent("", "must be a JSON object")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise BadEvent("kind", f"must be one of {', '.join(KINDS)}")
    required, optional = KINDS[kind]
    for field in raw:
        if field not in ("time", "kind", *required, *optional):
            raise BadEvent(field, f"is not a field of a {kind} event")
    for field in required:
        if field not in raw:
            raise BadEvent(field, "is required")
    ts = _time(raw, now)
    address_field = "recipient" if kind == "message_denied" else "user"
    address = raw[address_field]
    norm = normalize_address(address) if isinstance(address, str) else None
    if norm is None:
        raise BadEvent(address_field, "must be an email address")
    if kind == "message_in":
        spam = raw.get("spam", False)
        if not isinstance(spam, bool):
            raise BadEvent("spam", "must be true or false")
        return MessageIn(ts, norm, _count(raw, "size", MAX_MESSAGE_SIZE), spam)
    if kind == "message_denied":
        return MessageDenied(ts, norm)
    if kind == "message_out":
        recipients = _count(raw, "recipients", MAX_RECIPIENTS, 1)
        return MessageOut(ts, norm, recipients, _count(raw, "size", MAX_MESSAGE_SIZE))
    if kind == "forward":
        return Forward(ts, norm)
    if kind == "autoresponse":
        return Autoresponse(ts, norm)
    if kind == "login":
        service = raw["service"]
        if service not in ("imap4", "pop3", "webmail"):
            raise BadEvent("service", "must be one of imap4, pop3, webmail")
        return Login(ts, norm, service)
    items = _count(raw, "items", MAX_STORED_ITEMS)
    return StorageReport(ts, norm, items, _count(raw, "bytes", MAX_STORED_BYTES))


def _allowed_companies(p: Principal) -> set[int] | None:
    """Companies whose events ``p`` may send; None = any (an operator)."""
    if p.operator:
        return None
    return {
        g.obj.company_id
        for g in p.grants
        if g.obj.kind == "company" and allowed(p, Action.INGEST, g.obj)
    }


def admit(p: Principal) -> None:
    """Error 4 for a caller that may ingest for no company: asked before a batch
    (up to 32 MiB) is decoded, so that any user cannot make the server build it."""
    allowed = _allowed_companies(p)
    if allowed is not None and not allowed:
        raise OMAError(FORBIDDEN, "only operators and company admins may ingest events")


class IngestEventsAnswer(Answer, kw_only=True):
    """What the batch counted."""

    #: events counted (0 for a batch counted before)
    accepted: int
    #: the batch was counted before, and is not again
    duplicate: bool


def ingest(
    q: Queries, svc: Service, p: Principal, req: IngestEventsRequest, now: int
) -> IngestEventsAnswer:
    allowed = _allowed_companies(p)
    if allowed is not None and not allowed:
        raise OMAError(FORBIDDEN, "only operators and company admins may ingest events")
    scope = "operator" if allowed is None else f"company:{min(allowed)}"
    if q.batch(scope, req.batch_id) is not None:
        return IngestEventsAnswer(accepted=0, duplicate=True)
    resolver = Resolver(q)
    events: list[Event] = []
    hints: dict[str, str] = {}
    for i, raw in enumerate(req.events):
        try:
            ev = parse_event(raw, now)
            if isinstance(ev, MessageDenied):
                owner = resolver.user(ev.recipient)
                dom = resolver.domain(ev.recipient)
                company = owner[2] if owner else (dom[1] if dom else None)
                # (a missing domain's company is asked about as company 0: rule 3,
                # the same work as for another tenant's)
                outside = allowed is not None and (company or 0) not in allowed
                if company is None or outside:
                    raise BadEvent("recipient", "is not an address of a known domain")
            else:
                owner = resolver.user(ev.user)
                if owner is None or (allowed is not None and owner[2] not in allowed):
                    raise BadEvent("user", "is not a user in the tree")
            events.append(ev)
        except BadEvent as bad:
            key = f"events[{i}].{bad.field}" if bad.field else f"events[{i}]"
            if len(hints) < MAX_HINTS:
                hints[key] = bad.reason
            else:
                hints.setdefault("events", "more bad events not listed")
    if hints:
        first = next(iter(hints))
        raise OMAError(
            BAD_ATTRIBUTE,
            f"{len(req.events) - len(events)} bad events, nothing counted; first: "
            f"{first} {hints[first]}",
            hints,
        )
    record_events(q, svc.periods, events, resolver)
    company = None if allowed is None else min(allowed)
    q.add_batch(scope, req.batch_id, company, now, len(events))
    return IngestEventsAnswer(accepted=len(events), duplicate=False)


class IngestTreeRequest(Request, kw_only=True):
    #: the tree's version the caller holds: an unchanged tree is answered without it
    version: int | None = None


class IngestTreeAnswer(Answer, kw_only=True):
    """What an ingest agent needs of the tree to join a log as ``mailtally ingest``
    does (ingest/agent.py): the caller's live domains, and each address of its
    accounts with the account's own address (an alias's or catch-all's owner)."""

    version: int
    #: False: the tree is still ``version``; ``domains`` and ``addresses`` are empty
    changed: bool
    domains: list[str]
    #: [address, the account's own address]
    addresses: list[tuple[str, str]]


_TreeKey = tuple[int, frozenset[int] | None]
_Tree = tuple[int, list[str], list[tuple[str, str]]]
#: per server: (tree version, companies) -> (digest, domains, addresses), the
#: last trees answered, so that agents polling an unchanged tree cost one point read
_TREES: WeakKeyDictionary[Service, dict[_TreeKey, _Tree]] = WeakKeyDictionary()
_TREES_KEPT = 32


def tree(
    q: Queries, p: Principal, known: int | None, trees: dict[_TreeKey, _Tree]
) -> IngestTreeAnswer:
    """The caller's part of the tree, and its ``version``.

    The version is a digest of that part alone, not the store's tree version:
    a company admin's agent must not learn when another company's tree changed
    (SPEC §2: nothing of another tenant shows)."""
    allowed = _allowed_companies(p)
    if allowed is not None and not allowed:
        raise OMAError(FORBIDDEN, "only operators and company admins may ingest events")
    key = (q.tree_version(), None if allowed is None else frozenset(allowed))
    kept = trees.get(key)
    if kept is None:
        domains = [n for n, c in q.live_domains() if allowed is None or c in allowed]
        addresses = [
            (address, own)
            for address, _user, _domain, company, own in q.accounts()
            if allowed is None or company in allowed
        ]
        digest = hashlib.sha256(msgspec.json.encode((domains, addresses))).digest()
        kept = (int.from_bytes(digest[:8]) >> 1, domains, addresses)
        if len(trees) >= _TREES_KEPT:
            del trees[next(iter(trees))]
        trees[key] = kept
    version, domains, addresses = kept
    if version == known:
        return IngestTreeAnswer(version=version, changed=False, domains=[], addresses=[])
    return IngestTreeAnswer(version=version, changed=True, domains=domains, addresses=addresses)


async def ingest_tree(svc: Service, req: IngestTreeRequest, p: Principal) -> IngestTreeAnswer:
    trees = _TREES.setdefault(svc, {})
    return await svc.read(lambda q: tree(q, p, req.version, trees))


async def ingest_events(svc: Service, req: IngestEventsRequest, p: Principal) -> IngestEventsAnswer:
    now = svc.clock.now()
    out = await svc.write(lambda q: ingest(q, svc, p, req, now))
    if out.accepted:
        svc.changed()
    return out


METHODS = {
    "ingest_events": Method(IngestEventsRequest, ingest_events, body_limit=32 * MIB, admit=admit),
    "ingest_tree": Method(IngestTreeRequest, ingest_tree, admit=admit),
}
