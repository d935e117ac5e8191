"""The running service: the store and everything the views share.

Views never touch connections or threads: they call :meth:`Service.read` and
:meth:`Service.act`, which run the blocking store work in the thread pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from mailtally.auth import AuthCounter, Authenticator, make_hasher
from mailtally.bounded import ByteBudget, ByteLRU, str_bytes
from mailtally.config import Config
from mailtally.periods import Clock, Periods
from mailtally.record import record_events
from mailtally.store import Queries, Store
from mailtally.tree import Ctx, Principal

__all__ = ["Service"]

T = TypeVar("T")
log = logging.getLogger("mailtally")

#: Bytes of encoded stats_summary answers kept (README "Decisions"): the least
#: recently asked is forgotten first; a miss costs a millisecond or so.
SUMMARY_BYTES = 48 * 1024 * 1024
#: Bytes of the index from how requests spell their object to the object.
SUMMARY_NAME_BYTES = 8 * 1024 * 1024
#: Bytes of request bodies over 64 KiB held at once, across requests (api/app.py).
BODY_BUDGET = 48 * 1024 * 1024
#: How often expired tokens and run-out failure counts are dropped (seconds).
SWEEP_SECONDS = 60.0


def _answer_bytes(key: tuple[Any, ...], value: Any) -> int:
    """An answer: (kind, id, by) -> stats.Cached; the body is nearly all of it."""
    return len(value.body) + str_bytes(key[0], key[2], value.user, value.current) + 200


def _named_bytes(key: tuple[Any, ...], value: Any) -> int:
    """A name index entry: (caller, roles, type, object, by) -> stats.Named."""
    name, roles, type_, obj, by = key
    t = value.target
    # the object is a canonical name, or (name, (company key, spelling)) when a
    # bare name may be a domain or a company: its text, plus tuples' headers
    obj_text = obj if obj is None or isinstance(obj, str) else repr(obj)
    state = t.state
    return (
        str_bytes(name, type_, obj_text, by, t.name, t.workgroup)
        + sum(str_bytes(r, o) + 80 for r, o in roles)
        + 600  # the Target, the Named and the tuples
        # a user's state: the struct, its dict and lists, and what they hold
        # (measured with tracemalloc: 1.6 KB an entry for a user, where 600 in
        # all was counted before)
        + (
            0
            if state is None
            else 700
            + sum(str_bytes(k, v) + 60 for k, v in state.services.items())
            + str_bytes(state.name, *state.forward_recipients, *state.aliases)
            + 8 * (len(state.forward_recipients) + len(state.aliases))
        )
    )


class Service:
    def __init__(self, store: Store, config: Config, clock: Clock | None = None) -> None:
        self.store = store
        self.config = config
        self.clock = clock or Clock()
        self.periods = Periods(config.timezone)
        a = config.auth
        self.hasher = make_hasher(a.argon2_time_cost, a.argon2_memory_kib, a.argon2_parallelism)
        self.auth = Authenticator(store, self.clock, self.hasher, max_waiting=a.max_waiting_checks)
        self.auth_counter = AuthCounter()
        #: grows whenever something a summary shows may have changed
        self.generation = 0
        #: grows when only the API's own ``logins.auth_*`` counts were written.
        #: Those show in the summaries of the users counted and nowhere else, so
        #: every other cached answer stays valid: OMA clients send credentials with
        #: every poll, and each second's flush of their counts must not drop them.
        self.auth_generation = 0
        #: user name -> the auth generation that last wrote its auth counts
        self.auth_changed_at: dict[str, int] = {}
        self._store_generation = -1
        self._credentials_version = -1
        self._tokens_version = -1
        #: (kind, object id, by) -> a cached answer (api/stats.py)
        self.summary_cache: ByteLRU[Any, Any] = ByteLRU(SUMMARY_BYTES, _answer_bytes)
        #: (caller, its roles, type, canonical object name, by) -> the object (api/stats.py)
        self.summary_names: ByteLRU[Any, Any] = ByteLRU(SUMMARY_NAME_BYTES, _named_bytes)
        #: the summaries being built on the store's threads right now, so that
        #: concurrent misses of one key share the work (see api/stats.py); at
        #: most one entry per request in progress
        self.summary_flights: dict[Any, Any] = {}
        #: stats_summary answers given from the cache, and built from the store
        #: (``/metrics``: the cache's hit ratio)
        self.summary_hits = 0
        self.summary_misses = 0
        self._tasks: list[asyncio.Task[None]] = []
        with store.read() as q:
            #: company names found only by their exact spelling (store/base.py);
            #: no new one can be made, so this is read once
            self.legacy_company_names = q.legacy_company_names()
        #: bytes of large request bodies held at once (api/app.py)
        self.bodies = ByteBudget(BODY_BUDGET)

    # -- store access ------------------------------------------------------------
    async def read(self, fn: Callable[[Queries], T]) -> T:
        """Run ``fn`` in one reading session, on the store's threads."""
        return await self.store.reading(fn)

    async def write(self, fn: Callable[[Queries], T]) -> T:
        """Run ``fn`` in one write transaction (counts, not the tree)."""

        def run() -> T:
            with self.store.write() as q:
                return fn(q)

        return await run_in_threadpool(run)

    async def act(
        self, actor: Principal, client: str | None, fn: Callable[[Ctx], T], tree: bool = True
    ) -> T:
        """Run a tree action in one write transaction, then drop stale caches
        (``tree`` False: an audited action that changes no account, role or
        count — tokens — and leaves every cached summary and caller valid)."""

        def run() -> T:
            with self.store.write() as q:
                return fn(Ctx(q, self.periods, self.clock.now(), actor, client))

        if not tree:
            return await run_in_threadpool(run)
        try:
            return await run_in_threadpool(run)
        finally:
            self.changed(tree=True)

    def changed(self, tree: bool = False) -> None:
        self.generation += 1  # (the cache itself is bounded where entries are added)
        if tree:
            self.auth.tree_changed()

    # -- background work -----------------------------------------------------------
    def flush_auth_counts(self) -> int:
        """Write the buffered auth_* counts and mark what they change (blocking; in a thread)."""
        events = self.auth_counter.drain()
        if not events:
            return 0
        with self.store.write() as q:
            before = q.generation()
            record_events(q, self.periods, events)
            after = q.generation()
        # Our own write bumps the store's generation too: note the new value so
        # that the poll does not take it for another process's write and drop
        # every cached summary.  If another process wrote since the last poll
        # (``before`` is news to us), that is a change of everything.
        foreign = before != self._store_generation
        self._store_generation = after
        # bumped only now, after the commit: a summary built from an older
        # snapshot carries an older auth generation and so counts as stale
        self.auth_generation += 1
        for ev in events:
            self.auth_changed_at[ev.user] = self.auth_generation
        if foreign:
            self.changed()
        return len(events)

    def poll_store_generation(self) -> None:
        """Notice counts written by other processes (``mailtally ingest``)."""
        with self.store.read() as q:
            g = q.generation()
            c = q.credentials_version()
            tv = q.tokens_version()
        if tv != self._tokens_version:
            # tokens were dropped in the store (logout_user, a password change,
            # here or in another process): those held in memory are read again
            if self._tokens_version != -1:
                self.auth.forget_tokens()
            self._tokens_version = tv
        if c != self._credentials_version:
            # another process changed a password (an operator's, from the
            # command line): what was verified with the old one is forgotten
            if self._credentials_version != -1:
                self.auth.forget_all()
            self._credentials_version = c
        if g != self._store_generation:
            self._store_generation = g
            self.changed()

    async def _every(self, seconds: float, fn: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await run_in_threadpool(fn)
            except Exception:  # keep the loop alive; the next round retries
                log.exception("background task %s failed", getattr(fn, "__name__", fn))

    async def start(self) -> None:
        self.poll_store_generation()
        self._tasks = [
            asyncio.create_task(self._every(1.0, self.flush_auth_counts)),
            asyncio.create_task(self._every(0.5, self.poll_store_generation)),
            asyncio.create_task(self._every(SWEEP_SECONDS, self.auth.sweep)),
        ]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
        self.auth.checks.close()
        await run_in_threadpool(self.flush_auth_counts)
