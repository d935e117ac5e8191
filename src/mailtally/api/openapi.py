"""``GET /api/openapi.json``: an OpenAPI 3.1 document of every method, made from
the method registry (:data:`mailtally.api.app.METHODS`) and the code's own
request and answer types, never written by hand.

Each method's request schema is its msgspec request struct's JSON Schema
(``msgspec.json.schema_components``), its answer that of the
:class:`~mailtally.api.common.Answer` its view returns
(:attr:`~mailtally.api.common.Method.answer`: the view's declared return
type).  Answers are closed objects: every member is listed.  A method added to
the registry is in the document at once.  Every error answer is the envelope
:class:`ErrorAnswer`, at each status SPEC §1 gives it; the mail-store methods
(api/mailstore.py) are listed with their one answer, 404.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from mailtally import __version__
from mailtally.api.common import MIB, Credentials, Method
from mailtally.errors import (
    BAD_ATTRIBUTE,
    BAD_CREDENTIALS,
    BAD_REQUEST,
    EXISTS,
    FORBIDDEN,
    IS_ALIAS,
    NOT_FOUND,
    SERVER_ERROR,
)

__all__ = ["ErrorAnswer", "UntypedAnswer", "build_document"]

ErrorNumber = Literal[
    SERVER_ERROR,
    BAD_CREDENTIALS,
    NOT_FOUND,
    IS_ALIAS,
    FORBIDDEN,
    BAD_REQUEST,
    BAD_ATTRIBUTE,
    EXISTS,
]


class ErrorAnswer(msgspec.Struct, kw_only=True):
    """A failure (``mailtally.errors.OMAError.body``): a sentence naming the
    offending field, OMA's error number (0 server error, 1 invalid credentials,
    2 no such object — or one outside your scope, 3 an alias, 4 not permitted,
    5 request badly formatted, 6 attribute badly formatted, 7 exists already),
    and per field the reason when there is one."""

    success: Literal[False]
    error: str
    error_number: ErrorNumber
    hints: dict[str, str] | UnsetType = UNSET


class UntypedAnswer(msgspec.Struct, kw_only=True):
    """The answer of a view that returns encoded bytes, not an answer type
    (``stats_summary``): ``success`` and the method's members."""

    success: bool = True


class PasswordCredentials(msgspec.Struct, kw_only=True):
    """``credentials`` by password."""

    user: str
    password: str
    client: str | UnsetType = UNSET


class TokenCredentials(msgspec.Struct, kw_only=True):
    """``credentials`` by a session token from ``authenticate``."""

    user: str
    token: str
    client: str | UnsetType = UNSET


#: the statuses a request may get besides 200, and when (SPEC §1)
ERROR_STATUSES = {
    "400": "the body is not a JSON object",
    "404": "no such method",
    "405": "a method other than POST",
    "413": "the body is over the limit",
    "500": "a fault of the server (logged; no traceback is sent)",
}

_REF = "#/components/schemas/{name}"

#: what tells a method's answer from its failure at status 200: the answer
#: types declare ``success: bool`` (default true), which an :class:`ErrorAnswer`
#: matches too, and ``oneOf`` needs exactly one of the two to match
_SUCCEEDED = {"properties": {"success": {"const": True}}, "required": ["success"]}


def _ref(tp: type) -> dict[str, str]:
    return {"$ref": _REF.format(name=tp.__name__)}


def _ecma(node: Any) -> Any:
    """msgspec writes Python's ``\\Z`` (end of text) in patterns; ECMA 262,
    which JSON Schema's patterns follow, spells it ``$`` (without the m flag)."""
    if isinstance(node, dict):
        return {
            k: (v[:-2] + "$" if k == "pattern" and v.endswith("\\Z") else _ecma(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_ecma(v) for v in node]
    return node


def _json(schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"content": {"application/json": {"schema": schema}}}
    out["description"] = description or "answer"
    return out


def _summary(method: Method) -> str:
    doc = inspect.getdoc(method.handler) or inspect.getdoc(inspect.getmodule(method.handler))
    return (doc or "").split("\n\n")[0].replace("\n", " ")


def _answers(method: Method) -> list[type[msgspec.Struct]]:
    """The types ``method`` answers with (none named: [])."""
    if method.answer is None:
        return []
    return list(method.answer) if isinstance(method.answer, tuple) else [method.answer]


def build_document(methods: Mapping[str, Method], mail_store: Iterable[str]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``methods`` (and of ``mail_store``'s names)."""
    types: list[Any] = [ErrorAnswer, Credentials, PasswordCredentials, TokenCredentials]
    if any(m.answer is None for m in methods.values()):
        types.append(UntypedAnswer)
    for m in methods.values():
        if m.request is not dict:
            types.append(m.request)
        types.extend(_answers(m))
    _, components = msgspec.json.schema_components(types, ref_template=_REF)
    components = _ecma(components)
    # Both forms of credentials (SPEC §1): the decoder takes one struct with
    # either field; the document says which combinations mean what.
    components["Credentials"]["anyOf"] = [_ref(PasswordCredentials), _ref(TokenCredentials)]
    error = _ref(ErrorAnswer)
    paths: dict[str, Any] = {}
    for name in sorted(methods):
        m = methods[name]
        request = {"type": "object"} if m.request is dict else _ref(m.request)  # type: ignore[arg-type]
        refs = [_ref(a) for a in _answers(m) or [UntypedAnswer]]
        # (anyOf: a summary with no periods is either shape)
        answer = refs[0] if len(refs) == 1 else {"anyOf": refs}
        responses: dict[str, Any] = {
            "200": _json(
                {"oneOf": [{"allOf": [answer, _SUCCEEDED]}, error]},
                "the method's answer, or its failure (success false, error_number 1-7)",
            )
        }
        responses.update({code: _json(error, why) for code, why in ERROR_STATUSES.items()})
        paths[f"/api/{name}"] = {
            "post": {
                "operationId": name,
                "summary": _summary(m) or name,
                "description": f"Body limit: {m.body_limit // MIB} MiB.",
                "requestBody": {"required": True, **_json(request, "the request")},
                "responses": responses,
            }
        }
    for name in sorted(mail_store):
        paths[f"/api/{name}"] = {
            "post": {
                "operationId": name,
                "summary": "a method of a mail store: mailtally keeps statistics, not mail",
                "requestBody": {"required": False, **_json({"type": "object"}, "any request")},
                "responses": {"404": _json(error, "always: error 5, saying so")},
            }
        }
    paths["/api/snapshot/{token}"] = {
        "get": {
            "operationId": "snapshot_download",
            "summary": "the CSV behind a stats_snapshot link (good for 15 minutes; "
            "no credentials: the token is the secret)",
            "parameters": [
                {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {
                    "description": "one row per account of the object (README)",
                    "content": {"text/csv": {"schema": {"type": "string"}}},
                },
                "404": _json(error, "an altered, unknown or expired link: error 2"),
            },
        }
    }
    paths["/api/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "summary": "this document",
            "responses": {"200": _json({"type": "object"}, "the OpenAPI document")},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mailtally: the OpenSRS Email Admin API (OMA) methods of a statistics service",
            "version": __version__,
            "description": (
                "Every method is POST /api/<method> with a JSON object; the same methods "
                "answer at POST /<method>.  Every method but echo takes `credentials`: "
                "{user, password} or {user, token}, with an optional client name.  "
                "A request that reached a method is answered 200, success or not."
            ),
        },
        "paths": paths,
        "components": {"schemas": components},
    }
