"""What every method module shares: credentials, the method record, helpers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from mailtally.errors import BAD_REQUEST, OMAError
from mailtally.names import BAD_CHARACTERS, NAME_PATTERN
from mailtally.tree import Principal

__all__ = [
    "MIB",
    "Answer",
    "Credentials",
    "Method",
    "Name",
    "OptionalName",
    "Range",
    "Request",
    "WorkgroupName",
    "bad_request",
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
    user: Annotated[str, msgspec.Meta(min_length=1, max_length=320)]
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


class Answer(msgspec.Struct, kw_only=True):
    """Base of a method's answer type: encoded as it is (a field left
    ``msgspec.UNSET`` is left out), and its JSON Schema is the method's answer
    in ``GET /api/openapi.json``."""

    success: bool = True


#: a view answers with a dict (``success`` added) or an :class:`Answer`
Handler = Callable[[Any, Any, Principal], Awaitable[Any]]


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
    #: the answer's type, for the API document (None: an object with ``success``
    #: and the fields the method's docstring names); several: the answer is one
    #: of them (``stats_summary``: a user's shape, or a company's or domain's)
    answer: type[msgspec.Struct] | tuple[type[msgspec.Struct], ...] | None = None


def bad_request(field: str, reason: str) -> OMAError:
    return OMAError(BAD_REQUEST, f"field '{field}' {reason}", {field: reason})
