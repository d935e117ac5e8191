-- flows keyed period first: (kind, period, scope, scope_id) (issue 9: ingest at
-- 4x pflogsumm into a 100,000-account store).
--
-- Keyed (scope, scope_id, kind, period) (migration 0004), an account's day, week
-- and month rows sat in three leaf pages of their own, and one day's ingest of
-- 100,000 accounts changed ~100,000 pages at 31 days of history, ~250,000 at 400:
-- each written to the WAL and checkpointed back.  Period first, one day's (week's,
-- month's) rows of every account are side by side, and the same ingest changes a
-- few thousand pages (bench/RESULTS.md, "flows keyed period first").
--
-- What reads one scope's rows seeks them one period at a time instead of reading
-- one range (store.base Queries.flows: a window's 30 days, 52 weeks or 48
-- months; lasts_before: the months before the window, then the days of its first
-- month); prune's old rows of a kind are one range per period.  gauges stay keyed
-- (scope, scope_id, kind, period): only domains and companies have them (a few
-- hundred rows a day), and gauges_before sums every earlier change of one scope,
-- which period first would have to read for every scope.
--
-- The rows are copied in the new key's order, so the new b-tree is written page
-- after page; then the old table is dropped and the new one takes its name, in
-- the runner's one transaction.  Measured on stores built by synth and migrated
-- to schema 6 (bench/RESULTS.md): 100,000 accounts x 31 days, 66 s wall (28 s
-- CPU, load 7.5); x 120 days (13.7M rows), 474 s wall (103 s CPU, load 9), the
-- file growing from 1.17 to 2.11 GB (the old pages free until a VACUUM) and the
-- WAL to ~2 GB.  At 400 days (45M rows) expect ~6 min CPU and room for ~4.5 GB
-- more in the file and ~7 GB of WAL while it runs.

CREATE TABLE flows_by_key (
    company_id                 INTEGER NOT NULL,
    scope                      TEXT NOT NULL,
    scope_id                   INTEGER NOT NULL,
    kind                       INTEGER NOT NULL,
    period                     TEXT NOT NULL,
    messages_autorespond_count BIGINT NOT NULL DEFAULT 0,
    messages_in_size           BIGINT NOT NULL DEFAULT 0,
    messages_out_msg_count     BIGINT NOT NULL DEFAULT 0,
    messages_in_spam           BIGINT NOT NULL DEFAULT 0,
    messages_out_size          BIGINT NOT NULL DEFAULT 0,
    messages_forward_count     BIGINT NOT NULL DEFAULT 0,
    messages_in_ham            BIGINT NOT NULL DEFAULT 0,
    messages_out_rcpt_count    BIGINT NOT NULL DEFAULT 0,
    messages_denied            BIGINT NOT NULL DEFAULT 0,
    logins_imap4               BIGINT NOT NULL DEFAULT 0,
    logins_pop3                BIGINT NOT NULL DEFAULT 0,
    logins_webmail             BIGINT NOT NULL DEFAULT 0,
    logins_auth_password       BIGINT NOT NULL DEFAULT 0,
    logins_auth_token          BIGINT NOT NULL DEFAULT 0,
    last_imap4                 BIGINT NOT NULL DEFAULT 0,
    last_pop3                  BIGINT NOT NULL DEFAULT 0,
    last_webmail               BIGINT NOT NULL DEFAULT 0,
    last_smtprelay             BIGINT NOT NULL DEFAULT 0,
    last_smtpin                BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, period, scope, scope_id)
) WITHOUT ROWID;

-- in the new key's order
INSERT INTO flows_by_key (company_id, scope, scope_id, kind, period,
    messages_autorespond_count, messages_in_size, messages_out_msg_count, messages_in_spam,
    messages_out_size, messages_forward_count, messages_in_ham, messages_out_rcpt_count,
    messages_denied, logins_imap4, logins_pop3, logins_webmail, logins_auth_password,
    logins_auth_token, last_imap4, last_pop3, last_webmail, last_smtprelay, last_smtpin)
SELECT company_id, scope, scope_id, kind, period,
    messages_autorespond_count, messages_in_size, messages_out_msg_count, messages_in_spam,
    messages_out_size, messages_forward_count, messages_in_ham, messages_out_rcpt_count,
    messages_denied, logins_imap4, logins_pop3, logins_webmail, logins_auth_password,
    logins_auth_token, last_imap4, last_pop3, last_webmail, last_smtprelay, last_smtpin
FROM flows ORDER BY kind, period, scope, scope_id;
DROP TABLE flows;
ALTER TABLE flows_by_key RENAME TO flows;
