"""The daily quota report: ``doveadm -f tab quota get -A`` into ``quota/quota-YYYY-MM-DD.tsv``."""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime
from pathlib import Path

from .platform import SUser


class QuotaReports:
    """Writes one host's reports: of the mailboxes among ``users`` (kept in their truth)."""

    def __init__(
        self, rng: random.Random, users: list[SUser], directory: Path, paths: list[Path]
    ) -> None:
        """``paths``: where the paths of the reports written are appended."""
        self.rng = rng
        self.users = users
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.paths = paths
        #: the lines written (headers and rows)
        self.lines = 0

    def report(self, ts: int) -> Path:
        """The report at ``ts``; its mtime is ``ts``.  Some users cleaned up since the last."""
        rng = self.rng
        path = self.directory / f"quota-{datetime.fromtimestamp(ts, UTC):%Y-%m-%d}.tsv"
        rows = ["Username\tQuota name\tType\tValue\tLimit\t%\n"]
        for u in self.users:
            if u.type != "mailbox":
                continue
            if rng.random() < 0.2:  # the user cleaned up
                gone = rng.randint(0, u.items // 3)
                u.nbytes -= gone * (u.nbytes // max(u.items, 1))
                u.items -= gone
            kib = u.nbytes // 1024
            limit = str(u.quota // 1024) if u.quota else "-"
            pct = str(min(100, kib * 100 // (u.quota // 1024))) if u.quota else "0"
            rows.append(f"{u.address}\tUser quota\tSTORAGE\t{kib}\t{limit}\t{pct}\n")
            rows.append(f"{u.address}\tUser quota\tMESSAGE\t{u.items}\t-\t0\n")
            u.reports.append([ts, u.items, kib * 1024])
        path.write_text("".join(rows))
        os.utime(path, (ts, ts))
        self.paths.append(path)
        self.lines += len(rows)
        return path
