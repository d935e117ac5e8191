"""Reading log files exactly once: positions, rotation, following.

Each file is known by its content — a hash of its first bytes (at most 4 KiB;
a quota report is hashed whole) — so a log renamed to ``mail.log.1`` or
compressed to ``mail.log.2.gz`` by rotation is recognised as the file already
read.  How far a file was read (in uncompressed bytes), and the joiner's
messages in flight, are saved in the same transaction as the counts their lines
produced: a crash at any moment, or a second run, neither counts a line twice
nor skips one.

Only complete lines are read; a last line without its newline waits for the
writer (when following) or is left for the next run.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

import msgspec

from mailtally.events import Event
from mailtally.ingest.join import Joiner
from mailtally.ingest.parsers import IGNORED, OK, LineParser
from mailtally.periods import Periods
from mailtally.record import Resolver, record_events
from mailtally.store import Store

__all__ = ["HEAD", "IngestReport", "Ingester"]

HEAD = 4096
STATE_NAME = "joiner"
#: at most this many lines between two commits
BATCH_LINES = 50_000
#: a followed file renamed away is read until it has been quiet this long (s)
RETIRE_AFTER = 5.0
_QUOTA_HEADER = b"Username\t"


@dataclass(slots=True)
class IngestReport:
    """What an ingestion run read and counted."""

    lines: int = 0
    events: int = 0
    ignored_lines: int = 0
    #: program -> [lines not understood, a sample line]
    unknown: dict[str, list[object]] = field(default_factory=dict)
    #: events for addresses outside the tenant tree (not counted)
    outside_tree: int = 0
    #: messages whose lines never all arrived (expired from the in-flight table)
    skipped_messages: int = 0
    files: list[str] = field(default_factory=list)

    @property
    def unknown_lines(self) -> int:
        return sum(int(v[0]) for v in self.unknown.values())  # type: ignore[call-overload]


def _open(path: str) -> BinaryIO:
    raw = open(path, "rb")  # noqa: SIM115 - handed to the Source, closed there
    if raw.read(2) == b"\x1f\x8b":
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
    except OSError:
        return None


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
    buffer: bytes = b""

    def close(self) -> None:
        self.stream.close()


class Ingester:
    """Turns log files into counts, committing positions with the counts."""

    def __init__(
        self,
        store: Store,
        periods: Periods,
        webmail_hosts: Iterable[str] = ("127.0.0.1", "::1"),
        batch_lines: int = BATCH_LINES,
    ) -> None:
        self.store = store
        self.periods = periods
        self.webmail_hosts = tuple(webmail_hosts)
        self.batch_lines = batch_lines
        self.report = IngestReport()
        with store.read() as q:
            state = q.ingest_state(STATE_NAME)
            self._known = list(q.ingest_files())
        # The joiner credits a receipt to the address the tree knows (a catch-all
        # or a rewrite is credited to the account it reaches, not to the random
        # address it was sent to).
        self._resolved: dict[str, str | None] = {}
        self._domains: frozenset[str] = self._load_domains()
        joiner_config = {"webmail_hosts": self.webmail_hosts, "resolve": self._resolve}
        self.joiner = (
            Joiner.from_state(msgspec.json.decode(state), **joiner_config)
            if state
            else Joiner(**joiner_config)
        )
        self._pending: list[Event] = []
        self._pending_lines = 0
        self._touched: dict[int, Source] = {}  # files read since the last commit

    def _load_domains(self) -> frozenset[str]:
        with self.store.read() as q:
            return frozenset(q.live_domain_names())

    def _resolve(self, address: str) -> str | None:
        """The canonical address of the account ``address`` reaches, or None."""
        key = address.lower()
        if key not in self._resolved:
            if key.rpartition("@")[2] not in self._domains:
                # most addresses in a mail log are outside the platform: no query
                self._resolved[key] = None
                return None
            with self.store.read() as q:
                row = q.resolve_address(key)
                user = None if row is None else q.user_by_id(row[0])
            self._resolved[key] = None if user is None else str(user[3])
        return self._resolved[key]

    # -- identity --------------------------------------------------------------
    def open_source(self, path: str) -> Source | None:
        """Open ``path`` positioned after what was already read; None if empty/missing."""
        try:
            st = os.stat(path)
            stream = _open(path)
        except OSError:
            return None
        head = stream.read(HEAD)
        if not head:
            stream.close()
            return None
        quota = head.startswith(_QUOTA_HEADER)
        if quota:  # a report is one snapshot: known by all of its bytes
            head += stream.read()
        match = None
        for row in self._known:
            _id, _path, _dev, _ino, h, hlen, _pos, _lines = row
            # a log matches a file whose head it continues; a quota report only
            # its very self (a longer report is a new one, not one grown)
            fits = hlen == len(head) if quota else 0 < hlen <= len(head)
            same = fits and _digest(head[:hlen]) == h
            if same and (match is None or hlen > match[5]):
                match = row
        head_len = len(head)
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
            head_hash=_digest(head),
            head_len=head_len,
            position=position,
            lines=lines,
            quota=quota,
            stream=stream,
            parser=LineParser(reference=int(st.st_mtime), tz=self.periods.zone),
        )
        return src

    # -- reading ---------------------------------------------------------------
    def read(self, src: Source, final: bool = False, max_lines: int | None = None) -> int:
        """Read the complete lines available in ``src``; returns how many.

        ``final``: the writer is done with this file (it was rotated away), so a
        last line without a newline is complete too.
        """
        limit = max_lines or self.batch_lines
        n = 0
        while n < limit:
            chunk = src.stream.read(1 << 20)
            if not chunk:
                if final and src.buffer:
                    n += self._lines(src, src.buffer, b"")
                break
            data = src.buffer + chunk
            end = data.rfind(b"\n") + 1  # complete lines only; the rest waits
            n += self._lines(src, data[:end], data[end:])
        return n

    def _lines(self, src: Source, data: bytes, rest: bytes) -> int:
        """Parse and join the lines of ``data`` (whole lines); keep ``rest`` for later.

        The hot loop of ingestion: bookkeeping is per chunk, not per line, and a
        chunk is decoded at once (a newline never falls inside a UTF-8 sequence).
        """
        src.buffer = rest
        if not data:
            return 0
        text = data.decode("utf-8", errors="replace")
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        src.position += len(data)
        src.lines += len(lines)
        self._touched[id(src)] = src
        rep = self.report
        rep.lines += len(lines)
        self._pending_lines += len(lines)
        parse, feed, pending = src.parser.parse, self.joiner.feed, self._pending
        ignored = 0
        for line in lines:
            if not line or line.isspace():
                ignored += 1
                continue
            result = parse(line)
            status = result.status
            if status == OK:
                events = feed(result)
                if events:
                    pending.extend(events)
            elif status == IGNORED:
                ignored += 1
            else:
                program = result.program or "(no program)"
                slot = rep.unknown.get(program)
                if slot is None:
                    rep.unknown[program] = [1, line[:300]]
                else:
                    slot[0] = int(slot[0]) + 1  # type: ignore[call-overload]
        rep.ignored_lines += ignored
        return len(lines)

    # -- committing ------------------------------------------------------------
    def commit(self) -> None:
        """Count what was read and save positions and joiner state, atomically.

        Nothing in memory moves on until the transaction has committed: if it
        fails, the pending events and the files read stay pending (and a new
        file's id is not taken for one the store never kept).
        """
        touched = list(self._touched.values())
        now = int(time.time())
        state = msgspec.json.encode(self.joiner.state()).decode()
        ids: list[int] = []
        with self.store.write() as q:
            result = record_events(q, self.periods, self._pending, Resolver(q))
            for src in touched:
                self._refresh_head(src)
                ids.append(
                    q.save_ingest_file(
                        src.file_id,
                        src.path,
                        src.device,
                        src.inode,
                        src.head_hash,
                        src.head_len,
                        src.position,
                        src.lines,
                        now,
                    )
                )
            q.save_ingest_state(STATE_NAME, state)
            known = list(q.ingest_files())
        for src, file_id in zip(touched, ids, strict=True):
            src.file_id = file_id
        self._known = known
        self._pending = []
        self._touched = {}
        self._pending_lines = 0
        self._resolved.clear()  # the tree may change between batches
        self._domains = self._load_domains()
        self.report.events += result.counted
        self.report.outside_tree += result.ignored
        self.report.skipped_messages = self.joiner.skipped

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
        """Read each file to its end, committing every ``batch_lines`` lines."""
        for path in paths:
            src = self.open_source(path)
            self.report.files.append(path)
            if src is None:
                continue
            try:
                while True:
                    n = self.read(src)
                    if progress is not None:
                        progress(src, n)
                    if self._pending_lines:
                        self.commit()
                    if n == 0:
                        break
            finally:
                src.close()
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
        try:
            while not should_stop():
                for path in paths:
                    sources[path] = self._poll(path, sources[path], retired)
                retired = self._read_retired(retired)
                if self._pending_lines or self._touched:
                    self.commit()
                    if on_commit is not None:
                        on_commit(self.report)
                else:
                    time.sleep(interval)
        finally:
            for r in retired:
                self.read(r.src, final=True, max_lines=10**12)
            if self._pending_lines or self._touched:
                self.commit()
            for src in [*sources.values(), *(r.src for r in retired)]:
                if src is not None:
                    src.close()
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
                src.close()
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
            src.parser = LineParser(reference=int(st.st_mtime), tz=self.periods.zone)
        self.read(src)
        return src

    @staticmethod
    def _replaced(src: Source, st: os.stat_result) -> bool:
        """Was this (plain) file truncated, or its head rewritten, since we read it?"""
        if isinstance(src.stream, gzip.GzipFile):
            return False
        if st.st_size < src.position:
            return True
        head = _head(src, src.head_len)
        # truncated and written again past our position before this poll
        return head is not None and _digest(head) != src.head_hash

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
                r.src.close()
        return keep


@dataclass(slots=True)
class _Retired:
    """A followed file renamed away by rotation, read until it has been quiet."""

    src: Source
    quiet_since: float
