"""Log ingestion: parse mail-server log lines and join them into events.

:func:`parse` / :class:`LineParser` turn a line into a :class:`ParseResult`
(records, or "ignored", or "not understood" with its program); a
:class:`Joiner` ties the records of one message together and emits
:mod:`mailtally.events`.  Both are pure: reading files, positions and storage
belong to the ``ingest`` command.
"""

from __future__ import annotations

from .join import Joiner
from .parsers import IGNORED, OK, UNKNOWN, LineParser, ParseResult, Record, parse
from .stamps import StampParser, SyslogLine, split_syslog

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
