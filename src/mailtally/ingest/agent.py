"""Agent mode: ``mailtally ingest --to https://api-host/ --source NAME``.

For a mail server that must not hold the store's credentials.  The agent reads
and joins its logs with the same code as a direct ingester (:class:`Ingester`:
files known by content, rotation, following, the compiled parser and joiner) and
posts the events with ``ingest_events`` instead of writing them to a store.

Exactly once
============

Its positions and joiner state are kept in a local file (:class:`AgentState`,
``agent-NAME.json`` in ``[agent] state_dir``), replaced atomically (written
beside it, fsynced, renamed).  A commit is:

1. the batch — its ``batch_id``, its events, and the positions and joiner state
   *after* it — is written to that file (the journal), before anything is sent;
2. it is posted (in parts of at most POST_EVENTS events, ``ID.1``, ``ID.2`` …)
   until the server has acknowledged every part (``duplicate: true`` is an
   acknowledgement: the part was counted before);
3. the file is written again without the batch: the positions and joiner state
   after it are now the agent's.

Killed at any moment, the agent restarts either before 1 (the lines are read
again, and their batch, never sent, gets an id from their positions) or after 1
(the journalled batch is sent again with the same id and the same content, which
the server counts at most once).  A ``batch_id`` is the source, the files and
their positions (``mx1/3f2a9c41be07:0-81920``): unique as long as the source
name is.  Network errors, timeouts and 5xx answers are retried with backoff,
forever (the logs wait on disk); an authentication error stops the agent.

The tree
========

The joiner credits a receipt to the account an address reaches (an alias, a
catch-all), and the store counts only addresses of the tree.  The agent asks
``ingest_tree`` for the caller's domains and addresses (with each one's
account), once at start and — like a direct ingester's ``tree_version`` check —
before each batch's first lines (answered "unchanged" in a few bytes while the
tree stays the same), so that it joins and filters exactly as ``mailtally ingest``
would: events of addresses outside the tree are not sent (``ingest_events``
would refuse the whole batch).  An address deleted between that check and the
post makes the server refuse the batch (error 6): the agent learns the tree
again, leaves out what is no longer in it, and posts again under the same id
(never counted before, so no content was counted under it).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import ssl
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from mailtally.config import Site
from mailtally.events import Event, MessageDenied
from mailtally.ingest.files import Ingester
from mailtally.periods import Periods

__all__ = ["AgentStopped", "ApiClient", "AuthFailed", "RefusedError", "agent_state_path"]

#: events per ``ingest_events`` request: ~100 bytes of JSON each, far below its 32 MiB
POST_EVENTS = 20_000
#: seconds an answer may take (a large batch is counted in one transaction)
TIMEOUT = 120.0
#: backoff after a network error or a 5xx: doubling from FIRST to at most LAST seconds
BACKOFF_FIRST = 0.2
BACKOFF_LAST = 30.0
#: seconds a session token is asked for (renewed with the password when refused)
TOKEN_SECONDS = 86_400
STATE_VERSION = 1
BATCH_ID_MAX = 128
_AUTH = 1  # error_number: bad credentials
_BAD_ATTRIBUTE = 6


class AgentStopped(Exception):
    """Asked to stop while a batch was still unacknowledged: it stays journalled,
    and is sent again at the next start."""


class AuthFailed(Exception):
    """The API refused the agent's credentials: retrying would only lock the name."""


class RefusedError(Exception):
    """The API refused a request for a reason retrying will not change."""

    def __init__(
        self, message: str, number: int | None = None, hints: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.number = number
        self.hints = hints or {}


class _Transient(Exception):
    """A network fault, a timeout, or a 5xx: worth trying again."""


def agent_state_path(state_dir: str | Path, source: str) -> Path:
    """The agent's local state file for ``source``."""
    return Path(state_dir) / f"agent-{source}.json"


class ApiClient:
    """``POST /api/<method>`` on one mailtally server, with a session token.

    The password is sent once (``authenticate``), then the token it gave; a
    refused token is renewed with the password, and a refused password raises
    :class:`AuthFailed`.
    """

    def __init__(
        self,
        url: str,
        user: str,
        password: str,
        client: str = "mailtally-agent",
        ca_file: str | None = None,
        timeout: float = TIMEOUT,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"--to {url!r}: an http:// or https:// URL of a mailtally server")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.base = parts.path.rstrip("/") + "/api/"
        self.user = user
        self.password = password
        self.client = client
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=ca_file) if self.https else None
        self.token: str | None = None
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _post(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        """One request; :class:`_Transient` for what may succeed if tried again."""
        data = msgspec.json.encode(body)
        try:
            if self._conn is None:
                if self.https:
                    self._conn = http.client.HTTPSConnection(
                        self.host, self.port, timeout=self.timeout, context=self.context
                    )
                else:
                    self._conn = http.client.HTTPConnection(
                        self.host, self.port, timeout=self.timeout
                    )
            self._conn.request(
                "POST", self.base + method, data, {"Content-Type": "application/json"}
            )
            response = self._conn.getresponse()
            status, raw = response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            # refused, reset, closed before the answer, timed out: the request may
            # or may not have been counted; the same batch_id will tell
            self.close()
            raise _Transient(f"{type(exc).__name__}: {exc}") from None
        if status >= 500:
            self.close()
            raise _Transient(f"HTTP {status}")
        try:
            answer = json.loads(raw)
        except ValueError:
            raise RefusedError(f"{method}: HTTP {status}, not a JSON answer") from None
        if status != 200 or not isinstance(answer, dict):
            raise RefusedError(f"{method}: HTTP {status}: {answer}")
        return answer

    def _login(self) -> None:
        answer = self._post(
            "authenticate",
            {
                "credentials": self._credentials(password=True),
                "generate_session_token": True,
                "session_token_duration": TOKEN_SECONDS,
            },
        )
        if not answer.get("success"):
            raise AuthFailed(
                f"the API at {self.host} refused the agent's user {self.user!r}: "
                f"{answer.get('error')} (check [agent] user and password)"
            )
        self.token = str(answer["session_token"])

    def _credentials(self, password: bool = False) -> dict[str, str]:
        if password or self.token is None:
            return {"user": self.user, "password": self.password, "client": self.client}
        return {"user": self.user, "token": self.token, "client": self.client}

    def call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        """The successful answer of ``method``; RefusedError / AuthFailed / _Transient."""
        for _attempt in range(2):
            if self.token is None:
                self._login()
            answer = self._post(method, {**body, "credentials": self._credentials()})
            if answer.get("success"):
                return answer
            if answer.get("error_number") == _AUTH and self.token is not None:
                self.token = None  # expired or ended: once more with the password
                continue
            if answer.get("error_number") == _AUTH:
                raise AuthFailed(f"{method}: {answer.get('error')}")
            raise RefusedError(
                f"{method}: {answer.get('error')}",
                answer.get("error_number"),
                answer.get("hints"),
            )
        raise AuthFailed(f"{method}: the API refused a fresh session token")


@dataclass(slots=True)
class AgentState:
    """What the local state file holds (module docstring)."""

    #: (id, path, device, inode, head_hash, head_len, position, lines) of each file
    files: list[list[Any]]
    joiner: Any
    #: the journalled batch, not yet acknowledged: {"id": ..., "events": [...]}
    batch: dict[str, Any] | None = None

    @classmethod
    def load(cls, path: Path, source: str) -> AgentState | None:
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        if data.get("version") != STATE_VERSION or data.get("source") != source:
            raise ValueError(f"{path}: not the agent state of source {source!r}")
        return cls(files=data["files"], joiner=data["joiner"], batch=data.get("batch"))

    def save(self, path: Path, source: str) -> None:
        """Replace the file atomically and durably (a power cut leaves the old or the new)."""
        body = msgspec.json.encode(
            {
                "version": STATE_VERSION,
                "source": source,
                "files": self.files,
                "joiner": self.joiner,
                "batch": self.batch,
            }
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _rfc3339(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def event_json(ev: Event) -> dict[str, Any]:
    """An event as ``ingest_events`` takes it (SPEC §7)."""
    kind = type(ev).__name__
    t = _rfc3339(ev.time)
    if isinstance(ev, MessageDenied):
        return {"time": t, "kind": "message_denied", "recipient": ev.recipient}
    out: dict[str, Any] = {"time": t, "user": ev.user}  # type: ignore[union-attr]
    if kind == "MessageIn":
        out.update(kind="message_in", size=ev.size, spam=ev.spam)  # type: ignore[union-attr]
    elif kind == "MessageOut":
        out.update(kind="message_out", recipients=ev.recipients, size=ev.size)  # type: ignore[union-attr]
    elif kind == "Forward":
        out["kind"] = "forward"
    elif kind == "Autoresponse":
        out["kind"] = "autoresponse"
    elif kind == "Login":
        out.update(kind="login", service=ev.service)  # type: ignore[union-attr]
    elif kind == "StorageReport":
        out.update(kind="storage", items=ev.items, bytes=ev.bytes)  # type: ignore[union-attr]
    else:
        raise ValueError(f"no ingest_events kind for {kind}")
    return out


class Agent(Ingester):
    """An :class:`Ingester` whose commits are posted to a mailtally server."""

    def __init__(
        self,
        api: ApiClient,
        state_path: str | Path,
        periods: Periods,
        site: Site | None = None,
        batch_lines: int | None = None,
        compiled: bool | None = None,
        source: str = "default",
        should_stop: Callable[[], bool] = lambda: False,
        log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr),
    ) -> None:
        self.api = api
        self.state_path = Path(state_path)
        self.should_stop = should_stop
        self.log = log
        self._tree_version: int | None = None
        self._owners: dict[str, str] = {}
        self._domains = frozenset()
        self._journal: AgentState | None = None
        kwargs: dict[str, Any] = {"compiled": compiled, "source": source}
        if batch_lines is not None:
            kwargs["batch_lines"] = batch_lines
        super().__init__(None, periods, site, **kwargs)  # type: ignore[arg-type]
        if self._journal is not None and self._journal.batch is not None:
            # killed after journalling a batch: it goes first, under its own id
            self.report.events += self._deliver(self._journal)

    # -- what a direct ingester reads from its store ---------------------------
    def _load(self) -> str | None:
        state = AgentState.load(self.state_path, self.source)
        self._known = [] if state is None else [tuple(row) for row in state.files]
        self._journal = state
        self._learn_tree(None)  # type: ignore[arg-type]
        return None if state is None else json.dumps(state.joiner)

    def _learn_tree(self, q: Any) -> None:
        body = {"version": self._tree_version}
        answer = self._retrying(lambda: self.api.call("ingest_tree", body))
        if not answer["changed"]:
            return
        self._tree_version = int(answer["version"])
        self._domains = frozenset(answer["domains"])
        self._owners = {a: own for a, own in answer["addresses"]}

    def _check_tree(self) -> None:
        before = self._tree_version
        self._learn_tree(None)
        if self._tree_version != before:
            self.joiner.clear_resolve_cache()
        self._tree_checked = True

    def _resolve(self, address: str) -> str | None:
        """As the store's resolver with the whole tree read (Resolver.canonical)."""
        return self._owners.get(address.lower())

    def _in_tree(self, ev: Event) -> bool:
        """Would the store count it (record_events), rather than ignore it?"""
        if type(ev) is MessageDenied:
            r = ev.recipient.lower()
            return r in self._owners or r.rpartition("@")[2] in self._domains
        return ev.user.lower() in self._owners  # type: ignore[union-attr]

    # -- committing ------------------------------------------------------------
    def commit(self) -> None:
        """Journal the batch with the state after it, post it until acknowledged,
        then make that state the agent's (module docstring).

        What is in memory moves on once the batch is journalled: a batch whose
        posting was cut short (stopped, refused) is posted before any other, so
        that no two batches ever cover the same lines."""
        if self._journal is not None and self._journal.batch is not None:
            self._deliver(self._journal)
        touched = list(self._touched.values())
        known = {int(row[0]): list(row) for row in self._known}
        next_id = max(known, default=0) + 1
        ranges = []
        ids = []
        for src in touched:
            file_id = src.file_id
            if file_id is None:
                file_id, next_id = next_id, next_id + 1
            before = known.get(file_id)
            start = 0 if before is None else int(before[6])
            ranges.append(f"{(before[4] if before else src.head_hash)[:12]}:{start}-{src.position}")
            self._refresh_head(src)
            known[file_id] = [
                file_id, src.path, src.device, src.inode,
                src.head_hash, src.head_len, src.position, src.lines,
            ]  # fmt: skip
            ids.append(file_id)
        counted: list[dict[str, Any]] = []
        outside = 0
        for ev in self._pending:
            if self._in_tree(ev):
                counted.extend([event_json(ev)] * getattr(ev, "count", 1))
            else:
                outside += getattr(ev, "count", 1)
        state = AgentState(
            files=[known[k] for k in sorted(known)], joiner=self.joiner.state(), batch=None
        )
        if counted:
            state.batch = {"id": self._batch_id(ranges), "events": counted}
        state.save(self.state_path, self.source)  # the journal (or, no batch, the commit)
        self._journal = state
        for src, file_id in zip(touched, ids, strict=True):
            src.file_id = file_id
        self._known = [tuple(row) for row in state.files]
        self._committed(0, outside)
        if counted:
            self.report.events += self._deliver(state)

    def _batch_id(self, ranges: list[str]) -> str:
        """The source, the files and their positions: the same lines, the same id."""
        what = "+".join(ranges)
        if len(self.source) + 1 + len(what) > BATCH_ID_MAX:
            what = hashlib.sha256(what.encode()).hexdigest()[:40]
        return f"{self.source}/{what}"

    def _deliver(self, state: AgentState) -> int:
        """Post the journalled batch until every part is acknowledged; then the
        state after it is the agent's (written without the batch).  Events counted."""
        batch = state.batch
        assert batch is not None
        accepted = 0
        events: list[dict[str, Any]] = batch["events"]
        for part, at in enumerate(range(0, len(events), POST_EVENTS), 1):
            accepted += self._post_part(f"{batch['id']}.{part}", events[at : at + POST_EVENTS])
        state.batch = None
        state.save(self.state_path, self.source)
        return accepted

    def _post_part(self, batch_id: str, events: list[dict[str, Any]]) -> int:
        while True:
            body = {"batch_id": batch_id, "events": events}
            try:
                answer = self._retrying(lambda: self.api.call("ingest_events", body))  # noqa: B023
                return int(answer["accepted"])
            except RefusedError as exc:
                if exc.number != _BAD_ATTRIBUTE or not exc.hints:
                    raise
                # the tree changed since the check (an account deleted): counted
                # nothing, so this id never counted anything; post what is still
                # counted, as a direct ingester's commit would count it
                self._learn_tree(None)
                bad = {int(k[7:].split("]")[0]) for k in exc.hints if k.startswith("events[")}
                kept = [e for i, e in enumerate(events) if i not in bad]
                kept = [e for e in kept if self._json_in_tree(e)]
                if len(kept) == len(events):
                    raise
                self.log(f"batch {batch_id}: {len(events) - len(kept)} events left out: {exc}")
                self.report.outside_tree += len(events) - len(kept)
                events = kept
                if not events:
                    return 0

    def _json_in_tree(self, e: dict[str, Any]) -> bool:
        if e["kind"] == "message_denied":
            r = str(e["recipient"]).lower()
            return r in self._owners or r.rpartition("@")[2] in self._domains
        return str(e["user"]).lower() in self._owners

    def _retrying(self, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """``call()`` until it is answered: network faults and 5xx are retried with
        backoff (the request is the same each time, so a retried batch is the same
        batch); AuthFailed and RefusedError go up."""
        wait = BACKOFF_FIRST
        while True:
            try:
                return call()
            except _Transient as exc:
                if self.should_stop():
                    raise AgentStopped(f"stopped while retrying: {exc}") from None
                self.log(f"{exc}; again in {wait:.1f} s")
                time.sleep(wait)
                wait = min(wait * 2, BACKOFF_LAST)
