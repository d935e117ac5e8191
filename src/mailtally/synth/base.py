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

from .log import Log
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


class Run:
    """One host's running processes and id counter, and the log its lines go to."""

    def __init__(self, rng: random.Random, log: Log, host: Host) -> None:
        self.rng = rng
        self.log = log
        self.host = host
        self.emit: Callable[..., None] = log.emit
        self.n = 0  # the counter under queue ids, session ids and Message-IDs
        self.pids = {k: [rng.randint(1000, 60000) for _ in range(8)] for k in PID_KINDS}
        self.qmgr_pid = rng.randint(900, 2000)

    def next(self) -> int:
        self.n += 1
        return self.n

    def pid(self, kind: str) -> int:
        return self.rng.choice(self.pids[kind])

    def msgid(self, domain: str) -> str:
        n = self.next()
        return f"{(n * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFF:012x}.{n}@{domain}"


class Program:
    """A program's line formats, written for one host (``run``)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.rng = run.rng
        self.emit = run.emit
        self.pid = run.pid
        self.host = run.host
