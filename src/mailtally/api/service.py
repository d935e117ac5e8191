"""The running service: the store and everything the views share.

Views never touch connections or threads: they call :meth:`Service.read` and
:meth:`Service.act`, which run the blocking store work in the thread pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
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
#: How often the store's counters are read for other processes' writes (seconds).
POLL_SECONDS = 0.5
#: the counters of ``meta`` the service polls (:meth:`Service.poll_store_generation`)
STORE_COUNTERS = ("generation", "tree", "auth_generation")


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
        #: this process, among the processes serving the store (auth_counted rows)
        self.node = secrets.token_hex(8)
        #: the store's counters (meta) as this process last saw them: -1 before
        #: the first poll.  ``generation``: counts; ``tree``: the tenant tree;
        #: ``auth_generation``: the API processes' flushes of auth counts.
        self._seen = dict.fromkeys(STORE_COUNTERS, -1)
        self._seen_lock = threading.Lock()
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
        #: background rounds running in a thread (see _every)
        self._in_flight: set[asyncio.Future[Any]] = set()
        #: seconds between two flushes of the buffered auth_* counts (a test that
        #: compares the store before and after a call sets it long before start)
        self.auth_flush_seconds = 1.0
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
                out = fn(Ctx(q, self.periods, self.clock.now(), actor, client))
                if tree:  # every other process drops its caches at its next poll
                    bumped = q.bump_meta("tree")
            if tree:  # (this one below, after the commit: it needs no poll to)
                self._saw("tree", bumped)
            return out

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
        """Write the buffered auth_* counts and mark what they change (blocking; in a thread).

        They change the summaries of the users counted and nothing else: the
        write notes those users under a new ``auth_generation`` (rather than
        bumping the store's ``generation``, which would drop every process's
        cached summaries every second), and every other process drops those
        users' summaries at its next poll.
        """
        events = self.auth_counter.drain()
        if not events:
            return 0
        now = self.clock.now()
        with self.store.write() as q:
            record_events(q, self.periods, events, bump=False)
            q.note_auth_counted(self.node, [ev.user for ev in events], now)
        # bumped only now, after the commit: a summary built from an older
        # snapshot carries an older auth generation and so counts as stale
        # (the poll reads every process's notes but this one's)
        self._users_counted([ev.user for ev in events])
        return len(events)

    def _users_counted(self, users: list[str]) -> None:
        self.auth_generation += 1
        for user in users:
            self.auth_changed_at[user] = self.auth_generation

    def _saw(self, counter: str, value: int) -> bool:
        """Note the store's ``counter`` at ``value``; True if that is news.

        The counters only grow (:meth:`~mailtally.store.Queries.bump_meta`), so
        a value above the one seen is a change since (the first poll's is not:
        there was nothing cached to drop).  :meth:`act` notes its own bump of
        ``tree``, so that the poll does not take it for another process's.
        """
        with self._seen_lock:
            seen = self._seen[counter]
            if value <= seen:
                return False
            self._seen[counter] = value
            return seen != -1

    def poll_store_generation(self) -> None:
        """Notice what other processes wrote: counts (``mailtally ingest``, other
        API processes), tree changes, auth counts; run every half second."""
        with self.store.read() as q:
            now = q.meta_counters(STORE_COUNTERS)
            seen_auth = self._seen["auth_generation"]
            news: tuple[list[str], int] | None = None
            if seen_auth != -1 and now["auth_generation"] > seen_auth:
                news = q.auth_counted_since(seen_auth, self.node)
        tree = self._saw("tree", now["tree"])
        if self._saw("generation", now["generation"]) or tree:
            self.changed(tree=tree)
        if news is not None and self._saw("auth_generation", now["auth_generation"]):
            users, noted = news
            if noted < now["auth_generation"] - seen_auth:
                self.changed()  # notes were swept before this process read them: anyone's
            elif users:
                self._users_counted(users)
        else:
            self._saw("auth_generation", now["auth_generation"])

    async def _every(self, seconds: float, fn: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(seconds)
            # The round runs shielded: stop() cancels this loop, not a round in
            # flight, and waits for it (a flush has drained the counts it is
            # writing; cancelled, the process could end before its thread wrote
            # them, and stop's own flush found nothing left: counts lost on SIGTERM).
            job = asyncio.ensure_future(run_in_threadpool(fn))
            self._in_flight.add(job)
            job.add_done_callback(self._in_flight.discard)
            try:
                await asyncio.shield(job)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep the loop alive; the next round retries
                log.exception("background task %s failed", getattr(fn, "__name__", fn))

    async def start(self) -> None:
        self.poll_store_generation()
        self._tasks = [
            asyncio.create_task(self._every(self.auth_flush_seconds, self.flush_auth_counts)),
            asyncio.create_task(self._every(POLL_SECONDS, self.poll_store_generation)),
            asyncio.create_task(self._every(SWEEP_SECONDS, self.auth.sweep)),
        ]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
        for job in list(self._in_flight):  # (rounds the cancel left running in their thread)
            try:
                await job
            except Exception:
                log.exception("background task failed while stopping")
        self.auth.checks.close()
        await run_in_threadpool(self.flush_auth_counts)
