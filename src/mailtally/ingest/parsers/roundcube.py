"""Roundcube's ``userlogins`` log → webmail logins.

Roundcube writes (``rcube::write_log``), to its own file::

    [28-Nov-2026 01:02:03 +0000]: <sessid> Successful login for alice@example.com (ID: 12)
        from 203.0.113.5 in session abc

or, with ``log_driver = 'syslog'``, the same text after ``roundcube: ``; the
``<sessid>`` prefix is there only when ``session_key`` logging is on, and the
address may be followed by the proxy headers Roundcube appends
(``203.0.113.5(X-Real-IP: …)``); with ``log_driver = 'stdout'`` the text is
prefixed by the log name (``userlogins: ``).  ``Failed login for …`` is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["WebmailLogin", "parse_roundcube"]


@dataclass(frozen=True, slots=True)
class WebmailLogin:
    """A successful Roundcube login of ``user`` from ``ip``."""

    user: str
    ip: str


def parse_roundcube(msg: str) -> tuple[WebmailLogin, ...] | None:
    """Records of one Roundcube log text; ``()`` for lines that count nothing."""
    if msg.startswith("userlogins: "):
        msg = msg[12:]
    if msg.startswith("<"):
        e = msg.find("> ")
        if e > 0:
            msg = msg[e + 2 :]
    if not msg.startswith("Successful login for "):
        return ()
    rest = msg[21:]
    i = rest.find(" (ID: ")
    f = rest.find(" from ", i if i >= 0 else 0)
    if f < 0:
        return None
    user = rest[:i] if 0 <= i < f else rest[:f]
    user = user.strip()
    if not user or " " in user:
        return None
    ip = rest[f + 6 :]
    e = len(ip)
    for stop in (" ", "("):
        k = ip.find(stop)
        if 0 <= k < e:
            e = k
    return (WebmailLogin(user, ip[:e]),)
