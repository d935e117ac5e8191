"""``serve --workers``: each worker listens on a socket of its own (api/reuseport.py)."""

from __future__ import annotations

import os
import socket

import pytest

from mailtally.api.reuseport import listen_on_own_socket

pytestmark = pytest.mark.skipif(
    not hasattr(socket, "SO_REUSEPORT"), reason="the system has no SO_REUSEPORT"
)


def _supervisors_socket() -> socket.socket:
    """A socket as uvicorn's supervisor binds it for its workers (not listening)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def test_the_handed_socket_becomes_the_workers_own() -> None:
    handed = _supervisors_socket()
    port = handed.getsockname()[1]
    kept = socket.socket(fileno=os.dup(handed.fileno()))  # (the supervisor's copy)
    try:
        assert listen_on_own_socket(port)
        # the same descriptor, now a socket with SO_REUSEPORT on the same address
        assert handed.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        assert kept.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0
        assert handed.getsockname() == ("127.0.0.1", port)
        # a second worker's socket listens beside it, and both take connections
        other = socket.socket()
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", port))
        handed.listen(64)
        other.listen(64)
        handed.settimeout(0)
        other.settimeout(0)
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
        taken = []
        for listener in (handed, other):
            n = 0
            while True:
                try:
                    conn, _ = listener.accept()
                except BlockingIOError:
                    break
                conn.close()
                n += 1
            taken.append(n)
        # the supervisor's socket, not listening, took none of them
        assert sum(taken) == 64 and min(taken) > 0, taken
        for c in clients:
            c.close()
        other.close()
    finally:
        handed.close()
        kept.close()


def test_no_socket_on_the_port_changes_nothing() -> None:
    sock = _supervisors_socket()
    with sock:
        sock.listen(1)  # (listening already: not the supervisor's handed socket)
        assert not listen_on_own_socket(sock.getsockname()[1])
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0


def test_no_proc_changes_nothing(monkeypatch) -> None:
    import mailtally.api.reuseport as reuseport

    def no_proc(path: str) -> list[str]:
        raise FileNotFoundError(path)

    monkeypatch.setattr(reuseport.os, "listdir", no_proc)
    assert reuseport.listen_on_own_socket(1) is False
