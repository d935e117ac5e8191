"""Credentials: passwords, the verified-credential cache, tokens and lockout.

OMA clients send the password with *every* request, and an argon2id check costs
tens of milliseconds and 64 MiB by design.  So a (name, password) pair that
verified once is remembered in memory — under an HMAC with a per-process key, so
the cache never holds a password or anything that would verify one elsewhere —
and a repeat costs microseconds.  Several processes may serve one store
(``mailtally serve --workers N``, API nodes on one database), so every cached
credential and token carries the name's *credential version* (migration 0011),
which every change that ends a name's credentials moves in its own transaction
(a password change, delete, rename, logout; ``mailtally operator add``), and
each request reads the name's version and lockout by one indexed point read
(on SQLite only when the store's change mark, its WAL index's header that
every process's commits rewrite, moved since the name's last read):
a password changed through one process is refused by every other at its next
request.

Password checks that are not in the cache (SPEC §2, isolation rule 4) run on
their own two threads (:class:`PasswordChecks`), never in the thread pool the
rest of the server uses: at most two argon2 verifications at once (so at most
twice argon2's memory), a check already running for the same name and password
is awaited by every identical request instead of run again, and at most
``max_waiting`` further checks wait; past that a check is refused at once with
error 1.  A flood of wrong passwords therefore queues behind itself only: token
and cached-credential requests never touch those threads.

An unknown name and a wrong password take the same path — an argon2 check,
against a dummy hash when there is no real one — and get the same answer.
After ``max_failures`` failed *passwords* for one name within ``window`` seconds
the name is refused for ``window`` seconds, whatever it sends.  A failed *token*
never counts towards that (a client holding a stale token must not lock its
owner out); failed tokens are counted per client address instead: after 100
within a minute, that address's token attempts are refused for a minute.  Both
counts are kept in the store (a failure costs a write; a success none), so
failures spread over any number of processes count together.

Everything kept in memory is a :class:`~mailtally.bounded.ByteLRU` bounded in
bytes and keyed by the canonical name; expired tokens, and failures and
refusals that ran out, are dropped (:meth:`Authenticator.sweep`, run every
minute by the service, and at lookup).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import lru_cache
from typing import NamedTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from starlette.concurrency import run_in_threadpool

from mailtally.access import Action
from mailtally.bounded import ByteLRU, str_bytes
from mailtally.errors import BAD_CREDENTIALS, FORBIDDEN, OMAError
from mailtally.events import ApiAuth
from mailtally.periods import Clock
from mailtally.store import Queries, Store, StoreBusy
from mailtally.tree import (
    Ctx,
    Principal,
    Target,
    load_principal,
    normalize_address,
    user_for_change,
)

__all__ = [
    "AuthCounter",
    "AuthState",
    "Authenticator",
    "PasswordChecks",
    "address_key",
    "do_generate_token",
    "do_logout_user",
    "make_hasher",
    "token_hash",
]

log = logging.getLogger("mailtally.auth")

DEFAULT_TOKEN_DURATION = 10800
MAX_TOKEN_DURATION = 86400

#: argon2 verifications at once (SPEC §2 rule 4): each holds argon2's memory
#: (64 MiB with the default profile) while it runs.
MAX_CONCURRENT_CHECKS = 2
#: password checks that may wait for one of those threads; past this a new
#: check is refused at once (error 1).  A waiting check holds no argon2 memory,
#: only its request.  At the default profile (0.2-0.4 s a check, two at once, on
#: an idle two-core machine) the last in line waits some 6-13 s, within the
#: timeouts of OMA clients.  Past it, a refusal costs the server as little as
#: any quick answer (a flood of those is a request-rate flood, like one of
#: ``echo``: a matter for the reverse proxy's limits).
DEFAULT_MAX_WAITING = 64

#: failed tokens per client address (SPEC §1): after this many within
#: TOKEN_WINDOW seconds, the address's token attempts are refused for
#: TOKEN_WINDOW seconds.
TOKEN_FAILURES = 100
TOKEN_WINDOW = 60
#: how long the notes of which users' auth counts a process wrote are kept
#: (api/service.py): the other processes read them within half a second
AUTH_NOTES_SECONDS = 300

# Byte bounds of the caches (estimates of what CPython spends; README "Decisions").
VERIFIED_BYTES = 8 * 1024 * 1024  #: verified (name, password) HMACs, ~300 B each
PRINCIPAL_BYTES = 8 * 1024 * 1024  #: loaded callers with their roles
TOKEN_BYTES = 8 * 1024 * 1024  #: live tokens seen, ~420 B each
#: names' states kept with the store's change mark they were read at (~300 B each)
UNCHANGED_ENTRIES = 4096


def make_hasher(
    time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 4
) -> PasswordHasher:
    """An argon2id hasher; the defaults are RFC 9106's second recommended profile."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def token_hash(name: str, token: str) -> str:
    """The stored form of ``name``'s token ``token`` (``name`` canonical).

    Tokens are random (or at least 16 characters); a fast hash is enough to
    keep the stored form from being usable as a token.  The owner's name is
    part of it, so a token is its owner's alone: two accounts that choose the
    same string hold two tokens, and issuing one never has to say that the
    string is someone else's (which told any caller, for free, whether any
    account held a token it guessed: SPEC §2 rule 3).
    """
    return hashlib.sha256(f"{name}\0{token}".encode()).hexdigest()


# Every request with credentials names its user, and normalizing an address
# (IDNA and all) costs more than the rest of a cached credential check: memoize
# it, as a pure function of the string.  Bounded, so a spray of names cannot
# grow memory.
@lru_cache(maxsize=4096)
def _canonical(name: str) -> str:
    if "@" in name:
        return normalize_address(name) or name.lower()
    return name


@lru_cache(maxsize=4096)
def address_key(host: str | None) -> str:
    """What failed tokens are counted by: an IPv4 address, an IPv6 /64.

    One IPv6 client usually holds a whole /64 (SLAAC, privacy addresses), so
    counting single IPv6 addresses would give it 2^64 budgets.  A host that is
    not an IP address (a test client, a Unix socket) is counted by its text.
    """
    if not host:
        return "-"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def new_token() -> str:
    """A random token string (256 bits)."""
    return secrets.token_urlsafe(32)


def _made_by(p: Principal, hit: tuple[str, int, int, int | None] | None) -> Principal:
    """``p`` for one call with a cached token: naming the admin that made the
    token, if one did (a copy: the cached principal is the name's)."""
    return p if hit is None or hit[3] is None else replace(p, made_by=hit[3])


def _bad() -> OMAError:
    return OMAError(BAD_CREDENTIALS, "invalid credentials: unknown user or wrong password")


def _locked_out() -> OMAError:
    return OMAError(
        BAD_CREDENTIALS, "invalid credentials: too many failures for this user; try again later"
    )


def _busy() -> OMAError:
    # The same number as a bad password: the caller learns nothing about the
    # name, and an OMA client treats it as "try again later".
    return OMAError(
        BAD_CREDENTIALS, "invalid credentials: too many password checks at once; try again later"
    )


def _address_refused() -> OMAError:
    return OMAError(
        BAD_CREDENTIALS,
        "invalid credentials: too many failed tokens from this address; try again later",
    )


def _lower_priority() -> None:
    """Run this thread (and the threads argon2 starts from it) at a lower priority.

    argon2 with parallelism 4 keeps several cores busy; on Linux a nice value is
    per thread, so the event loop keeps the CPU it needs to answer token and
    cached callers at their usual latency while a flood of checks runs.
    """
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, 0, 10)


class PasswordChecks:
    """argon2 checks on their own threads: at most ``workers`` at once, identical
    ones shared, at most ``max_waiting`` waiting; past that :func:`_busy` at once.

    Used from the event loop only (its state is not locked).
    """

    def __init__(
        self, workers: int = MAX_CONCURRENT_CHECKS, max_waiting: int = DEFAULT_MAX_WAITING
    ) -> None:
        self.workers = workers
        self.max_waiting = max_waiting
        self._executor: ThreadPoolExecutor | None = None
        #: key -> the check every identical request awaits
        self._flights: dict[object, asyncio.Future[Principal]] = {}
        #: checks admitted and not finished (running or waiting)
        self.pending = 0
        #: checks refused because the queue was full (for tests and operators)
        self.refused = 0

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.workers,
                thread_name_prefix="mailtally-argon2",
                initializer=_lower_priority,
            )
        return self._executor

    async def run(self, key: object, fn: Callable[[], Principal]) -> Principal:
        """``fn()`` on a check thread, or the result of the identical check in flight."""
        flight = self._flights.get(key)
        if flight is None:
            if self.pending >= self.workers + self.max_waiting:
                self.refused += 1
                raise _busy()
            self.pending += 1
            loop = asyncio.get_running_loop()
            try:
                flight = loop.run_in_executor(self._pool(), fn)
            except RuntimeError:  # the pool was shut down under us (server stopping)
                self.pending -= 1
                raise _busy() from None
            self._flights[key] = flight
            flight.add_done_callback(lambda f: self._landed(key, f))
        # shield: a caller that goes away must not cancel the check others await
        return await asyncio.shield(flight)

    def _landed(self, key: object, flight: asyncio.Future[Principal]) -> None:
        self.pending -= 1
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # retrieved: no "never retrieved" warning if no one waits

    async def hash(self, hasher: PasswordHasher, password: str) -> str:
        """A new password's hash, on the same threads (so argon2 runs at most
        ``workers`` times at once, checks and hashes together).  Only callers
        allowed to set a password get here: it waits its turn, unbounded by the
        queue of checks."""
        return await asyncio.get_running_loop().run_in_executor(self._pool(), hasher.hash, password)

    def close(self) -> None:
        """Stop the threads (queued checks are cancelled); a later check starts new ones."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


def _principal_bytes(name: str, p: Principal) -> int:
    return str_bytes(name, p.name) + 600 + sum(250 + len(o) for _, o in p.roles)


class AuthState(NamedTuple):
    """What the store says of a name (and a client address) right now
    (:meth:`~mailtally.store.Queries.auth_state`)."""

    version: int  #: the name's credential version
    locked_until: int  #: the name's passwords are refused until then
    address_refused_until: int  #: the address's tokens are refused until then


class Authenticator:
    """Checks credentials and keeps the caches; thread-safe.

    Several processes may serve one store (``mailtally serve --workers N``, or
    API nodes on one database): what one of them learns that others must know
    is in the store (migration 0011), and what each keeps in memory is checked
    against it on every request by one point read (:meth:`state`; on SQLite
    none while the store's change mark has not moved, :meth:`_state_now`): the name's
    credential version (a cached password or token verified at another
    version is checked again) and its lockout.  Failures are written to the
    store, so a name's failures count together wherever they were sent.
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        hasher: PasswordHasher,
        max_failures: int = 10,
        window: int = 900,
        max_waiting: int = DEFAULT_MAX_WAITING,
    ) -> None:
        self.store = store
        self.clock = clock
        self.hasher = hasher
        self.max_failures = max_failures
        self.window = window
        self.token_failures = TOKEN_FAILURES
        self.token_window = TOKEN_WINDOW
        self._key = os.urandom(32)
        self._lock = threading.Lock()
        #: hmac(name, password) -> (canonical name, credential version it was verified at)
        self._verified: ByteLRU[bytes, tuple[str, int]] = ByteLRU(
            VERIFIED_BYTES, lambda k, v: str_bytes(k, v[0]) + 40, self._evicted
        )
        #: canonical name -> its HMACs in ``_verified`` (to forget them at once)
        self._by_name: dict[str, set[bytes]] = {}
        self._principals: ByteLRU[str, Principal] = ByteLRU(PRINCIPAL_BYTES, _principal_bytes)
        #: token hash -> (canonical name, expires, credential version, the
        #: account of the admin that made it or None: ``Principal.made_by``)
        self._tokens: ByteLRU[str, tuple[str, int, int, int | None]] = ByteLRU(
            TOKEN_BYTES, lambda k, v: str_bytes(k, v[0]) + 120
        )
        self.checks = PasswordChecks(max_waiting=max_waiting)
        #: (name, address) -> their state read in this turn of the event loop
        #: (:meth:`_state_now`); emptied at the next turn
        self._this_turn: dict[tuple[str, str | None], AuthState] = {}
        self._turn_loop: asyncio.AbstractEventLoop | None = None
        #: (name, address) -> (the store's change mark taken before it was read,
        #: its state): valid while the mark is the same (:meth:`_state_now`)
        self._unchanged: dict[tuple[str, str | None], tuple[bytes, AuthState]] = {}
        #: grows whenever cached principals may have gone stale (:meth:`forget`,
        #: :meth:`tree_changed`).  A read begun before such a change caches nothing.
        self._epoch = 0
        self._dummy = hasher.hash(secrets.token_hex(16))

    # -- caches ----------------------------------------------------------------
    def _mac(self, name: str, secret: str) -> bytes:
        # the name's length first: ("a\0b", "c") and ("a", "b\0c") are two pairs
        return hmac.digest(self._key, f"{len(name)}:{name}\0{secret}".encode(), "sha256")

    def _evicted(self, mac: bytes, value: tuple[str, int]) -> None:
        # (called under the cache's lock, itself taken under self._lock)
        macs = self._by_name.get(value[0])
        if macs is not None:
            macs.discard(mac)
            if not macs:
                del self._by_name[value[0]]

    def forget(self, name: str) -> None:
        """Drop every cached credential, token and principal of ``name`` (memory
        only: the store's credential version, which the change that calls this
        moved, makes every process check them again)."""
        name = _canonical(name)
        with self._lock:
            self._epoch += 1
            for mac in self._by_name.pop(name, ()):
                self._verified.pop(mac)
            self._principals.pop(name)
            self._tokens.drop_if(lambda _, v: v[0] == name)

    def tree_changed(self) -> None:
        """Roles or accounts changed: principals are loaded afresh."""
        with self._lock:
            self._epoch += 1
            self._principals.clear()

    def principal(self, name: str) -> Principal | None:
        p = self._principals.get(name)
        return self.fresh_principal(name) if p is None else p

    def fresh_principal(self, name: str) -> Principal | None:
        """The caller ``name`` as the store has it now (cached for the next
        request), never as this process remembers it.

        What a password or token is verified for, the slow way: that runs when
        the name's credential version moved, and that is all another process's
        delete tells this one before its next poll of the tree — the deleted
        account's password and roles stand in the store, soft-deleted, and its
        roles in this process's memory (found in review, session 13)."""
        epoch = self._epoch
        with self.store.read() as q:
            p = load_principal(q, name)
        if p is None:
            with self._lock:
                self._principals.pop(name)
        else:
            with self._lock:
                if self._epoch == epoch:
                    self._principals.put(name, p)
        return p

    def sweep(self) -> int:
        """Drop expired tokens (memory and store), and the store's failures and
        refusals that ran out.

        Run every minute by the service; returns how many entries were dropped
        from memory.
        """
        now = self.clock.now()
        dropped = self._tokens.drop_if(lambda _, v: v[1] < now)
        with self.store.write() as q:
            q.drop_expired_tokens(now)
            q.sweep_auth(now, self.window, self.token_window, AUTH_NOTES_SECONDS)
        return dropped

    def memory(self) -> dict[str, int]:
        """Entries and estimated bytes of each cache (for tests and operators)."""
        out: dict[str, int] = {}
        for label, lru in (
            ("verified", self._verified),
            ("principals", self._principals),
            ("tokens", self._tokens),
        ):
            out[f"{label}_entries"] = len(lru)
            out[f"{label}_bytes"] = lru.nbytes
        return out

    # -- what the store says of a name -------------------------------------------
    def state(self, name: str, address: str | None = None) -> AuthState:
        """The canonical ``name``'s credential version and lockout, and the
        refusal of the :func:`address_key` ``address`` (blocking: one read)."""
        with self.store.read() as q:
            return AuthState(*q.auth_state(name, address))

    async def _state_now(self, name: str, address: str | None) -> AuthState:
        """:meth:`state` from the event loop: in its own thread when the store can
        read without waiting (SQLite: a point read of some microseconds, less
        than two thread hops), else on the store's threads."""

        key = (name, address)
        # Where the store has a change mark (SQLite: its WAL index, shared by
        # every process), a state read when the mark was what it is now is
        # still the store's: nothing was committed since, anywhere.  The mark
        # is taken before the read, so a commit between the two only makes
        # the next request read again.
        mark = self.store.change_mark()
        if mark is not None:
            seen = self._unchanged.get(key)
            if seen is not None and seen[0] == mark:
                return seen[1]
        loop = asyncio.get_running_loop()
        if self._turn_loop is loop:
            hit = self._this_turn.get(key)
            if hit is not None:
                return hit

        def read(q: Queries) -> AuthState:
            return AuthState(*q.auth_state(name, address))

        try:
            state = self.store.read_now(read, single=True)  # (one statement)
        except StoreBusy:
            return await self.store.reading(read)
        if mark is not None:
            if len(self._unchanged) >= UNCHANGED_ENTRIES:
                self._unchanged.clear()  # (a commit makes every entry stale anyway)
            self._unchanged[key] = (mark, state)
        # Kept for the rest of this turn of the event loop only: every request
        # handled in it arrived before the turn began (the loop polls its
        # sockets between turns), so before this read, which therefore says
        # what the store said after each of them arrived (a change committed
        # before a request was sent is seen).  Under load one turn handles
        # many requests: one read serves every one of the same name.
        if self._turn_loop is not loop or not self._this_turn:
            # (a new dict: one a stopped loop never emptied is not looked at)
            self._this_turn, self._turn_loop = {}, loop
            loop.call_soon(self._this_turn.clear)
        self._this_turn[key] = state
        return state

    def _fail(self, kind: str, key: str, now: int) -> None:
        """Count a failure in the store (kind 'n': a name's password, 'a': an
        address's token); a store that cannot take it is logged, not fatal."""
        limit, window = (
            (self.max_failures, self.window)
            if kind == "n"
            else (self.token_failures, self.token_window)
        )
        try:
            with self.store.write() as q:
                q.auth_fail(kind, key, now, limit, window)
        except Exception:
            log.exception("could not count a failed %s", "password" if kind == "n" else "token")

    # -- checks ------------------------------------------------------------------
    def loaded(self, name: str) -> Principal | None:
        """The principal of ``name`` if it is in memory (no I/O)."""
        return self._principals.get(name)

    def reload(self, name: str) -> Principal:
        """The principal of a caller whose credentials were found in the caches —
        after a tree change emptied the principals, a store read, not another
        argon2 check."""
        p = self.principal(name)
        if p is None:  # deleted meanwhile
            raise _bad()
        return p

    def _cached(
        self, name: str, password: str | None, token: str | None, state: AuthState, now: int
    ) -> bool:
        """Were these credentials verified before, at the name's current version
        (no I/O)?"""
        if password is not None:
            return self._verified.get(self._mac(name, password)) == (name, state.version)
        return token is not None and self._token_hit(name, token, state, now) is not None

    def _token_hit(
        self, name: str, token: str, state: AuthState, now: int
    ) -> tuple[str, int, int, int | None] | None:
        """The cache's entry of a token verified before, at the name's current
        version and not expired (no I/O); None if there is none."""
        hit = self._tokens.get(token_hash(name, token))
        if hit is not None and hit[0] == name and hit[1] >= now and hit[2] == state.version:
            return hit
        return None

    async def check(
        self, name: str, password: str | None, token: str | None, address: str | None = None
    ) -> Principal:
        """The caller, checked the cheapest way that is sound (from the event loop).

        One point read of the name's state (:meth:`state`) always; then cached
        credentials and tokens cost no more (or a store read in the shared
        thread pool after a tree change); an unknown token a store read in the
        shared pool; an unknown password a place in :attr:`checks`.
        """
        canonical = _canonical(name)
        by_token = password is None and token is not None
        addr = address_key(address) if by_token and address is not None else None
        state = await self._state_now(canonical, addr)
        now = self.clock.now()
        if by_token:
            # No lockout check: the lockout is for password guessing, and anyone
            # may send ten wrong passwords for a name; a valid token (which
            # proves its holder logged in) keeps working through it (SPEC §2
            # rule 4).  Failed tokens count against the client address.
            if addr is not None and state.address_refused_until > now:
                raise _address_refused()
            assert token is not None
            hit = self._token_hit(canonical, token, state, now)
            if hit is not None:
                # (the entry, not a second look-up: it names the token's maker)
                p = self.loaded(canonical) or await run_in_threadpool(self.reload, canonical)
                return _made_by(p, hit)
            return await run_in_threadpool(self.verify_token, canonical, token, address)
        # a locked name's passwords are refused, even one verified before (SPEC §1)
        if state.locked_until > now:
            raise _locked_out()  # at once: a locked name costs no argon2 check
        if self._cached(canonical, password, None, state, now):
            return self.loaded(canonical) or await run_in_threadpool(self.reload, canonical)
        # Identical concurrent requests share one check; one begun before a
        # password change (here or anywhere: the version) or a tree change is
        # not joined (it may have read the old state).
        key = (self._mac(canonical, password or ""), self._epoch, state.version)
        return await self.checks.run(key, lambda: self.verify_password(canonical, password))

    async def hash_password(self, password: str) -> str:
        """The stored form of a new password (argon2id), on the argon2 threads."""
        return await self.checks.hash(self.hasher, password)

    def verify(
        self, name: str, password: str | None, token: str | None, address: str | None = None
    ) -> Principal:
        """Check credentials the slow way (store, argon2) in this thread; raises error 1."""
        if token is not None and password is None:
            return self.verify_token(name, token, address)
        return self.verify_password(name, password)

    def verify_password(self, name: str, password: str | None) -> Principal:
        """A password against the stored hash (blocking: argon2); raises error 1."""
        name = _canonical(name)
        now = self.clock.now()
        epoch = self._epoch
        stored: str | None = None
        with self.store.read() as q:
            # the version in the same snapshot as the hash: what is cached
            # below stands exactly as long as that hash does
            version, locked, _ = q.auth_state(name)
            if locked <= now:
                if "@" in name:
                    found = q.resolve_address(name)
                    if found is not None and not found[3]:
                        stored = q.user_by_id(found[0])[4]
                else:
                    op = q.operator(name)
                    stored = op[1] if op else None
        if locked > now:
            raise _locked_out()
        ok = False
        try:
            ok = self.hasher.verify(stored or self._dummy, password or "")
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        ok = ok and stored is not None
        p = self.fresh_principal(name) if ok else None
        if p is None:
            self._fail("n", name, now)
            raise _bad()
        mac = self._mac(name, password or "")
        with self._lock:
            if self._epoch == epoch:
                self._verified.put(mac, (name, version))
                if mac in self._verified:
                    self._by_name.setdefault(name, set()).add(mac)
        return p

    def verify_token(self, name: str, token: str, address: str | None = None) -> Principal:
        """A token against the store (blocking: one read); raises error 1.

        A failure counts against the client ``address``, never against ``name``.
        """
        name = _canonical(name)
        now = self.clock.now()
        addr = address_key(address) if address is not None else None
        h = token_hash(name, token)
        epoch = self._epoch
        with self.store.read() as q:
            version, _, refused = q.auth_state(name, addr)
            row = q.token(h)
            made_by = q.token_made_by(h) if row is not None and row[2] != "sso" else None
        if addr is not None and refused > now:
            raise _address_refused()
        if row is not None and row[2] == "sso":
            # Good for one call: taken in the store, by one DELETE, so that of
            # any number of calls racing for it (in any number of processes)
            # exactly one gets it.  Never kept in memory.
            with self.store.write() as q:
                row = q.consume_token(h, now)
            p = self.fresh_principal(name) if row is not None and row[0] == name else None
            if p is None:
                if addr is not None:
                    self._fail("a", addr, now)
                raise _bad()
            assert row is not None
            # (a copy for this call only: the cached principal is the name's)
            return p if row[2] is None else replace(p, made_by=int(row[2]))
        p = None
        if row is not None and row[0] == name and row[1] >= now:
            p = self.fresh_principal(name)
        if p is None:
            if row is not None and row[1] < now:
                self._tokens.pop(h)
            if addr is not None:
                self._fail("a", addr, now)
            raise _bad()
        with self._lock:
            if self._epoch == epoch:
                self._tokens.put(h, (row[0], int(row[1]), version, made_by))
        # (a copy for this call only: the cached principal is the name's)
        return p if made_by is None else replace(p, made_by=made_by)

    def issue_token(self, p: Principal, duration: int, token: str | None = None) -> tuple[str, int]:
        """Store a session token for ``p``; returns (token, duration).

        A session token issued to a caller that came with a token an admin made
        (generate_token, an ``sso`` spent on this call included: ``p.made_by``,
        set by :meth:`check`) names the same maker, so that it goes when that
        maker loses its rights, as the token it came from does: without it two
        calls (make a token for an account, exchange it for a session, renewed
        the same way at will) kept an admin's power over an account after the
        admin was demoted or deleted (found in session 15).
        """
        token = token or new_token()
        expires = self.clock.now() + duration
        h = token_hash(p.name, token)
        with self.store.write() as q:
            q.drop_expired_tokens(self.clock.now())
            made_by = p.made_by
            q.add_token(h, p.company_id, p.name, expires, "session", p.user_id, made_by)
            version = q.auth_state(p.name)[0]
        with self._lock:
            self._tokens.put(h, (p.name, expires, version, made_by))
        return token, duration


class AuthCounter:
    """``logins.auth_password|auth_token`` counted in memory, flushed as events.

    The API must not write to the database per request; :meth:`drain` hands the
    counts over (the app flushes them at least once a second).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, int], list[int]] = {}

    def add(self, user: str, method: str, now: int) -> None:
        # Keyed by 15-minute bucket so that every count keeps a time inside its
        # own period (every modern zone offset is a multiple of 15 minutes).
        key = (user, method, now // 900)
        with self._lock:
            hit = self._counts.get(key)
            if hit is None:
                self._counts[key] = [1, now]
            else:
                hit[0] += 1

    def drain(self) -> list[ApiAuth]:
        with self._lock:
            counts, self._counts = self._counts, {}
        return [
            ApiAuth(time=t, user=user, method=method, count=n)  # type: ignore[arg-type]
            for (user, method, _), (n, t) in counts.items()
        ]


# -- tokens made by admins (generate_token) and logging out (logout_user) ----------
#: kinds of token generate_token makes: ``oma`` and ``session`` act as the
#: account until they expire, ``sso`` for one call
TOKEN_KINDS = ("oma", "session", "sso")
DEFAULT_GENERATED_HOURS = 24
MAX_GENERATED_HOURS = 168


def do_generate_token(
    ctx: Ctx, name: str, reason: str, hours: int, token: str | None, kind: str
) -> tuple[Target, str]:
    """An API token that acts as the account ``name``, made by an admin whose
    scope holds it; (the account, the token).

    Scope (2), then the right to make tokens for the account and every role it
    holds (isolation rule 1, error 4): a token is the account's power, so no
    one makes one for an account that holds more than it does.  An alias is
    error 3; a soft-deleted account logs in with nothing (error 4).
    """
    t = user_for_change(ctx, name, Action.MAKE_TOKEN, "make tokens for")
    assert t.state is not None
    if t.state.deletetime is not None:
        raise OMAError(FORBIDDEN, f"user '{t.name}' is deleted; restore it first")
    token = token or new_token()
    expires = ctx.now + hours * 3600
    ctx.q.drop_expired_tokens(ctx.now)
    h = token_hash(t.name, token)
    if ctx.q.token(h) is not None:
        # A chosen string that is already one of the account's tokens: its row is
        # made again as asked (kind, expiry), and every process, which may hold the
        # old one in memory (a session token is kept; an sso must never be), reads
        # the account's tokens again at its next request (found in review,
        # session 13: an sso made over a live session token was good many times).
        ctx.q.bump_credentials(t.name)
    # (the maker is named: its tokens go when it loses the rights it made them with,
    # migration 0016.  A caller that came with a token an admin made acts for that
    # admin, who holds the new token too: it is named, or a token made through its
    # token outlived its demotion; found in session 15's review.)
    made_by = ctx.actor.made_by if ctx.actor.made_by is not None else ctx.actor.user_id
    ctx.q.add_token(h, t.company_id, t.name, expires, kind, t.id, made_by)
    ctx.audit(
        t.company_id,
        "generate_token",
        t.name,
        {"type": kind, "reason": reason, "duration": hours},
        "user",
        t.id,
    )
    return t, token


def do_logout_user(ctx: Ctx, name: str) -> Target:
    """End every token of the account (a user may log itself out; an admin
    any account whose roles lie inside its own rights, isolation rule 1)."""
    t = user_for_change(ctx, name, Action.LOGOUT, "log out")
    dropped = ctx.q.drop_tokens_of(t.name, t.id)
    ctx.audit(t.company_id, "logout_user", t.name, {"tokens": dropped}, "user", t.id)
    return t
