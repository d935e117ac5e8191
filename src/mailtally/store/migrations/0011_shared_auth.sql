-- Credential state shared by every API process that serves the store
-- (issue 13: `mailtally serve --workers N`, and API nodes on one database).
-- Platform-wide tables, like operators and meta: a name need not exist.
--
-- auth_state: one row per (kind, key).  kind 'n': a canonical user or operator
-- name; version grows (never resets: a row with a version is never deleted)
-- whenever the name's password changes, it is deleted, renamed or logged out,
-- and every process compares it with the version its cached credentials and
-- tokens were verified at, on every request (one point read).  locked_until:
-- the name's passwords are refused until then (10 failures within 15 minutes).
-- kind 'a': a client address (IPv4, or IPv6 /64) whose tokens are refused
-- until locked_until (100 failed tokens within a minute); version unused.
CREATE TABLE auth_state (
    kind         TEXT NOT NULL,
    key          TEXT NOT NULL,
    version      BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, key)
);

-- One row per failure (a wrong password for a name, a wrong token from an
-- address), within the lockout window; older ones are dropped as they run out.
CREATE TABLE auth_failures (
    kind TEXT NOT NULL,
    key  TEXT NOT NULL,
    time BIGINT NOT NULL
);
CREATE INDEX auth_failures_by_key ON auth_failures (kind, key, time);
CREATE INDEX auth_failures_by_time ON auth_failures (time);

-- The users whose logins.auth_* counts a process flushed, under the flush's
-- number (meta 'auth_generation'), so that the other processes drop only those
-- users' cached summaries; node: the flushing process.  Kept a few minutes.
CREATE TABLE auth_counted (
    generation BIGINT NOT NULL,
    node       TEXT NOT NULL,
    user_name  TEXT NOT NULL,
    time       BIGINT NOT NULL
);
CREATE INDEX auth_counted_by_generation ON auth_counted (generation);
