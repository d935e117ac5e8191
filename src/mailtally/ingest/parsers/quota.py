"""``doveadm -f tab quota get -A`` output → per-user quota rows.

::

    Username\tQuota name\tType\tValue\tLimit\t%
    alice@example.com\tUser quota\tSTORAGE\t10240\t1048576\t0
    alice@example.com\tUser quota\tMESSAGE\t42\t-\t0

``STORAGE`` values are KiB (turned into bytes here), ``MESSAGE`` values a
message count.  The joiner pairs a user's two rows into one
:class:`mailtally.events.StorageReport`, dated at the report's time (the
file's mtime: the rows carry no time of their own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mailtally.events import MAX_STORED_BYTES, MAX_STORED_ITEMS

__all__ = ["QuotaHeader", "QuotaRow", "parse_quota"]


@dataclass(frozen=True, slots=True)
class QuotaHeader:
    """The header row: a new report begins."""


@dataclass(frozen=True, slots=True)
class QuotaRow:
    """One row: ``user`` uses ``value`` (bytes for STORAGE, messages for MESSAGE) of ``root``."""

    user: str
    root: str
    kind: Literal["STORAGE", "MESSAGE"]
    value: int


def parse_quota(line: str) -> tuple[QuotaHeader | QuotaRow, ...] | None:
    """Records of one line of the report; None if it is not a row of one."""
    cols = line.rstrip("\r\n").split("\t")
    if len(cols) < 4:
        return None
    user, root, kind, value = cols[0].strip(), cols[1], cols[2].strip().upper(), cols[3].strip()
    if user.lower() == "username" and kind == "TYPE":
        return (QuotaHeader(),)
    if kind not in ("STORAGE", "MESSAGE") or not user:
        return None
    if value in ("-", ""):
        number = 0
    elif value.isdigit() and value.isascii() and len(value) <= 20:
        number = int(value)
    else:
        return None
    if kind == "STORAGE":
        if number * 1024 > MAX_STORED_BYTES:
            return None  # a broken row: counting it would overflow the sums
        return (QuotaRow(user, root, "STORAGE", number * 1024),)
    if number > MAX_STORED_ITEMS:
        return None
    return (QuotaRow(user, root, "MESSAGE", number),)
