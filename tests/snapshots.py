"""What the snapshot tests share: ask for a link, download it, read the CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from starlette.testclient import TestClient

from conftest import ok
from mailtally.snapshot import BOM, HEADER


def link(call, credentials: Any, **request: Any) -> str:
    """The link of a successful stats_snapshot, after checking its form."""
    answer = ok(call("stats_snapshot", credentials=credentials, **request))
    url = answer["snapshot"]
    assert url.startswith("http://testserver/api/snapshot/"), url
    return url


def download(client: TestClient, url: str) -> str:
    """The CSV behind a link, as text (its BOM checked and taken off)."""
    r = client.get(url)
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("text/csv; charset=utf-8")
    text = r.content.decode("utf-8")
    assert text.startswith(BOM)
    return text[len(BOM) :]


def refused(client: TestClient, url: str) -> dict[str, Any]:
    """The JSON error a link that does not work gets: HTTP 404, error 2."""
    r = client.get(url)
    assert r.status_code == 404, (r.status_code, r.text)
    body = r.json()
    assert body["success"] is False and body["error_number"] == 2, body
    return body


def rows(text: str) -> list[dict[str, str]]:
    """The rows of a CSV under its header (which must be :data:`HEADER`)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    assert tuple(header) == HEADER
    return [dict(zip(header, r, strict=True)) for r in reader]
