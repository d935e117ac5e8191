"""Log ingestion: parse mail-server log lines and join them into events.

:func:`parse` / :class:`LineParser` turn a line into a :class:`ParseResult`
(records, or "ignored", or "not understood" with its program); a
:class:`Joiner` ties the records of one message together and emits
:mod:`mailtally.events`.  Both are pure: reading files, positions and storage
belong to the ``ingest`` command.

The names below are imported when first asked for (PEP 562): importing a
submodule (``ingest.defaults``, which every command's configuration reads)
does not import the parsers and the joiner.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .join import Joiner
    from .parsers import IGNORED, OK, UNKNOWN, LineParser, ParseResult, Record, parse
    from .stamps import StampParser, SyslogLine, split_syslog

#: public name → the submodule that defines it
_LAZY = {
    "Joiner": "join",
    **dict.fromkeys(
        ("IGNORED", "OK", "UNKNOWN", "LineParser", "ParseResult", "Record", "parse"), "parsers"
    ),
    **dict.fromkeys(("StampParser", "SyslogLine", "split_syslog"), "stamps"),
}

__all__ = [
    "IGNORED",
    "OK",
    "UNKNOWN",
    "Joiner",
    "LineParser",
    "ParseResult",
    "Record",
    "StampParser",
    "SyslogLine",
    "parse",
    "split_syslog",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
