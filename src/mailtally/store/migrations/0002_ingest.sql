-- Getting data in (SPEC §7).

-- ingest_events batches already counted, so that a retried batch_id is
-- acknowledged and not counted again.  scope is who sent it: 'operator' or
-- 'company:<id>', so tenants cannot collide on each other's batch ids.
CREATE TABLE event_batches (
    scope      TEXT NOT NULL,
    batch_id   TEXT NOT NULL,
    company_id INTEGER,
    time       BIGINT NOT NULL,
    accepted   BIGINT NOT NULL,
    PRIMARY KEY (scope, batch_id)
);

-- Log files already read, known by their content: a hash of their first bytes
-- (head_len of them, at most 4 KiB; a quota report is hashed whole), so that
-- a file renamed or compressed by log rotation is recognised as the same file.
-- position is how far it has been read (in its uncompressed bytes).  Saved in
-- the same transaction as the counts the lines produced.  Platform-wide: a
-- mail log spans companies.
CREATE TABLE ingest_files (
    id        INTEGER PRIMARY KEY,
    path      TEXT NOT NULL,
    device    BIGINT NOT NULL,
    inode     BIGINT NOT NULL,
    head_hash TEXT NOT NULL,
    head_len  BIGINT NOT NULL,
    position  BIGINT NOT NULL,
    lines     BIGINT NOT NULL,
    updated   BIGINT NOT NULL
);

-- The joiner's messages in flight (lines of one message not all read yet),
-- saved with the positions so that a restart resumes mid-message.
CREATE TABLE ingest_state (
    name  TEXT PRIMARY KEY,
    state TEXT NOT NULL
);
