"""Records of log lines → :mod:`mailtally.events` (SPEC §3).

A :class:`Joiner` takes :class:`~mailtally.ingest.parsers.ParseResult` objects in
log order (:meth:`Joiner.feed`) and returns the events each one completed.  Its
whole state is a JSON-able dict (:meth:`Joiner.state`, :meth:`Joiner.from_state`),
saved by ``mailtally ingest`` in the transaction that records the events it
produced, so that a crash never counts a line twice.

How lines become events
=======================

Postfix lines are tied by queue id into messages *in flight*, kept in a table
bounded in size (``max_entries``) and age (``max_age`` seconds of log time since
a message was last mentioned).  A message holds at most MAX_HELD_RECIPIENTS
recipients (a delivery to one more is dropped, counted in ``dropped``), and all
of them together at most MAX_HELD_TOTAL (the oldest messages are expired to make
room).  All messages hold at most MAX_HELD_BYTES of strings, and each other keyed
table MAX_TABLE_BYTES (UTF-8 bytes, counted alike by the compiled twin): past
them the oldest entries go, so that no log makes the joiner, or the state saved at
each commit, large.  The parsers hand over no address or queue id longer than
``stamps.MAX_ADDRESS``: such a line is not understood.

``MessageOut``
    A message whose ``smtpd`` line names a ``sasl_username``, or that ``pickup``
    took from a uid listed in ``webmail_uids`` (webmail via sendmail; the
    envelope sender is then the user), is counted once, at its ``qmgr``
    ``from=…, size=…, nrcpt=…`` line: ``recipients = nrcpt``, time of that line.

``MessageIn``
    Each successful local delivery (``lmtp``/``virtual``/``local``/``pipe``, or
    any ``delivered via …``/``delivered to …`` answer) and each forward
    (below) is a receipt for a user.  Receipts are *not* emitted at the delivery
    line but when ``qmgr`` logs ``removed`` (or the message expires from the
    table), because the spam verdict — from rspamd, amavis or a sieve ``fileinto``
    into a junk folder — may be logged before or after the deliveries.  The event
    is dated at the (first) delivery line of that user.  A message counts once
    per user: deliveries are grouped by final recipient (``to=``), so an alias
    and a direct address that both end in one mailbox count once.

    *Which address is credited.*  With a ``resolve`` function (address → the
    canonical user, or None if not a known user/alias), the first of
    ``orig_to``, ``to`` that resolves is credited and receipts are grouped by
    the canonical user.  Without one, ``orig_to`` is credited when it is present
    and expands to exactly one mailbox in this message (a user's alias, or a
    rewrite to an internal address) — the recorder resolves aliases; when the
    same ``orig_to`` expands to several mailboxes it is a list or group alias,
    and each mailbox (``to``) is credited instead.  (A catch-all alias expanding
    to one mailbox is credited to the original address; pass ``resolve`` when
    the tree is at hand.)  Address extensions (``alice+tag@``) are stripped with
    ``recipient_delimiter``, except that a delivery with an ``orig_to`` is
    grouped by its whole ``to``: ``to=<vmail+jsmith@host>, orig_to=<jsmith@…>``
    (one Dovecot user for every account, the extension naming it) counts each
    account once instead of every recipient collapsing into the first.

    *Relays.*  An ``smtp`` delivery of a message that came from the outside (not
    submitted by a user, not generated here) to another server, with no
    ``orig_to`` — a filter-only account's mail relayed to the customer's own
    server — is a receipt of ``to`` too (the recorder ignores addresses outside
    the tenant tree).  With ``resolve``, such a relay of a known address counts
    whatever the message's origin; without it, a user's submission to a
    filter-only account cannot be told from mail to the outside and is not
    counted as received.

    *Quarantine.*  Spam that amavis ``Blocked`` into its quarantine without
    refusing it to the sender (flags ``Quarantined`` and no ``Bounced…``/
    ``Rejected…``) is a spam receipt of each recipient (SPEC §3: quarantined
    spam is ``in_spam``), dated at the amavis line.

``Forward``
    An ``smtp`` delivery to an outside host whose ``orig_to`` differs from
    ``to`` (alias expansion, forward_recipients), and local(8)'s ``forwarded as
    NEWID``, count one forward per message and ``orig_to`` user, at that line;
    the forward is also a receipt of the user (SPEC: "stored, forwarded or
    both"), merged with the user's local copy if there is one.  A sieve
    ``forwarded to`` counts a forward for the sieve user (once per Message-ID).

``Autoresponse``
    A sieve ``sent vacation response``.

``MessageDenied``
    A permanent (5xx) ``reject``/``milter-reject``/``proxy-reject`` line (the last
    a before-queue content filter's refusal), per recipient named
    (a temporary 4xx one — greylisting, soft reject — is retried by the sender
    and not counted; an address extension is stripped, as for deliveries);
    amavis ``Blocked …`` per recipient, except spam held in quarantine (above);
    a permanent failure of a local delivery (``status=bounced`` by
    lmtp/virtual/…, e.g. over quota), unless the same user also received the
    message.  rspamd's own ``reject``
    verdict counts nothing: Postfix's ``milter-reject`` line is the one that
    counts it, so each rejection is counted once per recipient.

Content filters
    A delivery to a content filter — relay on a loopback address whose answer
    says ``queued as NEWID``, a relay in ``filter_relays`` or on a loopback port
    in ``filter_ports``, or amavis's ``from MTA(…)`` answer (from any port but 25,
    where outside servers answer) — is not a delivery;
    amavis ``Queue-ID: A … queued_as: B`` and smtpd ``orig_queue_id=A`` link the
    same way, and so does a filter's answer naming its own log id (Proxmox Mail
    Gateway's ``250 2.5.0 OK (ID)``) with the filter's lines that ID was
    re-injected as B (``ID: accept mail to <…> (B)``; its verdict is on ID).
    Message B continues A: it takes A's submitting user (but is never
    counted out again), A's size (the size the sender sent, not the one grown by
    filter headers) and A's spam verdict, so a filtered message counts once,
    not twice.  A verdict on A reaches what continues it at most VERDICT_DEPTH
    links deep and VERDICT_VISITS messages in all (the links are log lines).
    Since the filter's ``queued as`` line (and amavis's verdict) may follow B's
    own deliveries, a message received from a loopback client
    is held for ``reinject_grace`` seconds after ``removed`` until the filter's
    answer is seen (an XFORWARD ``orig_queue_id`` links B early, but the verdict
    is still to come); an authenticated submission from a loopback client that
    continues no message (webmail) is not held.

Exim
    An Exim message is keyed by its message id (through ``_exim_key``; a
    Message-ID through ``_msgid_key``) in the same table, with the same bounds
    and rules: its ``<=`` line sets client, size, Message-ID and, with ``A=``,
    the submitting user (a local submission, ``P=local``, by a user listed in
    ``webmail_users`` is the envelope sender's, as pickup's ``webmail_uids``:
    webmail and scripts through Exim's sendmail; other local ones, cron's,
    root's, count nothing); ``=>``/``->``/``>>`` deliveries are local receipts,
    forwards (a remote delivery whose top-level address in ``<…>`` differs) or
    relays as Postfix's are (remote: an ``H=… [ip]`` on a transport whose name
    has no ``lmtp``); ``**`` of a local delivery is a local failure; receipts
    are emitted at ``Completed`` (or expiry), like ``removed``.  A delivery by
    a router or transport named for the spam folder (``spam``, ``_sa_``) is a
    junk receipt.  An ``A=`` (or webmail) submission counts ``MessageOut`` at its ``<=``
    line when ``for …`` lists its recipients (the distinct ones), else at
    ``Completed``, dated at the ``<=`` line (``arrived``), with the distinct
    top-level addresses of its delivery lines (``erc``, held like recipients).
    spamd's ``result`` is joined by Message-ID (``_msgid_index``), or waits
    in ``_pending_verdicts`` under ``<msgid>`` for the ``<=`` line.

Logins
    Dovecot ``imap-login``/``pop3-login`` ``Login:`` → ``Login`` imap4/pop3,
    except from ``webmail_hosts`` (the webmail's own logins); Roundcube
    ``Successful login`` → ``Login`` webmail.

Quota reports
    A user's ``STORAGE`` and ``MESSAGE`` rows → one ``StorageReport`` at the
    report's time.

Many hosts
    A central syslog interleaves the lines of several hosts (MX, submission, IMAP
    backends), and two hosts may use one queue id at once.  Everything held in
    flight (messages, holds, links, verdicts, the Message-ID index, pending junk,
    sieve forwards, finished ids) is keyed by host and id through :func:`key`
    (``host + "\n" + id``; no field of a line holds a newline), the host being
    the parse result's, lower-cased.  The first host the joiner sees (on an
    understood line; it is saved with the state) keys as lines without a host
    do, by the bare id: a one-server log keys as before, a
    version-1 state (bare ids) goes on with the host that wrote it, and the
    lines of Dovecot's and rspamd's own files (no host) join that host's
    messages.  So lines of one host never touch another's messages: rspamd's
    and amavis's verdicts, amavis's ``queued_as``, smtpd's ``orig_queue_id``
    and a filter's ``queued as`` link on the line's own host (the filter runs
    beside the MTA it serves).  A sieve ``fileinto`` junk is the one record
    that crosses hosts, since Dovecot may run on a backend the MX reaches by
    LMTP over the network: logged before the delivery line (Dovecot runs sieve
    before it answers LMTP) it waits on its own host, and the MX's delivery
    takes it from its own host first, then, for a delivery whose relay has a
    network address, from the hosts the relay names (``imap1.example.com
    [10.0.0.5]:24`` names ``imap1.example.com``, ``imap1`` and ``10.0.0.5``);
    logged after it, the sieve line finds the message by its Message-ID on its
    own host first, then, when its host is one of ``own_hosts``, on each other
    own host in the order given — the first message holding a delivery to that
    user.  A sieve redirect counts once per host and Message-ID.

``own_hosts``
    The platform's own hosts, as syslog names them and as relays and clients
    name them (names and addresses, compared in lower case).  An ``smtp``
    delivery whose relay is one of them (name or address) is a hand-over inside
    the platform: neither a relay receipt nor a forward; the message counts
    where it ends, delivered into a mailbox (an LMTP delivery to a backend is a
    mailbox delivery, as ever) or sent outside.  A message received from an own
    host (smtpd ``client`` address) is not "from the outside" for the relay
    rule: relayed on outside, it is no receipt (a user's mail submitted on one
    host and relayed out by another counts out once, on the first).  So
    inbound mail a first MX relays to a second that relays it to a filter-only
    account's server counts as received only with ``resolve``.

Times are UTC epoch seconds.  The joiner's clock is the latest line time seen;
expiry and the hold are measured on it, never on the wall clock, so that a
replay gives the same events.

This module is the reference; ``mailtally ingest`` runs its compiled twin
(``_fastlog/join*.c``), one C function per method here.  A rule changed here is
changed there too: tests/test_fastlog_join.py runs every test of this joiner
on both and compares them line by line.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from typing import Any

from ..events import (
    Autoresponse,
    Event,
    Forward,
    Login,
    MessageDenied,
    MessageIn,
    MessageOut,
    StorageReport,
)
from .defaults import FILTER_PORTS, JUNK_MAILBOXES, LOCAL_SERVICES
from .parsers import (
    IGNORED,
    OK,
    UNKNOWN,
    CleanupMessageId,
    Delivery,
    Discard,
    EximArrival,
    EximCompleted,
    EximDelivery,
    FilterBlocked,
    MailLogin,
    ParseResult,
    Pickup,
    QmgrFrom,
    QmgrRemoved,
    QuotaHeader,
    QuotaRow,
    Record,
    Reinjected,
    Reject,
    SieveAction,
    SmtpdClient,
    SpamdResult,
    SpamVerdict,
    WebmailLogin,
)
from .stamps import MAX_DIGITS

__all__ = ["STATE_VERSION", "Joiner"]

#: 2: keys carry their host (``key``); a version-1 state loads (all its keys are of
#: the first host, as they were).
STATE_VERSION = 2
#: How often (seconds of log time) the in-flight tables are swept for expired
#: and held messages: a held message waits its grace plus at most this long.
SWEEP_EVERY = 5
#: A spam verdict follows re-injection links (``_children``) at most this many
#: links deep, and reaches at most this many messages in all (its own included): a real
#: filter chain is one or two links, and the links are written by log lines.
VERDICT_DEPTH = 8
VERDICT_VISITS = 256
#: A counter loaded from a saved state is clamped into [0, COUNTER_MAX]: the
#: compiled joiner counts in int64, and a crafted state must not make it wrap
#: (2**62 leaves 2**62 increments of room: more lines than any log will hold).
COUNTER_MAX = 2**62
#: Line times beyond ±TIME_LIMIT are refused (the compiled joiner's int64 arithmetic).
TIME_LIMIT = 2**61
#: A message in flight holds at most this many recipients (its local deliveries,
#: forwards, local failures and relays together, and an Exim submission's
#: top-level recipients, ``_Msg.erc``); a delivery line to one more is
#: dropped and counted in ``dropped``.  Postfix itself takes at most 1,000
#: recipients per message from a client (smtpd_recipient_limit) and expands an
#: alias to at most 1,000 (virtual_alias_expansion_limit), so a real message
#: never reaches it; without it, the delivery lines of one queue id grew the
#: joiner without end.
MAX_HELD_RECIPIENTS = 1000
#: All messages in flight together hold at most this many recipients (50 messages at
#: MAX_HELD_RECIPIENTS): before one more is added, the oldest messages are counted as
#: they stand and dropped, as past ``max_entries`` messages.  Recipients are held only
#: from a message's first delivery to its ``removed``, seconds on a real server; a
#: log of messages that are never removed, each with a thousand recipients of 320
#: characters, grew the joiner by 4 KB of peak RSS per recipient (1.3 GB at 300,000).
MAX_HELD_TOTAL = 50_000
#: All messages in flight together hold at most this many bytes of strings (the UTF-8
#: length of their client, sasl, Message-ID, parent and of every recipient's key and
#: addresses: ``_Msg.weight``); past it, before the next line, the oldest messages are
#: counted as they stand and dropped, as past ``max_entries``.  A real message holds a
#: few hundred bytes, so 100,000 of them (``max_entries``) stay far below it; a log of
#: messages with every field at its bound (2.3 KB each, or 1,000 recipients of 960
#: bytes) peaked near 500 MB of RSS without it, the state being copied at each commit.
#: The compiled joiner holds UTF-8 bytes: the Python one counts the same (``_u8``).
MAX_HELD_BYTES = 16 << 20
#: Each keyed table besides the messages (``_children``, ``_pending_verdicts``,
#: ``_pending_junk``, ``_done``, ``_sieve_fwd``, ``_quota``, ``_quota_done``) holds at
#: most this many bytes of strings (UTF-8 lengths of its keys, and of the queue ids a
#: ``_children`` entry lists, of a ``_quota`` row's user and root: ``_Table.size``,
#: ``_quota_bytes``, ``_quota_done_bytes``); past it the oldest entries go, as past
#: ``max_entries`` (a quota row is reported as it stands, ``_quota_done`` is cleared).
#: Real entries are queue ids and short keys (100,000 of them: 1-3 MB); keys of a
#: 320-character user and a 998-character Message-ID (``_pending_junk``,
#: ``_sieve_fwd``), or 64 linked ids of 320 characters, held hundreds of MB.
MAX_TABLE_BYTES = 4 << 20
_I64 = 2**63
# FILTER_PORTS, JUNK_MAILBOXES, LOCAL_SERVICES: the [site] defaults (.defaults)


def _i64(v: Any, what: str) -> int:
    """int(v) of a saved state, refused (OverflowError) outside int64, as the compiled
    joiner refuses it: a state either loads in both implementations or in neither."""
    n = int(v)
    if not -_I64 <= n < _I64:
        raise OverflowError(f"joiner state: {what} out of range")
    return n


_EVENT_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (Autoresponse, Forward, Login, MessageDenied, MessageIn, MessageOut, StorageReport)
}

_RUN = re.compile(r"\S+")


def _session(response: str) -> str | None:
    """The session of ``<…> SESSION Saved`` in an LMTP answer, as
    ``re.search(r"<[^>]*> (\\S+) Saved", response).group(1)`` would find it, in time
    linear in the text (the regex scanned to the next ``>`` from every ``<``).
    Every ``<`` before the same ``>`` shares its fate, so each ``>`` is tried once.
    """
    i = response.find("<")
    while i >= 0:
        j = response.find(">", i + 1)
        if j < 0:
            return None
        if response.startswith(" ", j + 1):
            run = _RUN.match(response, j + 2)
            if run is not None and response.startswith(" Saved", run.end()):
                return run.group()
        i = response.find("<", j + 1)
    return None


#: Stages at which a rejection with a queue id ends the message (it is never queued).
_FINAL_STAGES = frozenset({"END-OF-MESSAGE", "DATA", "BDAT", "header", "body"})
#: where a sieve ``reject``'s marks in ``_pending_junk`` begin (a junk ``fileinto``'s
#: begin with a user's address or "s:"; these never do)
_REJECTED = "\0r\0"


def _ip_of(relay: str) -> tuple[str, int | None]:
    """``host[ip]:port`` → (ip, port); ``("", None)`` for ``local``, ``none`` …"""
    b = relay.find("[")
    if b < 0:
        return "", None
    e = relay.find("]", b)
    if e < 0:
        return "", None
    port = relay[e + 2 :] if relay.startswith(":", e + 1) else ""
    if len(port) > MAX_DIGITS or not (port.isdigit() and port.isascii()):
        return relay[b + 1 : e], None  # (more than MAX_DIGITS digits: not a number)
    return relay[b + 1 : e], int(port)


def _filter_id(response: str) -> str:
    """The id a content filter named itself by at the end of its answer, ``… (ID)``
    (Proxmox Mail Gateway: ``250 2.5.0 OK (5F1C8A2B3D4E6F70A81)``); "" if none."""
    if not response.endswith(")"):
        return ""
    b = response.rfind(" (")
    logid = response[b + 2 : -1] if b >= 0 else ""
    return logid if logid.isalnum() and logid.isascii() else ""


def _message_size(m: _Msg) -> int:
    """The size the sender sent: a re-injected message's is its original's."""
    return m.inherited_size if m.inherited_size is not None else (m.size or 0)


def _u8(s: str | None) -> int:
    """The bytes of ``s`` in UTF-8 (lone surrogates as "surrogatepass" writes them, as
    the compiled joiner holds them); 0 for None.  ``isascii`` is O(1): the common case
    costs no encoding."""
    if not s:
        return 0
    return len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))


class _Table(OrderedDict[str, Any]):
    """An OrderedDict whose ``size`` the joiner keeps equal to the bytes of its entries
    (MAX_TABLE_BYTES): every insertion and removal goes through Joiner's helpers."""

    size = 0

    @classmethod
    def of(cls, items: Iterable[tuple[str, Any]], children: bool = False) -> _Table:
        t = cls(items)
        t.size = sum(_entry_bytes(k, v, children) for k, v in t.items())
        return t


def _entry_bytes(key: str, value: Any, children: bool) -> int:
    """The bytes of one entry of a _Table: its key, and a _children entry's queue ids."""
    return _u8(key) + (sum(_u8(b) for b in value[1]) if children else 0)


def _spam_folder(router: str, transport: str) -> bool:
    """Whether an Exim delivery goes into the spam folder: a router or transport named
    for it (cPanel's ``virtual_user_spam`` router, ``virtual_sa_userdelivery``)."""
    r, t = router.lower(), transport.lower()
    return "spam" in r or "spam" in t or "_sa_" in t


def key(host: str, ident: str) -> str:
    """The key of ``ident`` (a queue id, Message-ID, session …) logged by ``host``:
    ``host + "\n" + ident``, or ``ident`` itself for host ``""``.  No field of a log
    line holds a newline, so keys of two hosts never meet.  The joiner passes ``""``
    for the first host it sees (and for lines without a host, :class:`Joiner`), so
    that a one-server log keys as before and a version-1 state goes on.  An empty or
    None ident stays as it is (a record's "no queue id")."""
    return host + "\n" + ident if host and ident else ident


def _beside(k: str, ident: str) -> str:
    """The key of ``ident`` on the host of key ``k``."""
    return k[: k.find("\n") + 1] + ident


def _loopback(ip: str) -> bool:
    """Is ``ip`` this host itself?  Not a site setting: a loopback address is one by
    definition, wherever it is written (a content filter on another host is named in
    ``filter_relays`` instead; the platform's other hosts are ``own_hosts``)."""
    if ip.startswith("::ffff:"):
        ip = ip[7:]
    return ip.startswith("127.") or ip == "::1" or ip == "localhost"


class _Msg:
    """One Postfix or Exim message in flight."""

    __slots__ = (
        "arrived",
        "bounced",
        "client",
        "erc",
        "filtered",
        "fwds",
        "inherited_size",
        "locals",
        "loopback",
        "msgid",
        "nrcpt",
        "out_done",
        "parent",
        "queued",
        "relays",
        "removed",
        "sasl",
        "seen",
        "size",
        "spam",
        "weight",
    )

    def __init__(self, seen: int) -> None:
        self.seen = seen
        self.client: str | None = None
        self.loopback = False
        self.sasl: str | None = None
        self.size: int | None = None
        self.inherited_size: int | None = None
        self.nrcpt: int | None = None
        self.out_done = False
        self.queued = False
        self.spam: bool | None = None
        self.msgid: str | None = None
        self.parent: str | None = None
        self.filtered = False  # the content filter's answer about this re-injection was seen
        self.removed: int | None = None
        # final recipient key -> [address as logged, orig_to or None, time, junk]
        self.locals: dict[str, list[Any]] = {}
        # orig_to key -> [address, time]: receipts by forwarding to the outside
        self.fwds: dict[str, list[Any]] = {}
        # final recipient key -> [address, orig_to or None, time]: permanent local failures
        self.bounced: dict[str, list[Any]] = {}
        # recipient key -> [address, time]: relayed to another server without orig_to
        self.relays: dict[str, list[Any]] = {}
        # Exim: the time of the "<=" line of an authenticated submission whose
        # recipients were not logged, and the keys of its distinct top-level
        # recipients seen so far (its MessageOut is counted at "Completed")
        self.arrived: int | None = None
        self.erc: dict[str, None] = {}
        # the bytes of the strings above (not state: derived, see MAX_HELD_BYTES)
        self.weight = 0

    def held(self) -> int:
        """The recipients held (MAX_HELD_RECIPIENTS, MAX_HELD_TOTAL)."""
        n = len(self.locals) + len(self.fwds) + len(self.bounced) + len(self.relays)
        return n + len(self.erc)

    def measure(self) -> int:
        """The bytes of the strings held (what ``weight`` is kept equal to)."""
        w = _u8(self.client) + _u8(self.sasl) + _u8(self.msgid) + _u8(self.parent)
        for tables in (self.locals, self.bounced):
            for k, v in tables.items():
                w += _u8(k) + _u8(v[0]) + _u8(v[1])
        for table in (self.fwds, self.relays):
            for k, v in table.items():
                w += _u8(k) + _u8(v[0])
        for k in self.erc:
            w += _u8(k)
        return w

    def dump(self) -> dict[str, Any]:
        d = {
            "seen": self.seen,
            "client": self.client,
            "loopback": self.loopback,
            "sasl": self.sasl,
            "size": self.size,
            "inherited_size": self.inherited_size,
            "nrcpt": self.nrcpt,
            "out_done": self.out_done,
            "queued": self.queued,
            "spam": self.spam,
            "msgid": self.msgid,
            "parent": self.parent,
            "filtered": self.filtered,
            "removed": self.removed,
            "locals": self.locals,
            "fwds": self.fwds,
            "bounced": self.bounced,
            "relays": self.relays,
        }
        if self.arrived is not None:  # (an Exim submission's: absent from other states)
            d["arrived"] = self.arrived
            d["erc"] = list(self.erc)
        return d

    @classmethod
    def load(cls, d: dict[str, Any]) -> _Msg:
        m = cls(_i64(d["seen"], "seen"))
        m.client = d.get("client")
        m.loopback = bool(d.get("loopback"))
        m.sasl = d.get("sasl")
        m.size = d.get("size")
        m.inherited_size = d.get("inherited_size")
        m.nrcpt = d.get("nrcpt")
        m.out_done = bool(d.get("out_done"))
        m.queued = bool(d.get("queued"))
        m.spam = d.get("spam")
        m.msgid = d.get("msgid")
        m.parent = d.get("parent")
        m.filtered = bool(d.get("filtered"))
        removed = d.get("removed")
        m.removed = None if removed is None else _i64(removed, "removed")
        # (times as int64, as the compiled joiner reads them: out of range, refused)
        m.locals = {
            k: [to, orig, _i64(t, "locals"), bool(junk)]
            for k, (to, orig, t, junk) in d.get("locals", {}).items()
        }
        m.fwds = {k: [a, _i64(t, "fwds")] for k, (a, t) in d.get("fwds", {}).items()}
        m.bounced = {
            k: [to, orig, _i64(t, "bounced")] for k, (to, orig, t) in d.get("bounced", {}).items()
        }
        m.relays = {k: [a, _i64(t, "relays")] for k, (a, t) in d.get("relays", {}).items()}
        arrived = d.get("arrived")
        if arrived is not None:
            m.arrived = _i64(arrived, "arrived")
            m.erc = dict.fromkeys(d.get("erc", ()))
        return m


def _event_dump(ev: Event) -> dict[str, Any]:
    d = asdict(ev)
    d["kind"] = type(ev).__name__
    return d


def _event_load(d: dict[str, Any]) -> Event:
    fields = dict(d)
    cls = _EVENT_TYPES[fields.pop("kind")]
    return cls(**fields)  # type: ignore[no-any-return]


class Joiner:
    """Joins parse results of one or more log streams into events (module docstring).

    Feed results in log order with :meth:`feed` (or records with :meth:`add`);
    each returns the events it completed.  :meth:`flush` at the end of the input
    returns what the end makes complete.
    Constructor parameters are configuration, not state: pass the same ones to
    :meth:`from_state`.
    """

    def __init__(
        self,
        *,
        max_entries: int = 100_000,
        max_age: int = 86_400,
        webmail_hosts: Iterable[str] = ("127.0.0.1", "::1"),
        webmail_uids: Iterable[int] = (33,),
        webmail_users: Iterable[str] = ("www-data",),
        junk_mailboxes: Iterable[str] = JUNK_MAILBOXES,
        local_services: Iterable[str] = LOCAL_SERVICES,
        filter_relays: Iterable[str] = (),
        filter_ports: Iterable[int] = FILTER_PORTS,
        reinject_grace: int = 60,
        recipient_delimiter: str = "+",
        resolve: Callable[[str], str | None] | None = None,
        own_hosts: Iterable[str] = (),
    ) -> None:
        self.max_entries = max(1, int(max_entries))
        self.max_age = max(1, int(max_age))
        self.webmail_hosts = frozenset(
            h[7:] if h.startswith("::ffff:") else h for h in webmail_hosts
        )
        self.webmail_uids = frozenset(webmail_uids)
        self.webmail_users = frozenset(webmail_users)
        self.junk_mailboxes = frozenset(j.lower() for j in junk_mailboxes)
        self.local_services = frozenset(local_services)
        self.filter_relays = frozenset(r.lower() for r in filter_relays)
        self.filter_ports = frozenset(filter_ports)
        self.reinject_grace = max(0, int(reinject_grace))
        self.recipient_delimiter = recipient_delimiter
        self.resolve = resolve
        # (in the order given: a sieve line looks for the message on them in turn)
        own = (h.lower() for h in own_hosts)
        self.own_hosts = tuple(dict.fromkeys(h[7:] if h.startswith("::ffff:") else h for h in own))
        self._own = frozenset(self.own_hosts)

        #: the host of the line being handled, and its key prefix ("" for the first
        #: host seen, ``_first_host``, and for lines without a host): not state
        self._host = ""
        self._khost = ""
        self._first_host = ""
        self.now = 0
        self._next_sweep = 0
        self._outbox: list[Event] = []
        self._msgs: OrderedDict[str, _Msg] = OrderedDict()
        self._held: OrderedDict[str, int] = OrderedDict()  # qid -> deadline
        self._msgid_index: dict[str, str] = {}
        self._children = _Table()  # A -> [time, [B...]]
        self._pending_verdicts = _Table()  # qid -> [t, spam]
        self._pending_junk = _Table()  # key -> time
        self._done = _Table()  # finished qid -> time
        self._sieve_fwd = _Table()  # user\0msgid -> time
        self._quota: dict[str, list[Any]] = {}  # user key -> [user, root, bytes, items, time]
        self._quota_done: set[str] = set()
        self._quota_bytes = 0  # of _quota's keys, users and roots (not state: derived)
        self._quota_done_bytes = 0  # of _quota_done's keys (not state: derived)
        self._quota_time = 0  # the time (report mtime) of the rows in _quota/_quota_done
        self._rcpts = 0  # recipients held by all messages in flight (not state: derived)
        self._bytes = 0  # the weights of all messages in flight (not state: derived)

        #: lines fed; of them ok/ignored/unknown; records seen; events emitted.
        self.lines = 0
        self.ok = 0
        self.ignored = 0
        self.unknown = 0
        self.records = 0
        self.events = 0
        #: queued messages dropped from the table unfinished (log cut, deferred too long).
        self.expired = 0
        #: never-queued entries dropped (the client went away before the end of DATA).
        self.abandoned = 0
        #: records on which the joiner raised (a bug; the record is skipped).
        self.errors = 0
        #: deliveries not held (nor counted): their message held MAX_HELD_RECIPIENTS.
        self.dropped = 0

        self._handlers: dict[type, Callable[[Any, int], None]] = {
            SmtpdClient: self._smtpd,
            Pickup: self._pickup,
            CleanupMessageId: self._cleanup,
            QmgrFrom: self._qmgr,
            QmgrRemoved: self._removed,
            Delivery: self._delivery,
            Reject: self._reject,
            Discard: self._discard,
            MailLogin: self._mail_login,
            WebmailLogin: self._webmail_login,
            SieveAction: self._sieve,
            SpamVerdict: self._verdict,
            Reinjected: self._reinjected,
            FilterBlocked: self._blocked,
            QuotaHeader: self._quota_header,
            QuotaRow: self._quota_row,
            EximArrival: self._exim_arrival,
            EximDelivery: self._exim_delivery,
            EximCompleted: self._exim_completed,
            SpamdResult: self._spamd,
        }

    # -- public API -----------------------------------------------------------------

    _COUNTERS = (
        "lines",
        "ok",
        "ignored",
        "unknown",
        "records",
        "events",
        "expired",
        "abandoned",
        "errors",
        "dropped",
    )

    @property
    def skipped(self) -> int:
        """Queued messages dropped unfinished (the ingest report's "skipped")."""
        return self.expired

    def counters(self) -> dict[str, int]:
        """Counters so far (``skipped`` is ``expired``: messages dropped unfinished)."""
        d = {k: getattr(self, k) for k in self._COUNTERS}
        d["skipped"] = self.expired
        d["in_flight"] = len(self._msgs)
        return d

    def feed(self, result: ParseResult) -> Sequence[Event]:
        """Take one parsed line; returns the events it completed (often none). Never raises.

        The events returned include any that the line's time made due (expired
        messages, held ones whose grace is over) and any left over from
        :meth:`add`; they are handed out once.
        """
        self.lines += 1
        status = result.status
        if status == OK:
            self.ok += 1
            host = getattr(result, "host", "")  # (a result of another kind may have none)
            self._set_host(host if isinstance(host, str) else "")
            t = result.time
            if t is None:
                t = self.now
            if t > self.now:
                self.now = t
            if self.now >= self._next_sweep:
                self._sweep_safely()
            if self._bytes > MAX_HELD_BYTES:
                self._shed_safely()
            handlers = self._handlers
            for rec in result.records:
                self.records += 1
                handler = handlers.get(type(rec))
                if handler is not None:
                    try:
                        handler(rec, t)
                    except Exception:  # a joiner bug must not stop an ingest
                        self.errors += 1
            if self._outbox:
                return self.take()
        elif status == IGNORED:
            self.ignored += 1
        elif status == UNKNOWN:
            self.unknown += 1
        return ()

    def add(self, record: Record, time: int, host: str = "") -> Sequence[Event]:
        """Take one record dated ``time`` (UTC epoch seconds), logged by ``host``
        (lower case, as the parsers hand it); returns the events completed."""
        try:
            t = int(time)
        except (TypeError, ValueError, OverflowError):
            self.errors += 1
            return ()
        self._set_host(host if isinstance(host, str) else "")
        self.records += 1
        if t > self.now:
            self.now = t
        if self.now >= self._next_sweep:
            self._sweep_safely()
        if self._bytes > MAX_HELD_BYTES:
            self._shed_safely()
        handler = self._handlers.get(type(record))
        if handler is not None:
            try:
                handler(record, t)
            except Exception:  # a joiner bug must not stop an ingest
                self.errors += 1
        return self.take() if self._outbox else ()

    def _set_host(self, host: str) -> None:
        """The line being handled is ``host``'s: its keys carry it (``key``), except the
        first host's, which key as lines without a host do (module docstring)."""
        self._host = host
        if host and host != self._first_host:
            if not self._first_host:
                self._first_host = host
                self._khost = ""
            else:
                self._khost = host
        else:
            self._khost = ""

    def _k(self, ident: str) -> str:
        """The key of ``ident`` on the host of the line being handled."""
        h = self._khost
        return h + "\n" + ident if h and ident else ident

    def _hk(self, host: str, ident: str) -> str:
        """The key of ``ident`` on ``host`` (any host, the first one as ``_k`` keys it)."""
        return key("" if host == self._first_host else host, ident)

    def _sweep_safely(self) -> None:
        try:
            self._sweep()
        except Exception:
            self.errors += 1
            self._next_sweep = self.now + 1

    def _shed_safely(self) -> None:
        """Past MAX_HELD_BYTES, the oldest messages are counted as they stand and dropped
        (as past ``max_entries``), at the start of a line: a line adds at most one
        field or recipient, so the messages never hold more than the bound and a line."""
        try:
            msgs = self._msgs
            while self._bytes > MAX_HELD_BYTES and msgs:
                self._expire(next(iter(msgs)))
        except Exception:
            self.errors += 1

    def clear_resolve_cache(self) -> None:
        """Forget cached ``resolve`` answers (the tenant tree may have changed).

        This joiner caches none (the ingester's ``resolve`` does); the compiled
        twin keeps its own cache, and both answer the same call.
        """

    def take(self) -> list[Event]:
        """Events emitted and not yet handed out (and forget them)."""
        out = self._outbox
        self._outbox = []
        return out

    def process(self, results: Iterable[ParseResult]) -> list[Event]:
        """Feed many results; all the events they completed."""
        out: list[Event] = []
        for r in results:
            out.extend(self.feed(r))
        return out

    def flush(self) -> list[Event]:
        """At the end of the input: count what is complete, and return those events.

        Messages held for a late content-filter link are counted now, and partial
        quota rows are reported.  Messages still in flight stay (they may finish
        in the next file or run: save :meth:`state`); :meth:`expire_all` drops
        them too.  Calling it is optional: without it, held messages are counted
        when later lines move the clock past their grace, in this run or the next.
        """
        try:
            while self._held:
                qid, _ = self._held.popitem(last=False)
                self._finish(qid)
            for key in list(self._quota):
                self._quota_emit(key)
        except Exception:
            self.errors += 1
        return self.take()

    def expire_all(self) -> list[Event]:
        """Count and drop every message in flight (the input will never continue)."""
        out = self.flush()
        try:
            while self._msgs:
                qid = next(iter(self._msgs))
                self._expire(qid)
        except Exception:
            self.errors += 1
        out.extend(self.take())
        return out

    # -- state ------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The whole state, JSON-able (pending events of the outbox included)."""
        return {
            "version": STATE_VERSION,
            "first_host": self._first_host,
            "now": self.now,
            "next_sweep": self._next_sweep,
            "counters": {k: getattr(self, k) for k in self._COUNTERS},
            "msgs": [[q, m.dump()] for q, m in self._msgs.items()],
            # (saved, not rebuilt from msgs: two messages in flight may share a
            # Message-ID, a filter's re-injection, and the index names the later)
            "msgid_index": [[k, q] for k, q in self._msgid_index.items() if q in self._msgs],
            "held": [[q, d] for q, d in self._held.items()],
            "children": [[a, v[0], list(v[1])] for a, v in self._children.items()],
            "pending_verdicts": [[q, v[0], v[1]] for q, v in self._pending_verdicts.items()],
            "pending_junk": [[k, t] for k, t in self._pending_junk.items()],
            "done": [[q, t] for q, t in self._done.items()],
            "sieve_fwd": [[k, t] for k, t in self._sieve_fwd.items()],
            "quota": {k: list(v) for k, v in self._quota.items()},
            "quota_done": sorted(self._quota_done),
            "quota_time": self._quota_time,
            "outbox": [_event_dump(e) for e in self._outbox],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], **config: Any) -> Joiner:
        """A joiner continuing from :meth:`state`, with configuration ``config``."""
        j = cls(**config)
        if not state:
            return j
        if state.get("version") not in (1, STATE_VERSION):
            raise ValueError(f"joiner state version {state.get('version')!r} is not supported")
        # (version 1 has none: its keys are of hosts "" and the first one, as here)
        first = state.get("first_host")
        if first is not None and not isinstance(first, str):
            raise TypeError("joiner state: first_host must be a str")
        j._first_host = first or ""
        j.now = _i64(state["now"], "now")
        if not -TIME_LIMIT <= j.now <= TIME_LIMIT:
            raise OverflowError("joiner state: now out of range")
        j._next_sweep = _i64(state["next_sweep"], "next_sweep")
        for k, v in state.get("counters", {}).items():
            if k in cls._COUNTERS:
                setattr(j, k, min(max(int(v), 0), COUNTER_MAX))
        for qid, d in state.get("msgs", []):
            m = _Msg.load(d)
            m.weight = m.measure()
            j._bytes += m.weight
            j._msgs[qid] = m
            if m.msgid:  # a state saved before the index was: on the message's host
                j._msgid_index[_beside(qid, m.msgid)] = qid
        j._rcpts = sum(m.held() for m in j._msgs.values())
        if "msgid_index" in state:
            j._msgid_index = {str(k): str(q) for k, q in state["msgid_index"]}
        j._held = OrderedDict((q, _i64(d, "held")) for q, d in state.get("held", []))
        j._children = _Table.of(
            ((a, [_i64(t, "children"), list(bs)]) for a, t, bs in state.get("children", [])),
            children=True,
        )
        j._pending_verdicts = _Table.of(
            (q, [_i64(t, "pending_verdicts"), bool(s)])
            for q, t, s in state.get("pending_verdicts", [])
        )
        j._pending_junk = _Table.of(
            (k, _i64(t, "pending_junk")) for k, t in state.get("pending_junk", [])
        )
        j._done = _Table.of((q, _i64(t, "done")) for q, t in state.get("done", []))
        j._sieve_fwd = _Table.of((k, _i64(t, "sieve_fwd")) for k, t in state.get("sieve_fwd", []))
        j._quota = {
            k: [user, root, b, n, _i64(t, "quota")]
            for k, (user, root, b, n, t) in state.get("quota", {}).items()
        }
        j._quota_bytes = sum(_u8(k) + _u8(v[0]) + _u8(v[1]) for k, v in j._quota.items())
        j._quota_done = set(state.get("quota_done", []))
        j._quota_done_bytes = sum(_u8(k) for k in j._quota_done)
        j._quota_time = _i64(state.get("quota_time", 0), "quota_time")
        j._outbox = [_event_load(e) for e in state.get("outbox", [])]
        return j

    # -- helpers ----------------------------------------------------------------------

    def _emit(self, ev: Event) -> None:
        self._outbox.append(ev)
        self.events += 1

    def _norm(self, addr: str) -> str:
        """The grouping key of an address: lower case, without address extension."""
        a = addr.lower()
        d = self.recipient_delimiter
        if d:
            at = a.rfind("@")
            local = a if at < 0 else a[:at]
            k = local.find(d)
            if k > 0:
                a = local[:k] + ("" if at < 0 else a[at:])
        return a

    def _strip_ext(self, addr: str) -> str:
        d = self.recipient_delimiter
        if not d:
            return addr
        at = addr.rfind("@")
        local = addr if at < 0 else addr[:at]
        k = local.find(d)
        if k <= 0:
            return addr
        return local[:k] + ("" if at < 0 else addr[at:])

    def _full(self, m: _Msg) -> bool:
        """Whether ``m`` holds MAX_HELD_RECIPIENTS recipients: the one about to be added
        is dropped, and counted (``dropped``).  Otherwise the caller adds it: room is
        made for it first under MAX_HELD_TOTAL, by expiring the oldest messages (never
        ``m``: it was just moved to the end, and holds fewer than the total bound)."""
        if m.held() >= MAX_HELD_RECIPIENTS:
            self.dropped += 1
            return True
        msgs = self._msgs
        while self._rcpts >= MAX_HELD_TOTAL and msgs:
            self._expire(next(iter(msgs)))
        self._rcpts += 1
        return False

    def _mailbox(self, to: str, orig: str | None) -> str:
        """The grouping key of a local delivery: ``_norm(to)``, except that a ``to`` whose
        address extension routes to a distinct account (``to=<vmail+jsmith@host>,
        orig_to=<jsmith@example.com>``, NethServer and others deliver every account
        through one Dovecot user that way) keeps its extension: each credited account
        counts once, instead of every recipient collapsing into the first one.
        """
        return to.lower() if orig else self._norm(to)

    def _msg(self, qid: str) -> _Msg:
        """The message ``qid`` in flight, created if new; marked as just seen."""
        msgs = self._msgs
        m = msgs.get(qid)
        if m is None:
            m = msgs[qid] = _Msg(self.now)
            if self._done:
                self._tpop(self._done, qid)
            pv = self._tpop(self._pending_verdicts, qid)
            if pv is not None:
                self._set_spam(m, pv[1])
            if len(msgs) > self.max_entries:
                self._expire(next(iter(msgs)))
        else:
            m.seen = self.now
            msgs.move_to_end(qid)
        return m

    def _grow(self, m: _Msg, n: int) -> None:
        """``m`` (in flight) now holds ``n`` bytes of strings more (or fewer)."""
        m.weight += n
        self._bytes += n

    @staticmethod
    def _set_spam(m: _Msg, spam: bool) -> None:
        # Any filter saying spam wins; ham only fills an unknown verdict.
        if spam:
            m.spam = True
        elif m.spam is None:
            m.spam = False

    def _bounded(self, table: _Table, key: str, value: Any) -> None:
        """table[key] = value, last; the oldest entries go past ``max_entries`` or
        MAX_TABLE_BYTES (never this one: one entry is far below the bound)."""
        if key not in table:
            table.size += _entry_bytes(key, value, table is self._children)
        table[key] = value
        table.move_to_end(key)
        if len(table) > self.max_entries:
            self._tpop_oldest(table)
        self._trim(table)

    def _trim(self, table: _Table) -> None:
        # (never the last entry: the one just added, which a caller may still use)
        while table.size > MAX_TABLE_BYTES and len(table) > 1:
            self._tpop_oldest(table)

    def _tpop_oldest(self, table: _Table) -> None:
        k, v = table.popitem(last=False)
        table.size -= _entry_bytes(k, v, table is self._children)

    def _tpop(self, table: _Table, key: str) -> Any:
        """table.pop(key, None), its bytes taken off (values are never None)."""
        v = table.pop(key, None)
        if v is not None:
            table.size -= _entry_bytes(key, v, table is self._children)
        return v

    def _sweep(self) -> None:
        """Expire what is too old; runs at most once every SWEEP_EVERY seconds of log time."""
        now = self.now
        self._next_sweep = now + SWEEP_EVERY
        held = self._held
        while held:
            qid, deadline = next(iter(held.items()))
            if deadline > now:
                break
            del held[qid]
            self._finish(qid)
        cutoff = now - self.max_age
        msgs = self._msgs
        while msgs:
            qid, m = next(iter(msgs.items()))
            if m.seen >= cutoff:
                break
            self._expire(qid)
        for table in (self._pending_verdicts, self._children):
            while table:
                v = next(iter(table.values()))
                if v[0] >= cutoff:
                    break
                self._tpop_oldest(table)
        for table2 in (self._pending_junk, self._done, self._sieve_fwd):
            while table2:
                t = next(iter(table2.values()))
                if t >= cutoff:
                    break
                self._tpop_oldest(table2)

    def _expire(self, qid: str) -> None:
        m = self._msgs.get(qid)
        if m is None:
            return
        if m.queued or m.locals or m.fwds or m.bounced or m.relays:
            self.expired += 1
        else:
            self.abandoned += 1
        self._finish(qid)

    def _drop(self, qid: str) -> _Msg | None:
        m = self._msgs.pop(qid, None)
        if m is not None:
            self._rcpts -= m.held()
            self._bytes -= m.weight
        self._held.pop(qid, None)
        if m is not None and m.msgid:
            ikey = _beside(qid, m.msgid)
            if self._msgid_index.get(ikey) == qid:
                del self._msgid_index[ikey]
        self._bounded(self._done, qid, self.now)
        return m

    def _credit(self, to: str, orig: str | None, single: bool) -> tuple[str, str]:
        """(address to credit, grouping key) of a local receipt (module docstring)."""
        resolve = self.resolve
        if resolve is not None:
            for a in (orig, to):
                if a:
                    canon = resolve(self._strip_ext(a))
                    if canon:
                        return self._strip_ext(a), canon.lower()
        if orig and single:
            return self._strip_ext(orig), self._mailbox(to, orig)
        return self._strip_ext(to), self._mailbox(to, orig)

    def _finish(self, qid: str) -> None:
        """Emit the receipts and local failures of a message and forget it."""
        m = self._drop(qid)
        if m is None:
            return
        if m.relays:
            self._relay_receipts(m)
        if not (m.locals or m.fwds or m.bounced or m.arrived is not None):
            return
        size = max(0, _message_size(m))
        if m.arrived is not None and m.sasl and not m.out_done:
            # an Exim submission whose recipients were not logged at its "<=" line
            self._emit(MessageOut(m.arrived, m.sasl, len(m.erc), size))
        if not (m.locals or m.fwds or m.bounced):
            return
        spam = bool(m.spam)
        if len(m.locals) == 1 and not m.fwds and not m.bounced:
            # The common case, one mailbox: no grouping to do.
            for to, orig, t, junk in m.locals.values():
                addr = self._credit(to, orig, bool(orig))[0]
                self._emit(MessageIn(int(t), addr, size, spam or bool(junk)))
            return
        # How many mailboxes each orig_to expands to in this message.
        fan: dict[str, int] = {}
        for entry in m.locals.values():
            if entry[1]:
                k = self._norm(entry[1])
                fan[k] = fan.get(k, 0) + 1
        groups: dict[str, list[Any]] = {}  # key -> [address, time, junk]
        aliases: dict[str, str] = {}  # orig_to key / to key -> group key
        for tkey, (to, orig, t, junk) in m.locals.items():
            single = bool(orig) and fan.get(self._norm(orig), 0) == 1
            addr, gkey = self._credit(to, orig, single)
            g = groups.get(gkey)
            if g is None:
                groups[gkey] = [addr, t, junk]
            else:
                g[1] = min(g[1], t)
                g[2] = g[2] or junk
            aliases[tkey] = gkey
            if single:
                aliases[self._norm(orig)] = gkey
        for okey, (addr, t) in m.fwds.items():
            gkey = aliases.get(okey)
            if gkey is None and self.resolve is not None:
                canon = self.resolve(self._strip_ext(addr))
                gkey = canon.lower() if canon else None
            if gkey is None:
                gkey = okey
            g = groups.get(gkey)
            if g is None:
                groups[gkey] = [self._strip_ext(addr), t, False]
            else:
                g[1] = min(g[1], t)
        for addr, t, junk in groups.values():
            self._emit(MessageIn(int(t), addr, size, spam or bool(junk)))
        for tkey, (to, orig, t) in m.bounced.items():
            if tkey in aliases:
                continue
            addr, gkey = self._credit(to, orig, bool(orig))
            if gkey in groups:
                continue
            groups[gkey] = [addr, t, False]
            self._emit(MessageDenied(int(t), addr))

    def _relay_receipts(self, m: _Msg) -> None:
        """Relays that are receipts (module docstring) join the message's local receipts."""
        inbound = (
            not m.sasl
            and not m.out_done
            and (
                m.parent is not None
                or (m.client is not None and not m.loopback and m.client.lower() not in self._own)
            )
        )
        resolve = self.resolve
        for key, (to, t) in m.relays.items():
            if key in m.locals:
                continue
            if inbound or (resolve is not None and resolve(self._strip_ext(to))):
                m.locals[key] = [to, None, t, False]

    def _is_filter(self, d: Delivery, ip: str, port: int | None) -> bool:
        if self.filter_relays:
            relay = d.relay.lower()
            host = relay.split("[", 1)[0]
            if relay in self.filter_relays or host in self.filter_relays:
                return True
            if ip and (
                ip in self.filter_relays
                or (port is not None and f"{ip}:{port}" in self.filter_relays)
            ):
                return True
        # (Not settings: amavis's own answer text, on any port but 25; and a loopback
        # relay answering "queued as" is a filter that re-queued the message.  Checked
        # before local delivery, so an LMTP hand-off to a filter port — Proxmox Mail
        # Gateway's "scan" transport — is never a mailbox delivery.)
        # Port 25 is where an outside server (an MX) is reached, and its answer is its
        # own text: a remote amavis behind a before-queue filter answers "from MTA(…):
        # … queued as ITSID" (an id of that server's queue), and a hostile server may
        # answer "queued as" any id in flight here, which would make another message a
        # continuation of this one (its size and sender).  Such a delivery is a relay.
        if "from MTA(" in d.response and port != 25:
            return True
        if ip and _loopback(ip):
            return bool(d.queued_as) or (port is not None and port in self.filter_ports)
        return False

    def _filter_answer(self, qid: str, response: str) -> None:
        """A filter answered ``… (LOGID)`` (Proxmox Mail Gateway's ``250 2.5.0 OK (ID)``):
        what its log id was re-injected as (``Reinjected`` of its ``accept mail to``
        lines, logged before this answer) continues ``qid``: the messages get its size
        and submitting user, as a ``queued as`` answer gives them."""
        logid = _filter_id(response)
        ch = self._children.get(self._k(logid)) if logid else None
        if ch is not None:
            for b in list(ch[1]):  # (a copy: linking may trim the table)
                self._link(qid, b, answered=True)

    def _own_relay(self, relay: str, ip: str) -> bool:
        """Whether a delivery's relay (``name[ip]:port``) is one of ``own_hosts``."""
        own = self._own
        b = relay.find("[")
        name = (relay if b < 0 else relay[:b]).lower()
        if ip.startswith("::ffff:"):
            ip = ip[7:]
        return name in own or (bool(ip) and ip.lower() in own)

    def _relay_hosts(self, relay: str, ip: str) -> list[str]:
        """The syslog hosts a relay may name, other than the line's own: its name, the
        name's first label (syslog's short hostname), its address; each once."""
        b = relay.find("[")
        name = (relay if b < 0 else relay[:b]).lower()
        dot = name.find(".")
        out: list[str] = []
        for h in (name, name[:dot] if dot > 0 else "", ip.lower()):
            if h and h != self._host and h not in out:
                out.append(h)
        return out

    def _link(self, a: str, b: str, answered: bool = False) -> None:
        """Message ``b`` continues message ``a`` (content filter re-injection).

        ``answered``: the link comes from the filter's own answer (amavis's
        ``queued_as``, Postfix's ``queued as``), after which no verdict is to come;
        an XFORWARD ``orig_queue_id`` links before the filter has said its word.
        """
        if not a or not b or a == b:
            return
        ch = self._children.get(a)
        if ch is None:
            self._bounded(self._children, a, [self.now, [b]])
        elif b not in ch[1] and len(ch[1]) < 64:
            ch[1].append(b)
            self._children.size += _u8(b)
            self._trim(self._children)
        mb = self._msgs.get(b)
        if mb is None:
            if b in self._done:
                return  # b was already counted: too late to carry anything over
            mb = self._msg(b)
        if mb.parent != a:
            self._grow(mb, _u8(a) - _u8(mb.parent))
            mb.parent = a
            ma = self._msgs.get(a)
            if ma is not None:
                if ma.sasl and not mb.sasl:
                    self._grow(mb, _u8(ma.sasl) - _u8(mb.sasl))
                    mb.sasl = ma.sasl
                if ma.sasl or ma.out_done:
                    mb.out_done = True
                size = ma.inherited_size if ma.inherited_size is not None else ma.size
                if size is not None:
                    mb.inherited_size = size
                if ma.spam is not None:
                    self._set_spam(mb, ma.spam)
            else:
                pv = self._pending_verdicts.get(a)
                if pv is not None:
                    self._set_spam(mb, pv[1])
            if mb.sasl:
                mb.out_done = True
        if answered:
            mb.filtered = True
        if mb.removed is not None and mb.filtered:
            self._finish(b)  # it was held for this answer

    # -- handlers -----------------------------------------------------------------------

    def _smtpd(self, r: SmtpdClient, t: int) -> None:
        qid = self._k(r.qid)
        m = self._msg(qid)
        self._grow(m, _u8(r.client_ip) - _u8(m.client))
        m.client = r.client_ip
        m.loopback = _loopback(r.client_ip)
        if r.sasl_username and not m.sasl:
            self._grow(m, _u8(r.sasl_username) - _u8(m.sasl))
            m.sasl = r.sasl_username
        if r.orig_qid:
            self._link(self._k(r.orig_qid), qid)

    def _pickup(self, r: Pickup, t: int) -> None:
        m = self._msg(self._k(r.qid))
        if r.uid in self.webmail_uids and r.sender and not m.sasl:
            self._grow(m, _u8(r.sender) - _u8(m.sasl))
            m.sasl = r.sender

    def _cleanup(self, r: CleanupMessageId, t: int) -> None:
        qid = self._k(r.qid)
        m = self._msg(qid)
        if r.message_id:
            self._grow(m, _u8(r.message_id) - _u8(m.msgid))
            m.msgid = r.message_id
            self._msgid_index[self._k(r.message_id)] = qid

    def _qmgr(self, r: QmgrFrom, t: int) -> None:
        m = self._msg(self._k(r.qid))
        m.queued = True
        if m.size is None:
            m.size = max(0, r.size)
            m.nrcpt = max(0, r.nrcpt)
        if m.sasl and not m.out_done:
            m.out_done = True
            self._emit(MessageOut(t, m.sasl, max(0, r.nrcpt), max(0, r.size)))

    def _removed(self, r: QmgrRemoved, t: int) -> None:
        qid = self._k(r.qid)
        m = self._msgs.get(qid)
        if m is None:
            return
        m.removed = t
        if (
            m.loopback
            and not m.filtered
            and (m.parent is not None or not m.sasl)
            and self.reinject_grace
            and (m.locals or m.fwds or m.bounced or m.relays)
        ):
            # Possibly a content filter's re-injection whose "queued as" line is still to
            # come: wait for it a little before counting (module docstring).
            m.seen = self.now
            self._msgs.move_to_end(qid)
            self._held[qid] = self.now + self.reinject_grace
            self._held.move_to_end(qid)
            return
        self._finish(qid)

    def _delivery(self, r: Delivery, t: int) -> None:
        status = r.status
        if status not in ("sent", "bounced"):
            return  # deferred (retried later), expired, address-verification probes
        qid = self._k(r.qid)
        m = self._msg(qid)
        ip, port = _ip_of(r.relay)
        if self._is_filter(r, ip, port):
            if status == "sent":
                if r.queued_as:
                    self._link(qid, self._k(r.queued_as), answered=True)
                else:
                    self._filter_answer(qid, r.response)
            return
        to = r.to
        if not to:
            return
        orig = r.orig_to if r.orig_to and r.orig_to.lower() != to.lower() else None
        local = r.service in self.local_services or r.response.startswith("delivered ")
        if not local and r.forwarded_as is None:
            if self._own and self._own_relay(r.relay, ip):
                return  # a hand-over inside the platform: counted where it ends
            # Only a hand-off to another host is a forward (not discard(8), error(8) …).
            if status == "sent" and orig and ip and not _loopback(ip):
                self._hold_forward(m, orig, to, t)
            elif status == "sent" and not orig and ip and not _loopback(ip):
                self._hold_relay(m, to, t)
            return
        tkey = self._mailbox(to, orig)
        if status == "bounced":
            self._hold_bounced(m, tkey, to, orig, t)
            return
        if r.forwarded_as is not None:
            # local(8) expanded an alias or .forward into a new message: a receipt and a
            # forward of the user; the new message counts for its own recipients.
            user = orig or to
            okey = self._norm(user)
            if okey not in m.fwds and not self._full(m):
                m.fwds[okey] = [user, t]
                self._grow(m, _u8(okey) + _u8(user))
                self._emit(Forward(t, self._strip_ext(user)))
            return
        skey, hosts = "", ()
        if self._pending_junk:
            s = _session(r.response)
            network = bool(ip) and "/" not in ip and not _loopback(ip)
            hosts = self._relay_hosts(r.relay, ip) if network else ()
            skey = "s:" + s if s is not None else ""
            if self._junk_filed(m, to, skey, hosts, _REJECTED):
                # a sieve reject logged before: not kept, refused for the user
                self._hold_bounced(m, tkey, to, orig, t)
                return
        entry = self._hold_local(m, tkey, to, orig, t)
        if entry is None:
            return
        if self._pending_junk and self._junk_filed(m, to, skey, hosts):
            entry[3] = True

    # (what a delivery line holds, for Postfix's lines and Exim's alike)

    def _hold_forward(self, m: _Msg, orig: str, to: str, t: int) -> None:
        """``orig``'s mail handed to another host as ``to``: a forward of ``orig`` (and
        its receipt, in _finish), once per message and ``orig``."""
        okey = self._norm(orig)
        if okey != self._norm(to) and okey not in m.fwds and not self._full(m):
            m.fwds[okey] = [orig, t]
            self._grow(m, _u8(okey) + _u8(orig))
            self._emit(Forward(t, self._strip_ext(orig)))

    def _hold_relay(self, m: _Msg, to: str, t: int) -> None:
        """A relay of ``to`` to another host: a receipt or not, decided in _finish."""
        tkey = self._norm(to)
        if tkey not in m.relays and not self._full(m):
            m.relays[tkey] = [to, t]
            self._grow(m, _u8(tkey) + _u8(to))

    def _hold_bounced(self, m: _Msg, tkey: str, to: str, orig: str | None, t: int) -> None:
        """A permanent failure of the local delivery to ``to`` (grouping key ``tkey``)."""
        if tkey not in m.bounced and not self._full(m):
            m.bounced[tkey] = [to, orig, t]
            self._grow(m, _u8(tkey) + _u8(to) + _u8(orig))

    def _hold_local(
        self, m: _Msg, tkey: str, to: str, orig: str | None, t: int
    ) -> list[Any] | None:
        """The local receipt of ``to`` (grouping key ``tkey``), held once; None when the
        message holds MAX_HELD_RECIPIENTS (the delivery is dropped)."""
        entry = m.locals.get(tkey)
        if entry is None:
            if self._full(m):
                return None
            entry = m.locals[tkey] = [to, orig, t, False]
            self._grow(m, _u8(tkey) + _u8(to) + _u8(orig))
        elif orig and not entry[1]:
            self._grow(m, _u8(orig) - _u8(entry[1]))
            entry[1] = orig
        return entry

    def _junk_filed(
        self, m: _Msg, to: str, skey: str = "", hosts: Sequence[str] = (), mark: str = ""
    ) -> bool:
        """Whether a sieve ``fileinto`` a junk folder of ``to`` logged before this
        delivery waits for this message (it is taken): keyed as _sieve keys it, by the
        user without extension and the Message-ID (``jkey``), or by the LMTP session
        (``skey``, "s:SESSION"), on this line's host and then on ``hosts`` (the
        backends a network LMTP delivery names: module docstring, "Many hosts").
        ``mark`` _REJECTED: a sieve ``reject`` instead, whose keys begin with it and
        whose session key names the user too (an LMTP transaction of several
        recipients is one session: a reject is one recipient's)."""
        user = self._norm(to) if m.msgid or (skey and mark) else ""
        jkey = mark + user + "\0" + m.msgid if m.msgid else ""
        if skey and mark:
            skey = mark + skey + "\0" + user
        found = False
        for k in (skey, jkey):
            if k and self._tpop(self._pending_junk, self._k(k)) is not None:
                found = True
        for h in hosts if skey or jkey else ():
            for k in (skey, jkey):
                if k and self._tpop(self._pending_junk, self._hk(h, k)) is not None:
                    found = True
        return found

    def _reject(self, r: Reject, t: int) -> None:
        if r.permanent and r.recipient:
            self._emit(MessageDenied(t, self._strip_ext(r.recipient)))
        qid = self._k(r.qid)
        if qid and r.stage in _FINAL_STAGES and qid in self._msgs:
            self._drop(qid)  # rejected before it was queued: nothing more will come

    def _discard(self, r: Discard, t: int) -> None:
        qid = self._k(r.qid)
        if qid in self._msgs and not self._msgs[qid].queued:
            self._drop(qid)

    def _mail_login(self, r: MailLogin, t: int) -> None:
        rip = r.rip[7:] if r.rip.startswith("::ffff:") else r.rip
        if rip in self.webmail_hosts or not r.user:
            return
        self._emit(Login(t, r.user, r.service))

    def _webmail_login(self, r: WebmailLogin, t: int) -> None:
        if r.user:
            self._emit(Login(t, r.user, "webmail"))

    def _sieve(self, r: SieveAction, t: int) -> None:
        if not r.user:
            return
        if r.action == "vacation":
            self._emit(Autoresponse(t, r.user))
            return
        msgid = r.msgid if r.msgid not in ("", "unspecified") else ""
        ukey = self._norm(r.user)
        if r.action == "redirect":
            if msgid:
                fkey = self._k(ukey + "\0" + msgid)
                if fkey in self._sieve_fwd:
                    return  # one forward per message, however many redirect targets
                self._bounded(self._sieve_fwd, fkey, self.now)
            self._emit(Forward(t, r.user))
            return
        if r.action == "reject":
            self._sieve_reject(r, ukey, msgid)
            return
        box = r.target.lower()
        if box not in self.junk_mailboxes:
            for sep in ("/", "."):
                if sep in box and box.rsplit(sep, 1)[1] in self.junk_mailboxes:
                    break
            else:
                return
        # A delivery into a junk folder: find it (sieve usually logs before Postfix's
        # delivery line; if after, the message is found by its Message-ID).
        if msgid:
            m = self._delivered_to(msgid, ukey)
            if m is not None:
                m.locals[ukey][3] = True
                return
            self._bounded(self._pending_junk, self._k(ukey + "\0" + msgid), self.now)
        if r.session:
            self._bounded(self._pending_junk, self._k("s:" + r.session), self.now)

    def _sieve_reject(self, r: SieveAction, ukey: str, msgid: str) -> None:
        """A Pigeonhole ``reject``: the message is not kept, and is refused for the
        user (the refusal goes back as a DSN, so Postfix logs the LMTP delivery
        ``sent``): its local delivery is a denial, not a receipt (SPEC §3).  The
        delivery is found as a junk ``fileinto``'s is: logged before, by the
        Message-ID (its receipt becomes a local failure); else marked for the one
        to come among ``_pending_junk``'s marks, under keys of its own (_REJECTED)."""
        if msgid:
            m = self._delivered_to(msgid, ukey)
            if m is not None:
                to, orig, t, _junk = m.locals.pop(ukey)
                if ukey in m.bounced:  # (one recipient held less)
                    self._grow(m, -(_u8(ukey) + _u8(to) + _u8(orig)))
                    self._rcpts -= 1
                else:
                    m.bounced[ukey] = [to, orig, t]
                return
            self._bounded(self._pending_junk, self._k(_REJECTED + ukey + "\0" + msgid), self.now)
        if r.session:
            skey = _REJECTED + "s:" + r.session + "\0" + ukey
            self._bounded(self._pending_junk, self._k(skey), self.now)

    def _delivered_to(self, msgid: str, ukey: str) -> _Msg | None:
        """The message in flight of Message-ID ``msgid`` that holds a local delivery to
        ``ukey``: on this line's host, else on another of the platform's hosts, which
        handed it over (LMTP)."""
        m = self._delivered_in(self._k(msgid), ukey)
        if m is None and self._host in self._own:
            for h in self.own_hosts:
                if h != self._host:
                    m = self._delivered_in(self._hk(h, msgid), ukey)
                    if m is not None:
                        break
        return m

    def _delivered_in(self, ikey: str, ukey: str) -> _Msg | None:
        """The message in flight indexed by ``ikey``, if it holds a local delivery to
        ``ukey``."""
        qid = self._msgid_index.get(ikey)
        m = self._msgs.get(qid) if qid else None
        return m if m is not None and ukey in m.locals else None

    def _verdict(self, r: SpamVerdict, t: int) -> None:
        if r.verdict == "tempfail":
            return
        spam = r.verdict in ("spam", "reject")
        self._apply_verdict(self._k(r.qid), spam)

    def _apply_verdict(self, qid: str, spam: bool) -> None:
        """The verdict on ``qid`` holds for it and for what continues it (re-injections).

        A breadth-first walk of ``_children``, at most VERDICT_DEPTH links deep,
        each message visited once and at most VERDICT_VISITS of them: the links
        come from log lines anyone can write (``orig_queue_id=``), and without a
        visited set K ids linked to each other cost (K-1)^depth.  Breadth first,
        so every message within VERDICT_DEPTH links is reached by its shortest
        path, as a walk without the set would reach it (setting a verdict twice
        changes nothing).  The compiled joiner walks in the very same order.
        """
        msgs = self._msgs
        children = self._children
        m = msgs.get(qid)
        applied = m is not None
        if m is not None:
            self._set_spam(m, spam)
        ch = children.get(qid)
        if ch is not None:
            applied = True
            seen = {qid}
            level = [qid]
            for _ in range(VERDICT_DEPTH):
                nxt: list[str] = []
                for a in level:
                    cha = children.get(a)
                    if cha is None:
                        continue
                    for b in cha[1]:
                        if b in seen or len(seen) >= VERDICT_VISITS:
                            continue
                        seen.add(b)
                        nxt.append(b)
                        mb = msgs.get(b)
                        if mb is not None:
                            self._set_spam(mb, spam)
                if not nxt:
                    break
                level = nxt
        if not applied and qid not in self._done:
            pv = self._pending_verdicts.get(qid)
            self._bounded(self._pending_verdicts, qid, [self.now, spam or bool(pv and pv[1])])

    def _reinjected(self, r: Reinjected, t: int) -> None:
        self._link(self._k(r.qid), self._k(r.new_qid), answered=True)

    def _blocked(self, r: FilterBlocked, t: int) -> None:
        flags = r.flags
        held = (
            r.category.split("-")[0] in ("SPAM", "SPAMMY")
            and "Quarantined" in flags
            and not any(f.startswith(("Bounced", "Rejected")) for f in flags)
        )
        m = self._msgs.get(self._k(r.qid)) if r.qid else None
        size = 0 if m is None else max(0, _message_size(m))
        for rcpt in r.recipients:
            if rcpt:
                user = self._strip_ext(rcpt)
                self._emit(MessageIn(t, user, size, True) if held else MessageDenied(t, user))

    # -- Exim -------------------------------------------------------------------------
    #
    # An Exim message is keyed by its message id: every access goes through _exim_key
    # (and a Message-ID through _msgid_key), the one place that makes a key of them.

    def _exim_key(self, qid: str) -> str:
        """The key of Exim message ``qid`` in the tables of messages in flight."""
        return self._k(qid)

    def _msgid_key(self, msgid: str) -> str:
        """The key of a Message-ID in ``_msgid_index`` (per host, as Postfix's)."""
        return self._k(msgid)

    def _exim_arrival(self, r: EximArrival, t: int) -> None:
        key = self._exim_key(r.qid)
        m = self._msg(key)
        m.queued = True
        if m.size is None:
            m.size = max(0, r.size)
        if r.client_ip is not None:
            self._grow(m, _u8(r.client_ip) - _u8(m.client))
            m.client = r.client_ip
            m.loopback = _loopback(r.client_ip)
        if r.message_id:
            self._grow(m, _u8(r.message_id) - _u8(m.msgid))
            m.msgid = r.message_id
            mkey = self._msgid_key(r.message_id)
            self._msgid_index[mkey] = key
            pv = self._tpop(self._pending_verdicts, "<" + mkey + ">")
            if pv is not None:
                self._set_spam(m, pv[1])  # spamd ran in the DATA ACL, before this line
        user = r.auth
        if not user and r.local_user is not None and r.local_user in self.webmail_users:
            user = r.sender  # webmail through Exim's sendmail: as pickup's webmail_uids
        if not user or m.sasl or m.out_done:
            return
        self._grow(m, _u8(user))
        m.sasl = user
        if r.recipients is not None:
            m.out_done = True
            n = len({a.lower() for a in r.recipients})
            self._emit(MessageOut(t, user, n, max(0, r.size)))
        else:
            m.arrived = t  # counted at "Completed", its recipients seen by then

    def _exim_delivery(self, r: EximDelivery, t: int) -> None:
        m = self._msg(self._exim_key(r.qid))
        to, orig = r.to, r.orig
        if to[:1] in ("|", "/") or to.startswith("save "):
            if not orig:
                return
            to, orig = orig, None  # a pipe or file of the top-level address's own
        elif "@" not in to and orig and "@" in orig:
            to += orig[orig.rfind("@") :]  # log_as_local: the local part only
        if orig and orig.lower() == to.lower():
            orig = None
        if m.arrived is not None and not m.out_done:
            top = self._norm(orig or to)
            if top not in m.erc:
                if self._full(m):
                    return
                m.erc[top] = None
                self._grow(m, _u8(top))
        if r.kind == "*>":
            return  # -N: not delivered
        if to[:1] == ">":
            # Exim's autoreply transport ("=> >to <top> R=… T=address_reply": deliver.c
            # logs the address of an autoreply with ">"): a message sent on the
            # top-level address's behalf, not one more delivery to it
            if orig and r.kind in ("=>", "->"):
                self._emit(Autoresponse(t, orig))
            return
        remote = bool(r.ip) and "lmtp" not in r.transport.lower()
        if r.kind == "**":
            if not remote:  # a local mailbox refused it (over quota, no such user)
                self._hold_bounced(m, self._mailbox(to, orig), to, orig, t)
            return
        if remote:
            if _loopback(r.ip) or (self._own and self._own_relay("", r.ip)):
                return  # a content filter on this host, a hand-over inside the platform
            if orig:
                self._hold_forward(m, orig, to, t)
            else:
                self._hold_relay(m, to, t)
            return
        tkey = self._mailbox(to, orig)
        if self._pending_junk and self._junk_filed(m, to, mark=_REJECTED):
            self._hold_bounced(m, tkey, to, orig, t)  # a sieve reject logged before
            return
        entry = self._hold_local(m, tkey, to, orig, t)
        if entry is None:
            return
        if _spam_folder(r.router, r.transport):
            entry[3] = True
        elif self._pending_junk and self._junk_filed(m, to):
            entry[3] = True  # a sieve fileinto a junk folder logged before (Dovecot LMTP)

    def _exim_completed(self, r: EximCompleted, t: int) -> None:
        key = self._exim_key(r.qid)
        m = self._msgs.get(key)
        if m is None:
            return
        m.removed = t
        self._finish(key)

    def _spamd(self, r: SpamdResult, t: int) -> None:
        spam = r.verdict == "spam"
        mkey = self._msgid_key(r.message_id)
        key = self._msgid_index.get(mkey)
        if key is not None and key in self._msgs:
            self._apply_verdict(key, spam)
            return
        # spamd in Exim's DATA ACL answers before the "<=" line names the Message-ID
        pkey = "<" + mkey + ">"
        pv = self._pending_verdicts.get(pkey)
        self._bounded(self._pending_verdicts, pkey, [self.now, spam or bool(pv and pv[1])])

    def _quota_header(self, r: QuotaHeader, t: int) -> None:
        for key in list(self._quota):
            self._quota_emit(key)
        self._quota_done.clear()
        self._quota_done_bytes = 0

    def _quota_row(self, r: QuotaRow, t: int) -> None:
        if t != self._quota_time:
            # Rows of another report (another file, another mtime), even without a header.
            self._quota_header(QuotaHeader(), self._quota_time)
            self._quota_time = t
        key = r.user.lower()
        if key in self._quota_done:
            return  # a second quota root of the same user: the first one is reported
        q = self._quota.get(key)
        if q is None:
            q = self._quota[key] = [r.user, r.root, None, None, t]
            self._quota_bytes += _u8(key) + _u8(r.user) + _u8(r.root)
            # rows never completed (one kind only) are reported as they stand, the
            # oldest first, past max_entries or MAX_TABLE_BYTES (never this one)
            while len(self._quota) > 1 and (
                len(self._quota) > self.max_entries or self._quota_bytes > MAX_TABLE_BYTES
            ):
                self._quota_emit(next(iter(self._quota)))
        elif q[1] != r.root:
            return
        if r.kind == "STORAGE":
            q[2] = max(0, r.value)
        else:
            q[3] = max(0, r.value)
        if q[2] is not None and q[3] is not None:
            self._quota_emit(key)

    def _quota_emit(self, key: str) -> None:
        q = self._quota.pop(key, None)
        if q is None:
            return
        self._quota_bytes -= _u8(key) + _u8(q[0]) + _u8(q[1])
        if key not in self._quota_done:
            self._quota_done.add(key)
            self._quota_done_bytes += _u8(key)
        if len(self._quota_done) > self.max_entries or self._quota_done_bytes > MAX_TABLE_BYTES:
            self._quota_done.clear()
            self._quota_done_bytes = 0
        self._emit(StorageReport(int(q[4]), q[0], int(q[3] or 0), int(q[2] or 0)))
