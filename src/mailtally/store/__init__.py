"""Storage: one interface (:class:`Store`), an embedded SQLite implementation."""

from __future__ import annotations

from mailtally.store.base import GaugeRow, Queries, Store, StoreBusy

__all__ = ["GaugeRow", "Queries", "Store", "StoreBusy", "StoreURLError", "open_store"]


class StoreURLError(ValueError):
    """A store URL mailtally cannot open."""


def open_store(url: str) -> Store:
    """Open (creating and migrating as needed) the store named by ``url``.

    ``sqlite:///relative/path``, ``sqlite:////absolute/path`` or a bare path
    open SQLite; ``postgresql://`` URLs are accepted once the PostgreSQL backend
    lands.
    """
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
    elif url.startswith(("postgresql://", "postgres://")):
        raise StoreURLError(
            "PostgreSQL stores are not available in this version yet; use sqlite:///PATH"
        )
    elif "://" in url:
        raise StoreURLError(f"unknown store URL {url!r}: use sqlite:///PATH")
    else:
        path = url
    if not path:
        raise StoreURLError("the store URL names no file: use sqlite:///PATH")
    from mailtally.store.sqlite import SQLiteStore

    return SQLiteStore(path)
