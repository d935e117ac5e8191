"""What operators run the API with: ``GET /healthz``, ``GET /readyz``,
``GET /metrics`` (Prometheus) and the access log.

Kept apart from the request path of :mod:`mailtally.api.app`: one ASGI
middleware (:class:`Observe`) sees every request from outside, notes its
method, outcome, status and duration in plain counters (a few dictionary
operations; no lock, no ``prometheus_client`` object, no logging record), and
writes its access-log line when that is on.  The counters become Prometheus
families only when ``/metrics`` is read (:class:`ServeCollector`).

The outcome is read from the start of the JSON answer every method gives
(``{"success":true`` or ``{"success":false,"error":…,"error_number":N``: the
envelope of SPEC §1, always encoded in that order), so the views tell this
module nothing but the authenticated caller's name (``scope["mailtally.user"]``).

Counts are per process: with ``serve --workers N`` each worker answers
``/metrics`` with its own.  On the API's port a scrape reaches whichever worker
the kernel picks, so with ``metrics_port`` set each process also serves its
registry on a port of its own (:func:`serve_own_metrics`), one scrape target
per worker (README "Deployment").
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from time import perf_counter
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request as HTTPRequest
from starlette.responses import Response

if TYPE_CHECKING:
    from mailtally.api.service import Service

__all__ = [
    "LATENCY_BUCKETS",
    "Observe",
    "RequestStats",
    "ServeCollector",
    "healthz",
    "metrics",
    "readyz",
    "serve_own_metrics",
]

#: Upper bounds (seconds) of the request latency histogram's buckets: a cached
#: answer is ~0.1 ms, an uncached summary a few ms, an argon2 check ~50 ms.
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)  # fmt: skip
#: the paths besides the OMA methods, as the ``method`` label names them
OPS_PATHS = {"/healthz": "healthz", "/readyz": "readyz", "/metrics": "metrics"}
#: how long ``/readyz`` waits for the store before it says not ready
READY_SECONDS = 2.0

_OK = b'{"success":true'
_FAILED = b'{"success":false'
_NUMBER = b'"error_number":'


def outcome_of(status: int, body: bytes) -> str:
    """``ok``, ``error_N`` (OMA's error number N) or, for an answer that is not
    the JSON envelope (a snapshot's CSV, the API document, ``/metrics``),
    ``ok`` below status 400 and ``http_STATUS`` from it on."""
    if body.startswith(_OK):
        return "ok"
    if body.startswith(_FAILED):
        at = body.find(_NUMBER)
        if at > 0:
            at += len(_NUMBER)
            end = at
            while end < len(body) and end - at < 3 and 48 <= body[end] <= 57:
                end += 1
            if end > at:
                return f"error_{int(body[at:end])}"
    return "ok" if status < 400 else f"http_{status}"


class RequestStats:
    """Requests by (method, outcome) and each method's latency histogram, as
    plain numbers: updated on the event loop only (so not locked), read by the
    collector when ``/metrics`` is asked for."""

    def __init__(self) -> None:
        #: method -> [{outcome: requests}, [requests per bucket, not cumulative (the
        #: last: over the last bound)], sum of seconds]
        self.methods: dict[str, list[Any]] = {}

    def record(self, method: str, outcome: str, seconds: float) -> None:
        m = self.methods.get(method)
        if m is None:
            m = self.methods[method] = [{}, [0] * (len(LATENCY_BUCKETS) + 1), 0.0]
        outcomes = m[0]
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        m[1][bisect_left(LATENCY_BUCKETS, seconds)] += 1
        m[2] += seconds


class Observe:
    """The outermost middleware: counts, times and (optionally) logs every request.

    ``methods``: the OMA method names (the ``method`` label of any other path
    is ``openapi``, ``snapshot_download``, ``healthz``, ``readyz``, ``metrics``
    or ``other``: a client cannot make new series).  ``access_log``: where each
    request's JSON line goes (a callable taking the encoded line), or None.
    """

    def __init__(
        self,
        app: Any,
        stats: RequestStats,
        methods: Iterable[str],
        access_log: Callable[[bytes], Any] | None = None,
    ) -> None:
        self.app = app
        self.stats = stats
        self.methods = frozenset(methods)
        self.access_log = access_log
        #: path -> its label, for every path a method is asked at (the rest: method_of)
        self.labels = {
            **OPS_PATHS,
            **{f"/api/{m}": m for m in self.methods},
            **{f"/{m}": m for m in self.methods},
        }

    def method_of(self, path: str) -> str:
        label = self.labels.get(path)
        if label is not None:
            return label
        if path == "/api/openapi.json":
            return "openapi"
        if path.startswith("/api/snapshot/"):
            return "snapshot_download"
        return "other"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        seen: list[Any] = [500, b""]  # status, the answer's first body bytes

        def observed(message: Any) -> Any:
            # a plain function handing back send's own awaitable: no coroutine
            # of its own per message (a third of this middleware's cost)
            if seen[1] == b"":
                kind = message["type"]
                if kind == "http.response.start":
                    seen[0] = message["status"]
                elif kind == "http.response.body":
                    seen[1] = message.get("body", b"")
            return send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            seconds = perf_counter() - started
            status, body = seen
            method = self.method_of(scope["path"])
            outcome = "ok" if body.startswith(_OK) else outcome_of(status, body)
            self.stats.record(method, outcome, seconds)
            if self.access_log is not None:
                self.access_log(access_line(scope, method, outcome, status, seconds))


_encode = msgspec.json.Encoder().encode


def access_line(scope: Any, method: str, outcome: str, status: int, seconds: float) -> bytes:
    """One request's access-log line: JSON, never a password, a token or a path
    (a snapshot link's path is its token)."""
    client = scope.get("client")
    return (
        _encode(
            {
                "time": round(time.time(), 3),
                "method": method,
                "outcome": outcome,
                "status": status,
                "ms": round(seconds * 1000, 3),
                "client": client[0] if client else None,
                "user": scope.get("mailtally.user"),
                "http": scope.get("method"),
            }
        )
        + b"\n"
    )


def stderr_log(line: bytes) -> None:
    """An access-log line to standard error (the journal, under systemd): one
    write, no buffering to lose at a crash."""
    with contextlib.suppress(OSError):  # a closed or full stderr must not fail the request
        os.write(2, line)


# -- the routes ---------------------------------------------------------------


async def healthz(request: HTTPRequest) -> Response:
    """``GET /healthz``: the process is alive and its event loop answers."""
    return Response(b'{"alive":true}', media_type="application/json")


async def readyz(request: HTTPRequest) -> Response:
    """``GET /readyz``: 200 when the store answers and its schema is at the
    newest migration this version knows (:meth:`Store.migration_status`),
    else 503 saying why."""
    from starlette.concurrency import run_in_threadpool

    svc: Service = request.app.state.service
    try:
        async with asyncio.timeout(READY_SECONDS):
            current, newest = await run_in_threadpool(svc.store.migration_status)
    except TimeoutError:
        return _not_ready(f"the store did not answer within {READY_SECONDS:g} s")
    except Exception as exc:  # any fault of the store is "not ready", not a 500
        return _not_ready(f"the store did not answer: {type(exc).__name__}: {exc}")
    if current != newest:
        return _not_ready(
            f"the store's schema is at migration {current}, this mailtally's is {newest}"
            + (" (run mailtally migrate)" if current < newest else "")
        )
    return Response(
        _encode({"ready": True, "schema_version": current}), media_type="application/json"
    )


def _not_ready(reason: str) -> Response:
    return Response(_encode({"ready": False, "reason": reason}), 503, media_type="application/json")


async def metrics(request: HTTPRequest) -> Response:
    """``GET /metrics``: Prometheus's text format, this process's registry."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)


# -- the collector --------------------------------------------------------------


class ServeCollector:
    """The API's families, made from :class:`RequestStats` and the service's
    own counters when ``/metrics`` is read (no cost per request beyond them)."""

    def __init__(self, stats: RequestStats, svc: Service) -> None:
        self.stats = stats
        self.svc = svc

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        s, svc = self.stats, self.svc
        requests = CounterMetricFamily(
            "mailtally_requests",
            "Requests answered, by OMA method and outcome (ok, error_N: OMA error N, http_STATUS)",
            labels=["method", "outcome"],
        )
        latency = HistogramMetricFamily(
            "mailtally_request_duration_seconds",
            "Time from a request's arrival to its answer's last byte, by OMA method",
            labels=["method"],
        )
        bounds = (*map(str, LATENCY_BUCKETS), "+Inf")
        for method, (outcomes, counts, total_seconds) in list(s.methods.items()):
            for outcome, n in list(outcomes.items()):
                requests.add_metric([method, outcome], n)
            cumulative, total = [], 0
            for bound, n in zip(bounds, list(counts), strict=True):
                total += n
                cumulative.append((bound, total))
            latency.add_metric([method], cumulative, total_seconds)
        yield requests
        yield latency
        hits, misses = svc.summary_hits, svc.summary_misses
        yield CounterMetricFamily(
            "mailtally_summary_cache_hits",
            "stats_summary answers given from the answer cache",
            value=hits,
        )
        yield CounterMetricFamily(
            "mailtally_summary_cache_misses",
            "stats_summary answers that read the store",
            value=misses,
        )
        yield GaugeMetricFamily(
            "mailtally_summary_cache_hit_ratio",
            "hits / (hits + misses) since the process started (rate() the two "
            "counters for a recent ratio)",
            value=hits / (hits + misses) if hits + misses else 0.0,
        )
        yield GaugeMetricFamily(
            "mailtally_summary_cache_bytes",
            "Estimated bytes of cached stats_summary answers",
            value=svc.summary_cache.nbytes,
        )
        checks = svc.auth.checks
        yield GaugeMetricFamily(
            "mailtally_argon2_checks_in_flight",
            "Password checks admitted and not finished (running on the argon2 threads "
            "or waiting for one)",
            value=checks.pending,
        )
        yield GaugeMetricFamily(
            "mailtally_argon2_threads",
            "Password checks run at once at most",
            value=checks.workers,
        )
        yield CounterMetricFamily(
            "mailtally_argon2_checks_refused",
            "Password checks refused at once because too many were waiting (error 1)",
            value=checks.refused,
        )


def serve_own_metrics(registry: Any, first_port: int, ports: int, host: str) -> Any | None:
    """Serve ``registry`` at ``http://host:PORT/metrics`` on a daemon thread, on
    the first port of ``first_port`` .. ``first_port + ports - 1`` free to bind
    (``serve --workers N``: N processes take N ports, whichever starts first
    taking the lowest; a restarted worker takes the one its predecessor left).
    Returns the server (``server_port`` says which), or None when every port is
    taken: the API goes on serving, and says so on standard error."""
    from prometheus_client import start_http_server

    for port in range(first_port, min(first_port + ports, 65536)):
        try:
            server, _thread = start_http_server(port, addr=host, registry=registry)
        except OSError:
            continue
        return server
    print(
        f"mailtally: metrics_port: no free port in {first_port}..{first_port + ports - 1} "
        f"on {host}; this process's /metrics is only on the API's port",
        file=sys.stderr,
        flush=True,
    )
    return None


def make_registry(stats: RequestStats, svc: Service) -> Any:
    """This process's registry: the API's families and the process's own
    (CPU, memory, open files)."""
    from prometheus_client import CollectorRegistry, ProcessCollector

    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServeCollector(stats, svc))  # type: ignore[arg-type]
    ProcessCollector(namespace="mailtally", registry=registry)
    return registry
