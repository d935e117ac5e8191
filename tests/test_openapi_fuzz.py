"""Every method driven with bodies generated from ``GET /api/openapi.json``
(schemathesis, issue 10), against the real ASGI app on a copy of the platform
of conftest.

For each answer: no 5xx, its status is one the document lists, it matches the
document's schema for that status, and a failure carries ``error`` and
``error_number``.  Most bodies get valid credentials (else generated ones
would stop nearly every call at error 1, before the method), and most name
the platform's objects (else nearly every call stops at error 2); one body in
four keeps the credentials generated, one in three the names.  Runs are derandomized (the same
examples every run, no network), with a few examples per method.
"""

from __future__ import annotations

import shutil
import zlib
from collections.abc import Iterator
from typing import Any

import hypothesis
import msgspec
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from conftest import NOW, OPERATOR_CREDS, as_user, cheap_config
from mailtally.api import create_app
from mailtally.api.app import METHODS
from mailtally.api.mailstore import MAIL_STORE_METHODS
from mailtally.api.openapi import build_document
from mailtally.periods import FixedClock
from mailtally.store import open_store

#: examples per method: ~90 methods, so this is the run's length (about a minute)
EXAMPLES = 12

#: who a body is sent as, picked by the body's checksum: mostly the operator
#: (every method's whole scope), sometimes a company admin (scope rules), and
#: one in four as generated
CALLERS: tuple[dict[str, str] | None, ...] = (
    OPERATOR_CREDS,
    OPERATOR_CREDS,
    as_user("admin@acme.com"),
    None,
)


#: the document the app serves (it is built once, from the registry and the types);
#: test_the_app_serves_this_document proves they are the same
schema = schemathesis.openapi.from_dict(build_document(METHODS, MAIL_STORE_METHODS))


@pytest.fixture(scope="module")
def api(platform_file, tmp_path_factory) -> Iterator[TestClient]:
    """The app serving a copy of the platform, started once for every example."""
    path = tmp_path_factory.mktemp("fuzz") / "t.sqlite3"
    shutil.copyfile(platform_file, path)
    store = open_store(f"sqlite:///{path}")
    with TestClient(create_app(store, cheap_config(), FixedClock(NOW))) as client:
        yield client
    store.close()


def test_the_app_serves_this_document(api):
    assert api.get("/api/openapi.json").json() == build_document(METHODS, MAIL_STORE_METHODS)


def carries_error(ctx, response, case) -> bool | None:
    """A failure (``success: false``, at any status) names ``error`` and
    ``error_number`` (SPEC §1)."""
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("success"), bool), body
    if body["success"] is False:
        assert isinstance(body.get("error"), str) and body["error"], body
        assert isinstance(body.get("error_number"), int), body
    else:
        assert response.status_code == 200, (response.status_code, body)
    return None


#: names of the platform, put in place of generated ones in two bodies of three
#: (a generated name is nearly always "does not exist", error 2, before the action)
NAMES: dict[str, tuple[str, ...]] = {
    "user": ("bob@acme.com", "carol@acme.net", "alice@acme.com", "al@acme.net"),
    "domain": ("acme.com", "acme.net", "other.com"),
    "company": ("Acme", "Other"),
    "workgroup": ("sales", "staff"),
}


def _named(fields: dict[str, Any], key: int) -> dict[str, Any]:
    return {
        k: (NAMES[k][key % len(NAMES[k])] if k in NAMES and isinstance(v, str) else v)
        for k, v in fields.items()
    }


def with_platform(body: Any) -> Any:
    """``body`` with the credentials of the caller its checksum picks, and
    (mostly) the platform's names for the objects it names."""
    if not isinstance(body, dict):
        return body
    key = zlib.crc32(msgspec.json.encode(body, order="sorted"))
    if key % 3:
        body = _named(body, key)
        if isinstance(body.get("criteria"), dict):
            body["criteria"] = _named(body["criteria"], key)
    caller = CALLERS[key % len(CALLERS)]
    return body if caller is None else {**body, "credentials": caller}


@schema.exclude(path="/api/openapi.json").parametrize()
@hypothesis.settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_every_method_answers_as_documented(case, api):
    case.body = with_platform(case.body)
    response = api.request(**case.as_transport_kwargs(base_url=str(api.base_url)))
    case.validate_response(
        response,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            carries_error,
        ],
    )
