"""What one uncached user ``stats_summary`` costs the real server (issue 9).

bench/sweep.sh measures latency and memory; this measures the server's own work per
request, the figures a loaded machine changes least.  It serves STORE with uvicorn
as ``mailtally serve`` does (one worker, httptools), asks once for a company summary
(the operator's one argon2 check), then has wrk ask USERS different users' summaries
by BY, each once (bench/sweep.lua, 16 connections), and reports per request:

* ``--cpu`` (the default): the server's user + system CPU time (``/proc/PID/stat``);
* ``--callgrind FILE``: the instructions the server ran (valgrind's callgrind,
  collecting only during the sweep; about 50 times slower, so use a few hundred users);
* ``--cprofile FILE``: a cProfile of the server — the event loop's thread and the
  store's reader threads (``Store.reading``) — written to FILE (pstats) with the top
  functions printed.

    .venv/bin/python bench/serve_profile.py STORE PLATFORM_JSON [--users 3000] [--by day]

STORE is written to (the ``sweep`` operator, auth counts): give it a copy of the fixture.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CREDS = '"credentials":{"user":"sweep","password":"sweep-password"}'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(url: str, body: str) -> bytes:
    req = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return bytes(r.read())


def wait_up(url: str, alive: Callable[[], bool], seconds: float = 600) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if b'"success":true' in post(f"{url}/echo", "{}"):
                return
        except OSError:
            pass
        if not alive():
            sys.exit("serve_profile: the server died")
        time.sleep(0.2)
    sys.exit("serve_profile: the server did not answer")


def users_file(platform: str, n: int, out: Path) -> str:
    """``n`` addresses spread over the platform's; returns its first company's name."""
    data = json.loads(Path(platform).read_text())
    users = [u["address"] for u in data["users"]]
    n = min(n, len(users))
    out.write_text("\n".join(users[i * len(users) // n] for i in range(n)) + "\n")
    return str(data["companies"][0]["name"])


def sweep(url: str, users: Path, by: str, seconds: int) -> dict[str, float]:
    """wrk over ``users`` (each asked once, 16 connections); its RESULT line."""
    env = dict(os.environ, USERS=str(users), CREDS=CREDS, THREADS="2", BY=by)
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            "-c16",
            f"-d{seconds}s",
            "--timeout",
            "60s",
            "--latency",
            "-s",
            str(ROOT / "bench/sweep.lua"),
            f"{url}/stats_summary",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    keys = ("rps", "p50", "p99", "requests", "non200", "unexpected", "errors")
    return dict(zip(keys, map(float, line.split()[1:]), strict=True))


def cpu_ticks(pid: int) -> int:
    """The process's user + system CPU time so far, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def callgrind_total(path: Path) -> int:
    """The instructions a callgrind dump counted."""
    for ln in path.read_text(errors="replace").splitlines():
        if ln.startswith(("summary:", "totals:")):
            return int(ln.split()[1])
    return 0


def add_operator(bin_: Path, db: str) -> None:
    subprocess.run(
        [str(bin_ / "mailtally"), "operator", "add", "sweep", "--db", db],
        input="sweep-password\n",
        text=True,
        check=True,
        capture_output=True,
    )


def run_external(args: argparse.Namespace, db: str, users: Path, company: str) -> None:
    """``--cpu`` and ``--callgrind``: ``mailtally serve`` as its own process."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    cmd = [
        str(args.bin / "python"),
        "-c",
        "from mailtally.cli import main; main()",
        "serve",
        "--db",
        db,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    if args.callgrind:
        # counting only from the first sweep on; each sweep dumped apart (FILE.1, FILE.2)
        cmd = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={args.callgrind}",
            *cmd,
        ]
    control = ["callgrind_control"]
    log = open(args.work / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    phases = [("uncached", "")] + ([("cached", " (the same users again)")] if args.cached else [])
    try:
        wait_up(url, lambda: proc.poll() is None)
        post(
            f"{url}/stats_summary", f'{{{CREDS},"type":"company","object":"{company}","by":"day"}}'
        )
        if args.callgrind:
            subprocess.run([*control, "-i", "on", str(proc.pid)], check=True, capture_output=True)
        for name, note in phases:
            ticks = cpu_ticks(proc.pid)
            r = sweep(url, users, args.by, args.seconds)
            ticks = cpu_ticks(proc.pid) - ticks
            n = r["requests"]
            print(
                f"{name}{note}: {int(n)} requests, user by {args.by} "
                f"({int(r['non200'] + r['unexpected'] + r['errors'])} failed): "
                f"p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms; serve CPU "
                f"{ticks * 1000 / os.sysconf('SC_CLK_TCK') / n:.3f} ms a request "
                f"(load {os.getloadavg()[0]:.2f})",
                flush=True,
            )
            if args.callgrind:
                subprocess.run(
                    [*control, "-d", name, str(proc.pid)], check=True, capture_output=True
                )
                dumps = sorted(
                    Path(args.callgrind).parent.glob(Path(args.callgrind).name + ".*"),
                    key=lambda f: f.stat().st_mtime,
                )
                total = callgrind_total(dumps[-1])
                print(f"  callgrind: {total / n:,.0f} instructions a request ({dumps[-1]})")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()


def run_cprofile(args: argparse.Namespace, db: str, users: Path, company: str) -> None:
    """``--cprofile``: the server in this process, profiled in every thread that does
    a request's work (the event loop's and the store's readers)."""
    import concurrent.futures

    import uvicorn

    import mailtally.store.sqlite as sqlite_store
    from mailtally.api import create_app
    from mailtally.config import load_config
    from mailtally.store import open_store

    profiles: list[cProfile.Profile] = []

    def profiled() -> None:
        # CPU time of the thread, not wall time: on a shared machine, and with
        # threads waiting for the GIL, wall time is mostly waiting
        prof = cProfile.Profile(time.thread_time)
        profiles.append(prof)
        prof.enable()

    class ProfiledPool(concurrent.futures.ThreadPoolExecutor):
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, initializer=profiled, **kw)  # type: ignore[misc]

    sqlite_store.ThreadPoolExecutor = ProfiledPool  # type: ignore[misc]
    config = load_config(None, db=db)
    store = open_store(config.db)
    app = create_app(store, config)
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    uconfig = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(uconfig)
    main_prof = cProfile.Profile(time.thread_time)
    result: dict[str, float] = {}

    def drive(loop: asyncio.AbstractEventLoop) -> None:
        try:
            wait_up(url, lambda: True)
            post(
                f"{url}/stats_summary",
                f'{{{CREDS},"type":"company","object":"{company}","by":"day"}}',
            )
            if args.cached:  # profile the path without the miss: the second sweep
                sweep(url, users, args.by, args.seconds)
            loop.call_soon_threadsafe(main_prof.enable)
            result.update(sweep(url, users, args.by, args.seconds))
            loop.call_soon_threadsafe(main_prof.disable)
        finally:
            server.should_exit = True

    async def serve() -> None:
        threading.Thread(target=drive, args=(asyncio.get_running_loop(),), daemon=True).start()
        await server.serve()

    # the event loop uvicorn.run would use (uvloop when installed)
    from uvicorn._compat import asyncio_run

    asyncio_run(serve(), loop_factory=uconfig.get_loop_factory())
    store.close()
    stats = pstats.Stats(main_prof)
    for prof in profiles:
        stats.add(prof)
    stats.dump_stats(args.cprofile)
    n = result["requests"]
    print(
        f"{int(n)} requests, user by {args.by}: p50 {result['p50']:.2f} ms, "
        f"p99 {result['p99']:.2f} ms (under the profiler); profile in {args.cprofile}"
    )
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", help="a store file (written to: give a copy)")
    ap.add_argument("platform", help="platform.json of mailtally synth")
    ap.add_argument("--users", type=int, default=3000)
    ap.add_argument("--by", choices=("day", "week", "month"), default="day")
    ap.add_argument("--seconds", type=int, default=60, help="wrk's -d (it waits it out)")
    ap.add_argument("--bin", type=Path, default=ROOT / ".venv/bin")
    ap.add_argument(
        "--cached",
        action="store_true",
        help="then the same users again: the path without the miss (the answer cache holds"
        " about 1,900 user-by-day answers: ask fewer users, or the second pass misses too)",
    )
    ap.add_argument("--callgrind", metavar="FILE", help="count instructions with callgrind")
    ap.add_argument("--cprofile", metavar="FILE", help="profile the server in this process")
    ap.add_argument("--top", type=int, default=40, help="functions printed (--cprofile)")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("serve_profile: needs wrk")
    db = f"sqlite:///{Path(args.store).resolve()}"
    add_operator(args.bin, db)
    with tempfile.TemporaryDirectory(dir=ROOT / "bench/out") as work:
        args.work = Path(work)
        users = args.work / "users.txt"
        company = users_file(args.platform, args.users, users)
        if args.cprofile:
            run_cprofile(args, db, users, company)
        else:
            run_external(args, db, users, company)
    return 0


if __name__ == "__main__":
    sys.exit(main())
