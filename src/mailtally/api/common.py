"""What every method module shares: credentials, the method record, helpers."""

from __future__ import annotations

import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from starlette.responses import Response

from mailtally.errors import BAD_REQUEST, OMAError
from mailtally.metrics import SERVICE_STATES, USER_TYPES
from mailtally.names import BAD_CHARACTERS, NAME_PATTERN
from mailtally.tree import Principal

__all__ = [
    "MIB",
    "Answer",
    "Credentials",
    "Done",
    "Method",
    "Name",
    "OptionalName",
    "Part",
    "Range",
    "Request",
    "RoleItem",
    "ServiceState",
    "UserType",
    "WorkgroupName",
    "bad_request",
    "error_response",
    "json_response",
]

MIB = 1024 * 1024

#: an object name: a company, a domain or an address.  Names are text (SPEC §2
#: rule 5): one with a control character is refused with error 5 at decoding,
#: in every method that takes a name, present or future.
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=320, pattern=NAME_PATTERN)]
#: a name that may be empty (set_role's object)
OptionalName = Annotated[str, msgspec.Meta(max_length=400, pattern=NAME_PATTERN)]
#: a workgroup's name: 1-64 characters of text, without '/' (a workgroup role's
#: object is ``domain/workgroup``)
WorkgroupName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=f"^[^{BAD_CHARACTERS}/]*\\Z")
]


class Credentials(msgspec.Struct, forbid_unknown_fields=True):
    #: a name (no name holds a control character, so none is looked up: on
    #: PostgreSQL a NUL in a query's text is a server error, not "unknown")
    user: Annotated[str, msgspec.Meta(min_length=1, max_length=320, pattern=NAME_PATTERN)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)] | None = None
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    #: recorded in the audit log: text, like a name (no control characters)
    client: Annotated[str, msgspec.Meta(max_length=128, pattern=NAME_PATTERN)] | None = None


class Range(msgspec.Struct, forbid_unknown_fields=True):
    """A page of a list (SPEC §4): ``limit`` items from the 0-based ``first``."""

    first: Annotated[int, msgspec.Meta(ge=0, le=2**31)] = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100


class Request(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every method's request: unknown fields are error 5 (SPEC §1)."""

    credentials: Credentials


class Answer(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of every method's answer type: the view returns it, it is encoded as
    it is (``success`` first, then the fields in the order they are declared; a
    field left ``msgspec.UNSET`` is left out), and its JSON Schema is the
    method's answer in ``GET /api/openapi.json``.  Answers are closed: the
    schema lists every member (``additionalProperties: false``), so a member
    added to a view without its type cannot reach a client undocumented."""

    success: bool = True


class Done(Answer, kw_only=True):
    """The answer of an action that has nothing to tell but that it was done."""


class Part(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of a member of an answer that is itself an object (closed, as
    :class:`Answer` is)."""


class RoleItem(Part, kw_only=True):
    """A role an account holds, over its object (SPEC §2)."""

    role: str
    object: str


#: a service's state (``service_<service>`` attributes)
ServiceState = Literal[SERVICE_STATES]  # (a tuple: the states, as if listed)
#: an account's type
UserType = Literal[USER_TYPES]

#: a view answers with an :class:`Answer` (or, for the two views named in
#: :attr:`Method.answer`, the encoded bytes or a dict of one); it takes
#: (service, request, caller), and the base URL when :attr:`Method.links`
Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Method:
    """One OMA method: its request schema and the view that answers it."""

    request: type[msgspec.Struct] | type[dict[str, Any]]
    handler: Handler
    body_limit: int = MIB
    #: asked once the caller is known and before the request's free-form fields
    #: are decoded (api/app.py): raises (error 4) for a caller the method will
    #: refuse whatever the request holds, so that it costs no decoding
    admit: Callable[[Principal], None] | None = None
    #: the answer's type, for the API document: the :class:`Answer` the view is
    #: declared to return, which it does.  Given by hand only for a view that
    #: returns something else (``echo``'s dict of what it was sent); None: a
    #: view that returns encoded bytes, documented as ``success`` and more.
    #: Several: the answer is one of them (``stats_summary``: a user's shape,
    #: or a company's or domain's).
    answer: type[Answer] | tuple[type[Answer], ...] | None = None
    #: the handler also takes the server's base URL (``http://host:port/``, as
    #: the request reached it): for answers that hold a link on this server
    links: bool = False

    def __post_init__(self) -> None:
        if self.answer is None:
            returns = typing.get_type_hints(self.handler).get("return")
            if isinstance(returns, type) and issubclass(returns, Answer):
                object.__setattr__(self, "answer", returns)


def bad_request(field: str, reason: str) -> OMAError:
    return OMAError(BAD_REQUEST, f"field '{field}' {reason}", {field: reason})


_encode = msgspec.json.Encoder().encode


def json_response(body: dict[str, Any] | bytes, status: int = 200) -> Response:
    content = body if isinstance(body, bytes) else _encode(body)
    return Response(content, status_code=status, media_type="application/json")


def error_response(err: OMAError, status: int = 200) -> Response:
    """The error envelope of SPEC §1 at ``status``."""
    return json_response(err.body(), status)
