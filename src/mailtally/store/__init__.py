"""Storage: one interface (:class:`Store`); an embedded SQLite implementation and a
PostgreSQL one."""

from __future__ import annotations

from mailtally.store.base import GaugeRow, Queries, Store, StoreBusy

__all__ = ["GaugeRow", "Queries", "Store", "StoreBusy", "StoreURLError", "open_store"]


class StoreURLError(ValueError):
    """A store URL mailtally cannot open."""


def open_store(url: str) -> Store:
    """Open (creating and migrating as needed) the store named by ``url``.

    ``sqlite:///relative/path``, ``sqlite:////absolute/path`` or a bare path
    open SQLite; ``postgresql://…`` (or ``postgres://…``, any libpq URL) opens
    PostgreSQL: the database must exist, its tables are made by the migrations.
    """
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from mailtally.store.postgres import PostgresStore
        except ImportError as exc:  # the optional dependency is missing
            raise StoreURLError(
                f"PostgreSQL stores need psycopg: pip install 'mailtally[postgres]' ({exc})"
            ) from exc
        import psycopg

        try:
            return PostgresStore(url)
        except psycopg.OperationalError as exc:
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
    from mailtally.store.sqlite import SQLiteStore

    return SQLiteStore(path)
