"""One log line → a :class:`ParseResult`: what the line says, as records.

:func:`parse` (or :meth:`LineParser.parse`, which keeps the stamp context of one
file) takes any line — syslog with a classic or RFC 3339 stamp, Dovecot's,
rspamd's, Roundcube's and Exim's own log files, rows of ``doveadm -f tab quota get -A``
— and dispatches on the program name first, then on cheap prefix tests; the
regexes are compiled once and used only where a prefix matched.

A result is one of three:

* ``ok`` — understood, with one or more records (and the line's time);
* ``ignored`` — understood, nothing to count (``connect from``, a failed login,
  ``reject_warning``, rspamd's chatter …);
* ``unknown`` — not understood; ``program`` says who wrote it, so that the
  ingest report can group such lines by program with a sample.

No input string raises.  Records are frozen, slotted dataclasses; they say
what the line says and nothing more — :mod:`mailtally.ingest.join` ties them
into events.

These modules are the reference; ``mailtally ingest`` runs their compiled twin
(``_fastlog/parse*.c``, one C function per function here), which hands a line
back to them when it declines it.  A rule changed here is changed there too:
tests/test_fastlog_parse.py compares the two on every table of lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from datetime import tzinfo
from typing import Literal

from ..stamps import CLASSIC, ISO, MAX_ADDRESS, StampParser, _split
from .amavis import FilterBlocked, Reinjected, parse_amavis
from .dovecot import MailLogin, SieveAction, parse_dovecot
from .exim import EximArrival, EximCompleted, EximDelivery, SpamdResult, parse_exim, parse_spamd
from .families import AMAVIS_VERDICT
from .pmg import parse_pmg
from .postfix import (
    POSTFIX_DAEMONS,
    CleanupMessageId,
    Delivery,
    Discard,
    Pickup,
    QmgrFrom,
    QmgrRemoved,
    Reject,
    SmtpdClient,
    parse_postfix,
)
from .quota import QuotaHeader, QuotaRow, parse_quota
from .roundcube import WebmailLogin, parse_roundcube
from .rspamd import SpamVerdict, parse_rspamd, parse_rspamd_json

__all__ = [
    "IGNORED",
    "MAX_HOST",
    "NEVER_COUNTED",
    "OK",
    "UNKNOWN",
    "CleanupMessageId",
    "Delivery",
    "Discard",
    "EximArrival",
    "EximCompleted",
    "EximDelivery",
    "FilterBlocked",
    "LineParser",
    "MailLogin",
    "ParseResult",
    "Pickup",
    "QmgrFrom",
    "QmgrRemoved",
    "QuotaHeader",
    "QuotaRow",
    "Record",
    "Reinjected",
    "Reject",
    "SieveAction",
    "SmtpdClient",
    "SpamVerdict",
    "SpamdResult",
    "WebmailLogin",
    "parse",
    "tallied",
]

Record = (
    SmtpdClient
    | Pickup
    | CleanupMessageId
    | QmgrFrom
    | QmgrRemoved
    | Delivery
    | Reject
    | Discard
    | MailLogin
    | SieveAction
    | WebmailLogin
    | SpamVerdict
    | Reinjected
    | FilterBlocked
    | QuotaHeader
    | QuotaRow
    | EximArrival
    | EximDelivery
    | EximCompleted
    | SpamdResult
)

Status = Literal["ok", "ignored", "unknown"]
OK: Status = "ok"
IGNORED: Status = "ignored"
UNKNOWN: Status = "unknown"


@dataclass(frozen=True, slots=True)
class ParseResult:
    """What one line said.

    ``time`` is UTC epoch seconds, set for ``ok`` results (None if the stamp
    could not be read — such a line is reported ``unknown`` instead, so an
    ``ok`` result always has a time).  ``program`` is the writer's name as
    logged (``postfix/submission/smtpd``, ``dovecot``, ``rspamd``, ``roundcube``,
    ``doveadm`` for quota rows; ``""`` when the line has no recognisable header).
    ``host`` is the syslog header's hostname, lower-cased (hostnames compare
    case-insensitively), set for ``ok`` results; ``""`` for forms that carry none
    (Dovecot's, rspamd's and Roundcube's own log files, quota reports, and a
    Kubernetes CRI log, whose ``stdout`` names a stream).  A host of
    more than MAX_HOST characters, or with a character outside ``[A-Za-z0-9._:-]``
    (a DNS name, an IPv4 or IPv6 address), makes the line not understood
    (:func:`_host_of`): the joiner keys what it keeps in flight by host.
    ``family`` names what an ``unknown`` line is about, when its parser knows
    (:mod:`.families`: ``"dovecot login"``, ``"postfix reject"`` …); ``""`` else.
    """

    status: Status
    program: str
    time: int | None = None
    records: tuple[Record, ...] = ()
    host: str = ""
    family: str = ""


#: The fields of each record held to MAX_ADDRESS characters (stamps.MAX_ADDRESS):
#: every address and every name the joiner may keep.  (Message-IDs have their own
#: bound; the fields left out — relay, response, status, category … — are read and
#: let go within the line.)  The compiled parser checks the same fields (parse.c's
#: too_long).
_BOUNDED: dict[type, tuple[str, ...]] = {
    SmtpdClient: ("qid", "client_ip", "sasl_username", "orig_qid"),
    Pickup: ("qid", "sender"),
    CleanupMessageId: ("qid",),
    QmgrFrom: ("qid", "sender"),
    QmgrRemoved: ("qid",),
    Delivery: ("qid", "to", "orig_to", "queued_as", "forwarded_as"),
    Reject: ("qid", "recipient"),
    Discard: ("qid",),
    MailLogin: ("user",),
    SieveAction: ("user", "session"),
    WebmailLogin: ("user",),
    SpamVerdict: ("qid",),
    Reinjected: ("qid", "new_qid"),
    FilterBlocked: ("qid",),
    QuotaRow: ("user", "root"),
    EximArrival: ("qid", "sender", "client_ip", "auth", "local_user"),
    EximDelivery: ("qid", "to", "orig", "ip"),
    EximCompleted: ("qid",),
}


#: The longest host a line may name: a DNS name's 253 characters.
MAX_HOST = 253
_HOST = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_HOST}}}", re.ASCII)


def _host_of(host: str | None) -> str | None:
    """The host of an ``ok`` line, lower-cased (``""`` for none); None if it is no
    hostname (too long, or a character no DNS name or address holds): such a line is
    not understood, so that nothing the joiner keys by host holds an unbounded name."""
    if not host:
        return ""
    if _HOST.fullmatch(host) is None:
        return None
    return host.lower()


def _too_long(recs: tuple[Record, ...]) -> bool:
    """Whether a record holds a field of _BOUNDED over MAX_ADDRESS characters: such a
    line is not understood (no real address or queue id is that long, and the joiner
    would keep it for as long as the message is in flight)."""
    for rec in recs:
        for name in _BOUNDED.get(type(rec), ()):
            v = getattr(rec, name)
            if v is not None and len(v) > MAX_ADDRESS:
                return True
        if type(rec) is FilterBlocked or (type(rec) is EximArrival and rec.recipients):
            for a in rec.recipients:  # type: ignore[union-attr]
                if len(a) > MAX_ADDRESS:
                    return True
    return False


def _fast_init(cls: type) -> None:
    """Give a frozen, slotted dataclass a faster ``__init__`` of the same signature.

    The generated ``__init__`` of a frozen dataclass calls ``object.__setattr__``
    per field, which makes building a record cost about 1 µs — as much as parsing
    the line.  This one stores through the slots' descriptors directly (half the
    cost); instances stay immutable, equal, hashable and printable as before.
    """
    ns: dict[str, object] = {}
    params: list[str] = []
    body: list[str] = []
    for i, f in enumerate(fields(cls)):
        ns[f"_s{i}"] = cls.__dict__[f.name].__set__
        if f.default is not MISSING:
            ns[f"_d{i}"] = f.default
            params.append(f"{f.name}=_d{i}")
        else:
            params.append(f.name)
        body.append(f"    _s{i}(self, {f.name})")
    src = f"def __init__(self, {', '.join(params)}):\n" + ("\n".join(body) or "    pass") + "\n"
    exec(src, ns)
    init = ns["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"  # type: ignore[attr-defined]
    cls.__init__ = init  # type: ignore[misc]


for _cls in (
    SmtpdClient,
    Pickup,
    CleanupMessageId,
    QmgrFrom,
    QmgrRemoved,
    Delivery,
    Reject,
    Discard,
    MailLogin,
    SieveAction,
    WebmailLogin,
    SpamVerdict,
    Reinjected,
    FilterBlocked,
    QuotaHeader,
    QuotaRow,
    EximArrival,
    EximDelivery,
    EximCompleted,
    SpamdResult,
    ParseResult,
):
    _fast_init(_cls)
del _cls


#: Dovecot subsystems, for lines of Dovecot's own log file (no host, no "dovecot:").
_DOVECOT_SUBSYSTEMS = frozenset(
    {
        "imap-login",
        "pop3-login",
        "submission-login",
        "managesieve-login",
        "imap-urlauth-login",
        "lmtp",
        "lda",
        "deliver",
        "imap",
        "pop3",
        "submission",
        "managesieve",
        "imap-urlauth",
        "imap-hibernate",
        "auth",
        "auth-worker",
        "master",
        "config",
        "anvil",
        "stats",
        "old-stats",
        "indexer",
        "indexer-worker",
        "dict",
        "doveadm",
        "replicator",
        "aggregator",
        "director",
        "quota-status",
        "dns-client",
        "ssl-params",
        "log",
    }
)

#: Programs whose lines never count (signing, policy and greylisting daemons): their
#: lines are understood and not counted, and the ingest report tallies them by
#: program in one line, apart from the lines not understood.
NEVER_COUNTED: frozenset[str] = frozenset(
    {
        "opendkim",
        "opendmarc",
        "policyd-spf",
        "policyd-weight",
        "postgrey",
        "clamav-milter",
        "spamass-milter",
        "freshclam",
    }
)

#: Postfix daemons whose lines never count (postscreen's chatter, postsuper's
#: housekeeping): tallied by program like NEVER_COUNTED.
_NEVER_DAEMONS: tuple[str, ...] = ("/postscreen", "/postsuper")


def tallied(program: str) -> bool:
    """Whether an ignored line of ``program`` is tallied by program in the ingest report.

    (Only Postfix and NEVER_COUNTED routes keep the program as logged; every other
    route names its results after the software, so the suffix test is Postfix's.)
    """
    return program in NEVER_COUNTED or program.endswith(_NEVER_DAEMONS)


def _nothing(msg: str) -> tuple[Record, ...]:
    return ()


# A route: (parser taking the message, or a (arg, message) parser with its arg), and the
# program name results carry.
_Route = tuple[Callable[..., tuple[Record, ...] | str | None] | None, str | None, str]


def _dovecot_file(program: str, msg: str) -> tuple[Record, ...] | None:
    return parse_dovecot(program + ": " + msg)


def _route(program: str, hostless: bool) -> _Route:
    if program.startswith("postfix"):
        return parse_postfix, program.rsplit("/", 1)[-1], program
    if "/" in program:
        daemon = program.rsplit("/", 1)[-1]
        if daemon in POSTFIX_DAEMONS:
            return parse_postfix, daemon, program
    if program in ("dovecot", "dovecot-lda", "dovecot-lmtp"):
        return parse_dovecot, None, "dovecot"
    if hostless:
        p = program.find("(")
        base = program[:p] if p > 0 else program
        if base in _DOVECOT_SUBSYSTEMS:
            return _dovecot_file, program, "dovecot"
    if program.startswith("roundcube") or program == "userlogins":
        # "userlogins": Roundcube's log_driver 'stdout' (the official container image)
        # names the log, and a container runtime puts its stamp in front (docker logs -t)
        return parse_roundcube, None, "roundcube"
    if program.startswith("rspamd"):
        return parse_rspamd, None, "rspamd"
    if program.startswith("amavis") or program.endswith("amavisd") or program == "amavisd-new":
        return parse_amavis, None, "amavis"
    if program == "pmg-smtp-filter":
        return parse_pmg, None, program
    if program in ("exim", "exim4"):
        return parse_exim, None, "exim"
    if program == "spamd":
        return parse_spamd, None, "spamd"
    if program in NEVER_COUNTED:
        return _nothing, None, program
    return None, None, program


# The common syslog header, matched in one go: classic or RFC 3339 stamp, an optional host
# (a word without ":" or "("; Dovecot's own file and some templates have none), the program
# and an optional [pid] (group 4: amavis's split entries are keyed by it).  Lines it does
# not match take the slower path of stamps._split.
_CLASSIC_HEAD = re.compile(
    r"([A-Z][a-z][a-z] [ \d]?\d \d\d:\d\d:\d\d)"
    r" (?:([^\s:(]+) )?([^\s\[\]:]+)(?:\[(\d*)\])?:(?: |$)",
    re.ASCII,
)
_ISO_HEAD = re.compile(
    r"(\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:[Zz]|[+-]\d\d(?::?\d\d)?)?)"
    r" (?:([^\s:(]+) )?([^\s\[\]:]+)(?:\[(\d*)\])?:(?: |$)",
    re.ASCII,
)


#: amavis's split entries (_amavis_part, LineParser._amavis): at most this many entries
#: waiting for their next part at once, per source; an entry of at most this many
#: characters joined; a part waits at most this many seconds (by the lines' stamps)
#: for the next one; a log id of at most this many characters.
AMAVIS_PENDING = 32
AMAVIS_ENTRY = 64 * 1024
AMAVIS_WAIT = 60
AMAVIS_ID = 64


def _amavis_part(msg: str) -> tuple[str, str, bool, bool] | None:
    """The pieces of ``msg`` if it is a part of an amavis entry split by amavis:
    ``(prefix, text, continuation, more)``; None for a whole entry.

    amavisd-new (2.9 to 2.13: ``write_log`` of the monolithic amavisd, then of
    2.13's ``Amavis/Log.pm``) writes an entry through syslog in pieces when
    ``"(LOGID) "`` + alert mark + text is longer than ``$logline_maxlen`` (980
    by default, at least 50): each piece but the last is exactly that long --
    ``"(LOGID) "`` + mark + the next characters + ``"..."`` --, each piece but the
    first starts ``"(LOGID) "`` + mark + ``"..."``, and the cut falls anywhere
    (inside a word, an address or a UTF-8 sequence).  The mark is ``(!)`` or
    ``(!!)`` for warnings and errors, none for the verdict (log level 0).  Every
    piece is its own ``syslog()`` call of the same process, one right after the
    other, so each carries the same ``amavis[PID]:`` tag.  ``prefix`` is
    ``"(LOGID) "`` + mark; ``text`` is the piece's text without the dots;
    ``more``: it ends in ``"..."`` (another piece follows).
    """
    j = msg.find(")", 1, AMAVIS_ID + 2)
    if j < 0 or not msg.startswith(" ", j + 1):
        return None
    p = j + 2
    if msg.startswith("(!)", p):
        p += 3
    elif msg.startswith("(!!)", p):
        p += 4
    if msg.startswith("...", p):
        body = msg[p + 3 :]
        more = len(body) >= 3 and body.endswith("...")
        return msg[:p], body[:-3] if more else body, True, more
    if msg.endswith("...") and len(msg) - 3 >= p:
        return msg[:p], msg[p:-3], False, True
    return None


#: What a continuation piece of an entry whose first piece was not read holds when
#: that entry was a verdict: the template's fields after the recipients.
_VERDICT_TAIL = ("Queue-ID: ", "queued_as: ", ", Hits: ", ", mail_id: ")


#: How many Exim rejections read through syslog are remembered to tell their copy
#: (see LineParser._syslog_copy), and the longest key remembered.
SYSLOG_COPIES = 16
SYSLOG_COPY_KEY = 1024


class LineParser:
    """Parses the lines of one log source; holds its stamp context and small caches.

    ``reference`` (the file's mtime; now for a followed file) anchors the year of
    classic syslog stamps and dates quota rows; ``tz`` is the deployment zone.
    """

    __slots__ = (
        "_families",
        "_hosted",
        "_hostless",
        "_ignored",
        "_parts",
        "_rejects",
        "_unknown",
        "dropped",
        "dropped_sample",
        "errors",
        "stamps",
    )

    def __init__(
        self,
        reference: float | None = None,
        tz: str | tzinfo | None = None,
        slack: int = 3600,
        months: dict[str, int] | None = None,
    ) -> None:
        self.stamps = StampParser(reference, tz, slack, months)
        self._hosted: dict[str, _Route] = {}
        self._hostless: dict[str, _Route] = {}
        self._ignored: dict[str, ParseResult] = {}
        self._unknown: dict[str, ParseResult] = {}
        self._families: dict[tuple[str, str], ParseResult] = {}
        #: Lines on which a parser raised (a bug): reported ``unknown``, counted here.
        self.errors = 0
        #: The last Exim rejections read through syslog, oldest first (see _syslog_copy).
        self._rejects: list[tuple[str, int]] = []
        #: amavis entries split by amavis, waiting for their next piece (_amavis),
        #: oldest first: (host, pid, "(LOGID) ") -> [pieces, characters, time of the
        #: first, lines, the first line's first 300 characters]
        self._parts: dict[tuple[str, str, str], list] = {}  # type: ignore[type-arg]
        #: Lines of split amavis verdicts given up (their next piece never came),
        #: each already answered ``ignored``: the reader counts them as not
        #: understood (family AMAVIS_VERDICT, ``dropped_sample`` one of them) and
        #: sets this back to 0 (files.Ingester._parts_dropped).
        self.dropped = 0
        self.dropped_sample = ""

    def _status(self, cache: dict[str, ParseResult], status: Status, program: str) -> ParseResult:
        # Ignored and unknown results carry no time or records: one object per program.
        res = cache.get(program)
        if res is None:
            if len(cache) >= 1024:
                cache.clear()
            res = cache[program] = ParseResult(status, program)
        return res

    def _family(self, program: str, family: str) -> ParseResult:
        """The ``unknown`` result of a line of ``family`` (one object per pair)."""
        res = self._families.get((program, family))
        if res is None:
            if len(self._families) >= 1024:
                self._families.clear()
            res = ParseResult(UNKNOWN, program, None, (), family=family)
            self._families[(program, family)] = res
        return res

    def parse(self, line: str) -> ParseResult:
        """The :class:`ParseResult` of one line (a trailing newline is allowed); never raises."""
        try:
            if line.endswith("\n"):
                line = line[:-2] if line.endswith("\r\n") else line[:-1]
            if self.stamps.months:
                line = self.stamps.english(line)  # a localised classic stamp ([site] month_names)
            c = line[:1]
            m = None
            if "A" <= c <= "Z":
                m = _CLASSIC_HEAD.match(line)
                kind = CLASSIC
            elif "0" <= c <= "9":
                m = _ISO_HEAD.match(line)
                kind = ISO
            elif c == "{":
                return self._json(line)
            if m is not None:
                stamp, host, program = m.group(1, 2, 3)
                msg = line[m.end() :]
                pid = None
            else:
                parts = _split(line)
                if parts is None:
                    return self._unsplit(line)
                kind, stamp, host, program, pid, msg = parts
            routes = self._hosted if host else self._hostless
            route = routes.get(program)
            if route is None:
                route = _route(program, not host)
                if "(" not in program:  # lmtp(user)… names differ per user: not worth caching
                    if len(routes) >= 1024:
                        routes.clear()
                    routes[program] = route
            fn, arg, name = route
            if fn is None:
                if (host == "stdout" or host == "stderr") and msg.startswith(("F ", "P ")):
                    msg = msg[2:]  # Kubernetes' CRI log: "STAMP stdout F text"
                    host = ""  # (a stream's name, not a host)
                if not msg.startswith("userlogins: "):
                    return self._status(self._unknown, UNKNOWN, name)
                # Roundcube's stdout under a container's own tag (journald's
                # CONTAINER_NAME, a syslog driver's tag): the log name says who wrote it
                fn, name = parse_roundcube, "roundcube"
            if fn is parse_amavis and msg[:1] == "(":
                part = _amavis_part(msg)
                if part is not None:
                    if m is not None:
                        pid = m.group(4)
                    return self._amavis(line, kind, stamp, host, pid or "", part)
            recs = fn(msg) if arg is None else fn(arg, msg)
            if not recs:
                if recs is None:
                    return self._unknown.get(name) or self._status(self._unknown, UNKNOWN, name)
                return self._ignored.get(name) or self._status(self._ignored, IGNORED, name)
            if recs.__class__ is str:
                return self._family(name, recs)  # type: ignore[arg-type]
            if _too_long(recs):
                return self._unknown.get(name) or self._status(self._unknown, UNKNOWN, name)
            stamps = self.stamps
            if kind == CLASSIC and stamp == stamps._last_key:
                t = stamps._last_val  # consecutive lines of one second: the common case
            else:
                t = stamps.stamp(kind, stamp)
            if t is None:
                return self._status(self._unknown, UNKNOWN, name)
            if host:
                h = _host_of(host)
                if h is None:
                    return self._status(self._unknown, UNKNOWN, name)
                if (
                    name == "exim"
                    and type(recs[0]) is Reject
                    and self._syslog_copy(line, host, program, msg, t)
                ):
                    return self._status(self._ignored, IGNORED, name)
                return ParseResult(OK, name, t, recs, h)
            return ParseResult(OK, name, t, recs)
        except Exception:  # a parser bug must not stop an ingest: report the line instead
            self.errors += 1
            return self._status(self._unknown, UNKNOWN, "")

    def _amavis(
        self,
        line: str,
        kind: int,
        stamp: str,
        host: str,
        pid: str,
        part: tuple[str, str, bool, bool],
    ) -> ParseResult:
        """A piece of an amavis entry split by amavis (_amavis_part): kept until the
        entry's last piece, which is answered as the whole entry would be.

        The pieces are joined here, in the parser of one source, and not in the
        joiner: they are lines of one process written one right after the other, so
        they are neighbours in one file (nothing of other sources, hosts or files
        comes between), and the joiner works on records, which a piece is not.  The
        joiner's state is saved between runs; this is not (a reader hands it on to
        the next file of the same run: files.Ingester._ingest, adopt): a run that
        ends between two pieces written microseconds apart (racing the writer, or
        with the rest in a file it was not given) is rare, and is reported (the head
        given up when the run is done, the rest read as pieces without a head), where
        carrying text in the saved state would take a second state, encoded alike by
        both joiners, for it.  Only
        pieces of the same host, amavis process (``[PID]``) and ``(LOGID) `` (one
        message's) are joined: a message's text (its sender, recipients, Message-ID,
        even a ``...``) is inside a line and never makes one, so it can join nothing
        to another message's entry.  The state is bounded: AMAVIS_PENDING entries
        waiting (past that the oldest is given up), AMAVIS_ENTRY characters an
        entry, AMAVIS_WAIT seconds between an entry's first piece and the next piece
        read of any entry.  The pieces of an entry given up, and those still waiting
        when the source is done (flush), count as not understood if they were a
        verdict's (``dropped``), else as ignored; a continuation with no first piece
        likewise (not understood if it holds a verdict's fields).  Each piece but the
        last answers ``ignored``; the last answers the whole entry, at its own time.
        (The compiled parser declines every such line, so that this state is the one
        state, whichever parser reads the source's other lines.)
        """
        stamps = self.stamps
        if kind == CLASSIC and stamp == stamps._last_key:
            t = stamps._last_val
        else:
            t = stamps.stamp(kind, stamp)
        h = _host_of(host)
        if t is None or h is None:
            return self._status(self._unknown, UNKNOWN, "amavis")
        # (a piece of an entry still to come answers this; the cached object)
        ignored = self._status(self._ignored, IGNORED, "amavis")
        parts = self._parts
        while parts:  # give up what waited too long (oldest first)
            k = next(iter(parts))
            if t - parts[k][2] <= AMAVIS_WAIT:
                break
            self._give_up(parts.pop(k))
        prefix, text, continuation, more = part
        key = (h, pid, prefix)
        if not continuation:
            old = parts.pop(key, None)
            if old is not None:
                self._give_up(old)
            elif len(parts) >= AMAVIS_PENDING:
                self._give_up(parts.pop(next(iter(parts))))
            parts[key] = [[prefix, text], len(prefix) + len(text), t, 1, line[:300]]
            return ignored
        entry = parts.get(key)
        if entry is None:
            # the rest of an entry whose head was not read (it ended a run before,
            # or was given up): a verdict's fields make it a verdict lost
            if any(f in text for f in _VERDICT_TAIL):
                return self._family("amavis", AMAVIS_VERDICT)
            return ignored
        entry[0].append(text)
        entry[1] += len(text)
        entry[3] += 1
        if entry[1] > AMAVIS_ENTRY:
            del parts[key]
            self._give_up(entry)
            return ignored
        if more:
            return ignored
        del parts[key]
        recs = parse_amavis("".join(entry[0]))
        if not recs:
            return ignored
        if recs.__class__ is str:
            return self._family("amavis", recs)  # type: ignore[arg-type]
        if _too_long(recs):  # type: ignore[arg-type]
            return self._status(self._unknown, UNKNOWN, "amavis")
        return ParseResult(OK, "amavis", t, recs, h)  # type: ignore[arg-type]

    def _give_up(self, entry: list) -> None:  # type: ignore[type-arg]
        """An entry of split pieces that will not be joined: if it was a verdict, its
        lines (answered ``ignored``) are counted as not understood by the reader."""
        if entry[0][1].startswith(("Passed ", "Blocked ")):
            self.dropped += entry[3]
            self.dropped_sample = entry[4]

    def flush(self) -> None:
        """The source is done: the split amavis entries still waiting are given up."""
        parts = self._parts
        while parts:
            self._give_up(parts.pop(next(iter(parts))))

    def adopt(self, other: LineParser) -> None:
        """Take over what ``other`` kept waiting: this source's parser until now, or
        the parser of the file read before in the same run."""
        self._parts, other._parts = other._parts, {}
        self.dropped += other.dropped
        self.dropped_sample = other.dropped_sample or self.dropped_sample
        other.dropped = 0

    def _syslog_copy(self, line: str, host: str, program: str, msg: str, t: int) -> bool:
        """Whether an Exim rejection read through syslog is the copy of one just read.

        Exim writes a rejection to its main log and to its reject log; through syslog
        (``log_file_path = syslog``) both reach the one stream unless
        ``syslog_duplication = false``: two ``syslog()`` calls of one ``log_write``,
        the same text (Exim's own date and pid included) from the same process.  The
        syslog stamps of the two may differ (RFC 3339 stamps carry microseconds, and
        the two may straddle a second), so a copy is told by the host, the tag with
        its pid and the text: the same within a second of a rejection remembered in
        :data:`SYSLOG_COPIES` (other hosts' and processes' lines may come between).
        A copy is understood and not counted, and forgotten, so that a third alike is
        another rejection.  (The reject log's copy of a rejection after DATA also
        carries the headers, as ``[1\\N]`` continuation lines; such rejections name
        no recipient and count nothing.)  Only ASCII lines, with a key of at most
        1,024 characters, are remembered (the compiled parser hands other lines to
        this one: it remembers the same).
        """
        if not line.isascii():
            return False
        # the tag (program[pid]) and the text: the line from the last program name
        # of its header on, the stamp left out
        tag = line.rfind(program, 0, len(line) - len(msg))
        key = f"{host} {line[tag:]}"
        if len(key) > SYSLOG_COPY_KEY:
            return False
        seen = self._rejects
        for i in range(len(seen) - 1, -1, -1):
            k, t0 = seen[i]
            if k == key and -1 <= t - t0 <= 1:
                del seen[i]
                return True
        if len(seen) >= SYSLOG_COPIES:
            del seen[0]
        seen.append((key, t))
        return False

    def _json(self, line: str) -> ParseResult:
        """A line that opens a JSON object: rspamd's own JSON log (``json = true``,
        3.8+), timed by its ``ts``; any other line goes on as a line without a header."""
        got = parse_rspamd_json(line)
        if got is None:
            return self._unsplit(line)
        recs, t = got
        if not recs:
            return self._ignored.get("rspamd") or self._status(self._ignored, IGNORED, "rspamd")
        if recs.__class__ is str:
            return self._family("rspamd", recs)  # type: ignore[arg-type]
        if _too_long(recs) or t is None:  # type: ignore[arg-type]
            return self._status(self._unknown, UNKNOWN, "rspamd")
        return ParseResult(OK, "rspamd", t, recs)  # type: ignore[arg-type]

    def _unsplit(self, line: str) -> ParseResult:
        """A line without a syslog header: a quota report row, a blank line, or garbage."""
        if "\t" in line:
            recs = parse_quota(line)
            if recs and not _too_long(recs):
                return ParseResult(OK, "doveadm", self.stamps.reference, recs)
        if not line.strip():
            return self._status(self._ignored, IGNORED, "")
        return self._status(self._unknown, UNKNOWN, "")


_default: LineParser | None = None


def parse(line: str, parser: LineParser | None = None) -> ParseResult:
    """Parse one line with ``parser`` (default: a shared UTC parser referenced to now).

    Use one :class:`LineParser` per file so that classic stamps get that file's
    year and the deployment zone.
    """
    global _default
    if parser is None:
        if _default is None:
            _default = LineParser()
        parser = _default
    return parser.parse(line)
