"""Roundcube's ``userlogins`` log → webmail logins.

Roundcube writes (``rcube::write_log``), to its own file::

    [28-Nov-2026 01:02:03 +0000]: <sessid> Successful login for alice@example.com (ID: 12)
        from 203.0.113.5 in session abc

or, with ``log_driver = 'syslog'``, the same text after ``roundcube: ``; the
``<sessid>`` prefix is there only when ``session_key`` logging is on, and the
address may be followed by the proxy headers Roundcube appends
(``203.0.113.5(X-Real-IP: …)``); with ``log_driver = 'stdout'`` the text is
prefixed by the log name (``userlogins: ``) — the official container image
logs so, and the line reaches a log with a container runtime's RFC 3339 stamp
in front (``docker logs -t``, journald under the container's name) or wrapped
by php-fpm (``[29-Nov-2026 10:00:00] WARNING: [pool www] child 8 said into
stdout: "userlogins: …"``; the stamp in php-fpm's ``error_log`` zone, taken as
the deployment's).  ``Failed login for …`` is ignored.  Roundcube writes these
lines only with ``$config['log_logins'] = true``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .families import ROUNDCUBE_LOGIN

__all__ = ["WebmailLogin", "parse_roundcube"]


@dataclass(frozen=True, slots=True)
class WebmailLogin:
    """A successful Roundcube login of ``user`` from ``ip``."""

    user: str
    ip: str


def _unwrap_fpm(msg: str) -> str:
    """The text php-fpm relays from a worker's stdout or stderr (``catch_workers_output``)::

        WARNING: [pool www] child 8 said into stdout: "userlogins: <s> Successful login …"

    (php-fpm's own stamp, ``[29-Nov-2026 10:00:00]``, is already taken off); the
    closing quote is missing when php-fpm cut a long line.  Other text is returned as is.
    """
    k = msg.find(' said into stdout: "')
    if k < 0:
        k = msg.find(' said into stderr: "')
        if k < 0:
            return msg
    inner = msg[k + 20 :]
    return inner[:-1] if inner.endswith('"') else inner


def parse_roundcube(msg: str) -> tuple[WebmailLogin, ...] | str:
    """Records of one Roundcube log text; ``()`` for lines that count nothing, the
    family (``families``) of a login line not understood."""
    if msg.startswith(("WARNING: [pool ", "NOTICE: [pool ")):
        msg = _unwrap_fpm(msg)
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
        return ROUNDCUBE_LOGIN
    user = rest[:i] if 0 <= i < f else rest[:f]
    user = user.strip()
    if not user or " " in user:
        return ROUNDCUBE_LOGIN
    ip = rest[f + 6 :]
    e = len(ip)
    for stop in (" ", "("):
        k = ip.find(stop)
        if 0 <= k < e:
            e = k
    return (WebmailLogin(user, ip[:e]),)
