"""The web dashboard (issue 12): ``GET /`` and ``GET /static/<file>``.

The page is one more OMA client: it signs in with ``authenticate`` and draws
what ``stats_summary``, ``stats_top`` and the searches answer, over the same
origin.  Its files ship inside the package (``mailtally/web``), are read once
and served from memory; only files found there are served (a name is looked up
in that table, never joined to a path).  Every answer carries a strict
Content-Security-Policy (no inline script or style, no other origin), nosniff
and no referrer.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

from starlette.requests import Request as HTTPRequest
from starlette.responses import Response

__all__ = ["SECURITY_HEADERS", "asset", "assets", "index"]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # the files change with the package: a browser asks again (cheap, and a
    # new version is never mixed with an old cached script)
    "Cache-Control": "no-cache",
}
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

_assets: dict[str, tuple[bytes, str]] | None = None


def _walk(d: Traversable, prefix: str, out: dict[str, tuple[bytes, str]]) -> None:
    for entry in d.iterdir():
        if entry.is_dir():
            _walk(entry, f"{prefix}{entry.name}/", out)
            continue
        dot = entry.name.rfind(".")
        kind = TYPES.get(entry.name[dot:]) if dot >= 0 else None
        if kind is not None:
            out[prefix + entry.name] = (entry.read_bytes(), kind)


def assets() -> dict[str, tuple[bytes, str]]:
    """Every servable file of ``mailtally/web`` by its path there: (bytes, type)."""
    global _assets
    if _assets is None:
        found: dict[str, tuple[bytes, str]] = {}
        _walk(resources.files("mailtally.web"), "", found)
        _assets = found
    return _assets


def _send(found: tuple[bytes, str] | None, method: str) -> Response:
    if found is None:
        return Response(b"not found\n", 404, SECURITY_HEADERS, "text/plain; charset=utf-8")
    body, kind = found
    headers = dict(SECURITY_HEADERS)
    if method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(b"", 200, headers, kind)
    return Response(body, 200, headers, kind)


async def index(request: HTTPRequest) -> Response:
    return _send(assets().get("index.html"), request.method)


async def asset(request: HTTPRequest) -> Response:
    return _send(assets().get(request.path_params["path"]), request.method)
