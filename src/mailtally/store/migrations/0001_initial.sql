-- mailtally schema, version 1.
-- Portable between SQLite and PostgreSQL: integer times are UTC epoch seconds,
-- JSON is stored as text, and every row but the global ones (meta, operators)
-- carries its company_id so that a tenant's rows can be found, moved or
-- partitioned without joins.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE operators (
    name          TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    createtime    BIGINT NOT NULL
);

CREATE TABLE companies (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    createtime BIGINT NOT NULL
);

CREATE TABLE domains (
    id         INTEGER PRIMARY KEY,
    company_id INTEGER NOT NULL REFERENCES companies (id),
    name       TEXT NOT NULL,
    createtime BIGINT NOT NULL,
    deletetime BIGINT,
    attributes TEXT NOT NULL
);
CREATE UNIQUE INDEX domains_live_name ON domains (name) WHERE deletetime IS NULL;
CREATE INDEX domains_company ON domains (company_id);

-- The current state of each account; its history is in user_versions.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    company_id    INTEGER NOT NULL REFERENCES companies (id),
    domain_id     INTEGER NOT NULL REFERENCES domains (id),
    address       TEXT NOT NULL,
    password_hash TEXT,
    createtime    BIGINT NOT NULL,
    purgetime     BIGINT,
    state         TEXT NOT NULL
);
CREATE INDEX users_domain ON users (domain_id);
CREATE INDEX users_company ON users (company_id);

-- Every address that names an account: its own and its aliases.  The primary
-- key makes a name unique across users and aliases.
CREATE TABLE addresses (
    address    TEXT PRIMARY KEY,
    company_id INTEGER NOT NULL,
    domain_id  INTEGER NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    is_alias   INTEGER NOT NULL
);
CREATE INDEX addresses_user ON addresses (user_id);

-- Each version of an account's attributes, valid from valid_from on.
CREATE TABLE user_versions (
    id         INTEGER PRIMARY KEY,
    company_id INTEGER NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    valid_from BIGINT NOT NULL,
    state      TEXT NOT NULL
);
CREATE INDEX user_versions_user ON user_versions (user_id, valid_from, id);

-- Quota reports: what an account stored at a moment.
CREATE TABLE storage_reports (
    company_id INTEGER NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    time       BIGINT NOT NULL,
    items      BIGINT NOT NULL,
    bytes      BIGINT NOT NULL,
    PRIMARY KEY (user_id, time)
);

CREATE TABLE roles (
    company_id INTEGER NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    role       TEXT NOT NULL,
    object     TEXT NOT NULL,
    PRIMARY KEY (user_id, role, object)
);

CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    company_id INTEGER,
    principal  TEXT NOT NULL,
    expires    BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    time       BIGINT NOT NULL,
    company_id INTEGER,
    actor      TEXT NOT NULL,
    client     TEXT,
    method     TEXT NOT NULL,
    object     TEXT NOT NULL,
    detail     TEXT NOT NULL
);
CREATE INDEX audit_log_company ON audit_log (company_id, time);

-- Flow counts per scope ('u'ser, 'd'omain, 'c'ompany) and period.  kind is
-- 'day', 'week' or 'month'; period is the SPEC's own key (20261128,
-- 20261123-20261129, 2026-11).  The last_* columns are kept for users only:
-- the latest such event inside the period (0 = none).
CREATE TABLE flows (
    company_id                 INTEGER NOT NULL,
    scope                      TEXT NOT NULL,
    scope_id                   INTEGER NOT NULL,
    kind                       TEXT NOT NULL,
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
);

-- Gauge *changes* per domain/company and period: the value at the end of a
-- period is the sum of the changes of all periods up to it.  Pruned periods are
-- folded into the row whose period is '' (which sorts first).
CREATE TABLE gauges (
    company_id                          INTEGER NOT NULL,
    scope                               TEXT NOT NULL,
    scope_id                            INTEGER NOT NULL,
    kind                                TEXT NOT NULL,
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
);
