"""GET /api/openapi.json: a valid OpenAPI 3.1 document of exactly the methods
the app routes, whose schemas are the ones the code decodes and encodes with."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from conftest import NOW, OPERATOR_CREDS, as_user, rfc
from mailtally.api.app import METHODS
from mailtally.api.mailstore import MAIL_STORE_METHODS
from mailtally.api.openapi import UntypedAnswer

#: views that may answer untyped in the document: none (a view that returns
#: encoded bytes names its answer types by hand, as stats_summary does)
UNTYPED: frozenset[str] = frozenset()
#: views whose answer type is given by hand, as they return no struct: ``echo``
#: (what it was sent comes back: a dict, the one open answer) and
#: ``stats_summary`` (its answer is built, cached and encoded by summary.py:
#: bytes of either of its two shapes)
BY_HAND = {"echo", "stats_summary"}


@pytest.fixture
def document(client) -> dict[str, Any]:
    r = client.get("/api/openapi.json")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    return r.json()


def test_the_document_is_valid_openapi_31(document):
    assert document["openapi"].startswith("3.1")
    validate(document)  # raises on any error


def test_every_routed_method_is_in_it_and_nothing_else(document):
    documented = {p.removeprefix("/api/") for p in document["paths"]}
    # (besides the methods: this document, and the download behind a
    # stats_snapshot link, which takes GET)
    assert documented - {"openapi.json", "snapshot/{token}"} == set(METHODS) | MAIL_STORE_METHODS
    assert set(document["paths"]["/api/snapshot/{token}"]) == {"get"}
    for name in METHODS:
        post = document["paths"][f"/api/{name}"]["post"]
        assert post["operationId"] == name
        assert set(post["responses"]) == {"200", "400", "404", "405", "413", "500"}
    for name in MAIL_STORE_METHODS:
        assert set(document["paths"][f"/api/{name}"]["post"]["responses"]) == {"404"}


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> OAS31Validator:
    """``schema`` with the document's components, as a validator."""
    return OAS31Validator({**schema, "components": document["components"]})


def _answer_schema(document, method: str, status: str = "200") -> dict[str, Any]:
    post = document["paths"][f"/api/{method}"]["post"]
    return post["responses"][status]["content"]["application/json"]["schema"]


def _request_schema(document, method: str) -> dict[str, Any]:
    post = document["paths"][f"/api/{method}"]["post"]
    return post["requestBody"]["content"]["application/json"]["schema"]


def _components(document: dict[str, Any], schema: Any) -> Iterator[str]:
    """The names of the component schemas ``schema`` refers to, at any depth."""
    seen: set[str] = set()
    todo = [schema]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and (name := ref.rsplit("/", 1)[1]) not in seen:
                seen.add(name)
                yield name
                todo.append(document["components"]["schemas"][name])
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)


def test_every_method_answers_a_type_of_its_own(document):
    """Every routed method's success is a schema of its own, closed (every
    member named, at every depth), made from the type its view returns — so
    that a method added later cannot answer an undocumented dict."""
    for name, method in METHODS.items():
        success = _answer_schema(document, name)["oneOf"][0]["allOf"][0]
        if method.answer is None:
            assert name in UNTYPED, f"{name}'s view returns no answer type"
            assert success == {"$ref": f"#/components/schemas/{UntypedAnswer.__name__}"}
            continue
        answers = method.answer if isinstance(method.answer, tuple) else (method.answer,)
        refs = [{"$ref": f"#/components/schemas/{a.__name__}"} for a in answers]
        assert success == (refs[0] if len(refs) == 1 else {"anyOf": refs}), name
        if name not in BY_HAND:
            assert typing.get_type_hints(method.handler)["return"] is method.answer, name
        for part in _components(document, success):
            schema = document["components"]["schemas"][part]
            if part == "EchoAnswer":
                continue
            assert schema["type"] == "object", (name, part)
            assert schema.get("additionalProperties") is False, (name, part)


def test_real_answers_match_the_document(document, platform, client):
    """Answers the app gives — successes, failures, and each HTTP status —
    validate against the schemas the document gives them."""
    calls: list[tuple[str, dict[str, Any], str]] = [
        ("echo", {"hello": [1, {"a": None}]}, "200"),
        ("authenticate", {"generate_session_token": True, "fetch_extra_info": True}, "200"),
        ("get_company", {"company": "Acme"}, "200"),
        ("get_domain", {"domain": "acme.com"}, "200"),
        ("get_user", {"user": "alice@acme.com"}, "200"),
        ("change_user", {"user": "bob@acme.com", "attributes": {"quota": 5}}, "200"),
        ("get_user_changes", {"user": "bob@acme.com"}, "200"),
        ("get_company_changes", {"company": "Acme"}, "200"),
        ("get_user_attribute_history", {"user": "bob@acme.com", "attribute": "quota"}, "200"),
        ("generate_token", {"user": "bob@acme.com", "reason": "support"}, "200"),
        ("logout_user", {"user": "bob@acme.com"}, "200"),
        (
            "ingest_events",
            {
                "batch_id": "b1",
                "events": [{"time": rfc(NOW - 60), "kind": "forward", "user": "bob@acme.com"}],
            },
            "200",
        ),
        ("stats_summary", {"object": "acme.com"}, "200"),
        ("search_users", {"criteria": {"domain": "acme.com"}, "fields": ["type"]}, "200"),
        ("search_users", {"criteria": {"domain": "acme.com", "deleted": True}}, "200"),
        ("search_domains", {}, "200"),
        ("search_workgroups", {"criteria": {"domain": "acme.com"}}, "200"),
        ("search_companies", {}, "200"),
        ("stats_top", {"object": "Acme", "of": "domains", "by": "week"}, "200"),
        ("search_users", {"criteria": {"domain": "ghost.example"}}, "200"),
        ("search_users", {"range": {"limit": 0}}, "200"),
        ("get_user", {"user": "bob@acme.com"}, "200"),
        ("create_workgroup", {"domain": "acme.com", "workgroup": "w"}, "200"),
        *(
            ("stats_summary", {"type": t, "object": o, "by": by}, "200")
            for t, o in (("user", "alice@acme.com"), ("domain", "acme.com"), ("company", "Acme"))
            for by in ("day", "week", "month")
        ),
    ]
    for method, body, status in calls:
        r = client.post(f"/api/{method}", json={"credentials": OPERATOR_CREDS, **body})
        assert str(r.status_code) == status
        errors = list(_validator(document, _answer_schema(document, method)).iter_errors(r.json()))
        assert not errors, (method, r.json(), errors)
    # the error statuses: 400, 404, 405, 413 (and 404 of a mail-store method)
    error = _validator(document, _answer_schema(document, "get_user", "404"))
    for r in (
        client.post("/api/get_user", content=b"[1]"),
        client.post("/api/no_such_method", json={}),
        client.get("/api/get_user"),
        client.post("/api/get_user", content=b"{" + b" " * (2 * 1024 * 1024) + b"}"),
        client.post("/api/get_user_messages", json={}),
    ):
        assert r.status_code in (400, 404, 405, 413)
        assert not list(error.iter_errors(r.json())), r.json()


def test_the_summary_shapes_are_told_apart(document, platform, client):
    """stats_summary answers a user's shape (every leaf a string) or a company's
    and a domain's (every value an integer): a period of one shape with the
    other's values is not an answer of the document."""
    schema = _validator(document, _answer_schema(document, "stats_summary"))
    shapes = []
    for type_, name in (("user", "alice@acme.com"), ("domain", "acme.com")):
        body = {"credentials": OPERATOR_CREDS, "type": type_, "object": name, "by": "month"}
        answer = client.post("/api/stats_summary", json=body).json()
        assert answer["success"] and answer["summary"], answer
        assert not list(schema.iter_errors(answer))
        shapes.append(answer)
    user, domain = shapes
    period = next(iter(user["summary"]))
    user["summary"][period]["messages"]["in_size"] = 5
    domain["summary"][period]["messages"]["in_size"] = "5"
    user_missing = {**shapes[0], "summary": {period: {"messages": {}}}}
    for wrong in (user, domain, user_missing):
        assert list(schema.iter_errors(wrong)), wrong


def test_requests_match_the_document(document):
    """Requests the clients send validate; a bad one does not."""
    for creds in (OPERATOR_CREDS, {"user": "bob@acme.com", "token": "t" * 32, "client": "php"}):
        body = {"credentials": creds, "criteria": {"domain": "acme.com"}, "range": {"limit": 5}}
        assert not list(
            _validator(document, _request_schema(document, "search_users")).iter_errors(body)
        )
    bad = {"credentials": as_user("bob@acme.com"), "range": {"limit": 5000}}
    assert list(_validator(document, _request_schema(document, "search_users")).iter_errors(bad))
    no_secret = {"credentials": {"user": "bob@acme.com"}}
    assert list(
        _validator(document, _request_schema(document, "search_users")).iter_errors(no_secret)
    )


def test_a_failure_at_200_matches_exactly_one_branch(document, platform, client):
    """Found by tests/test_openapi_fuzz.py: a failure answered 200 matched both
    the method's answer (``success``: any boolean) and the error, and ``oneOf``
    wants exactly one."""
    for method, body, number in (
        ("get_user", {"user": "nobody@acme.com"}, 2),
        ("get_user", {"user": "bob@acme.com", "bye": "week"}, 5),
        ("stats_summary", {"credentials": {"user": "root", "password": "wrong"}}, 1),
    ):
        r = client.post(f"/api/{method}", json={"credentials": OPERATOR_CREDS, **body})
        assert (r.status_code, r.json()["error_number"]) == (200, number)
        schema = _answer_schema(document, method)
        assert not list(_validator(document, schema).iter_errors(r.json())), r.json()
        success_branch = _validator(document, schema["oneOf"][0])
        assert list(success_branch.iter_errors(r.json())), r.json()
    answer = client.post(
        "/api/get_user", json={"credentials": OPERATOR_CREDS, "user": "bob@acme.com"}
    )
    error_branch = _validator(document, _answer_schema(document, "get_user")["oneOf"][1])
    assert list(error_branch.iter_errors(answer.json()))
