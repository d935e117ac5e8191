"""POST /<method> (SPEC §1): OMA clients whose base URL has no trailing slash
post there; it answers as POST /api/<method>, limits and statuses included,
and every other path stays the unknown path it was."""

from __future__ import annotations

import pytest

from conftest import OPERATOR_CREDS, as_user


def both(client, method: str, verb: str = "POST", **kwargs):
    """The answers of /api/<method> and /<method> to the same request."""
    return [client.request(verb, f"{p}{method}", **kwargs) for p in ("/api/", "/")]


@pytest.mark.parametrize(
    "method, body",
    [
        ("echo", {"ping": "pong"}),
        ("get_user", {"credentials": OPERATOR_CREDS, "user": "bob@acme.com"}),
        ("get_user", {"credentials": OPERATOR_CREDS, "user": "ghost@acme.com"}),
        ("get_user", {"credentials": OPERATOR_CREDS, "user": "bob@acme.com", "bye": "week"}),
        ("search_users", {"credentials": as_user("admin@acme.com"), "criteria": {}}),
        ("authenticate", {"credentials": {"user": "bob@acme.com", "password": "wrong"}}),
    ],
)
def test_same_answer_at_the_root(platform, client, method, body):
    api, root = both(client, method, json=body)
    assert (root.status_code, root.json()) == (api.status_code, api.json())
    assert root.status_code == 200


def test_same_statuses_at_the_root(platform, client):
    cases = [
        ("get_user", {"content": b"[]"}, 400),
        ("get_user", {"content": b"{" + b" " * (1024 * 1024 + 1) + b"}"}, 413),
        ("get_user", {"verb": "GET"}, 405),
        ("get_user_messages", {"json": {}}, 404),
    ]
    for method, kwargs, status in cases:
        api, root = both(client, method, **kwargs)
        assert api.status_code == root.status_code == status
        assert root.json() == api.json()
        assert root.json()["success"] is False and root.json()["error_number"] == 5


def test_other_paths_stay_unknown(platform, client):
    unknown = client.post("/nothing/here", json={}).json()
    for path in ("/favicon.ico", "/no_such_method", "/api", "/", "/api/", "/openapi.json"):
        r = client.post(path, json={"credentials": OPERATOR_CREDS})
        assert r.status_code == 404, path
        assert r.json() == unknown, path
    # and the root does not shadow /api/openapi.json
    assert client.get("/api/openapi.json").json()["openapi"].startswith("3.1")
    assert client.post("/api/openapi.json").status_code == 405


def test_every_wrong_http_method_gets_the_json_answer(platform, client):
    """Found by tests/test_openapi_fuzz.py: TRACE (a method the routes did not
    list) got Starlette's plain-text "Method Not Allowed"; it is answered as PUT is."""
    paths = ("/api/echo", "/get_user", "/api/user_notify", "/api/openapi.json", "/nothing/here")
    for path in paths:
        put = client.put(path)
        assert put.status_code in (404, 405), (path, put.status_code)
        for verb in ("TRACE", "PROPFIND"):
            r = client.request(verb, path)
            assert r.status_code == put.status_code, (verb, path, r.status_code, r.text)
            assert r.json()["error"] == put.json()["error"].replace("PUT", verb), (verb, path)
            assert (r.json()["success"], r.json()["error_number"]) == (False, 5), (verb, path)
