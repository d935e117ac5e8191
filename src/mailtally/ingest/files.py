"""Reading log files exactly once: positions, rotation, following.

Each file is known by its content — a hash of its first bytes (at most 4 KiB;
a quota report is hashed whole) — so a log renamed to ``mail.log.1`` or
compressed to ``mail.log.2.gz`` by rotation is recognised as the file already
read.  How far a file was read (in uncompressed bytes), and the joiner's
messages in flight, are saved in the same transaction as the counts their lines
produced: a crash at any moment, or a second run, neither counts a line twice
nor skips one.

Only complete lines are read; a last line without its newline waits for the
writer (when following) or is left for the next run.  A line over MAX_LINE
bytes is counted as read and not understood, without being parsed or kept, so
that no file (one without a newline, a gz bomb) is ever held whole in memory.

The lines themselves go through the compiled parser and joiner
(:mod:`mailtally.ingest._fastlog`) when the extension is built — about seven
times the pure-Python speed — and through :mod:`mailtally.ingest.parsers` and
:mod:`mailtally.ingest.join` otherwise, or when ``MAILTALLY_PURE_PYTHON=1`` is
set.  Both give the same counts and save the same joiner state (the test suite
runs both), so a store may be fed by either, in turn.
"""

from __future__ import annotations

import contextlib
import gc
import gzip
import hashlib
import os
import queue
import re
import sqlite3
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, BinaryIO

import msgspec

from mailtally.config import Site
from mailtally.events import Event, MessageDenied
from mailtally.ingest.join import Joiner
from mailtally.ingest.parsers import IGNORED, OK, LineParser, tallied
from mailtally.ingest.parsers.families import AMAVIS_VERDICT
from mailtally.ingest.stamps import StampParser, month_table
from mailtally.periods import Periods
from mailtally.record import Resolver, record_events
from mailtally.store import Queries, Store
from mailtally.store.base import DEFAULT_SOURCE

__all__ = [
    "DEFAULT_SOURCE",
    "HEAD",
    "MAX_LINE",
    "IngestReport",
    "Ingester",
    "compiled_available",
    "state_name",
    "valid_source",
]

_fastlog: ModuleType | None
try:
    from mailtally.ingest import _fastlog
except ImportError:  # not built (a source checkout without a compiler): pure Python
    _fastlog = None


def compiled_available() -> bool:
    """Is the compiled parser and joiner built, and not switched off by the environment?"""
    return _fastlog is not None and os.environ.get("MAILTALLY_PURE_PYTHON", "") in ("", "0")


HEAD = 4096
#: bytes read at a time
CHUNK = 1 << 20
#: an ingest source's name (``--source``): a mail host's name, say
_SOURCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def valid_source(name: str) -> str:
    """``name`` if it may name an ingest source, else ValueError saying what may."""
    if not _SOURCE.fullmatch(name):
        raise ValueError(
            f"source {name!r}: 1 to 64 letters, digits, '.', '_' or '-', beginning "
            "with a letter or digit"
        )
    return name


def state_name(source: str) -> str:
    """The name the joiner state of ``source`` is saved under (``ingest_state``)."""
    return f"joiner/{source}"


def store_busy(exc: BaseException) -> bool:
    """Did a commit fail only because another process held the store's write lock
    longer than the busy timeout (another ingester's big batch, say)?  Then what
    was read stays pending (nothing moved on) and the commit is tried again."""
    return isinstance(exc, sqlite3.OperationalError) and any(
        w in str(exc) for w in ("database is locked", "database is busy")
    )


#: at most this many lines between two commits (a commit's cost grows with
#: the users and days a batch touches, not with its lines: big batches are cheap).
#: Memory is bounded by the events waiting (BATCH_EVENTS, PENDING_BYTES), not by
#: the lines read: a day's log of 100,000 accounts (1M lines, 150,000 events) is
#: one commit, 208,000 flow rows, where two commits of 500,000 lines wrote
#: 273,000 (an account of both halves of the day gets its rows written twice)
BATCH_LINES = 2_000_000
#: and at most about this many events waiting for a commit (checked every
#: PROGRESS_LINES): a batch of real lines makes fewer (500,000 lines of the synth log,
#: 80,000; a lower bound added a commit to its 1M-line ingest, 13% slower), but lines
#: written to make the joiner count messages out as they are pushed from its bounded
#: tables make one each, with an address of up to 320 characters
BATCH_EVENTS = 250_000
#: and at most about this many bytes of events waiting (the length of each one's user or
#: recipient plus PENDING_EVENT_COST), checked after every chunk read: 250,000 events of
#: 320-character addresses held 110 MB before their commit and doubled it during it.
#: Real events (addresses of 20-40 characters, 160,000 in the 1M-line synth log)
#: stay far below: no extra commit.
PENDING_BYTES = 24 << 20
PENDING_EVENT_COST = 100
#: a tree of at most this many addresses is read whole at the start (about 150
#: bytes an address: 100,000 addresses of 20 characters take 15 MB); a larger one is
#: asked address by address (at most record.REMEMBER_MAX remembered)
PRELOAD_ADDRESSES = 250_000
#: lines read between two progress reports of a whole-file ingest
PROGRESS_LINES = 100_000
#: a followed log is committed at most this often (s), unless a batch is full
FOLLOW_COMMIT_EVERY = 0.5
#: a followed file renamed away is read until it has been quiet this long (s)
RETIRE_AFTER = 5.0
_QUOTA_HEADER = b"Username\t"
#: A line longer than this (bytes, its newline not counted) is counted as read and
#: not understood, and neither parsed nor kept: log lines are written by anyone
#: (``logger``), and no parser should see, nor any buffer hold, a line without end.
#: Postfix's own lines stay far below (line_length_limit is 2,048 for headers,
#: syslog's message size 8 KiB by default).
MAX_LINE = 64 * 1024
_WINDOW = MAX_LINE // 2
#: the program under which over-long lines are reported as not understood
LONG_LINE = f"(line over {MAX_LINE // 1024} KiB)"
SAMPLE_BYTES = 300
#: The report's lines not understood are grouped by family, else by program, and a
#: line names its program (``logger -t ANYTHING``): past this many programs, the rest are
#: counted together under OTHER_PROGRAMS, so the report stays small whatever the
#: log holds.  (The compiled scan() has the same two constants, in scan.c.)
UNKNOWN_PROGRAMS = 100
OTHER_PROGRAMS = "(other programs)"


@dataclass(slots=True)
class IngestReport:
    """What an ingestion run read and counted."""

    lines: int = 0
    events: int = 0
    ignored_lines: int = 0
    #: program -> ignored lines, for programs that never count (parsers.tallied)
    ignored_programs: dict[str, int] = field(default_factory=dict)
    #: family (parsers.families: "dovecot login", "postfix reject" …), or program for a
    #: line of no known family -> [lines not understood, a sample line]
    unknown: dict[str, list[object]] = field(default_factory=dict)
    #: events for addresses outside the tenant tree (not counted)
    outside_tree: int = 0
    #: messages whose lines never all arrived (expired from the in-flight table)
    skipped_messages: int = 0
    #: deliveries not counted: their message already held join.MAX_HELD_RECIPIENTS
    dropped_recipients: int = 0
    files: list[str] = field(default_factory=list)
    #: path -> why it was not read (to its end): unreadable, a corrupt or cut .gz,
    #: a last line without its newline already over MAX_LINE
    damaged: dict[str, str] = field(default_factory=dict)
    #: lines over MAX_LINE bytes (also in ``unknown``, under LONG_LINE)
    long_lines: int = 0

    @property
    def unknown_lines(self) -> int:
        return sum(int(v[0]) for v in self.unknown.values())  # type: ignore[call-overload]


#: what reading a file that is cut short or corrupt raises (a .gz still being
#: written by logrotate, a full disk, a bad sector)
_DAMAGED = (EOFError, zlib.error, gzip.BadGzipFile, OSError)


@dataclass(slots=True)
class _Batch:
    """What one commit writes, taken at one moment (Ingester._take_batch)."""

    events: list[Event]
    lines: int
    #: the files read in it, and each one's save_ingest_file row as of that moment
    touched: list[Source]
    files: list[tuple[Any, ...]]
    #: the joiner's state (JSON) at that moment, or what encodes it while the
    #: batch is written (a commit on the reading thread: the joiner waits)
    state: str | Callable[[], str]
    #: the resolver its events were resolved with, and the tree version it knew
    resolver: Resolver
    tree_version: int


@dataclass(slots=True)
class _Done:
    """What a batch's committed transaction gives back."""

    counted: int
    outside_tree: int
    ids: list[int]
    known: list[Any]


def _tree_of(q: Queries) -> tuple[int, frozenset[str], Resolver]:
    """The tree version, live domain names and a resolver of the tree (preloaded
    when it has at most PRELOAD_ADDRESSES addresses)."""
    version = q.tree_version()
    domains = frozenset(q.live_domain_names())
    resolver = Resolver(q)
    if q.address_count() <= PRELOAD_ADDRESSES:
        # (an owner tuple per address and no cycle: at 100,000 accounts the collector
        # ran ~190 times over them at its default pace, 0.02-0.14 s for nothing)
        with _collector_paused():
            resolver.preload(q.accounts())
    return version, domains, resolver


def _gzip(path: str, head: bytes) -> bool:
    """Is the file ``path``, beginning with ``head``, to be read as gzip?  A
    ``.gz`` that begins with the magic, or any file that begins as gzip does
    (RFC 1952: the magic, deflate — the only method — and no reserved flag),
    not merely with the two magic bytes: a plain log whose first line begins
    with ``\x1f\x8b`` is read as the text it is, not reported unreadable with
    nothing counted."""
    if head[:2] != b"\x1f\x8b":
        return False
    return path.endswith(".gz") or (len(head) >= 4 and head[2] == 8 and not head[3] & 0xE0)


def _open(path: str) -> BinaryIO:
    raw = open(path, "rb")  # noqa: SIM115 - handed to the Source, closed there
    if _gzip(path, raw.read(4)):
        raw.seek(0)
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    raw.seek(0)
    return raw


def _head(src: Source, size: int) -> bytes | None:
    """The first ``size`` bytes of the (plain) file ``src`` has open, None if unreadable.

    Read from the open file, not by name: after rotation the name is another file.
    """
    if isinstance(src.stream, gzip.GzipFile):
        return None
    try:
        return os.pread(src.stream.fileno(), size, 0)
    except (OSError, ValueError):  # ValueError: closed
        return None


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _continues(head: bytes, whole: tuple[str, int] | None, known_hash: str, known_len: int) -> bool:
    """Is the file that begins with ``head`` the one known by (hash, length) of its head?

    A log is the file whose head it continues (it grew, or was rotated and
    compressed); a quota report (``whole``: the hash and length of all of its
    bytes) only its very self (a longer report is a new one, not one grown).
    """
    if whole is not None:
        return whole == (known_hash, known_len)
    return 0 < known_len <= len(head) and _digest(head[:known_len]) == known_hash


def _digest_rest(head: bytes, stream: BinaryIO) -> tuple[str, int]:
    """The hash and length of ``head`` and all that follows it in ``stream``.

    Read a chunk at a time: a report (a gzipped one above all) is never held
    whole in memory, however big it inflates.
    """
    h = hashlib.sha256(head)
    n = len(head)
    while chunk := stream.read(CHUNK):
        h.update(chunk)
        n += len(chunk)
    return h.hexdigest(), n


@dataclass(slots=True)
class Source:
    """One file being read."""

    path: str
    file_id: int | None
    device: int
    inode: int
    head_hash: str
    head_len: int
    position: int
    lines: int
    quota: bool
    stream: BinaryIO
    parser: LineParser
    #: the line not ended yet (at most MAX_LINE bytes)
    buffer: bytearray = field(default_factory=bytearray)
    #: the line not ended yet is over MAX_LINE: its bytes are skipped until it ends
    skipping: bool = False
    #: bytes of the over-long line so far, and its first SAMPLE_BYTES
    skipped: int = 0
    sample: bytes = b""
    #: the compiled twin of ``parser`` (same stamp context), when compiled
    fast_parser: Any = None
    #: chunks read ahead by a thread (a compressed file read to its end)
    ahead: _ReadAhead | None = None
    #: the file could not be read on (damaged): it is at its end for this run
    ended: bool = False

    def set_parser(
        self, reference: int, zone: Any, compiled: bool, months: dict[str, int] | None = None
    ) -> None:
        """Parse from now on with stamps referenced to ``reference`` (the file's mtime)
        (``months``: localised month names, ``stamps.month_table``)."""
        parser = LineParser(reference=reference, tz=zone, months=months)
        parser.adopt(self.parser)  # amavis's split entries still waiting (follow)
        self.parser = parser
        stamps: StampParser = parser.stamps
        self.fast_parser = _fastlog.Parser(stamps) if compiled and _fastlog else None

    def read_chunk(self) -> bytes:
        if self.ended:
            return b""
        return self.ahead.read() if self.ahead is not None else self.stream.read(CHUNK)

    def read_ahead(self) -> None:
        """Decompress in a thread from now on, while this thread parses.

        zlib lets go of the GIL while it inflates, so a compressed file costs
        a second core, not time.  Only for a file read to its end: a followed
        file is read as it grows.
        """
        if self.ahead is None and isinstance(self.stream, gzip.GzipFile):
            skip = self.stream.tell()  # where open_source left it: what was read before
            raw = self.stream.fileobj
            assert raw is not None
            self.ahead = _ReadAhead(_inflate(raw, skip))

    def close(self) -> None:
        if self.ahead is not None:
            self.ahead.stop()
        # a GzipFile leaves the file it was given open (and forgets it on close)
        raw = self.stream.fileobj if isinstance(self.stream, gzip.GzipFile) else None
        self.stream.close()
        if raw is not None:
            raw.close()


def _inflate(raw: BinaryIO, skip: int) -> Iterator[bytes]:
    """The content of the gzip file ``raw`` from byte ``skip`` on, in big chunks.

    What GzipFile gives, but each zlib call inflates a whole chunk of input
    without the GIL (GzipFile asks zlib for a few KiB at a time, and a thread
    doing that waits for the GIL between every two calls while the parser holds
    it).  Several members, zero padding after a member, and a truncated or
    corrupt file are read (or refused) as GzipFile does.
    """
    raw.seek(0)
    data = b""
    started = False
    while True:
        if not data:
            data = raw.read(CHUNK)
            if not data:
                if started:
                    raise EOFError(
                        "Compressed file ended before the end-of-stream marker was reached"
                    )
                return
        if not started:
            data = data.lstrip(b"\x00")  # zero padding after a member
            if not data:
                continue
            if len(data) < 2:
                data += raw.read(CHUNK)
            if data[:2] != b"\x1f\x8b":
                raise gzip.BadGzipFile(f"Not a gzipped file ({data[:2]!r})")
            member = zlib.decompressobj(16 + zlib.MAX_WBITS)
            started = True
        # (at most 8 MiB out of each call: a MiB of very repetitive text could
        # inflate to hundreds, and a few chunks wait in the queue)
        out = member.decompress(data, 8 * CHUNK)
        data = member.unconsumed_tail
        if member.eof:
            data, started = member.unused_data, False
        if skip:
            cut = min(skip, len(out))
            out, skip = out[cut:], skip - cut
        if out:
            yield out


class _ReadAhead:
    """Reads chunks in a thread, a few chunks ahead of the reader."""

    def __init__(self, chunks: Iterator[bytes], depth: int = 4) -> None:
        self._source = chunks
        self._chunks: queue.Queue[bytes | BaseException] = queue.Queue(depth)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="read-ahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for chunk in self._source:
                if self._stopping.is_set():
                    return
                self._put(chunk)
            self._put(b"")
        except BaseException as exc:  # handed to the reader, raised there
            self._put(exc)

    def _put(self, item: bytes | BaseException) -> None:
        while not self._stopping.is_set():
            try:
                self._chunks.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read(self) -> bytes:
        item = self._chunks.get()
        if isinstance(item, BaseException):
            raise item
        if not item:
            self._chunks.put(item)  # the end stays the end for the next read
        return item

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()


class Ingester:
    """Turns log files into counts, committing positions with the counts."""

    def __init__(
        self,
        store: Store,
        periods: Periods,
        site: Site | None = None,
        batch_lines: int = BATCH_LINES,
        compiled: bool | None = None,
        source: str = DEFAULT_SOURCE,
    ) -> None:
        """``site``: the platform's facts (``[site]`` of the configuration; default: its
        defaults).  ``compiled``: use the compiled parser and joiner (default: when
        available).  ``source``: whose positions and joiner state these are — one
        name per ingester (``--source``, a mail host's name), so that several write
        to one store at once, each resuming where it stopped; a file is known only
        to the source that read it."""
        self.compiled = compiled_available() if compiled is None else compiled
        if self.compiled and _fastlog is None:
            raise RuntimeError("the compiled parser (mailtally.ingest._fastlog) is not built")
        self.store = store
        self.periods = periods
        self.site = Site() if site is None else site
        self.site.validate()
        #: localised month names of classic stamps (``[site] month_names``)
        self.months = month_table(self.site.month_names)
        self.batch_lines = batch_lines
        self.report = IngestReport()
        self.source = valid_source(source)
        self.state_name = state_name(source)
        state = self._load()
        joiner_config = self.site.joiner_config()
        joiner_config["resolve"] = self._resolve
        joiner_class: Any = _fastlog.Joiner if self.compiled and _fastlog else Joiner
        self.joiner = (
            joiner_class.from_state(msgspec.json.decode(state), **joiner_config)
            if state
            else joiner_class(**joiner_config)
        )
        self._share_tree()
        self._pending: list[Event] = []
        self._pending_lines = 0
        self._pending_bytes = 0  # of self._pending[:self._weighed] (PENDING_BYTES)
        self._weighed = 0
        self._touched: dict[int, Source] = {}  # files read since the last commit
        self._tree_checked = True  # (just learnt) the tree is checked once a batch
        #: the batch whose transaction a thread is making (_commit_behind), if any
        self._in_flight: tuple[_Batch, threading.Thread, dict[str, Any]] | None = None
        #: told what each read and commit did (``ingest --follow --metrics-port``,
        #: ingest/watch.py), or None
        self.watch: Any = None

    def _load(self) -> str | None:
        """The saved joiner state (None: none yet); sets ``_known`` (the files read)
        and learns the tree."""
        with self.store.read() as q:
            state = q.ingest_state(self.state_name)
            self._known = list(q.ingest_files(self.source))
            # What is known of the tree is kept while the tree stays the same.
            self._learn_tree(q)
        return state

    def _learn_tree(self, q: Queries) -> None:
        """Forget what was known of the tree, and learn what is cheap to know at once.

        That is its domains, and — when it has at most PRELOAD_ADDRESSES
        addresses — every address, in one query: no address of a log then costs
        a query.  Kept while ``tree_version`` stays the same.
        """
        # The joiner credits a receipt to the address the tree knows (a catch-all
        # or a rewrite is credited to the account it reaches, not to the random
        # address it was sent to): the resolver says which (Resolver.canonical),
        # and the counting of each batch asks it the owners of the same addresses.
        # (Its q is set to each commit's session.)
        self._tree_version, self._domains, self._resolver = _tree_of(q)
        if hasattr(self, "joiner"):  # (not yet while the ingester is made)
            self._share_tree()

    def _share_tree(self) -> None:
        """The compiled joiner answers :meth:`_resolve` from the resolver's tables when
        it holds the whole tree: the same answers, without a Python call for each of
        the 69,000 addresses of a day at 100,000 accounts (0.1 s)."""
        if not (self.compiled and isinstance(self.joiner, _fastlog.Joiner)):  # type: ignore[union-attr]
            return
        # (only what Ingester._resolve answers: the agent resolves through the API,
        # and has no resolver)
        own = type(self)._resolve is Ingester._resolve
        self.joiner.resolve_tables = self._resolver.tables() if own else None

    def _check_tree(self) -> None:
        """Before a batch's first lines: learn the tree again if it changed since.

        The joiner resolves addresses as it reads, long before the commit: without
        this, an account created while a log is followed would have its first
        batch's mail resolved by the tree before it (and not counted).
        """
        with self.store.read() as q:
            if q.tree_version() != self._tree_version:
                self._learn_tree(q)
                self.joiner.clear_resolve_cache()
        self._tree_checked = True

    def _resolve(self, address: str) -> str | None:
        """The canonical address of the account ``address`` reaches, or None."""
        resolver = self._resolver
        if resolver.complete:
            return resolver.canonical(address)
        key = address.lower()
        if key.rpartition("@")[2] not in self._domains:
            # most addresses in a mail log are outside the platform: no query
            # (and nothing to remember: the answer costs less than a query)
            return None
        with self.store.read() as q:
            resolver.q = q
            return resolver.canonical(key)

    # -- identity --------------------------------------------------------------
    def open_source(self, path: str) -> Source | None:
        """Open ``path`` positioned after what was already read; None if empty/missing."""
        try:
            st = os.stat(path)
            stream = _open(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.report.damaged[path] = f"not readable: {exc.strerror or exc}"
            return None
        whole: tuple[str, int] | None = None
        try:
            head = stream.read(HEAD)
            quota = head.startswith(_QUOTA_HEADER)
            if quota:  # a report is one snapshot: known by all of its bytes
                whole = _digest_rest(head, stream)
        except _DAMAGED as exc:
            stream.close()
            self.report.damaged[path] = f"not readable: {exc}"
            return None
        if not head:
            stream.close()
            return None
        if any(_continues(head, whole, t.head_hash, t.head_len) for t in self._touched.values()):
            # the content of a file read since the last commit (a file named twice,
            # a copy): committed first, it is then known like any file read before
            self.commit()
        elif self._in_flight is not None and any(
            _continues(head, whole, t.head_hash, t.head_len) for t in self._in_flight[0].touched
        ):
            self._finish_commit()  # (the same, for a batch being committed)
        match = None
        for row in self._known:
            _id, _path, _dev, _ino, h, hlen, _pos, _lines = row
            if _continues(head, whole, h, hlen) and (match is None or hlen > match[5]):
                match = row
        head_hash, head_len = whole if whole is not None else (_digest(head), len(head))
        if match is not None:
            file_id, position, lines = int(match[0]), int(match[6]), int(match[7])
        else:
            file_id, position, lines = None, 0, 0
        stream.seek(position)
        src = Source(
            path=path,
            file_id=file_id,
            device=st.st_dev,
            inode=st.st_ino,
            head_hash=head_hash,
            head_len=head_len,
            position=position,
            lines=lines,
            quota=quota,
            stream=stream,
            parser=LineParser(),
        )
        src.set_parser(int(st.st_mtime), self.periods.zone, self.compiled, self.months)
        return src

    # -- reading ---------------------------------------------------------------
    def read(self, src: Source, final: bool = False, max_lines: int | None = None) -> int:
        """Read the complete lines available in ``src``; returns how many.

        ``final``: the writer is done with this file (it was rotated away), so a
        last line without a newline is complete too.
        """
        limit = max_lines or self.batch_lines
        n = 0
        watch = self.watch
        unknown = self.report.unknown_lines if watch is not None else 0
        while n < limit:
            try:
                chunk = src.read_chunk()
            except _DAMAGED as exc:
                # What was read counts; the rest waits for a run that can read it
                # (a .gz cut short is usually one logrotate is still writing).
                src.ended = True
                self.report.damaged[src.path] = f"read to byte {src.position:,} only: {exc}"
                chunk = b""
            if not chunk:
                if final and src.skipping:
                    n += self._long_line(src)
                elif final and src.buffer:
                    line = bytes(src.buffer)
                    src.buffer.clear()
                    n += self._lines(src, line)
                elif src.skipping:
                    self.report.damaged[src.path] = (
                        f"a last line without its newline, {src.skipped:,} bytes so far, "
                        f"over the {MAX_LINE:,}-byte limit: skipped until it ends"
                    )
                break
            if not self._tree_checked:
                self._check_tree()
            n += self._chunk(src, chunk)
            if not final and self._pending_heavy():
                break  # the caller commits, then reads on (a final read goes to the end)
        if watch is not None:
            watch.read(src, n, self.report.unknown_lines - unknown)
        return n

    def _pending_heavy(self) -> bool:
        """Whether the events waiting for a commit weigh PENDING_BYTES or more: those
        added since the last call are weighed (once each)."""
        pending = self._pending
        i = self._weighed
        if i < len(pending):
            w = 0
            for e in pending[i:]:
                w += len(e.recipient if type(e) is MessageDenied else e.user)  # type: ignore[union-attr]
            self._pending_bytes += w + PENDING_EVENT_COST * (len(pending) - i)
            self._weighed = len(pending)
        return self._pending_bytes >= PENDING_BYTES

    def _chunk(self, src: Source, chunk: bytes) -> int:
        """The lines of ``chunk`` that are complete; the last, unended one is kept.

        A line is at most MAX_LINE bytes (its newline not counted): a longer one
        is counted as read and not understood, without being parsed or kept
        (only its first bytes, as the report's sample).  So a file without a
        newline, or a gz bomb, costs a bounded amount of memory.
        """
        view = memoryview(chunk)
        size = len(chunk)
        n = 0
        start = 0
        if src.buffer or src.skipping:  # the line begun in an earlier chunk
            nl = chunk.find(b"\n")
            if nl < 0:
                self._partial(src, view)
                return 0
            start = nl + 1
            if src.skipping:
                src.skipped += start
                n += self._long_line(src)
            elif len(src.buffer) + nl > MAX_LINE:
                src.skipped = len(src.buffer) + start
                src.sample = bytes(src.buffer[:SAMPLE_BYTES])
                src.buffer.clear()
                n += self._long_line(src)
            else:
                src.buffer += view[:start]
                line = bytes(src.buffer)
                src.buffer.clear()
                n += self._lines(src, line)
        end = chunk.rfind(b"\n", start) + 1  # complete lines only; the rest waits
        if end > start:
            n += self._whole(src, chunk, view, start, end)
        else:
            end = start
        if end < size:
            self._partial(src, view[end:])
        return n

    def _partial(self, src: Source, piece: memoryview) -> None:
        """``piece`` continues the line not ended yet: kept, or skipped once over MAX_LINE."""
        if src.skipping:
            src.skipped += len(piece)
        elif len(src.buffer) + len(piece) > MAX_LINE:
            src.skipping = True
            src.skipped = len(src.buffer) + len(piece)
            src.sample = (bytes(src.buffer) + bytes(piece[:SAMPLE_BYTES]))[:SAMPLE_BYTES]
            src.buffer.clear()
        else:
            src.buffer += piece  # a bytearray: appends are linear

    def _whole(self, src: Source, chunk: bytes, view: memoryview, start: int, end: int) -> int:
        """The whole lines ``chunk[start:end]``, with any line over MAX_LINE set apart.

        A line over MAX_LINE = 2 * _WINDOW bytes covers a whole window of _WINDOW
        bytes (counted from ``start``) that holds no newline: a few finds per
        chunk tell that there is none, and only then are the lines walked.
        """
        suspect = False
        if end - start > MAX_LINE:
            for w in range(start, end, _WINDOW):
                if chunk.find(b"\n", w, min(w + _WINDOW, end)) < 0:
                    suspect = True
                    break
        if not suspect:
            # the chunk's lines as a view: a chunk is megabytes, not copied again
            return self._lines(src, view[start:end])
        n = 0
        seg = s = start
        while s < end:
            e = chunk.find(b"\n", s, end)
            if e - s > MAX_LINE:
                n += self._lines(src, view[seg:s])
                src.skipped = e + 1 - s
                src.sample = bytes(view[s : s + SAMPLE_BYTES])
                n += self._long_line(src)
                seg = e + 1
            s = e + 1
        return n + self._lines(src, view[seg:end])

    def _long_line(self, src: Source) -> int:
        """Count the line of ``src.skipped`` bytes (over MAX_LINE) as read and not understood."""
        rep = self.report
        rep.long_lines += 1
        slot = rep.unknown.get(LONG_LINE)
        if slot is None:
            sample = str(src.sample, "utf-8", errors="replace")[:SAMPLE_BYTES]
            rep.unknown[LONG_LINE] = [1, sample]
        else:
            slot[0] = int(slot[0]) + 1  # type: ignore[call-overload]
        if rep.damaged.get(src.path, "").startswith("a last line without its newline"):
            del rep.damaged[src.path]  # noted while it had not ended; it has now
        src.position += src.skipped
        src.lines += 1
        rep.lines += 1
        self._pending_lines += 1
        self._touched[id(src)] = src
        src.skipped = 0
        src.skipping = False
        src.sample = b""
        return 1

    def _lines(self, src: Source, data: bytes | memoryview) -> int:
        """Parse and join the lines of ``data`` (whole lines).

        The hot loop of ingestion: bookkeeping is per chunk, not per line.  The
        compiled scan() does what the Python loop below does, line for line,
        and hands the lines it declines to :meth:`_line`.
        """
        if not data:
            return 0
        rep = self.report
        if src.fast_parser is not None:
            n, ignored = _fastlog.scan(  # type: ignore[union-attr]
                src.fast_parser,
                self.joiner,
                data,
                rep.unknown,
                lambda line: self._line(src.parser, line),
                rep.ignored_programs,
            )
            self._pending.extend(self.joiner.take())
        else:
            # a chunk is decoded at once (a newline never falls inside a UTF-8 sequence)
            text = str(data, "utf-8", errors="replace")
            if "\r" in text:
                text = text.replace("\r\n", "\n")
            lines = text.split("\n")
            if lines[-1] == "":
                lines.pop()
            n, ignored = len(lines), 0
            line_of = self._line
            parser = src.parser
            for line in lines:
                line_of(parser, line)
        rep.ignored_lines += ignored
        src.position += len(data)
        src.lines += n
        self._touched[id(src)] = src
        rep.lines += n
        self._pending_lines += n
        return n

    def _line(self, parser: LineParser, line: str) -> None:
        """One line, the Python way: parsed, joined, or reported as not understood."""
        rep = self.report
        if not line or line.isspace():
            rep.ignored_lines += 1
            return
        result = parser.parse(line)
        if parser.dropped:
            self._parts_dropped(parser)
        status = result.status
        if status == OK:
            events = self.joiner.feed(result)
            if events:
                self._pending.extend(events)
        elif status == IGNORED:
            rep.ignored_lines += 1
            program = result.program
            if tallied(program):
                by = rep.ignored_programs
                if program not in by and len(by) >= UNKNOWN_PROGRAMS:
                    program = OTHER_PROGRAMS
                by[program] = by.get(program, 0) + 1
        else:
            # by family when the parser knows it ("dovecot login"), else by program
            program = result.family or result.program or "(no program)"
            slot = rep.unknown.get(program)
            if slot is None and len(rep.unknown) >= UNKNOWN_PROGRAMS:
                program = OTHER_PROGRAMS
                slot = rep.unknown.get(program)
            if slot is None:
                rep.unknown[program] = [1, line[:300]]
            else:
                slot[0] = int(slot[0]) + 1  # type: ignore[call-overload]

    def _parts_dropped(self, parser: LineParser) -> None:
        """Lines of split amavis verdicts the parser gave up (LineParser._amavis),
        answered ``ignored`` when read: counted as not understood instead."""
        n = parser.dropped
        parser.dropped = 0
        rep = self.report
        rep.ignored_lines -= n
        slot = rep.unknown.get(AMAVIS_VERDICT)
        if slot is None:
            rep.unknown[AMAVIS_VERDICT] = [n, parser.dropped_sample]
        else:
            slot[0] = int(slot[0]) + n  # type: ignore[call-overload]

    def _give_up(self, parser: LineParser) -> None:
        """What ``parser`` kept waiting is given up (a split amavis entry whose rest
        is not in the files read, or not written yet: the next run reads that rest
        as a piece without its head) and reported."""
        parser.flush()
        if parser.dropped:
            self._parts_dropped(parser)

    def _close(self, src: Source) -> None:
        """Done with ``src``: what its parser kept waiting is given up, the file closed."""
        self._give_up(src.parser)
        src.close()

    # -- committing ------------------------------------------------------------
    def commit(self) -> None:
        """Count what was read and save positions and joiner state, atomically.

        Nothing in memory moves on until the transaction has committed: if it
        fails, the pending events and the files read stay pending (and a new
        file's id is not taken for one the store never kept).  A batch handed
        to the writer thread (:meth:`_commit_behind`) is committed first.
        """
        self._finish_commit()
        batch = self._take_batch(state_later=True)
        try:
            done = self._write_batch(batch, behind=False)
        except BaseException:
            self._give_back(batch)
            raise
        self._batch_committed(batch, done)

    def _commit_behind(self) -> None:
        """:meth:`commit`, with the transaction on a thread while this one reads
        on (a whole-file ingest on a store that says it pays,
        ``Store.overlap_commits``: PostgreSQL applies one batch's upserts while
        the next is parsed).  One batch at most is in flight: the next commit
        waits for it.  The batch is what was read up to now — its events, each
        file's position and the joiner's state, all taken at this moment — so
        its transaction is the very one :meth:`commit` would make, and a kill
        at any point loses or doubles nothing.  Synchronous when the resolver
        asks the store address by address (the reading thread would share it)."""
        if not (self.store is not None and self.store.overlap_commits and self._resolver.complete):
            self.commit()
            return
        self._finish_commit()
        batch = self._take_batch()
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["done"] = self._write_batch(batch, behind=True)
            except BaseException as exc:  # (given to the reading thread)
                box["error"] = exc

        thread = threading.Thread(target=run, name="mailtally-commit", daemon=True)
        thread.start()
        self._in_flight = (batch, thread, box)

    def _finish_commit(self) -> None:
        """Wait for the batch in flight (if any): done, or given back and its error raised."""
        if self._in_flight is None:
            return
        batch, thread, box = self._in_flight
        self._in_flight = None
        thread.join()
        if "error" in box:
            self._give_back(batch)
            raise box["error"]
        self._batch_committed(batch, box["done"])

    def _take_batch(self, state_later: bool = False) -> _Batch:
        """What is pending, as one commit writes it; the next batch starts empty.
        ``state_later``: the commit is made now, on this thread (the joiner does
        not move until it is done), so the joiner's state is encoded while the
        store writes the users' rows (record_events' ``meanwhile``)."""
        touched = list(self._touched.values())
        for src in touched:
            self._refresh_head(src)
        batch = _Batch(
            events=self._pending,
            lines=self._pending_lines,
            touched=touched,
            files=[
                (s.file_id, s.path, s.device, s.inode, s.head_hash, s.head_len, s.position, s.lines)
                for s in touched
            ],
            state=self._encoded_state if state_later else self._encoded_state(),
            resolver=self._resolver,
            tree_version=self._tree_version,
        )
        self._start_batch()
        return batch

    def _encoded_state(self) -> str:
        return msgspec.json.encode(self.joiner.state()).decode()

    def _start_batch(self) -> None:
        """Nothing pending: the next batch's first lines check the tree first."""
        self._pending = []
        self._pending_bytes = self._weighed = 0
        self._touched = {}
        self._pending_lines = 0
        self._tree_checked = False

    def _give_back(self, batch: _Batch) -> None:
        """A batch whose transaction failed is pending again, before what was read since."""
        self._pending = batch.events + self._pending
        self._pending_bytes = self._weighed = 0
        self._pending_lines += batch.lines
        self._touched = {id(s): s for s in batch.touched} | self._touched

    def _write_batch(self, batch: _Batch, behind: bool) -> _Done:
        """The batch's transaction: its counts, its files' positions, the joiner's state."""
        now = int(time.time())
        with _collector_paused(), self.store.write() as q:
            resolver = batch.resolver
            if q.tree_version() != batch.tree_version:
                # the tree changed since the last batch: what was resolved may be
                # wrong (the resolver bounds what it remembers itself)
                if behind:
                    # (the reading thread's resolver and joiner are left alone:
                    # it finds the change itself, _check_tree, before its next lines)
                    resolver = _tree_of(q)[2]
                else:
                    self._learn_tree(q)
                    self.joiner.clear_resolve_cache()
                    resolver = self._resolver
            resolver.q = q
            events = batch.events
            if self.compiled and _fastlog is not None and _sums_pay(events, self.periods):
                # one event per account, kind and day: the same counts, far less Python
                events = _fastlog.sum_events(events, self.periods.bucket_keys)
            later = batch.state if callable(batch.state) else None
            result = record_events(
                q, self.periods, events, resolver, self.compiled, meanwhile=later
            )
            state = result.meanwhile if later is not None else batch.state
            assert isinstance(state, str)
            ids = [q.save_ingest_file(*f, now, self.source) for f in batch.files]
            q.save_ingest_state(self.state_name, state)
            known = list(q.ingest_files(self.source))
        return _Done(result.counted, result.ignored, ids, known)

    def _batch_committed(self, batch: _Batch, done: _Done) -> None:
        """A batch is committed: its files' ids are known (and report it)."""
        for src, file_id in zip(batch.touched, done.ids, strict=True):
            src.file_id = file_id
        self._known = done.known
        if self.watch is not None:
            self.watch.committed({src.path for src in batch.touched})
        self._reported(done.counted, done.outside_tree)

    def _committed(self, counted: int, outside_tree: int) -> None:
        """What was pending is committed (the agent's journal, ingest/agent.py):
        start the next batch (and report)."""
        if self.watch is not None:
            self.watch.committed({src.path for src in self._touched.values()})
        self._start_batch()
        self._reported(counted, outside_tree)

    def _reported(self, counted: int, outside_tree: int) -> None:
        self.report.events += counted
        self.report.outside_tree += outside_tree
        self.report.skipped_messages = self.joiner.skipped
        self.report.dropped_recipients = self.joiner.dropped

    def _refresh_head(self, src: Source) -> None:
        """A growing file's head gets longer until it holds HEAD bytes."""
        if src.quota or src.head_len >= HEAD or src.position <= src.head_len:
            return
        head = _head(src, HEAD)
        if (
            head is not None
            and len(head) > src.head_len
            and _digest(head[: src.head_len]) == src.head_hash
        ):
            src.head_hash, src.head_len = _digest(head), len(head)

    # -- whole files -------------------------------------------------------------
    def ingest(
        self, paths: Iterable[str], progress: Callable[[Source, int], None] | None = None
    ) -> IngestReport:
        """Read each file to its end, committing every ``batch_lines`` lines and at the end."""
        # The thread that decompresses takes the GIL for a moment between zlib
        # calls; with the default switch interval (5 ms) it would wait that long
        # each time for the parser to let go, and decompress no faster than in turn.
        switch = sys.getswitchinterval()
        sys.setswitchinterval(min(switch, 0.0002))
        # A batch makes millions of short-lived objects and hardly a cycle; the
        # collector's default pace would walk the batch's events again and again
        # (15% of the run).  Collected less often, memory stays bounded all the same.
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], 100_000), max(thresholds[1], 50), thresholds[2] * 10)
        try:
            return self._ingest(paths, progress)
        except BaseException:
            if self._in_flight is not None:  # (its own failure is not this one's)
                with contextlib.suppress(BaseException):
                    self._finish_commit()
            raise
        finally:
            sys.setswitchinterval(switch)
            gc.set_threshold(*thresholds)

    def _ingest(
        self, paths: Iterable[str], progress: Callable[[Source, int], None] | None
    ) -> IngestReport:
        # The split amavis entries waiting when a file ends go on waiting in the next
        # file's parser: rotated files named oldest first (mail.log.1 mail.log) get an
        # entry whose pieces the rotation parted joined (LineParser._amavis: pieces are
        # keyed by host, process and log id, so files of other hosts join nothing).
        waiting: LineParser | None = None
        for path in paths:
            src = self.open_source(path)
            self.report.files.append(path)
            if src is None:
                if not os.path.lexists(path):
                    # named but absent (a typo, a glob that matched nothing): said in
                    # the summary, as a file that cannot be opened is (README)
                    self.report.damaged.setdefault(path, "not readable: no such file")
                continue
            if waiting is not None:
                src.parser.adopt(waiting)
            src.read_ahead()
            try:
                while True:
                    n = self.read(src, max_lines=min(self.batch_lines, PROGRESS_LINES))
                    if progress is not None:
                        progress(src, n)
                    if (
                        self._pending_lines >= self.batch_lines
                        or len(self._pending) >= BATCH_EVENTS
                        or self._pending_heavy()
                    ):
                        self._commit_behind()
                    if n == 0:
                        break
            finally:
                self._refresh_head(src)  # while it is open: it is saved at the commit
                waiting = src.parser
                src.close()
        if waiting is not None:
            self._give_up(waiting)
        if self._pending_lines or self._touched:
            self.commit()
        else:
            # (a batch handed to the commit thread as the last file ended: it is
            # committed, or its error raised, before the report is given)
            self._finish_commit()
        return self.report

    # -- following ---------------------------------------------------------------
    def follow(
        self,
        paths: list[str],
        should_stop: Callable[[], bool],
        interval: float = 0.25,
        on_commit: Callable[[IngestReport], None] | None = None,
    ) -> IngestReport:
        """Tail ``paths`` across rename rotation and copytruncate until stopped."""
        sources: dict[str, Source | None] = {p: self.open_source(p) for p in paths}
        retired: list[_Retired] = []
        last_commit = 0.0
        try:
            while not should_stop():
                lines = self.report.lines
                for path in paths:
                    sources[path] = self._poll(path, sources[path], retired)
                    if self.watch is not None:
                        self.watch.polled(path, sources[path])
                retired = self._read_retired(retired)
                now = time.monotonic()
                # A busy log is committed twice a second, not at every poll: each
                # commit saves the joiner's state, megabytes on a busy server.
                due = now - last_commit >= FOLLOW_COMMIT_EVERY
                if (self._pending_lines or self._touched) and (
                    due
                    or self._pending_lines >= self.batch_lines
                    or len(self._pending) >= BATCH_EVENTS
                    or self._pending_heavy()
                ):
                    try:
                        self.commit()
                    except Exception as exc:
                        if not store_busy(exc):
                            raise
                        # held past the busy timeout by another writer: nothing moved
                        # on, the same lines are committed at the next round
                        last_commit = now
                        continue
                    last_commit = now
                    if on_commit is not None:
                        on_commit(self.report)
                if self.report.lines - lines < PROGRESS_LINES // 10:
                    time.sleep(interval)  # not a backlog being caught up: wait for more
        finally:
            for r in retired:
                self.read(r.src, final=True, max_lines=10**12)
            if self._pending_lines or self._touched:
                self.commit()
            for src in [*sources.values(), *(r.src for r in retired)]:
                if src is not None:
                    self._close(src)
        return self.report

    def _poll(self, path: str, src: Source | None, retired: list[_Retired]) -> Source | None:
        try:
            st: os.stat_result | None = os.stat(path)
        except OSError:
            st = None
        if src is not None:
            if st is None or (st.st_ino, st.st_dev) != (src.inode, src.device):
                # renamed away (logrotate's "create"): the writer may append to it
                # until it reopens the new file, so it is read until it is quiet
                retired.append(_Retired(src, time.monotonic()))
                src = None
            elif self._replaced(src, st):
                # copied and truncated: what is there now is new content
                self._close(src)
                src = None
        if src is None:
            if st is None:
                return None
            src = self.open_source(path)
            if src is None:
                return None
        if st is not None and st.st_mtime > src.parser.stamps.reference + 600:
            # a followed file outlives its first mtime: classic stamps' year is
            # inferred from a recent reference (a log that runs into January)
            src.set_parser(int(st.st_mtime), self.periods.zone, self.compiled, self.months)
        self.read(src)
        return src

    @staticmethod
    def _replaced(src: Source, st: os.stat_result) -> bool:
        """Was this (plain) file truncated, or its head rewritten, since we read it?"""
        if isinstance(src.stream, gzip.GzipFile):
            return False
        if st.st_size < src.position:
            return True
        # truncated and written again past our position before this poll
        if src.head_len <= HEAD:
            head = _head(src, src.head_len)
            return head is not None and _digest(head) != src.head_hash
        # a quota report, known by all of its bytes: hashed a chunk at a time
        h = hashlib.sha256()
        at = 0
        try:
            while at < src.head_len:
                part = os.pread(src.stream.fileno(), min(CHUNK, src.head_len - at), at)
                if not part:
                    return True
                h.update(part)
                at += len(part)
        except (OSError, ValueError):  # ValueError: closed
            return False
        return h.hexdigest() != src.head_hash

    def _read_retired(self, retired: list[_Retired]) -> list[_Retired]:
        keep: list[_Retired] = []
        now = time.monotonic()
        for r in retired:
            if self.read(r.src):
                r.quiet_since = now
                keep.append(r)
            elif now - r.quiet_since < RETIRE_AFTER:
                keep.append(r)
            else:  # quiet: the writer has moved on; a last unended line is whole
                self.read(r.src, final=True, max_lines=10**12)
                self._close(r.src)
        return keep


#: events of a batch that :func:`_sums_pay` sums to see whether summing pays
SUM_SAMPLE = 8192
#: summing pays when it leaves at most this share of the sample's events
SUM_WORTH = 0.9


def _sums_pay(events: list[Event], periods: Periods) -> bool:
    """Does ``_fastlog.sum_events`` make the batch much shorter?  With a few hundred
    accounts a batch sums 150,000 events to a few thousand; with 100,000 accounts
    (a few events each a day) only to 80% of them, and the summing (a table of
    groups and a new event for each) cost more than it saved record_events
    (0.1-0.2 s and 16,000 page faults of 0.3 s at 100,000 accounts).  Summed or
    not, the counts are the same (tests/test_sum_events.py): this only decides
    which is faster, by summing the first SUM_SAMPLE events."""
    if len(events) <= SUM_SAMPLE * 2:
        return True
    assert _fastlog is not None
    sample = _fastlog.sum_events(events[:SUM_SAMPLE], periods.bucket_keys)
    return len(sample) <= SUM_WORTH * SUM_SAMPLE


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: a commit makes hundreds of thousands
    of objects (sums, rows, deltas) and no cycle, and the collector walked them
    again and again for nothing (0.3 s of an ingest at 100,000 accounts)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@dataclass(slots=True)
class _Retired:
    """A followed file renamed away by rotation, read until it has been quiet."""

    src: Source
    quiet_since: float
