"""Storage: one interface (:class:`Store`); an embedded SQLite implementation and a
PostgreSQL one."""

from __future__ import annotations

from mailtally.store.base import GaugeRow, Queries, Store, StoreBusy

__all__ = [
    "GaugeRow",
    "NoStoreError",
    "Queries",
    "Store",
    "StoreBusy",
    "StoreURLError",
    "StoreZoneError",
    "open_store",
    "open_store_in_zone",
]


class StoreURLError(ValueError):
    """A store URL mailtally cannot open."""


class NoStoreError(StoreURLError):
    """``open_store(url, create=False)`` of a URL where no store exists."""


class StoreZoneError(ValueError):
    """The store counts in another time zone than the configuration names."""


def open_store_in_zone(url: str, timezone: str, create: bool = False) -> Store:
    """:func:`open_store`, refusing a time zone other than the one it counts in
    (:class:`StoreZoneError`, saying what to set).

    Counts are kept per local period, so a store's zone is fixed when the store
    is created (the first command to open it writes ``timezone``); a different
    zone later would misplace every count.
    """
    store = open_store(url, create=create)
    with store.write() as q:
        zone = q.meta("timezone")
        if zone is None:
            q.set_meta("timezone", timezone)
            zone = timezone
    if zone != timezone:
        store.close()
        raise StoreZoneError(
            f"timezone: this store counts in {zone!r}, not {timezone!r}; set "
            f"timezone = {zone!r} in the configuration file (or MAILTALLY_TIMEZONE={zone})"
        )
    return store


def open_store(url: str, create: bool = True) -> Store:
    """Open (creating and migrating as needed) the store named by ``url``.

    ``create`` False: a URL where no store exists yet is refused
    (:class:`NoStoreError`, naming it) instead of becoming a new, empty store —
    the commands that only read one (README "Decisions").

    ``sqlite:///relative/path``, ``sqlite:////absolute/path`` or a bare path
    open SQLite; ``postgresql://…`` (or ``postgres://…``, any libpq URL) opens
    PostgreSQL: the database must exist, its tables are made by the migrations.
    """
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from mailtally.store.postgres import PostgresStore
        except ImportError as exc:  # the optional dependency is missing
            raise StoreURLError(
                "PostgreSQL stores need psycopg: install mailtally with its postgres extra "
                f"(pip install '.[postgres]' in its repository) ({exc})"
            ) from exc
        import psycopg

        try:
            if not create and not _pg_holds_a_store(url):
                raise NoStoreError(
                    f"no store at {without_password(url)} (the database has no mailtally "
                    "tables); check --db or MAILTALLY_DB (demo, synth, operator add and "
                    "migrate make a new store)"
                )
            return PostgresStore(url)
        except (
            psycopg.OperationalError,
            # the URL's search_path names no schema, or the role may not make the
            # tables there: the URL's or the server's business, said in a line
            psycopg.errors.InvalidSchemaName,
            psycopg.errors.InsufficientPrivilege,
        ) as exc:
            raise StoreURLError(f"cannot open the PostgreSQL store: {exc}".strip()) from exc
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
    elif "://" in url:
        raise StoreURLError(
            f"unknown store URL {url!r}: use sqlite:///PATH or postgresql://HOST/DATABASE"
        )
    else:
        path = url
    if not path:
        raise StoreURLError("the store URL names no file: use sqlite:///PATH")
    if not create and path != ":memory:" and not _holds_a_store(path):
        raise NoStoreError(
            f"no store at {url} (no such file, or an empty one); check --db or "
            "MAILTALLY_DB (demo, synth, operator add and migrate make a new store)"
        )
    from mailtally.store.sqlite import SQLiteStore

    return SQLiteStore(path)


def _pg_holds_a_store(url: str) -> bool:
    """Has the PostgreSQL database (and schema, by its search_path) our tables?"""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT to_regclass('meta')").fetchone()
    return row is not None and row[0] is not None


def without_password(url: str) -> str:
    """``url`` as a message or a log may show it: without a password."""
    import re

    return re.sub(r"(://[^/@:]*):[^/@]*@", r"\1:***@", url)


def _holds_a_store(path: str) -> bool:
    """Is there a file at ``path`` that is not empty (SQLite makes an empty file
    on open; a mailtally store has its schema from the first open on)."""
    import os

    try:
        return os.stat(path).st_size > 0
    except OSError:
        return False
