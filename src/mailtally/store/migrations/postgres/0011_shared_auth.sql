-- SQLite's 0011 (see its comments): credential state shared by every API
-- process and node serving the store.  Platform-wide: reference tables under Citus.
CREATE TABLE auth_state (
    kind         TEXT COLLATE "C" NOT NULL,
    key          TEXT COLLATE "C" NOT NULL,
    version      BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, key)
);

CREATE TABLE auth_failures (
    kind TEXT COLLATE "C" NOT NULL,
    key  TEXT COLLATE "C" NOT NULL,
    time BIGINT NOT NULL
);
CREATE INDEX auth_failures_by_key ON auth_failures (kind, key, time);
CREATE INDEX auth_failures_by_time ON auth_failures (time);

CREATE TABLE auth_counted (
    generation BIGINT NOT NULL,
    node       TEXT COLLATE "C" NOT NULL,
    user_name  TEXT COLLATE "C" NOT NULL,
    time       BIGINT NOT NULL
);
CREATE INDEX auth_counted_by_generation ON auth_counted (generation);
