"""The joiner's site defaults, apart from the joiner so that reading the
configuration (every command) does not import the parsers and the joiner.

:mod:`mailtally.ingest.join` re-exports them; ``[site]`` in the configuration
overrides them.
"""

from __future__ import annotations

#: Loopback ports where a delivery is a hand-off to a content filter, not to a mailbox
#: (the ``filter_ports`` default, ``[site] filter_ports`` of the configuration):
#: amavis and Proxmox Mail Gateway take external mail on 10024; PMG takes internal
#: (outgoing) mail on 10023, and amavis's ORIGINATING policy bank listens on 10026.
#: PMG's Postfix hands both over by LMTP (master.cf's ``scan`` transport), so that
#: its ``postfix/lmtp`` line looks like a mailbox delivery but for the port.  (10025,
#: where the filters re-inject, is Postfix's own smtpd: never a delivery target.)
FILTER_PORTS = (10023, 10024, 10026)
#: Mailboxes into which a sieve ``fileinto`` makes a receipt spam (``junk_mailboxes``),
#: compared without case, also as the last level of a path (``INBOX.Junk``, ``INBOX/Spam``).
JUNK_MAILBOXES = ("Junk", "Spam", "Junk E-mail")
#: Postfix delivery agents whose successful delivery is one into a mailbox
#: (``local_services``: the daemon of ``postfix/NAME[pid]``).
LOCAL_SERVICES = ("lmtp", "local", "virtual", "pipe")
