-- Searches at scale (issue 10): a company's or the platform's accounts page
-- through indexes in every sort, and search_domains sorts by a count without
-- counting every domain's accounts.
--
-- One index per sort of a search without a domain (a company role's: the
-- company; an operator's: every account), as migration 5 gives each sort of a
-- domain: (company_id, status, the sort key, address, id) orders a page and
-- type and workgroup ride along, so a criterion is tested on the index entry.
-- The sort by user has its two since migration 5.  The sort by lastlogin has
-- none here: ingest raises users.lastlogin for every account that logs in, each
-- raise moving the account's entry in every index that holds it (measured at
-- 100,000 accounts: 1.5 s CPU a day with one such index, 4.1 s with three), so
-- only the domain's (users_by_lastlogin, migration 5) is kept and a search
-- without a domain sorted by lastlogin is sorted by SQL (bench/RESULTS.md,
-- "Searches (issue 10)").
CREATE INDEX users_company_by_createtime
    ON users (company_id, status, createtime, address, id, type, workgroup);
CREATE INDEX users_company_by_type ON users (company_id, status, type, address, id, workgroup);
CREATE INDEX users_company_by_workgroup
    ON users (company_id, status, workgroup, address, id, type);
CREATE INDEX users_company_by_deletetime
    ON users (company_id, status, deletetime, address, id, type, workgroup);
CREATE INDEX users_platform_by_createtime
    ON users (status, createtime, address, id, type, workgroup);
CREATE INDEX users_platform_by_type ON users (status, type, address, id, workgroup);
CREATE INDEX users_platform_by_workgroup ON users (status, workgroup, address, id, type);
CREATE INDEX users_platform_by_deletetime
    ON users (status, deletetime, address, id, type, workgroup);

-- What search_domains shows of each domain, kept by Queries in the same
-- transaction as every change to an account or an alias (Queries._recount):
-- live accounts by type (a type other than forward or filter counts as a
-- mailbox, as the answer always showed it), alias addresses of accounts that
-- are not soft-deleted, and soft-deleted accounts.  A page sorted by a count
-- reads one row per domain, and a search's total_count without criteria is a
-- sum of them.
CREATE TABLE domain_counts (
    domain_id  INTEGER PRIMARY KEY REFERENCES domains (id),
    company_id INTEGER NOT NULL,
    mailbox    BIGINT NOT NULL DEFAULT 0,
    forward    BIGINT NOT NULL DEFAULT 0,
    filter     BIGINT NOT NULL DEFAULT 0,
    alias      BIGINT NOT NULL DEFAULT 0,
    deleted    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX domain_counts_company ON domain_counts (company_id);
INSERT INTO domain_counts (domain_id, company_id, mailbox, forward, filter, alias, deleted)
SELECT d.id, d.company_id,
    (SELECT COUNT(*) FROM users u WHERE u.domain_id = d.id AND u.status = 'active'
        AND u.type NOT IN ('forward', 'filter')),
    (SELECT COUNT(*) FROM users u WHERE u.domain_id = d.id AND u.status = 'active'
        AND u.type = 'forward'),
    (SELECT COUNT(*) FROM users u WHERE u.domain_id = d.id AND u.status = 'active'
        AND u.type = 'filter'),
    (SELECT COUNT(*) FROM addresses a JOIN users u ON u.id = a.user_id
        WHERE a.domain_id = d.id AND a.is_alias = 1 AND u.status <> 'deleted'),
    (SELECT COUNT(*) FROM users u WHERE u.domain_id = d.id AND u.status = 'deleted')
FROM domains d;
