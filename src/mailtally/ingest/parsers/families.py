"""Families of lines that count, for lines of such a family not understood.

A parser that knows what a line is about (a Dovecot login line, a sieve action, a
Postfix delivery or reject, a filter's verdict) but not its form returns the
family — one of these short strings, "program what" — instead of None.  The
ingest report groups lines not understood by family (by program for a line of
no known family), so that a log with one strange line of each family names each
of them.  The compiled parsers set the same strings (``out->family``).  A new
program adds its own.
"""

from __future__ import annotations

__all__ = [
    "AMAVIS_VERDICT",
    "DOVECOT_LOGIN",
    "DOVECOT_SIEVE",
    "EXIM_ARRIVAL",
    "EXIM_DELIVERY",
    "EXIM_REJECT",
    "PMG_VERDICT",
    "POSTFIX_DELIVERY",
    "POSTFIX_MESSAGE",
    "POSTFIX_REJECT",
    "ROUNDCUBE_LOGIN",
    "RSPAMD_VERDICT",
    "SPAMD_VERDICT",
]

#: imap-login/pop3-login lines (``Login:``, ``Logged in:``, …)
DOVECOT_LOGIN = "dovecot login"
#: ``lmtp(user): sieve: msgid=…: …`` and Dovecot 2.2's ``lmtp(user): SESSION: sieve: …``
DOVECOT_SIEVE = "dovecot sieve"
#: ``QID: to=<…>, relay=…, status=…``
POSTFIX_DELIVERY = "postfix delivery"
#: ``reject:``, ``milter-reject:``, ``proxy-reject:`` (with a queue id or NOQUEUE)
POSTFIX_REJECT = "postfix reject"
#: the other lines of a queue id: ``client=``, ``message-id=``, ``from=<…>, size=``, ``uid=``
POSTFIX_MESSAGE = "postfix message"
#: Exim's ``ID <= sender …`` (and ``(=``)
EXIM_ARRIVAL = "exim arrival"
#: Exim's ``ID => address …`` and ``->``, ``*>``, ``>>``, ``**`` (``Completed`` is always read)
EXIM_DELIVERY = "exim delivery"
#: Exim's ``… rejected RCPT <address>: …`` (and ``temporarily rejected``)
EXIM_REJECT = "exim reject"
#: ``spamd: result: Y 15 - … mid=<…>``
SPAMD_VERDICT = "spamd verdict"
#: ``(…) Passed …``/``(…) Blocked …``
AMAVIS_VERDICT = "amavis verdict"
#: ``rspamd_task_write_log: … qid: <…> … (action) …``
RSPAMD_VERDICT = "rspamd verdict"
#: Proxmox Mail Gateway's ``LOGID: SA score=…`` and ``LOGID: accept mail to <…> (QID)``
PMG_VERDICT = "pmg verdict"
#: ``Successful login for …``
ROUNDCUBE_LOGIN = "roundcube login"
