"""A mapping bounded by the bytes of what it holds, forgetting the least recently used.

Every cache the server keeps for callers (verified credentials, principals,
tokens, lockout counts, summary answers) is one of these, so that no sequence of
requests — with or without credentials — can grow the process past a fixed
bound.  Sizes are estimates given by the caller (``size`` of a key and value):
they need to be proportional to what an entry really costs, not exact.

:class:`ByteBudget` bounds what requests hold at once instead: the bodies of
large requests, which arrive before their credentials can be checked.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["ENTRY_OVERHEAD", "ByteBudget", "ByteLRU", "str_bytes"]

K = TypeVar("K")
V = TypeVar("V")

#: What a dict slot, an OrderedDict link and a small tuple cost besides their
#: contents (CPython, 64 bits): counted once per entry on top of ``size``.
ENTRY_OVERHEAD = 160


def str_bytes(*texts: str | bytes | None) -> int:
    """About what CPython spends on these strings (header plus characters)."""
    return sum(49 + len(t) for t in texts if t is not None)


class ByteLRU(Generic[K, V]):
    """A thread-safe LRU mapping holding at most ``max_bytes`` of entries.

    ``size(key, value)`` estimates an entry's bytes (:data:`ENTRY_OVERHEAD` is
    added).  An entry larger than the whole bound is not kept.  ``on_evict`` is
    called (under the lock) for each entry pushed out by a newer one, so that a
    secondary index can forget it too.
    """

    def __init__(
        self,
        max_bytes: int,
        size: Callable[[K, V], int],
        on_evict: Callable[[K, V], None] | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self._size = size
        self._on_evict = on_evict
        self._data: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self.lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    @property
    def nbytes(self) -> int:
        """The estimated bytes held now (never above ``max_bytes``)."""
        return self._bytes

    def get(self, key: K, default: V | None = None) -> V | None:
        """The value, marked as just used; ``default`` if absent."""
        with self.lock:
            hit = self._data.get(key)
            if hit is None:
                return default
            self._data.move_to_end(key)
            return hit[0]

    def peek(self, key: K, default: V | None = None) -> V | None:
        """The value without marking it used (a lookup that must not keep it alive)."""
        hit = self._data.get(key)
        return default if hit is None else hit[0]

    def put(self, key: K, value: V) -> bool:
        """Keep ``value`` under ``key``, evicting the least recently used entries
        until it fits; False (and nothing kept) if it alone exceeds the bound."""
        n = self._size(key, value) + ENTRY_OVERHEAD
        with self.lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if n > self.max_bytes:
                return False
            while self._bytes + n > self.max_bytes and self._data:
                k, (v, m) = self._data.popitem(last=False)
                self._bytes -= m
                if self._on_evict is not None:
                    self._on_evict(k, v)
            self._data[key] = (value, n)
            self._bytes += n
            return True

    def pop(self, key: K, default: V | None = None) -> V | None:
        with self.lock:
            hit = self._data.pop(key, None)
            if hit is None:
                return default
            self._bytes -= hit[1]
            return hit[0]

    def drop_if(self, doomed: Callable[[K, V], bool]) -> int:
        """Drop every entry for which ``doomed(key, value)``; how many were dropped."""
        with self.lock:
            keys = [k for k, (v, _) in self._data.items() if doomed(k, v)]
            for k in keys:
                self._bytes -= self._data.pop(k)[1]
            return len(keys)

    def clear(self) -> None:
        with self.lock:
            self._data.clear()
            self._bytes = 0

    def items(self) -> Iterator[tuple[K, V]]:
        """A snapshot of the entries, least recently used first."""
        with self.lock:
            snapshot = [(k, v) for k, (v, _) in self._data.items()]
        return iter(snapshot)


class ByteBudget:
    """Bytes that requests may hold at once, granted whole and first come, first served.

    A request asks for all it may need before it holds anything, so two requests
    never wait on each other holding parts (no deadlock), and a large request is
    not overtaken for ever by small ones.  Used from the event loop only.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self, n: int) -> int:
        """Wait until ``n`` bytes (at most the whole budget) are free; returns the
        grant, to be given back with :meth:`release`."""
        n = min(n, self.limit)
        if not self._waiters and self.used + n <= self.limit:
            self.used += n
            return n
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (n, fut)
        self._waiters.append(entry)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release(n)  # granted just as the caller went away
            else:
                self._waiters.remove(entry)
                self._wake()
            raise
        return n

    def release(self, n: int) -> None:
        self.used -= n
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.used + self._waiters[0][0] <= self.limit:
            n, fut = self._waiters.popleft()
            if not fut.done():
                self.used += n
                fut.set_result(None)
