"""What the program modules share: one host's processes, ids and random source.

A program module (:mod:`.postfix`, :mod:`.dovecot`, …) is a class derived from
:class:`Program` whose methods each write one line (or return its text) in that
program's own format, drawing the random details a real line has (process ids,
delays, scores) — and nothing else: what happens, and what it counts, is the
scenarios' business (:mod:`.scenarios`).  The order of the random draws is part
of the output: for the same seed the files are the same, byte for byte.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from .log import MAIL, Log
from .platform import Host

#: The programs whose process ids a host draws, each from a pool of eight, in this order.
PID_KINDS = (
    "smtpd",
    "cleanup",
    "smtp",
    "lmtp",
    "pipe",
    "bounce",
    "pickup",
    "submission",
    "dovecot",
    "amavis",
    "rspamd",
    "postscreen",
    "reinject",
)


class Counter:
    """A count that ids are made of."""

    def __init__(self) -> None:
        self.n = 0

    def next(self) -> int:
        self.n += 1
        return self.n


class Run(Counter):
    """One host's running processes and id counter, and the log its lines go to.

    ``ids``: where session ids and Message-IDs are counted — this host's own counter
    (which its queue ids use) on a one-server platform, the platform's on one of
    several (queue ids repeat from host to host, as on real hosts; Message-IDs and
    Dovecot's session ids do not).  ``named``: lines carry the host's name (the log
    of several hosts).
    """

    def __init__(
        self,
        rng: random.Random,
        log: Log,
        host: Host,
        ids: Counter | None = None,
        named: bool = False,
    ) -> None:
        super().__init__()  # the counter under queue ids (and, see ids, the others)
        self.rng = rng
        self.log = log
        self.host = host
        self.ids: Counter = self if ids is None else ids
        self.emit: Callable[..., None] = log.emit
        if named:
            prefix = host.name + " "

            def emit(ts: int, text: str, dest: int = MAIL) -> None:
                log.emit(ts, prefix + text if dest == MAIL else text, dest)

            self.emit = emit
        self.pids = {k: [rng.randint(1000, 60000) for _ in range(8)] for k in PID_KINDS}
        self.qmgr_pid = rng.randint(900, 2000)

    def pid(self, kind: str) -> int:
        return self.rng.choice(self.pids[kind])

    def msgid(self, domain: str) -> str:
        n = self.ids.next()
        return f"{(n * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFF:012x}.{n}@{domain}"


class Program:
    """A program's line formats, written for one host (``run``)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.rng = run.rng
        self.emit = run.emit
        self.pid = run.pid
        self.host = run.host
