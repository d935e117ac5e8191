"""The ``mailtally`` console script: ``mailtally prune`` without click, every
other command through :mod:`mailtally.cli`.

An idle ``mailtally prune`` (run from a timer, beside ingest and the API) is
mostly Python's start-up: importing click and ``mailtally.cli`` was about a
sixth of its instructions (bench/RESULTS.md, "Start-up").  The arguments of
the plain forms — ``[--config PATH] prune [--db URL] [--batch-rows N]``, each
also as ``--opt=value`` — are read here, and the prune is run as
``mailtally.cli``'s ``prune`` runs it (:func:`mailtally.prune.prune_command`),
with its messages and exit codes.  Anything else (``--help``, another
command, a value click would refuse) goes to click, which answers it as always.
"""

from __future__ import annotations

import gc
import os
import sys

__all__ = ["main", "plain_prune"]

#: the options of the plain forms, before and after ``prune``
_GROUP_OPTIONS = ("--config",)
_PRUNE_OPTIONS = ("--db", "--batch-rows")


def _options(args: list[str], names: tuple[str, ...]) -> dict[str, str] | None:
    """``--name value`` / ``--name=value`` pairs of ``names`` (the last one wins,
    as with click); None for anything else."""
    found: dict[str, str] = {}
    i = 0
    while i < len(args):
        name, eq, value = args[i].partition("=")
        if name not in names:
            return None
        if not eq:
            if i + 1 >= len(args):
                return None
            value = args[i + 1]
            if value.startswith("-"):  # (an option where a value goes: click's to answer)
                return None
            i += 1
        found[name] = value
        i += 1
    return found


def plain_prune(argv: list[str]) -> tuple[str | None, str | None, int] | None:
    """(config path, db, batch rows) when ``argv`` is a plain prune; else None."""
    if "prune" not in argv:
        return None
    at = argv.index("prune")
    group = _options(argv[:at], _GROUP_OPTIONS)
    own = _options(argv[at + 1 :], _PRUNE_OPTIONS)
    if group is None or own is None:
        return None
    config = group.get("--config")
    # click.Path(dir_okay=False) refuses a folder and an unreadable file (usage errors)
    if config is not None and (
        os.path.isdir(config) or (os.path.exists(config) and not os.access(config, os.R_OK))
    ):
        return None
    batch = own.get("--batch-rows", "1000")
    # click's IntRange(1) reads more spellings ("+5", " 5"), and a number too
    # long for int() is its to refuse: those go to it
    if not (batch.isascii() and batch.isdigit()) or len(batch) > 18 or int(batch) < 1:
        return None
    return config, own.get("--db"), int(batch)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    plain = plain_prune(args)
    if plain is None:
        from mailtally.cli import main as click_main

        try:
            click_main(args)
        finally:
            # What is still alive when the command is done is left to the OS: a
            # last full collection at exit freed an ingest's joiner and tree,
            # held by a cycle (joiner -> resolve -> ingester), object by object
            # (0.16-0.25 s of an ingest at 100,000 accounts, for nothing).
            gc.freeze()
        return
    from mailtally.config import ConfigError, load_config
    from mailtally.periods import Clock
    from mailtally.prune import prune_command
    from mailtally.store import StoreURLError, StoreZoneError, open_store_in_zone

    config_path, db, batch_rows = plain
    try:
        config = load_config(config_path, db=db)
        store = open_store_in_zone(config.db, config.timezone)
    except (ConfigError, StoreZoneError) as exc:  # (as click.ClickException prints them)
        sys.exit(_error(str(exc)))
    except StoreURLError as exc:
        sys.exit(_error(f"db: {exc}"))
    for line in prune_command(store, config, Clock().now(), batch_rows):
        print(line)


def _error(message: str) -> int:
    print(f"Error: {message}", file=sys.stderr)
    return 1
