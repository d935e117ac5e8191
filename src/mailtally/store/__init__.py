"""Storage: one interface (:class:`Store`), an embedded SQLite implementation."""

from __future__ import annotations

from mailtally.store.base import GaugeRow, Queries, Store, StoreBusy

__all__ = [
    "GaugeRow",
    "NoStoreError",
    "Queries",
    "Store",
    "StoreBusy",
    "StoreURLError",
    "open_store",
]


class StoreURLError(ValueError):
    """A store URL mailtally cannot open."""


class NoStoreError(StoreURLError):
    """``open_store(url, create=False)`` of a URL where no store exists."""


def open_store(url: str, create: bool = True) -> Store:
    """Open (creating and migrating as needed) the store named by ``url``.

    ``create`` False: a URL where no store exists yet is refused
    (:class:`NoStoreError`, naming it) instead of becoming a new, empty store —
    the commands that only read one (README "Decisions").

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
    if not create and path != ":memory:" and not _holds_a_store(path):
        raise NoStoreError(
            f"no store at {url} (no such file, or an empty one); check --db or "
            "MAILTALLY_DB (demo, synth and operator add make a new store)"
        )
    from mailtally.store.sqlite import SQLiteStore

    return SQLiteStore(path)


def _holds_a_store(path: str) -> bool:
    """Is there a file at ``path`` that is not empty (SQLite makes an empty file
    on open; a mailtally store has its schema from the first open on)."""
    import os

    try:
        return os.stat(path).st_size > 0
    except OSError:
        return False
