"""The output: lines streamed in time order into the rotated mail log files.

Scenarios emit a message's lines as they decide them, a little ahead of time
(a delivery seconds after its receipt); :class:`Log` keeps the pending lines in
a heap and writes those older than the next scenario's start, so the files are
in time order while the generator holds only the lines of messages in flight.
The syslog stamp (classic or RFC 3339, alternating from file to file, as
logrotate leaves a log whose format was changed) and the hostname are added
here; the program modules write the rest of each line.
"""

from __future__ import annotations

import gzip
import heapq
import os
from datetime import UTC, datetime
from pathlib import Path

from .platform import DAY

_MON = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
CLASSIC, RFC3339 = 0, 1
MAIL, ROUNDCUBE, RAW = 0, 1, 2


class Out:
    """One output file, written in large chunks (gzip or plain)."""

    def __init__(self, path: Path, compress: bool) -> None:
        self.path = path
        raw = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.raw = raw
        self.f = (
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) if compress else raw
        )
        self.buf: list[str] = []
        self.lines = 0
        self.last = 0

    def add(self, text: str, ts: int) -> None:
        self.buf.append(text)
        self.lines += 1
        self.last = ts
        if len(self.buf) >= 8192:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.f.write("".join(self.buf).encode("utf-8", "surrogateescape"))
            self.buf = []

    def close(self) -> None:
        """Flush and close; the file's mtime becomes the time of its last line."""
        self.flush()
        if self.f is not self.raw:
            self.f.close()
        self.raw.close()
        t = self.last
        if t:
            os.utime(self.path, (t, t))


class Log:
    """Lines in time order: a heap of pending lines, rotated into the mail log files."""

    def __init__(self, out: Path, start: int, end: int, hostname: str | None) -> None:
        """``hostname``: the syslog host of every line; None: each line's text begins
        with its host (a central log of several hosts)."""
        self.prefix = "" if hostname is None else hostname + " "
        self.heap: list[tuple[int, int, int, str]] = []
        self.seq = 0
        self.count = 0
        span = end - start
        days = span // DAY
        if days >= 4:
            cuts = [start + round(i * days / 4) * DAY + 6 * 3600 + 25 * 60 for i in (1, 2, 3)]
        else:
            cuts = [start + i * span // 4 for i in (1, 2, 3)]
        # (name, compressed, stamp format, ends before)
        self.plan = [
            ("mail.log.3.gz", True, CLASSIC, cuts[0]),
            ("mail.log.2.gz", True, RFC3339, cuts[1]),
            ("mail.log.1", False, CLASSIC, cuts[2]),
            ("mail.log", False, RFC3339, 1 << 62),
        ]
        self.out = out
        self.index = 0
        self.files: list[Out] = []
        self.cur = self._open(0)
        (out / "roundcube").mkdir(parents=True, exist_ok=True)
        self.rc = Out(out / "roundcube" / "userlogins", False)
        self._stamp_ts = -1
        self._stamp = ""
        self._day_cache: dict[int, tuple[str, str, str]] = {}

    def _open(self, i: int) -> Out:
        name, gz, _fmt, _end = self.plan[i]
        f = Out(self.out / name, gz)
        self.files.append(f)
        return f

    def emit(self, ts: int, text: str, dest: int = MAIL) -> None:
        heapq.heappush(self.heap, (ts, self.seq, dest, text))
        self.seq += 1
        self.count += 1

    def flush_before(self, ts: int) -> None:
        heap = self.heap
        pop = heapq.heappop
        write = self._write
        while heap and heap[0][0] < ts:
            t, _s, dest, text = pop(heap)
            write(t, dest, text)

    def days(self, ts: int) -> tuple[str, str, str]:
        d = ts // DAY
        v = self._day_cache.get(d)
        if v is None:
            dt = datetime.fromtimestamp(d * DAY, UTC)
            v = (
                f"{_MON[dt.month - 1]} {dt.day:2d} ",
                f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T",
                f"{dt.day:02d}-{_MON[dt.month - 1]}-{dt.year:04d} ",
            )
            self._day_cache[d] = v
        return v

    def _write(self, ts: int, dest: int, text: str) -> None:
        if dest == ROUNDCUBE:
            s = ts % DAY
            clock = f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"
            self.rc.add(f"[{self.days(ts)[2]}{clock} +0000]: {text}\n", ts)
            return
        while ts >= self.plan[self.index][3]:
            self.index += 1
            self.cur = self._open(self.index)
        if dest == RAW:
            self.cur.add(text + "\n", ts)
            return
        fmt = self.plan[self.index][2]
        if ts != self._stamp_ts:
            s = ts % DAY
            self._clock = f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"
            self._stamp_ts = ts
            self._frac = (ts * 7919) % 500_000
        if fmt == CLASSIC:
            self.cur.add(f"{self.days(ts)[0]}{self._clock} {self.prefix}{text}\n", ts)
        else:
            self._frac = frac = min(self._frac + 1 + (self.seq * 37) % 2000, 999_999)
            self.cur.add(
                f"{self.days(ts)[1]}{self._clock}.{frac:06d}+00:00 {self.prefix}{text}\n", ts
            )

    def close(self) -> list[Path]:
        self.flush_before(1 << 62)
        while self.index < len(self.plan) - 1:  # a short log: empty younger files
            self.index += 1
            self.cur = self._open(self.index)
        for f in self.files:
            f.close()
        self.rc.close()
        return [f.path for f in self.files]
