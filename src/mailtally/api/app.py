"""The HTTP front: routing, body limits, credentials and the error envelope.

``POST /api/<method>`` with a JSON object (and ``POST /<method>``, where OMA
clients that join a base URL without ``/api`` send it).  Status codes (SPEC §1):
200 for every request that reached a method, success or not; 400 for a body that is not a
JSON object; 404 unknown method; 405 not POST; 413 body over the limit; 500 a
fault of ours.  Every answer is a JSON object with ``success``; a traceback
never reaches a client.
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import logging
import re
import typing
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request as HTTPRequest
from starlette.responses import Response
from starlette.routing import Route

from mailtally.api import (
    changes,
    companies,
    dashboard,
    domains,
    events,
    ops,
    search,
    session,
    snapshots,
    stats,
    tokens,
    top,
    users,
    workgroups,
)
from mailtally.api.common import (
    Credentials,
    Method,
    bad_request,
    error_response,
    json_response,
)
from mailtally.api.mailstore import MAIL_STORE_METHODS, mail_store_error
from mailtally.api.openapi import build_document
from mailtally.api.service import Service
from mailtally.config import Config
from mailtally.errors import BAD_REQUEST, SERVER_ERROR, OMAError
from mailtally.periods import Clock
from mailtally.store import Store
from mailtally.tree import Principal

__all__ = ["create_app"]

_ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]

log = logging.getLogger("mailtally.api")

METHODS: dict[str, Method] = {
    **session.METHODS,
    **companies.METHODS,
    **domains.METHODS,
    **users.METHODS,
    **stats.METHODS,
    **snapshots.METHODS,
    **events.METHODS,
    **search.METHODS,
    **workgroups.METHODS,
    **changes.METHODS,
    **tokens.METHODS,
    **top.METHODS,
}

_encode = msgspec.json.Encoder().encode
_decoders = {
    name: msgspec.json.Decoder(dict[str, Any] if m.request is dict else m.request)
    for name, m in METHODS.items()
}


def _free_form(tp: Any, seen: frozenset[Any] = frozenset()) -> bool:
    """May the annotation decode to objects many times its JSON's size: ``Any``
    or a container (``list``, ``dict``, ...) anywhere in it, a struct's fields
    included (so a method added later, with a ``list[Name]`` or a struct of
    criteria, is held to it without edits here)?"""
    if tp is Any or typing.get_origin(tp) in (list, dict, set, frozenset, tuple):
        return True
    if tp in (list, dict, set, frozenset, tuple):
        return True
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        if tp in seen:
            return False
        hints = typing.get_type_hints(tp)
        return any(_free_form(h, seen | {tp}) for h in hints.values())
    return any(_free_form(a, seen) for a in typing.get_args(tp))


def _light(request: Any) -> type[msgspec.Struct] | None:
    """The request schema with every free-form field (``dict[str, Any]``,
    ``list[Any]``) read as :class:`msgspec.Raw`: a view into the body, not the
    objects it spells.  None when the schema has no such field.

    SPEC §2 rule 4: a body is decoded with this before its credentials are
    checked, and whole only after.  JSON builds objects many times its own size
    (``[[],[],...]``: ~20x), so decoding a 32 MiB ``ingest_events`` batch whole
    took some 740 MiB before anyone knew who sent it.  The raw body, which the
    body budget bounds, is what a request holds while it waits.
    """
    if not (isinstance(request, type) and issubclass(request, msgspec.Struct)):
        return None
    hints = typing.get_type_hints(request)
    free = {
        f.name
        for f in msgspec.structs.fields(request)
        if f.name != "credentials" and _free_form(hints[f.name])
    }
    if not free:
        return None
    fields: list[Any] = []
    for f in msgspec.structs.fields(request):
        tp = msgspec.Raw if f.name in free else f.type
        if f.required:
            fields.append((f.name, tp))
        elif f.name in free:
            fields.append((f.name, tp, None))
        elif f.default_factory is not msgspec.NODEFAULT:
            fields.append((f.name, tp, msgspec.field(default_factory=f.default_factory)))
        else:
            fields.append((f.name, tp, f.default))
    return msgspec.defstruct(
        f"{request.__name__}Unread", fields, kw_only=True, forbid_unknown_fields=True
    )


#: method -> the decoder run before the credentials are checked, for the methods
#: whose schema has free-form fields (the others are decoded whole at once: their
#: fields are bounded in size)
_unread_decoders = {
    name: msgspec.json.Decoder(light)
    for name, m in METHODS.items()
    if (light := _light(m.request)) is not None
}


_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<f>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<f>[^`]*)`$")


def translate(exc: msgspec.ValidationError) -> OMAError:
    """msgspec's message → error 5 naming the field, with ``hints``."""
    m = _AT.match(str(exc))
    msg = m.group("msg") if m else str(exc)
    path = (m.group("path") or "") if m else ""
    path = re.sub(r"\[(\d+)\]", r".\1", path).lstrip(".")
    if u := _UNKNOWN.match(msg):
        field = f"{path}.{u.group('f')}" if path else u.group("f")
        return bad_request(field, "is not a field of this method")
    if mm := _MISSING.match(msg):
        field = f"{path}.{mm.group('f')}" if path else mm.group("f")
        return bad_request(field, "is required")
    if not path:
        return OMAError(BAD_REQUEST, f"request badly formatted: {msg}")
    if "matching regex" in msg:  # the only pattern is common.Name's
        return bad_request(path, "must not contain control characters")
    reason = msg[0].lower() + msg[1:] if msg else "is not valid"
    reason = reason.replace("expected", "must be").replace("`", "")
    return bad_request(path, reason)


async def read_body(request: HTTPRequest, limit: int) -> bytes | None:
    """The body, or None once it exceeds ``limit`` bytes (read no further)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def authenticate(
    svc: Service, creds: Credentials, address: str = ""
) -> tuple[Principal, str]:
    """The caller of a request; ``address`` is the client's (failed tokens count by it)."""
    if creds.password is None and creds.token is None:
        raise bad_request("credentials", "needs a password or a token")
    method = "password" if creds.password is not None else "token"
    # the hot path (a cached credential or token) costs no I/O and no thread hop;
    # an unknown password waits for one of the argon2 threads, never the shared pool
    p = await svc.auth.check(creds.user, creds.password, creds.token, address)
    if not p.operator:
        svc.auth_counter.add(p.name, method, svc.clock.now())
    return p, method


#: A body up to this size is read without asking the body budget: what any
#: number of connections can hold so is bounded by what the connections
#: themselves cost (uvicorn buffers as much per connection before it stops
#: reading).  OMA requests are a few hundred bytes.
SMALL_BODY = 64 * 1024
# Larger bodies share Service.bodies (48 MiB): they are held at once (read,
# decoded, waiting for their credentials to be checked, handled) up to it — one
# 32 MiB ``ingest_events`` batch, or 48 bodies of 1 MiB — and a request past it
# waits, unread, for its turn (SPEC §2 rule 4: no memory without credentials,
# and the credentials are inside the body).
#: A large body must arrive within this many seconds of its turn, so that a
#: slow sender cannot hold the budget for ever.
BODY_SECONDS = 120


def _declared_length(request: HTTPRequest) -> int | None:
    declared = request.headers.get("content-length")
    return int(declared) if declared is not None and declared.isdigit() else None


async def dispatch(request: HTTPRequest) -> Response:
    svc: Service = request.app.state.service
    name = request.path_params["method"]
    method = METHODS.get(name)
    if method is None:
        if name in MAIL_STORE_METHODS:
            return error_response(mail_store_error(name), 404)
        return error_response(OMAError(BAD_REQUEST, f"unknown method '{name}'"), 404)
    if request.method != "POST":
        return error_response(
            OMAError(BAD_REQUEST, f"method '{name}' takes POST, not {request.method}"), 405
        )
    declared = _declared_length(request)
    need = method.body_limit if declared is None else declared
    if need <= SMALL_BODY or need > method.body_limit:
        # (over the limit: read_body refuses it at once, 413)
        return await _handle(
            svc, request, name, method, await read_body(request, method.body_limit)
        )
    # A large body (or one of unknown length) takes its share of the budget
    # before a byte of it is read, and holds it until its answer is made.
    granted = await svc.bodies.acquire(need)
    try:
        try:
            async with asyncio.timeout(BODY_SECONDS):
                body = await read_body(request, method.body_limit)
        except TimeoutError:
            return error_response(
                OMAError(BAD_REQUEST, f"request body not received within {BODY_SECONDS} s"), 400
            )
        return await _handle(svc, request, name, method, body)
    finally:
        svc.bodies.release(granted)


async def _handle(
    svc: Service, request: HTTPRequest, name: str, method: Method, body: bytes | None
) -> Response:
    """Decode, authenticate and answer one request (``body`` None: over the limit)."""
    if body is None:
        return error_response(
            OMAError(
                BAD_REQUEST,
                f"request body over the limit of {method.body_limit // (1024 * 1024)} MiB",
            ),
            413,
        )
    unread = _unread_decoders.get(name)
    try:
        req = (unread or _decoders[name]).decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        return _refused(body, exc)  # (msgspec.ValidationError is a DecodeError)
    if unread is None:
        # not kept while the credentials are checked (a wait for an argon2
        # thread): JSON may pad a small request to the body limit
        del body
    # (else the free-form fields are views into the body, which the budget
    # bounds: they are decoded only once the caller is known, below)
    try:
        principal = None
        creds = getattr(req, "credentials", None)
        if isinstance(creds, Credentials):
            # The peer of the connection, or the client a trusted proxy names
            # (uvicorn's proxy headers, config ``trusted_proxies``).
            address = request.client.host if request.client else ""
            principal, _ = await authenticate(svc, creds, address)
            request.scope["mailtally.user"] = principal.name  # (the access log's, api/ops.py)
        if method.admit is not None and principal is not None:
            method.admit(principal)  # before the free-form fields cost anything
        if unread is not None:
            del req
            try:
                req = _decoders[name].decode(body)
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
                return _refused(body, exc)
            del body
        if method.links:
            answer = await method.handler(svc, req, principal, str(request.base_url))
        else:
            answer = await method.handler(svc, req, principal)
    except OMAError as err:
        return error_response(err)
    if isinstance(answer, bytes | msgspec.Struct):
        return json_response(answer if isinstance(answer, bytes) else _encode(answer))
    return json_response({"success": True, **answer})  # (echo: what it was sent)


def _refused(body: bytes, exc: Exception) -> Response:
    """A body the method's decoder refused: 400 unless it is a JSON object, else
    error 5 naming the field.  The typed decoder stops at the first bad field, so
    the whole body is read again to tell the two apart (bad UTF-8 in a string,
    trailing garbage, nesting deeper than the decoder goes and a non-object body
    are all 400) — read, not built into objects."""
    # Not decoded into objects to tell them apart (rule 4: a refused body of
    # 32 MiB would take ~20 times that, without credentials): a struct of no
    # fields skips every value, checking only that the body is one JSON object.
    try:
        if not isinstance(exc, msgspec.ValidationError):
            raise exc
        _any_object.decode(body)
        _check_utf8(body)  # (skipping does not look inside strings)
    except RecursionError:
        return error_response(OMAError(BAD_REQUEST, "the request body is nested too deeply"), 400)
    except msgspec.ValidationError:
        return error_response(OMAError(BAD_REQUEST, "the request body must be a JSON object"), 400)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return error_response(OMAError(BAD_REQUEST, "the request body is not valid JSON"), 400)
    return error_response(translate(exc))


def _check_utf8(body: bytes) -> None:
    """UnicodeDecodeError unless ``body`` is UTF-8; a megabyte at a time, so
    that checking costs no copy of the whole body."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(body)
    step = 1024 * 1024
    for i in range(0, len(view), step):
        decoder.decode(view[i : i + step], final=i + step >= len(view))


class _AnyObject(msgspec.Struct):
    """Any JSON object: its fields are skipped, not decoded."""


_any_object = msgspec.json.Decoder(_AnyObject)


async def dispatch_root(request: HTTPRequest) -> Response:
    """``/<method>``: a method's name is answered as ``/api/<method>``; any
    other path is the unknown path it always was."""
    name = request.path_params["method"]
    if name in METHODS or name in MAIL_STORE_METHODS:
        return await dispatch(request)
    return await not_found(request)


async def openapi(request: HTTPRequest) -> Response:
    """``GET /api/openapi.json``: the API document (api/openapi.py)."""
    if request.method not in ("GET", "HEAD"):
        return error_response(
            OMAError(BAD_REQUEST, f"openapi.json takes GET, not {request.method}"), 405
        )
    return Response(_openapi_document(), media_type="application/json")


@functools.cache
def _openapi_document() -> bytes:
    """The API document, encoded at the first GET and then kept: every app of the
    process has the same (METHODS is fixed), and msgspec's walk of every request
    and answer type costs ~30 ms that no start-up of ``serve``'s workers, and no
    test's app, needs to pay."""
    return _encode(build_document(METHODS, MAIL_STORE_METHODS))


async def not_found(request: HTTPRequest) -> Response:
    return error_response(
        OMAError(BAD_REQUEST, "unknown path; methods are POST /api/<method> (or /<method>)"), 404
    )


async def other_http_method(request: HTTPRequest, exc: Exception) -> Response:
    """An HTTP method the routes do not list (TRACE, PROPFIND, ...): Starlette
    refuses it before any view, with a plain-text 405.  The view of the path
    answers it instead, as it answers PUT or GET: the JSON envelope of SPEC §1
    (405, or the 404 of a mail-store method or of an unknown path)."""
    status = getattr(exc, "status_code", 500)
    if status != 405:  # (the routes end in a catch-all: not expected)
        number = BAD_REQUEST if status < 500 else SERVER_ERROR
        return error_response(OMAError(number, str(getattr(exc, "detail", ""))), status)
    if request.url.path == "/api/openapi.json":
        return await openapi(request)
    if "method" not in request.path_params:
        return await not_found(request)
    if request.url.path.startswith("/api/"):
        return await dispatch(request)
    return await dispatch_root(request)


class ErrorEnvelope:
    """Last line of defence: any fault becomes a JSON 500, never a traceback."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("fault while serving %s", scope.get("path"))
            if started:
                raise
            response = error_response(
                OMAError(SERVER_ERROR, "server error; the fault was logged"), 500
            )
            await response(scope, receive, send)


def create_app(
    store: Store, config: Config, clock: Clock | None = None, workers: int = 1
) -> Starlette:
    """The ASGI app serving ``store`` (in one of ``workers`` server processes)."""
    svc = Service(store, config, clock)
    stats = ops.RequestStats()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own_metrics = None
        await svc.start()
        try:
            if config.metrics_port:
                own_metrics = ops.serve_own_metrics(
                    app.state.registry, config.metrics_port, workers, config.metrics_host
                )
            yield
        finally:
            await svc.stop()
            if own_metrics is not None:
                own_metrics.shutdown()
                own_metrics.server_close()

    app = Starlette(
        routes=[
            Route("/api/openapi.json", openapi, methods=_ALL_METHODS),
            Route(f"/{snapshots.LINK_PATH}{{token}}", snapshots.download, methods=_ALL_METHODS),
            Route("/api/{method}", dispatch, methods=_ALL_METHODS),
            # operators' (api/ops.py): after /api/{method}, so that a method's
            # request is not matched against them first (3 routes: ~20,000
            # instructions a request), and before /{method}, which would take them
            Route("/healthz", ops.healthz, methods=["GET", "HEAD"]),
            Route("/readyz", ops.readyz, methods=["GET", "HEAD"]),
            Route("/metrics", ops.metrics, methods=["GET", "HEAD"]),
            # the dashboard (api/dashboard.py): its page and files
            Route("/", dashboard.index, methods=["GET", "HEAD"]),
            Route("/static/{path:path}", dashboard.asset, methods=["GET", "HEAD"]),
            Route("/{method}", dispatch_root, methods=_ALL_METHODS),
            Route("/{path:path}", not_found, methods=_ALL_METHODS),
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: other_http_method},
    )
    app.state.service = svc
    app.state.registry = ops.make_registry(stats, svc)
    app.add_middleware(ErrorEnvelope)
    # outermost: it sees every answer, the error envelope's 500s included
    app.add_middleware(
        ops.Observe,
        stats=stats,
        methods=[*METHODS, *MAIL_STORE_METHODS],
        access_log=ops.stderr_log if config.access_log else None,
    )
    return app
