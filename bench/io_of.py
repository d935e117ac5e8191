"""Run ``mailtally ARGS...`` in this process, then print to stderr what it wrote
(``/proc/self/io``: write_bytes reached the disk layer, wchar every write()
call: the WAL frames and the checkpoint's pages) and its CPU seconds:

    .venv/bin/python bench/io_of.py ingest --quiet --db sqlite:///STORE FILES...

bench/ingest_scale.sh runs every mailtally under it (the "written MB" column)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mailtally.cli import main


def report() -> None:
    io = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    t = os.times()
    print(f"io_of: wchar {int(io['wchar'])} cpu {t.user + t.system:.2f}", file=sys.stderr)


if __name__ == "__main__":
    sys.argv[0] = "mailtally"
    try:
        code = main()
    finally:
        report()
    sys.exit(code)
