-- users.lastlogin moves to user_logins, a narrow table of its own, as it did
-- on PostgreSQL in migration 13 (issue 9).
--
-- Migration 13 left SQLite alone: a raise there moves one index entry
-- (users_by_lastlogin) besides the row.  But the row is users' whole row, and
-- users' rows are wide (state JSON, password hash, the search columns): an
-- ingest at 100,000 accounts raises ~22,800 last logins per commit, spread
-- over ~11,700 of users' pages, and those pages were 50 of the commit's 73 MB
-- of WAL, written again by the checkpoint (bench/RESULTS.md, "SQLite's
-- lastlogin in a narrow table").  Here a raise rewrites a row of eight short
-- columns in a WITHOUT ROWID table, keyed by id as users is, so the accounts
-- of a commit share a few hundred pages, and moves its entry in
-- user_logins_by_lastlogin, which orders search_users' lastlogin pages as
-- users_by_lastlogin did (the search columns are copied so that a page is
-- still one index walk, criteria tested on its entries).
--
-- The copied columns follow users by triggers, whatever statement writes them
-- (an account made, renamed, moved, deleted, purged, restored); company_id
-- and id never change.  No statement deletes an account's row, but if one
-- did its login row would go with it (PostgreSQL: ON DELETE CASCADE).
CREATE TABLE user_logins (
    id         INTEGER NOT NULL PRIMARY KEY,
    company_id INTEGER NOT NULL,
    domain_id  INTEGER NOT NULL,
    status     TEXT NOT NULL,
    address    TEXT NOT NULL,
    type       TEXT NOT NULL,
    workgroup  TEXT NOT NULL,
    lastlogin  BIGINT NOT NULL DEFAULT 0
) WITHOUT ROWID;

INSERT INTO user_logins (id, company_id, domain_id, status, address, type, workgroup, lastlogin)
SELECT id, company_id, domain_id, status, address, type, workgroup, lastlogin FROM users
ORDER BY id;

CREATE INDEX user_logins_by_lastlogin
    ON user_logins (domain_id, status, lastlogin, address, id, type, workgroup);

DROP INDEX users_by_lastlogin;
ALTER TABLE users DROP COLUMN lastlogin;

CREATE TRIGGER users_logins_insert AFTER INSERT ON users
BEGIN
    INSERT INTO user_logins (id, company_id, domain_id, status, address, type, workgroup)
    VALUES (NEW.id, NEW.company_id, NEW.domain_id, NEW.status, NEW.address, NEW.type,
            NEW.workgroup);
END;

CREATE TRIGGER users_logins_update
    AFTER UPDATE OF domain_id, status, address, type, workgroup ON users
    WHEN (OLD.domain_id, OLD.status, OLD.address, OLD.type, OLD.workgroup)
         IS NOT (NEW.domain_id, NEW.status, NEW.address, NEW.type, NEW.workgroup)
BEGIN
    UPDATE user_logins
       SET domain_id = NEW.domain_id, status = NEW.status, address = NEW.address,
           type = NEW.type, workgroup = NEW.workgroup
     WHERE id = NEW.id;
END;

CREATE TRIGGER users_logins_delete AFTER DELETE ON users
BEGIN
    DELETE FROM user_logins WHERE id = OLD.id;
END;
