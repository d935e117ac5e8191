"""CPU time of the PostgreSQL backends a benchmarked command used (bench/postgres.sh).

With ``PYTHONPATH=bench/pgcpu`` and ``PGPERF_CPU=FILE``, every psycopg connection
reads its server process's CPU time (``/proc/PID/stat``: the server must run on
this machine, readable by this user) just before it closes, and the total is
appended to FILE at exit: the database's share of the work, which the client's
own ``/usr/bin/time`` does not see.  Without ``PGPERF_CPU`` it does nothing.
"""

from __future__ import annotations

import atexit
import os

if os.environ.get("PGPERF_CPU"):
    import psycopg

    _ticks = [0, 0]
    _close = psycopg.Connection.close

    def _counted_close(self: psycopg.Connection) -> None:  # type: ignore[type-arg]
        try:
            if not self.closed:
                with open(f"/proc/{self.info.backend_pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                _ticks[0] += int(fields[11]) + int(fields[12])  # utime + stime
                _ticks[1] += 1
        except (OSError, ValueError, IndexError):
            pass
        _close(self)

    psycopg.Connection.close = _counted_close  # type: ignore[method-assign]

    @atexit.register
    def _report() -> None:
        with open(os.environ["PGPERF_CPU"], "a") as f:
            f.write(f"{_ticks[0] / os.sysconf('SC_CLK_TCK'):.2f} {_ticks[1]}\n")
