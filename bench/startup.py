"""The command line's start-up, and ``mailtally prune`` with nothing to prune (issue 9).

Runs each command ``--runs`` times as a real process and prints the median and
the best wall time and the median CPU (user + system, from the child's rusage),
with the load average beside them:

* ``python -c "import mailtally.cli"``, ``mailtally --version``, ``mailtally --help``;
* ``mailtally prune --db STORE`` on a copy of STORE made first (the first run
  folds whatever is due; the runs timed after it have nothing to prune).

Python's bytecode is compiled once first and then read from ``__pycache__``, as
an installed package's is (pip compiles it at install).  ``--no-bytecode``
times a run that compiles every module each time (``PYTHONDONTWRITEBYTECODE=1``
on a source tree without ``__pycache__``).

    .venv/bin/python bench/startup.py --store /work/fixture-100k/store-v10.sqlite3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall s, user + system CPU s) of one run of ``argv``."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read() if proc.stderr else b""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err.decode()[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime


def bench(name: str, argv: list[str], env: dict[str, str], runs: int) -> None:
    walls, cpus = [], []
    for _ in range(runs):
        w, c = timed(argv, env)
        walls.append(w)
        cpus.append(c)
    load = os.getloadavg()[0]
    print(f"| {name} | {statistics.median(walls):.3f} | {min(walls):.3f} | "
          f"{statistics.median(cpus):.3f} | {load:.2f} |")  # fmt: skip
    sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--store", required=True, help="the store to copy (never written)")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--dir", default=None, help="where the copy goes (default: a temp dir)")
    ap.add_argument("--no-bytecode", action="store_true",
                    help="compile every module at every run (no __pycache__)")  # fmt: skip
    ap.add_argument("--src", default=str(ROOT / "src"),
                    help="the source tree to run (before/after: another commit's src)")  # fmt: skip
    args = ap.parse_args()
    src = Path(args.src).resolve()
    env = dict(os.environ)
    env["PYTHONPATH"] = str(src)  # (ahead of the editable install's path)
    if args.no_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        for cache in src.rglob("__pycache__"):
            shutil.rmtree(cache)
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=True)
    # the console script of that tree: mailtally.entry:main (which runs a plain
    # prune without click), or mailtally.cli:main before it existed
    target = "entry" if (src / "mailtally" / "entry.py").exists() else "cli"
    script = f"import sys; from mailtally.{target} import main; sys.argv[0] = 'mailtally'; main()"
    mt = [sys.executable, "-c", script]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        copy = Path(tmp) / "store.sqlite3"
        shutil.copyfile(args.store, copy)
        copy.chmod(0o644)
        db = f"sqlite:///{copy}"
        timed([*mt, "prune", "--db", db], env)  # folds what is due: the runs below have nothing
        print(f"{src}: "
              f"{'no bytecode (compiled each run)' if args.no_bytecode else 'bytecode cached'}, "
              f"{args.runs} runs each, {os.cpu_count()} cores")  # fmt: skip
        print("| command | median wall s | best wall s | median CPU s | load (1 min) |")
        print("|---|---:|---:|---:|---:|")
        bench("python -c 'pass'", [sys.executable, "-c", "pass"], env, args.runs)
        imports = [sys.executable, "-c", "import mailtally.cli"]
        bench("import mailtally.cli", imports, env, args.runs)
        if "version_option" in (src / "mailtally" / "cli.py").read_text():
            bench("mailtally --version", [*mt, "--version"], env, args.runs)
        bench("mailtally --help", [*mt, "--help"], env, args.runs)
        bench("mailtally prune (nothing to prune)", [*mt, "prune", "--db", db], env, args.runs)


if __name__ == "__main__":
    main()
