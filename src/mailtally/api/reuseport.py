"""``serve --workers N``: each worker listens on a socket of its own
(``SO_REUSEPORT``), so that the kernel spreads the connections over them.

uvicorn's supervisor binds one socket and every worker listens on it.  Both
event loops (uvloop's, asyncio's) accept every connection waiting when they
wake, so the first worker to wake takes a burst whole: wrk's 16 keep-alive
connections came 13/3 and 10/6 to two workers, and the busy one set every
request's tail (bench/RESULTS.md).  With a socket per worker in one
``SO_REUSEPORT`` group, the kernel gives each new connection to one of the
listening sockets by a hash of its addresses and ports.

The supervisor's socket stays bound (it holds the port, and uvicorn hands it to
a worker it restarts) but never listens, so it takes no connection: only
sockets that listen are in the group.  A worker that stops takes the
connections waiting in its own queue with it (they are reset), which a shared
socket would have left to the others.
"""

from __future__ import annotations

import os
import socket
import stat

__all__ = ["listen_on_own_socket"]


def listen_on_own_socket(port: int) -> bool:
    """In a worker: put a socket of its own, bound with ``SO_REUSEPORT`` to the
    same address, in place of the bound, not yet listening TCP socket on
    ``port`` it was handed (same descriptor, so uvicorn listens on the new one).
    False, changing nothing, when there is no such socket or the system has no
    ``SO_REUSEPORT``."""
    reuseport = getattr(socket, "SO_REUSEPORT", None)
    if reuseport is None:
        return False
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:  # (no /proc: a BSD or macOS has SO_REUSEPORT but not this)
        return False
    for name in names:
        fd = int(name)
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            probe = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        with probe:
            if (
                probe.type != socket.SOCK_STREAM
                or probe.family not in (socket.AF_INET, socket.AF_INET6)
                or probe.getsockname()[1] != port
                or probe.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
            ):
                continue
            address, family = probe.getsockname(), probe.family
        own = socket.socket(family, socket.SOCK_STREAM)
        with own:
            own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            own.setsockopt(socket.SOL_SOCKET, reuseport, 1)
            own.bind(address)
            os.dup2(own.fileno(), fd)  # (the handed socket is closed in this process)
        return True
    return False
