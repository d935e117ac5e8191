-- Renames, restores, change history and tokens (issue 10, SPEC §4 "More of OMA").

-- restore_user finds the soft-deleted accounts of a name by their own address
-- (and the audit rows below are matched to their accounts by it).
CREATE INDEX users_address ON users (address);

-- An account's home domain per version: rename_user may move an account into
-- another domain of its company, and the gauges of a past period must count it
-- in the domain it was in then.  Every version written before renames existed
-- was in the account's one domain.
ALTER TABLE user_versions ADD COLUMN domain_id INTEGER;
UPDATE user_versions SET domain_id = (SELECT u.domain_id FROM users u WHERE u.id = user_versions.user_id);

-- The audit log names its object by kind and id as well as by name, so that an
-- object's changes are found by an index (get_*_changes page in SQL) and
-- follow it through a rename.  Old rows: the object named, of the company
-- the row was written for, that existed at the row's time (a purged account or
-- a deleted domain before its successor of the same name).
-- ("+u.company_id": not that index, which every account of a company shares.)
ALTER TABLE audit_log ADD COLUMN object_kind TEXT;
ALTER TABLE audit_log ADD COLUMN object_id INTEGER;
UPDATE audit_log SET object_kind = 'user', object_id = (
    SELECT MIN(u.id) FROM users u WHERE u.address = audit_log.object
    AND +u.company_id = audit_log.company_id
    AND (u.purgetime IS NULL OR u.purgetime >= audit_log.time))
WHERE method IN ('change_user', 'delete_user', 'restore_user', 'set_role');
UPDATE audit_log SET object_kind = 'domain', object_id = (
    SELECT MIN(d.id) FROM domains d WHERE d.name = audit_log.object
    AND d.company_id = audit_log.company_id
    AND (d.deletetime IS NULL OR d.deletetime >= audit_log.time))
WHERE method IN ('change_domain', 'delete_domain');
UPDATE audit_log SET object_kind = 'company', object_id = company_id
WHERE method = 'change_company';
CREATE INDEX audit_log_object ON audit_log (object_kind, object_id, id);

-- Tokens: the account they belong to (logout_user drops them all by id, so a
-- renamed account's tokens go too), and their kind: 'session' (authenticate),
-- 'oma' (generate_token), 'sso' (generate_token: good for one call, consumed in
-- the store).  Old tokens are session tokens of the account of their name.
ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'session';
ALTER TABLE tokens ADD COLUMN user_id INTEGER;
UPDATE tokens SET user_id = (SELECT a.user_id FROM addresses a
    WHERE a.address = tokens.principal AND a.is_alias = 0);
CREATE INDEX tokens_principal ON tokens (principal);
