-- flows partitioned by kind, keyed period first, with one index (issue 13:
-- PostgreSQL's ingest of a 100,000-account day within 1.5x SQLite's time).
--
-- A day's ingest adds to every active account's week and month rows (~136,000
-- updates at 100,000 accounts) and inserts its day rows (~72,000).  Keyed
-- (company_id, kind, period, scope, scope_id) with a second index flows_scope
-- (scope_id, scope, kind, period) and full pages, not one of those updates was
-- HOT: each was a new row version on another page and an entry in both indexes
-- (flows_scope's at a random leaf per account), 11-14 s of the server's CPU
-- against SQLite's whole 7-8 s ingest (bench/RESULTS.md, sessions 9 and 10).
--
-- * Keyed (kind, period, scope, scope_id, company_id): SQLite's key (migration
--   0007) with company_id last.  Every read names kind, period(s), scope and
--   scope_id (Queries.flows, flow_texts, lasts_before, snapshot pages, audit,
--   prune), so this key answers them by seeks, as SQLite's does, and
--   flows_scope, which only served reads that do not name the company, goes.
--   A day's new rows are one range of it (appended), not 72,000 random leaves.
--   company_id stays in the key: Citus needs the distribution column in every
--   unique key, not first (ON CONFLICT names the same columns: the order of a
--   conflict target does not matter).  A company's audit (stats_top) reads the
--   period's rows of its scope kind and keeps the company's, as on SQLite.
-- * Partitioned by kind: the week and month partitions, whose rows are updated
--   by every ingest, keep half of each page free (fillfactor 50) so that an
--   update puts the new version beside the old one (HOT: no index entry at
--   all; HOT pruning frees the old one when the page is next full).  The day
--   partition, the bulk of the rows (30-400 days against 5-57 weeks and 2-14
--   months), stays packed (fillfactor 100): a whole-day ingest inserts its rows
--   once.  (An ingest repeated through the day updates today's rows in
--   place where a page has room, else writes one index entry: the only index.)
--   Measured at 100,000 accounts x 30 days: heap 755 -> 912 MB, indexes
--   377 -> 172 MB; all 136,070 updates of the day HOT.
--
-- The rows are copied into the new table, then its key is built (a sort, not
-- 3.5M b-tree inserts), and the old table dropped, in the runner's one
-- transaction: 100,000 accounts x 31 days (3.5M rows) ~40 s on the test
-- machine; space for a second copy of flows is needed meanwhile (README
-- "PostgreSQL": upgrading).  SQLite's 0014 is a documented no-op.
ALTER TABLE flows RENAME TO flows_13;
ALTER TABLE flows_13 RENAME CONSTRAINT flows_pkey TO flows_13_pkey;
ALTER INDEX flows_scope RENAME TO flows_13_scope;

-- (LIKE: the same columns in the same order, collations and defaults)
CREATE TABLE flows (LIKE flows_13 INCLUDING DEFAULTS) PARTITION BY LIST (kind);
CREATE TABLE flows_day PARTITION OF flows FOR VALUES IN (0);
CREATE TABLE flows_week PARTITION OF flows FOR VALUES IN (1) WITH (fillfactor = 50);
CREATE TABLE flows_month PARTITION OF flows FOR VALUES IN (2) WITH (fillfactor = 50);

INSERT INTO flows SELECT * FROM flows_13;
DROP TABLE flows_13;
ALTER TABLE flows ADD PRIMARY KEY (kind, period, scope, scope_id, company_id);
ANALYZE flows;
