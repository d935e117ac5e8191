"""``stats_list``, ``stats_snapshot`` (SPEC §6) and the download behind the link.

``stats_snapshot`` checks the caller as ``stats_summary`` does (error 2 outside
its scope, 4 for an object it sees but may not read), then that the period is
one ``stats_list`` offers for the object (error 5 naming ``date``), and answers
a link on this server: ``GET /api/snapshot/<token>``, good for
:data:`~mailtally.snapshot.LINK_SECONDS` and for that object and period only,
without other credentials, while its maker may still read the object.

The token is 256 random bits; the store keeps only its SHA-256 (table
``snapshot_links``), so any API process serving the store accepts the link and
a copy of the store gives none.  A download looks the hash up by its key and
compares it in constant time; an altered or unknown link and an expired one
are answered HTTP 404 with error 2 and a sentence saying which (README
"Decisions").  The CSV is streamed (:class:`~mailtally.snapshot.SnapshotCSV`),
a page of accounts per short read on the store's reader threads.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated, Literal
from urllib.parse import quote

import msgspec
from starlette.requests import Request as HTTPRequest
from starlette.responses import Response, StreamingResponse

from mailtally.access import Action, allowed, forbidden
from mailtally.api.common import Answer, Method, Name, Part, Request, error_response
from mailtally.api.service import Service
from mailtally.api.stats import resolve_object
from mailtally.errors import BAD_REQUEST, NOT_FOUND, OMAError
from mailtally.periods import Period
from mailtally.snapshot import LINK_SECONDS, SnapshotCSV, find_period, parse_date, snapshot_list
from mailtally.store import Queries
from mailtally.tree import (
    Principal,
    Target,
    find_target,
    load_principal,
    own_company,
    require_stats_readable,
    target_by_id,
)

__all__ = ["METHODS", "download"]

#: the path of a link, below the server's base URL
LINK_PATH = "api/snapshot/"
#: what a token looks like (secrets.token_urlsafe(32)); anything else is refused
#: without a store read
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
#: links are forgotten this long after they expired (until then a late click is
#: told "expired", not "unknown")
KEEP_EXPIRED = 24 * 3600


class StatsListRequest(Request, kw_only=True):
    pass


class SnapshotPeriods(Part, kw_only=True):
    """Period keys, newest first (SPEC §5's names)."""

    month: list[str]
    week: list[str]
    day: list[str]


class StatsListAnswer(Answer, kw_only=True):
    """The periods a snapshot of the caller's scope can be made of."""

    snapshots: SnapshotPeriods


def list_createtime(q: Queries, p: Principal) -> int:
    """When the caller's scope began: its company for a company role, its
    domain for a domain role (an operator's: the platform, always).  A caller
    that may read no company or domain is error 4: a snapshot is of one."""
    if p.operator:
        return 0
    type_, name = resolve_object(q, p, None, None)
    if type_ == "company":
        return own_company(q, p, "list the snapshots of your company").createtime
    if type_ == "domain":
        return require_stats_readable(p, find_target(q, "domain", name), "domain", name).createtime
    raise forbidden("make snapshots: they are of a company or a domain, and you may read neither")


async def stats_list(svc: Service, req: StatsListRequest, p: Principal) -> StatsListAnswer:
    now = svc.clock.now()
    createtime = await svc.read(lambda q: list_createtime(q, p))
    return StatsListAnswer(snapshots=SnapshotPeriods(**snapshot_list(svc.periods, now, createtime)))


class StatsSnapshotRequest(Request, kw_only=True):
    type: Literal["company", "domain"]
    object: Name
    #: a period key from stats_list, or a day as YYYY-MM-DD
    date: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]


class StatsSnapshotAnswer(Answer, kw_only=True):
    """A link to the CSV (``GET``), good for 15 minutes."""

    snapshot: str


def _snapshot_of(
    q: Queries, svc: Service, p: Principal, req: StatsSnapshotRequest, now: int
) -> tuple[Target, Period]:
    """Scope first (rule 3), then the period."""
    t = require_stats_readable(p, find_target(q, req.type, req.object), req.type, req.object)
    return t, find_period(svc.periods, req.date.strip(), now, t.createtime)


async def stats_snapshot(
    svc: Service, req: StatsSnapshotRequest, p: Principal, base_url: str
) -> StatsSnapshotAnswer:
    now = svc.clock.now()
    t, period = await svc.read(lambda q: _snapshot_of(q, svc, p, req, now))
    token = secrets.token_urlsafe(32)

    def store(q: Queries) -> None:
        q.drop_snapshot_links(now - KEEP_EXPIRED)
        q.add_snapshot_link(
            _hash(token), t.company_id, t.type, t.id, period.kind, period.key, p.name,
            now + LINK_SECONDS,
        )  # fmt: skip

    await svc.write(store)
    return StatsSnapshotAnswer(snapshot=f"{base_url.rstrip('/')}/{LINK_PATH}{token}")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _link(q: Queries, svc: Service, token: str, now: int) -> tuple[Target, Period]:
    """The object and period a link is for; error 2 for a link that is not one
    (altered, made up) or has expired."""
    digest = _hash(token) if _TOKEN.fullmatch(token) else ""
    row = q.snapshot_link(digest) if digest else None
    # (found by its key; compared again in constant time all the same)
    if row is None or not hmac.compare_digest(row[0], digest):
        raise OMAError(
            NOT_FOUND,
            "this snapshot link is not one this server made (altered or incomplete); "
            "ask stats_snapshot for a new one",
        )
    _, kind, object_id, _, key, expires, creator = row
    if expires < now:
        raise OMAError(
            NOT_FOUND,
            f"this snapshot link expired {now - expires} s ago (links work for "
            f"{LINK_SECONDS // 60} minutes); ask stats_snapshot for a new one",
        )
    t = target_by_id(q, "company" if kind == "company" else "domain", object_id)
    if t is None:  # (companies and domains are never removed: not expected)
        raise OMAError(NOT_FOUND, "the object of this snapshot link no longer exists")
    # The link is its maker's reading of the object: it works only while the
    # maker (as the store has it now) may still read it, as the tokens an admin
    # made go with the maker's rights (session 15).
    maker = load_principal(q, creator)
    if maker is None or not allowed(maker, Action.READ, t.obj):
        raise OMAError(
            NOT_FOUND,
            "whoever made this snapshot link may no longer read its object (deleted, "
            "renamed, or its role taken away); ask stats_snapshot for a new one",
        )
    return t, parse_date(svc.periods, key)


async def download(request: HTTPRequest) -> Response:
    """``GET /api/snapshot/<token>``: the CSV, streamed."""
    if request.method not in ("GET", "HEAD"):
        return error_response(
            OMAError(BAD_REQUEST, f"a snapshot link takes GET, not {request.method}"), 405
        )
    svc: Service = request.app.state.service
    now = svc.clock.now()
    token = request.path_params["token"]
    try:
        t, period = await svc.read(lambda q: _link(q, svc, token, now))
    except OMAError as err:
        return error_response(err, 404)
    snapshot = SnapshotCSV(t, period, now)
    name = f"{t.name}-{period.key}.csv"
    headers = {
        "Content-Disposition": f'attachment; filename="snapshot-{period.key}.csv"; '
        f"filename*=UTF-8''{quote(name, safe='')}",
        "Cache-Control": "no-store",
    }
    return StreamingResponse(
        _stream(svc, snapshot), media_type="text/csv; charset=utf-8; header=present",
        headers=headers,
    )  # fmt: skip


async def _stream(svc: Service, snapshot: SnapshotCSV) -> AsyncIterator[bytes]:
    """The CSV a page at a time: each page one short read (a slow client holds
    no store connection between pages, and never more than a page in memory)."""
    yield snapshot.header().encode()
    after = 0
    while True:
        got = await svc.read(partial(snapshot.page, after=after))
        if got is None:
            break
        text, after = got
        yield text.encode()
    yield (await svc.read(snapshot.tail)).encode()


METHODS: dict[str, Method] = {
    "stats_list": Method(StatsListRequest, stats_list, answer=StatsListAnswer),
    "stats_snapshot": Method(
        StatsSnapshotRequest, stats_snapshot, answer=StatsSnapshotAnswer, links=True
    ),
}
