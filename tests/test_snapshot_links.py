"""stats_snapshot's link (SPEC §6): good for 15 minutes, for its object and
period only, without credentials, on any API process serving the store; an
expired or altered link is HTTP 404 with error 2 and a sentence saying which."""

from __future__ import annotations

import hashlib

from starlette.testclient import TestClient

from conftest import as_user, table_rows
from mailtally.api import create_app
from mailtally.snapshot import LINK_SECONDS
from mailtally.store import open_store
from snapshots import download, link, refused, rows

ADMIN = as_user("admin@acme.com")
ACME_NET = {"type": "domain", "object": "acme.net", "date": "2026-01"}


def test_link_gives_the_object_and_needs_no_credentials(platform, call, client):
    url = link(call, ADMIN, **ACME_NET)
    got = rows(download(client, url))  # (a GET without any credentials)
    assert [r["address"] for r in got if r["address"]] == [
        "dadmin@acme.net",
        "dmail@acme.net",
        "carol@acme.net",
    ]
    assert {r["domain"] for r in got} == {"acme.net"}
    r = client.get(url)
    assert r.headers["cache-control"] == "no-store"
    assert "acme.net-2026-01.csv" in r.headers["content-disposition"]


def test_link_works_for_15_minutes_then_expires(platform, call, client, clock):
    url = link(call, ADMIN, **ACME_NET)
    first = download(client, url)
    clock.value += LINK_SECONDS  # the last second it works
    assert download(client, url) == first
    clock.value += 1
    body = refused(client, url)
    assert "expired" in body["error"] and "stats_snapshot" in body["error"], body


def test_altered_links_are_refused(platform, call, client):
    url = link(call, ADMIN, **ACME_NET)
    base, token = url.rsplit("/", 1)
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (
        f"{base}/{flipped}",
        f"{base}/{token[:-1]}",
        f"{base}/{token}x",
        f"{base}/{token.upper()}",
        f"{base}/{'A' * 43}",
    ):
        r = client.get(bad)
        assert r.status_code == 404, (bad, r.text)
        body = r.json()
        assert body["success"] is False and body["error_number"] == 2, (bad, body)
    assert client.get(f"{base}/").status_code == 404  # (no token: an unknown path)
    body = refused(client, f"{base}/{flipped}")
    assert "not one this server made" in body["error"]
    assert download(client, url)  # the real one still works


def test_a_link_is_for_its_object_only(platform, call, client):
    net = rows(download(client, link(call, ADMIN, **ACME_NET)))
    com = rows(
        download(client, link(call, ADMIN, type="domain", object="acme.com", date="2026-01"))
    )
    assert {r["domain"] for r in net} == {"acme.net"}
    assert {r["domain"] for r in com} == {"acme.com"}
    company = rows(
        download(client, link(call, ADMIN, type="company", object="Acme", date="2026-01"))
    )
    accounts = {r["address"] for r in company if r["address"]}
    assert accounts == {r["address"] for r in net + com if r["address"]}
    assert not any(r["domain"] == "other.com" for r in company)


def test_the_store_keeps_only_a_hash(platform, call, fresh_store):
    url = link(call, ADMIN, **ACME_NET)
    token = url.rsplit("/", 1)[1]
    stored = table_rows(fresh_store, "snapshot_links")["snapshot_links"]
    assert len(stored) == 1
    assert stored[0][0] == hashlib.sha256(token.encode()).hexdigest()
    assert not any(token in str(v) for v in stored[0])


def test_a_link_works_on_another_process(platform, call, client, fresh_store, config, clock):
    """Made by one API process, downloaded from another serving the same store."""
    url = link(call, ADMIN, **ACME_NET)
    other = open_store(fresh_store.url)
    try:
        with TestClient(create_app(other, config, clock)) as second:
            assert download(second, url) == download(client, url)
            clock.value += LINK_SECONDS + 1
            assert "expired" in refused(second, url)["error"]
    finally:
        other.close()


def test_a_link_takes_get(platform, call, client):
    url = link(call, ADMIN, **ACME_NET)
    r = client.post(url, json={})
    assert r.status_code == 405
    body = r.json()
    assert body["success"] is False and body["error_number"] == 5 and "GET" in body["error"]
