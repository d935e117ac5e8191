"""``stats_top``: the N domains or users of an object with the highest value of
one flow in one period (issue 12: the dashboard's key figures beside each name).

Not a method of OMA; written in its style.  The object is named and checked
exactly as ``stats_summary`` does (:func:`mailtally.api.stats.readable_target`:
the same defaults, scopes and error numbers 2/4/5), and the answer comes from
the rollup rows of the period in one statement (:meth:`Queries.flow_top`), never
from a summary per object.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from mailtally.api.common import Answer, Method, Name, Part, Request, bad_request
from mailtally.api.service import Service
from mailtally.api.stats import StatsSummaryRequest, readable_target
from mailtally.metrics import COMPANY_FLOWS
from mailtally.periods import Kind
from mailtally.store import Queries
from mailtally.tree import Principal

__all__ = ["METHODS", "StatsTopAnswer"]

#: a flow a company or domain summary shows (``messages.in_ham``, ``logins.imap4``…)
Metric = Literal[COMPANY_FLOWS]  # type: ignore[valid-type]


class StatsTopRequest(Request, kw_only=True):
    type: Literal["company", "domain"] | None = None
    object: Name | None = None
    of: Literal["domains", "users"] = "users"
    metric: Metric = "messages.in_ham"
    by: Literal["day", "week", "month"] = "day"
    #: a period key of ``by`` in stats_summary's window; default the current one
    period: Annotated[str, msgspec.Meta(min_length=1, max_length=17)] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 10


class TopItem(Part, kw_only=True):
    #: the domain or the address
    name: str
    value: int


class StatsTopAnswer(Answer, kw_only=True):
    """The period's key, the metric, and the objects highest first (ties by
    name); objects with 0 in the period are not listed."""

    period: str
    metric: str
    top: list[TopItem]


def find_top(svc: Service, q: Queries, p: Principal, req: StatsTopRequest) -> StatsTopAnswer:
    by: Kind = req.by
    now = svc.clock.now()
    keys = [w.key for w in svc.periods.window(by, now)]
    period = keys[-1] if req.period is None else req.period
    # scope first (SPEC §2 rule 3): the object, then what the request asks of it
    summary_req = StatsSummaryRequest(credentials=req.credentials, type=req.type, object=req.object)
    t = readable_target(q, p, summary_req)
    if period not in keys:
        raise bad_request(
            "period", f"is not a {by} of stats_summary's window ({keys[0]}…{keys[-1]})"
        )
    if t.type == "user":
        raise bad_request("object", "must be a company or a domain (stats_top lists what is in it)")
    if t.type == "domain" and req.of == "domains":
        raise bad_request("of", "must be 'users' for a domain")
    rows = q.flow_top(
        t.company_id,
        t.id if t.type == "domain" else None,
        req.of,
        req.metric,
        by,
        period,
        req.limit,
    )
    top = [TopItem(name=n, value=v) for n, v in rows]
    return StatsTopAnswer(period=period, metric=req.metric, top=top)


async def stats_top(svc: Service, req: StatsTopRequest, p: Principal) -> StatsTopAnswer:
    return await svc.read(lambda q: find_top(svc, q, p, req))


METHODS = {"stats_top": Method(StatsTopRequest, stats_top)}
