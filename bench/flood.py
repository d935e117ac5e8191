#!/usr/bin/env python3
"""The flood benchmark of issue 7 (bench/RESULTS.md): `make bench-flood`, or

    .venv/bin/python bench/flood.py [--seconds 15] [--connections 40,100] [--json]

What it measures, against a real ``mailtally serve`` (one uvicorn worker, a
fresh SQLite store in a temporary directory, the default argon2 profile: 64 MiB,
t=3, p=4) on a free loopback port:

1. a token-holding client alone: one keep-alive connection asking
   ``stats_summary`` (its own user, by day) with a session token, one request
   after another, for ``--seconds``: p50/p99/max latency;
2. the same client while ``--connections`` other connections (in a separate
   process, so the two clients do not share a GIL) each send wrong passwords
   for fresh random names (so no lockout cuts the flood short and no two checks
   can be shared), one request in flight per connection, for as long;
3. the server's peak resident set (VmHWM of /proc/<pid>/status: what
   ``/usr/bin/time -v`` reports as "Maximum resident set size") before and
   after the flood, and how the flood was answered (bad password, refused
   because too many checks wait, anything else).

Each number of connections gets a run of its own on a fresh server (checks
still queued by one flood would weigh on the next).  40 is the issue's figure
and fits in the default queue (2 running + 64 waiting): the flood then moves at
argon2's pace.  100 does not: the connections past the queue are refused at
once and ask again at once — a request-rate flood, which costs the event loop
what any quick answer costs.

Public tools only: this script uses the project's own command line and the
Python standard library.  ``--json`` prints the figures as JSON (the test suite
runs it so: tests/test_floods.py).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

USER = "victim@flood.example"
PASSWORD = "the-right-password"
OPERATOR_PASSWORD = "operator-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in KiB."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


class Api:
    """One keep-alive HTTP/1.1 connection to the server."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(self, method: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body).encode()
        self.conn.request("POST", f"/api/{method}", data, {"Content-Type": "application/json"})
        r = self.conn.getresponse()
        return r.status, json.loads(r.read())

    def ok(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        status, answer = self.post(method, body)
        if status != 200 or answer.get("success") is not True:
            raise SystemExit(f"flood.py: {method} failed: HTTP {status} {answer}")
        return answer

    def close(self) -> None:
        self.conn.close()


class Server:
    """``mailtally serve`` on a fresh store, with an operator, a user and its token."""

    def __init__(self, workdir: Path, bin_dir: Path) -> None:
        self.workdir = workdir
        self.mailtally = str(bin_dir / "mailtally")
        self.port = free_port()
        self.db = f"sqlite:///{workdir / 'flood.sqlite3'}"
        config = workdir / "mailtally.toml"
        config.write_text("")  # defaults only, whatever /etc/mailtally says
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MAILTALLY_")}
        self.base = [self.mailtally, "--config", str(config)]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        subprocess.run(
            [*self.base, "operator", "add", "root", "--db", self.db],
            input=f"{OPERATOR_PASSWORD}\n".encode(),
            env=self.env,
            check=True,
            capture_output=True,
        )
        self.log = open(self.workdir / "server.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [*self.base, "serve", "--db", self.db, "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                api = Api(self.port)
                api.ok("echo", {})
                api.close()
                break
            except (OSError, http.client.HTTPException):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(
                        "flood.py: the server did not start:\n"
                        + (self.workdir / "server.log").read_text()
                    ) from None
                time.sleep(0.05)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def setup(self) -> dict[str, str]:
        """A company, a domain and a user; returns the user's token credentials."""
        api = Api(self.port)
        op = {"user": "root", "password": OPERATOR_PASSWORD}
        api.ok("change_company", {"credentials": op, "company": "Flood Co", "attributes": {}})
        api.ok(
            "change_domain",
            {"credentials": op, "domain": "flood.example", "company": "Flood Co"},
        )
        api.ok(
            "change_user",
            {"credentials": op, "user": USER, "attributes": {"password": PASSWORD}},
        )
        answer = api.ok(
            "authenticate",
            {
                "credentials": {"user": USER, "password": PASSWORD},
                "generate_session_token": True,
            },
        )
        api.close()
        return {"user": USER, "token": answer["session_token"]}

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:  # (checks still queued by the flood are let finish; not for long)
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if hasattr(self, "log"):
            self.log.close()


def token_client(port: int, creds: dict[str, str], seconds: float) -> list[float]:
    """Latencies (ms) of one client polling its own summary with a token."""
    api = Api(port)
    body = {"credentials": creds, "type": "user", "by": "day"}
    for _ in range(20):  # warm: the token and the answer are cached
        api.ok("stats_summary", body)
    out: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.perf_counter()
        status, answer = api.post("stats_summary", body)
        out.append((time.perf_counter() - t0) * 1000)
        if status != 200 or answer.get("success") is not True:
            raise SystemExit(f"flood.py: the token client was refused: {status} {answer}")
    api.close()
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def latency(values: list[float]) -> dict[str, float]:
    return {
        "requests": len(values),
        "p50_ms": round(statistics.median(values), 3),
        "p99_ms": round(percentile(values, 99), 3),
        "max_ms": round(max(values), 3),
    }


# -- the flood (run in its own process: --flood-worker) ---------------------------


async def _one_wrong_password(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> tuple[int, dict[str, Any]]:
    body = json.dumps(
        {
            "credentials": {
                "user": f"u{secrets.token_hex(6)}@flood.example",
                "password": secrets.token_hex(8),
            },
            "type": "user",
        }
    ).encode()
    writer.write(
        b"POST /api/stats_summary HTTP/1.1\r\nHost: flood\r\n"
        b"Content-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return status, json.loads(await reader.readexactly(length))


async def _flood_connection(port: int, end: float, counts: dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while (left := end - time.monotonic()) > 0:
            try:
                status, answer = await asyncio.wait_for(_one_wrong_password(reader, writer), left)
            except TimeoutError:
                counts["unanswered_at_end"] += 1  # still queued when the flood stopped
                break
            counts["requests"] += 1
            if status != 200 or answer.get("error_number") != 1:
                counts["other"] += 1
            elif "too many password checks" in answer["error"]:
                counts["busy"] += 1
            else:
                counts["bad_password"] += 1
    finally:
        writer.close()


async def _flood(port: int, connections: int, seconds: float) -> dict[str, int]:
    counts = {"requests": 0, "bad_password": 0, "busy": 0, "other": 0, "unanswered_at_end": 0}
    end = time.monotonic() + seconds
    await asyncio.gather(*(_flood_connection(port, end, counts) for _ in range(connections)))
    return counts


def flood_worker(port: int, connections: int, seconds: float) -> None:
    print(json.dumps(asyncio.run(_flood(port, connections, seconds))), flush=True)


# -- the run -------------------------------------------------------------------------


def run(seconds: float, connections: int, bin_dir: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mailtally-flood-") as tmp:
        server = Server(Path(tmp), bin_dir)
        try:
            server.start()
            creds = server.setup()
            quiet = token_client(server.port, creds, seconds)
            before = proc_status(server.pid)
            flood = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--flood-worker",
                    str(server.port),
                    "--connections",
                    str(connections),
                    "--seconds",
                    str(seconds + 1.0),
                ],
                stdout=subprocess.PIPE,
            )
            time.sleep(0.5)  # every flood connection has a check queued or running
            during = token_client(server.port, creds, seconds)
            out, _ = flood.communicate(timeout=seconds + 60)
            after = proc_status(server.pid)
            flood_counts = json.loads(out)
        finally:
            server.stop()
    return {
        "seconds": seconds,
        "connections": connections,
        "rss_before_flood_mib": round(before["VmRSS"] / 1024, 1),
        "peak_rss_before_flood_mib": round(before["VmHWM"] / 1024, 1),
        "peak_rss_mib": round(after["VmHWM"] / 1024, 1),
        "token_quiet": latency(quiet),
        "token_flood": latency(during),
        "flood": flood_counts,
    }


def markdown(results: list[dict[str, Any]], command: str) -> str:
    from importlib.metadata import version

    cpu = "?"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    lines = [
        f"- command: `{command}`",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- machine: {os.cpu_count()} CPUs, {cpu}; load average before the run "
        f"{os.getloadavg()[0]:.1f} (the machine is shared)",
        f"- software: Python {platform.python_version()}, uvicorn {version('uvicorn')}, "
        f"argon2-cffi {version('argon2-cffi')}; default argon2 profile (64 MiB, t=3, p=4), "
        "default queue (64 waiting checks)",
        f"- each phase {results[0]['seconds']:g} s; a fresh server for each flood",
        "",
        "| flood | answered | bad password (argon2 ran) | refused at once (queue full) "
        "| still queued at the end | other | server RSS before | peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        fl = r["flood"]
        lines.append(
            f"| {r['connections']} connections | {fl['requests']} | {fl['bad_password']} "
            f"| {fl['busy']} | {fl['unanswered_at_end']} | {fl['other']} "
            f"| {r['rss_before_flood_mib']} MiB | **{r['peak_rss_mib']} MiB** |"
        )
    lines += [
        "",
        "| token client (stats_summary, cached) | requests | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        for label, key in (("alone", "token_quiet"), ("during the flood", "token_flood")):
            t = r[key]
            lines.append(
                f"| {label} ({r['connections']}-connection run) | {t['requests']} "
                f"| {t['p50_ms']:.2f} | {t['p99_ms']:.2f} | {t['max_ms']:.2f} |"
            )
    lines += ["", "Targets: peak RSS under 300 MB; p99 during the flood under 25 ms."]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=15.0, help="of each phase (15)")
    ap.add_argument(
        "--connections",
        default="40,100",
        help="flooding connections, one run (and server) each: 40 fit in the queue of "
        "checks, 100 do not (40,100)",
    )
    ap.add_argument(
        "--bin",
        type=Path,
        default=Path(sys.executable).parent,
        help="where the mailtally command is (this Python's bin)",
    )
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--flood-worker", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.flood_worker:
        flood_worker(args.flood_worker, int(args.connections), args.seconds)
        return
    results = [run(args.seconds, int(n), args.bin) for n in args.connections.split(",")]
    if args.json:
        print(json.dumps(results))
    else:
        print(markdown(results, " ".join(["python", "bench/flood.py", *sys.argv[1:]])))


if __name__ == "__main__":
    main()
