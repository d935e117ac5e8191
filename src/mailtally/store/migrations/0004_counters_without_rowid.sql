-- The counter tables, stored once (issue 9: at most 120 bytes per account-day).
--
-- flows, gauges and storage_reports were rowid tables with a separate index for
-- their primary key: every row was stored twice (the row, and its key again with
-- the rowid), and every upsert changed two b-trees.  As WITHOUT ROWID tables the
-- row lives in the primary key's own b-tree, in the order every query reads it:
--
--   flows, gauges     (scope, scope_id, kind, period): a summary reads one
--                     scope's periods of one kind as one range (flows, gauges,
--                     and everything before the window: lasts_before,
--                     gauges_before); prune's has_old and prune_scope are
--                     ranges of it too.  A user's days are now side by side
--                     (one or two pages for a 31-day window, not 31).
--   storage_reports   (user_id, time): an account's reports in time order (the
--                     one in force at a moment is one seek; storage_ends and
--                     prune's storage_to_prune two per account).
--
-- kind is stored as a small integer (0 day, 1 week, 2 month: store.base
-- KIND_CODES; callers still name kinds, the upserts translate): SQLite stores
-- 0 and 1 in no byte at all and 2 in one, where 'day' took 3 and 'month' 5.
-- Measured at 10,000 accounts x 31 days built fresh (synth, then the day's log):
-- 156 bytes per account-day before, 123 as WITHOUT ROWID with kind as text,
-- 118 with kind as a code.  period stays the SPEC's own text key ('20261128',
-- '20261123-20261129', '2026-11'; '' for the folded base row): as an integer it
-- would save about 6 bytes more, at the price of translating keys both ways
-- wherever a row is read.  scope stays 'u'/'d'/'c' (one byte).  Column order
-- does not matter to the size (every column costs a header byte, zero or not,
-- and a zero no byte more); the declared order is the old one, so SELECT * is
-- unchanged but for kind.
--
-- The rows are copied in the new key's order, so the new b-trees are written
-- page after page; then the old tables are dropped and the new ones take their
-- names, all in the runner's one transaction (at 100,000 accounts x 31 days
-- about a minute, and the file grows by the new tables' size until a VACUUM).
-- A kind other than the three would make the copy fail (kind is NOT NULL):
-- nothing is dropped silently.

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
    PRIMARY KEY (scope, scope_id, kind, period)
) WITHOUT ROWID;

-- in the new key's order (4: the kind's code)
INSERT INTO flows_by_key (company_id, scope, scope_id, kind, period,
    messages_autorespond_count, messages_in_size, messages_out_msg_count, messages_in_spam,
    messages_out_size, messages_forward_count, messages_in_ham, messages_out_rcpt_count,
    messages_denied, logins_imap4, logins_pop3, logins_webmail, logins_auth_password,
    logins_auth_token, last_imap4, last_pop3, last_webmail, last_smtprelay, last_smtpin)
SELECT company_id, scope, scope_id,
    CASE kind WHEN 'day' THEN 0 WHEN 'week' THEN 1 WHEN 'month' THEN 2 END, period,
    messages_autorespond_count, messages_in_size, messages_out_msg_count, messages_in_spam,
    messages_out_size, messages_forward_count, messages_in_ham, messages_out_rcpt_count,
    messages_denied, logins_imap4, logins_pop3, logins_webmail, logins_auth_password,
    logins_auth_token, last_imap4, last_pop3, last_webmail, last_smtprelay, last_smtpin
FROM flows ORDER BY scope, scope_id, 4, period;
DROP TABLE flows;
ALTER TABLE flows_by_key RENAME TO flows;

CREATE TABLE gauges_by_key (
    company_id                          INTEGER NOT NULL,
    scope                               TEXT NOT NULL,
    scope_id                            INTEGER NOT NULL,
    kind                                INTEGER NOT NULL,
    period                              TEXT NOT NULL,
    services_smtprelay                  BIGINT NOT NULL DEFAULT 0,
    services_smtpin                     BIGINT NOT NULL DEFAULT 0,
    services_imap4                      BIGINT NOT NULL DEFAULT 0,
    services_pop3                       BIGINT NOT NULL DEFAULT 0,
    services_webmail                    BIGINT NOT NULL DEFAULT 0,
    deleted_users_storage_items_stored  BIGINT NOT NULL DEFAULT 0,
    deleted_users_storage_current_size  BIGINT NOT NULL DEFAULT 0,
    users_filter                        BIGINT NOT NULL DEFAULT 0,
    users_forward                       BIGINT NOT NULL DEFAULT 0,
    users_deleted                       BIGINT NOT NULL DEFAULT 0,
    users_mailbox                       BIGINT NOT NULL DEFAULT 0,
    users_alias                         BIGINT NOT NULL DEFAULT 0,
    storage_items_stored                BIGINT NOT NULL DEFAULT 0,
    storage_current_size                BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, scope_id, kind, period)
) WITHOUT ROWID;

-- in the new key's order (4: the kind's code)
INSERT INTO gauges_by_key (company_id, scope, scope_id, kind, period,
    services_smtprelay, services_smtpin, services_imap4, services_pop3, services_webmail,
    deleted_users_storage_items_stored, deleted_users_storage_current_size, users_filter,
    users_forward, users_deleted, users_mailbox, users_alias, storage_items_stored,
    storage_current_size)
SELECT company_id, scope, scope_id,
    CASE kind WHEN 'day' THEN 0 WHEN 'week' THEN 1 WHEN 'month' THEN 2 END, period,
    services_smtprelay, services_smtpin, services_imap4, services_pop3, services_webmail,
    deleted_users_storage_items_stored, deleted_users_storage_current_size, users_filter,
    users_forward, users_deleted, users_mailbox, users_alias, storage_items_stored,
    storage_current_size
FROM gauges ORDER BY scope, scope_id, 4, period;
DROP TABLE gauges;
ALTER TABLE gauges_by_key RENAME TO gauges;

CREATE TABLE storage_reports_by_key (
    company_id INTEGER NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    time       BIGINT NOT NULL,
    items      BIGINT NOT NULL,
    bytes      BIGINT NOT NULL,
    PRIMARY KEY (user_id, time)
) WITHOUT ROWID;

INSERT INTO storage_reports_by_key
SELECT * FROM storage_reports ORDER BY user_id, time;
DROP TABLE storage_reports;
ALTER TABLE storage_reports_by_key RENAME TO storage_reports;
