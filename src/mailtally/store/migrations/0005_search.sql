-- Searches (issue 10): search_users, search_domains, search_workgroups and
-- search_companies page in the store, through indexes, never by reading a
-- whole domain.  What they filter and sort on is kept in columns of its own
-- (the account's JSON state stays the source of truth; Queries.update_user_state
-- writes both in the same statement):
--   status     'active', 'deleted' (soft-deleted) or 'purged' (gone with its domain)
--   type       mailbox | forward | filter
--   workgroup  the workgroup's name
--   deletetime the soft delete's time (NULL while active)
--   lastlogin  the latest IMAP, POP3 or webmail login ever counted (0: none);
--              raised where logins are recorded (record.py), so that a page
--              sorted by it is an index walk, not a MAX over the flows table
-- The Python step of this migration fills them for existing accounts.
ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE users ADD COLUMN type TEXT NOT NULL DEFAULT 'mailbox';
ALTER TABLE users ADD COLUMN workgroup TEXT NOT NULL DEFAULT 'staff';
ALTER TABLE users ADD COLUMN deletetime BIGINT;
ALTER TABLE users ADD COLUMN lastlogin BIGINT NOT NULL DEFAULT 0;

-- One index per sort of search_users: (domain, status, the sort key, address,
-- id) orders a page; type and workgroup ride along so that the criteria are
-- tested on the index entry, and a page's OFFSET skips entries without
-- reading rows (Queries.search_users walks from the nearer end, so at most
-- half the matches).  The company and platform indexes serve domain-less
-- searches by user (other sorts of a whole company are sorted by SQL).
CREATE INDEX users_by_user ON users (domain_id, status, address, id, type, workgroup);
CREATE INDEX users_by_createtime
    ON users (domain_id, status, createtime, address, id, type, workgroup);
CREATE INDEX users_by_lastlogin
    ON users (domain_id, status, lastlogin, address, id, type, workgroup);
CREATE INDEX users_by_type ON users (domain_id, status, type, address, id, workgroup);
CREATE INDEX users_by_workgroup ON users (domain_id, status, workgroup, address, id, type);
CREATE INDEX users_by_deletetime
    ON users (domain_id, status, deletetime, address, id, type, workgroup);
-- total_count without criteria: the slimmest index to count along.
CREATE INDEX users_status ON users (domain_id, status);
-- With a type or workgroup criterion, the criterion's own index orders each
-- other sort, so that a page walks matching entries only.
CREATE INDEX users_type_by_createtime
    ON users (domain_id, status, type, createtime, address, id, workgroup);
CREATE INDEX users_type_by_lastlogin
    ON users (domain_id, status, type, lastlogin, address, id, workgroup);
CREATE INDEX users_type_by_workgroup ON users (domain_id, status, type, workgroup, address, id);
CREATE INDEX users_type_by_deletetime
    ON users (domain_id, status, type, deletetime, address, id, workgroup);
CREATE INDEX users_workgroup_by_createtime
    ON users (domain_id, status, workgroup, createtime, address, id, type);
CREATE INDEX users_workgroup_by_lastlogin
    ON users (domain_id, status, workgroup, lastlogin, address, id, type);
CREATE INDEX users_workgroup_by_type ON users (domain_id, status, workgroup, type, address, id);
CREATE INDEX users_workgroup_by_deletetime
    ON users (domain_id, status, workgroup, deletetime, address, id, type);
CREATE INDEX users_company_by_user
    ON users (company_id, status, address, id, type, workgroup, domain_id);
CREATE INDEX users_platform_by_user ON users (status, address, id, type, workgroup);

-- search_domains counts each domain's alias addresses.
CREATE INDEX addresses_domain ON addresses (domain_id, is_alias, user_id);

-- Workgroups that exist without users (create_workgroup) and those users named
-- (SPEC §4: a workgroup comes into being when a user names it).  Every domain
-- has 'staff'.  Filled for existing domains and accounts by the Python step.
CREATE TABLE workgroups (
    company_id INTEGER NOT NULL,
    domain_id  INTEGER NOT NULL REFERENCES domains (id),
    name       TEXT NOT NULL,
    PRIMARY KEY (domain_id, name)
);
