-- stats_snapshot links (issue 11, SPEC §6): a link works for 15 minutes, for
-- one object and one period, on any API process that serves the store.  Only
-- a hash of the link's secret is kept (a copy of the store gives no working
-- link).  object_kind is 'company' or 'domain'; kind is 0/1/2 as in flows.
CREATE TABLE snapshot_links (
    token_hash  TEXT PRIMARY KEY,
    company_id  INTEGER NOT NULL,
    object_kind TEXT NOT NULL,
    object_id   INTEGER NOT NULL,
    kind        INTEGER NOT NULL,
    period      TEXT NOT NULL,
    creator     TEXT NOT NULL,
    expires     BIGINT NOT NULL
);
