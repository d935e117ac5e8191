"""How a request's names and times are read into the tree's forms: a DNS name
as stored (lower case, IDNA), an address as stored, the workgroup name, RFC 3339
times, and the error 6 an attribute's bad value gets.

What no name may hold, and a company name's canonical form, are in
:mod:`mailtally.names`, which the store shares.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from mailtally import periods
from mailtally.errors import BAD_ATTRIBUTE, BAD_REQUEST, OMAError
from mailtally.names import BAD_CHARACTERS, has_bad_characters

__all__ = [
    "MAX_NAME",
    "dns_name",
    "format_rfc3339",
    "normalize_address",
    "normalize_domain",
    "parse_rfc3339",
]


MAX_NAME = 128
_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
# (\Z, not $: $ also matches before a final newline)
_WORKGROUP = re.compile(f"^[^{BAD_CHARACTERS}/]{{1,64}}\\Z")


# -- names -------------------------------------------------------------------
def normalize_domain(name: str) -> str | None:
    """The stored (lower-case, IDNA) form of a DNS name, or None if it is not one.

    Surrounding spaces and one trailing dot (the DNS root) are not part of the
    name; control characters are refused, not stripped (SPEC §2 rule 5).
    """
    if has_bad_characters(name):
        return None
    name = name.strip(" ")
    if name.endswith("."):
        name = name[:-1]
    if not name or len(name) > 253:
        return None
    try:
        ascii_name = name.encode("idna").decode("ascii").lower()
    except (UnicodeError, ValueError):
        return None
    labels = ascii_name.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return None
    if labels[-1].isdigit():
        return None
    return ascii_name


def normalize_address(address: str) -> str | None:
    """``local@domain`` lower-cased (domain in IDNA), or None if malformed."""
    if has_bad_characters(address):
        return None
    local, at, domain = address.strip(" ").rpartition("@")
    if not at or not local or len(local) > 64:
        return None
    local = local.lower()
    if not _LOCAL.match(local):
        return None
    dom = normalize_domain(domain)
    if dom is None:
        return None
    return f"{local}@{dom}"


def dns_name(name: str, field: str = "domain") -> str:
    """:func:`normalize_domain` of a request's ``field``; error 5 naming it if
    ``name`` is no DNS name."""
    dom = normalize_domain(name)
    if dom is None:
        raise OMAError(
            BAD_REQUEST, f"{field} '{name}' is not a valid DNS name", {field: "not a DNS name"}
        )
    return dom


def format_rfc3339(ts: int | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: Any, attr: str, now: int) -> int:
    """An RFC 3339 time not in the future, as epoch seconds (error 6 otherwise)."""
    try:
        return periods.parse_rfc3339(value, now, max_ahead=60)
    except ValueError as exc:
        raise _bad_attr(attr, str(exc)) from None


def _bad_attr(attr: str, reason: str) -> OMAError:
    return OMAError(BAD_ATTRIBUTE, f"attribute '{attr}' {reason}", {attr: reason})
