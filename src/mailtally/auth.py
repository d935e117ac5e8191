"""Credentials: passwords, the verified-credential cache, tokens and lockout.

OMA clients send the password with *every* request, and an argon2id check costs
tens of milliseconds by design.  So a (name, password) pair that verified once
is remembered in memory — under an HMAC with a per-process key, so the cache
never holds a password or anything that would verify one elsewhere — and a
repeat costs microseconds.  The cache forgets every pair of a name the moment
its password changes or the account is deleted (:meth:`Authenticator.forget`).

An unknown name and a wrong password take the same path — an argon2 check,
against a dummy hash when there is no real one — and get the same answer.
After ``max_failures`` failures for one name within ``window`` seconds the name
is refused for ``window`` seconds, whatever it sends.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from collections import deque
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from mailtally.errors import BAD_CREDENTIALS, BAD_REQUEST, OMAError
from mailtally.events import ApiAuth
from mailtally.periods import Clock
from mailtally.store import Store
from mailtally.tree import Principal, load_principal, normalize_address

__all__ = ["AuthCounter", "Authenticator", "make_hasher", "token_hash"]

DEFAULT_TOKEN_DURATION = 10800
MAX_TOKEN_DURATION = 86400


def make_hasher(
    time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 4
) -> PasswordHasher:
    """An argon2id hasher; the defaults are RFC 9106's second recommended profile."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def token_hash(token: str) -> str:
    # Tokens are random (or at least 16 characters); a fast hash is enough to
    # keep the stored form from being usable as a token.
    return hashlib.sha256(token.encode()).hexdigest()


# Every request with credentials names its user, and normalizing an address
# (IDNA and all) costs more than the rest of a cached credential check: memoize
# it, as a pure function of the string.  Bounded, so a spray of names cannot
# grow memory.
@lru_cache(maxsize=4096)
def _canonical(name: str) -> str:
    if "@" in name:
        return normalize_address(name) or name.lower()
    return name


@dataclass(slots=True)
class _Failures:
    times: deque[int]
    locked_until: int = 0


def _bad() -> OMAError:
    return OMAError(BAD_CREDENTIALS, "invalid credentials: unknown user or wrong password")


class Authenticator:
    """Checks credentials and keeps the caches; thread-safe."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        hasher: PasswordHasher,
        max_failures: int = 10,
        window: int = 900,
    ) -> None:
        self.store = store
        self.clock = clock
        self.hasher = hasher
        self.max_failures = max_failures
        self.window = window
        self._key = os.urandom(32)
        self._lock = threading.Lock()
        self._verified: dict[bytes, str] = {}  # hmac(name, password) -> name
        self._by_name: dict[str, set[bytes]] = {}
        self._principals: dict[str, Principal] = {}
        self._tokens: dict[str, tuple[str, int]] = {}  # token hash -> (name, expires)
        self._failures: dict[str, _Failures] = {}
        #: grows whenever cached credentials or principals may have gone stale
        #: (:meth:`forget`, :meth:`tree_changed`).  A check that read the store
        #: before such a change caches nothing: it may have read the old state.
        self._epoch = 0
        self._dummy = hasher.hash(secrets.token_hex(16))

    # -- caches ----------------------------------------------------------------
    def _mac(self, name: str, secret: str) -> bytes:
        return hmac.digest(self._key, f"{name}\0{secret}".encode(), "sha256")

    def forget(self, name: str) -> None:
        """Drop every cached credential, token and principal of ``name``."""
        name = _canonical(name)
        with self._lock:
            self._epoch += 1
            for mac in self._by_name.pop(name, ()):
                self._verified.pop(mac, None)
            self._principals.pop(name, None)
            for h in [h for h, (n, _) in self._tokens.items() if n == name]:
                del self._tokens[h]

    def tree_changed(self) -> None:
        """Roles or accounts changed: principals are loaded afresh."""
        with self._lock:
            self._epoch += 1
            self._principals.clear()

    def principal(self, name: str) -> Principal | None:
        p = self._principals.get(name)
        if p is None:
            epoch = self._epoch
            with self.store.read() as q:
                p = load_principal(q, name)
            if p is not None:
                with self._lock:
                    if self._epoch == epoch:
                        self._principals[name] = p
        return p

    # -- lockout -----------------------------------------------------------------
    def _locked(self, name: str, now: int) -> bool:
        f = self._failures.get(name)
        return f is not None and f.locked_until > now

    def _fail(self, name: str, now: int) -> None:
        with self._lock:
            if len(self._failures) > 100_000:  # a spray of names must not grow memory
                self._failures = {
                    n: f
                    for n, f in self._failures.items()
                    if f.locked_until > now or (f.times and f.times[-1] > now - self.window)
                }
            f = self._failures.setdefault(name, _Failures(deque()))
            f.times.append(now)
            while f.times and f.times[0] <= now - self.window:
                f.times.popleft()
            if len(f.times) >= self.max_failures:
                f.locked_until = now + self.window
                f.times.clear()

    # -- checks ------------------------------------------------------------------
    def verified(self, name: str, password: str | None, token: str | None) -> str | None:
        """The caller's canonical name if these credentials verified before and still
        stand (no I/O), else None: then :meth:`verify` must check them."""
        name = _canonical(name)
        now = self.clock.now()
        if self._locked(name, now):
            return None
        if password is not None:
            if self._verified.get(self._mac(name, password)) != name:
                return None
        elif token is not None:
            hit = self._tokens.get(token_hash(token))
            if hit is None or hit[0] != name or hit[1] < now:
                return None
        else:
            return None
        return name

    def loaded(self, name: str) -> Principal | None:
        """The principal of ``name`` if it is in memory (no I/O)."""
        return self._principals.get(name)

    def reload(self, name: str) -> Principal:
        """The principal of a caller whose credentials :meth:`verified` — after a tree
        change emptied the principals, a store read, not another argon2 check."""
        p = self.principal(name)
        if p is None:  # deleted meanwhile
            raise _bad()
        return p

    def verify(self, name: str, password: str | None, token: str | None) -> Principal:
        """Check credentials the slow way (store, argon2); raises error 1."""
        name = _canonical(name)
        now = self.clock.now()
        if self._locked(name, now):
            raise OMAError(
                BAD_CREDENTIALS,
                "invalid credentials: too many failures for this user; try again later",
            )
        if token is not None and password is None:
            return self._verify_token(name, token, now)
        epoch = self._epoch
        stored: str | None = None
        with self.store.read() as q:
            if "@" in name:
                found = q.resolve_address(name)
                if found is not None and not found[3]:
                    stored = q.user_by_id(found[0])[4]
            else:
                op = q.operator(name)
                stored = op[1] if op else None
        ok = False
        try:
            ok = self.hasher.verify(stored or self._dummy, password or "")
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        ok = ok and stored is not None
        p = self.principal(name) if ok else None
        if p is None:
            self._fail(name, now)
            raise _bad()
        mac = self._mac(name, password or "")
        with self._lock:
            if self._epoch == epoch:
                self._verified[mac] = name
                self._by_name.setdefault(name, set()).add(mac)
        return p

    def _verify_token(self, name: str, token: str, now: int) -> Principal:
        h = token_hash(token)
        epoch = self._epoch
        with self.store.read() as q:
            row = q.token(h)
        if row is None or row[0] != name or row[1] < now:
            self._fail(name, now)
            raise _bad()
        p = self.principal(name)
        if p is None:
            self._fail(name, now)
            raise _bad()
        with self._lock:
            if self._epoch == epoch:
                self._tokens[h] = (row[0], int(row[1]))
        return p

    def issue_token(self, p: Principal, duration: int, token: str | None = None) -> tuple[str, int]:
        """Store a session token for ``p``; returns (token, duration)."""
        token = token or secrets.token_urlsafe(32)
        expires = self.clock.now() + duration
        h = token_hash(token)
        with self.store.write() as q:
            existing = q.token(h)
            if existing is not None and existing[0] != p.name and existing[1] >= self.clock.now():
                raise OMAError(
                    BAD_REQUEST, "that token is already in use; choose another", {"token": "taken"}
                )
            q.drop_expired_tokens(self.clock.now())
            q.add_token(h, p.company_id, p.name, expires)
        with self._lock:
            self._tokens[h] = (p.name, expires)
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
