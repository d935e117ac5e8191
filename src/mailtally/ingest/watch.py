"""``mailtally ingest --follow --metrics-port PORT``: the ingester's own Prometheus
registry, served by ``prometheus_client``'s HTTP server on a thread of its own.

Per followed file (the name it is followed under, ``file`` label): lines read,
lines not understood, seconds since a commit last saved lines of it (since the
start when none has yet), and bytes behind the file's end (its size less what
was read: the current file under that name; a file rotated away is read to its
end within seconds).  The :class:`~mailtally.ingest.files.Ingester` tells a
:class:`FollowWatch` what each read and each commit did (per chunk of lines and
per commit, never per line); the numbers become families only when scraped.
"""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mailtally.ingest.files import Source

__all__ = ["FollowWatch", "serve_metrics"]


class FollowWatch:
    """What the ingester read and committed, per followed file.

    Written by the ingesting thread, read by the metrics server's thread: each
    value is one int or float, replaced whole (the GIL makes that atomic), so
    a scrape sees every number as it was at some moment of the last poll.
    """

    def __init__(self, paths: Iterable[str]) -> None:
        now = time.time()
        self.lines: dict[str, int] = dict.fromkeys(paths, 0)
        self.unknown: dict[str, int] = dict.fromkeys(self.lines, 0)
        self.behind: dict[str, int] = dict.fromkeys(self.lines, 0)
        #: file -> when a commit last saved lines of it (time.time())
        self.committed_at: dict[str, float] = dict.fromkeys(self.lines, now)
        self.commits = 0

    def read(self, src: Source, lines: int, unknown: int) -> None:
        """``lines`` were read from ``src`` (``unknown`` of them not understood)."""
        path = src.path
        self.lines[path] = self.lines.get(path, 0) + lines
        self.unknown[path] = self.unknown.get(path, 0) + unknown

    def polled(self, path: str, src: Source | None) -> None:
        """After a poll of ``path``: how far its current file is from its end."""
        if src is None or isinstance(src.stream, gzip.GzipFile):
            self.behind[path] = 0
            return
        try:
            size = os.fstat(src.stream.fileno()).st_size
        except (OSError, ValueError):
            return
        self.behind[path] = max(size - src.position, 0)

    def committed(self, paths: Iterable[str]) -> None:
        now = time.time()
        for path in paths:
            self.committed_at[path] = now
        self.commits += 1

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        lines = CounterMetricFamily(
            "mailtally_ingest_lines_read", "Lines read, per followed file", labels=["file"]
        )
        unknown = CounterMetricFamily(
            "mailtally_ingest_lines_not_understood",
            "Lines read and not understood (the report's), per followed file",
            labels=["file"],
        )
        since = GaugeMetricFamily(
            "mailtally_ingest_seconds_since_commit",
            "Seconds since a commit last saved lines of the file (since the start if none has)",
            labels=["file"],
        )
        behind = GaugeMetricFamily(
            "mailtally_ingest_bytes_behind",
            "Bytes of the file not read yet (its size less the position read to)",
            labels=["file"],
        )
        now = time.time()
        for path in list(self.lines):
            lines.add_metric([path], self.lines[path])
            unknown.add_metric([path], self.unknown.get(path, 0))
            since.add_metric([path], max(now - self.committed_at.get(path, now), 0.0))
            behind.add_metric([path], self.behind.get(path, 0))
        yield from (lines, unknown, since, behind)
        yield CounterMetricFamily(
            "mailtally_ingest_commits", "Batches committed (counts, positions and joiner state)",
            value=self.commits,
        )  # fmt: skip


def serve_metrics(watch: FollowWatch, port: int, host: str = "127.0.0.1") -> Any:
    """Serve ``watch`` (and the process's CPU and memory) at
    ``http://host:port/metrics`` on a daemon thread; returns the server."""
    from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(watch)  # type: ignore[arg-type]
    ProcessCollector(namespace="mailtally", registry=registry)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
