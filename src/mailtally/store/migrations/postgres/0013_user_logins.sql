-- users.lastlogin moves to user_logins, a narrow table of its own (issue 13).
--
-- An ingest raises the last login of every account that logged in (~100,000 a
-- day at 100,000 accounts).  In users that was a non-HOT update (lastlogin is
-- in users_by_lastlogin, and the pages were full): a new row version plus an
-- entry in each of users' indexes, 30 of them (118 s for 100,000 accounts).
-- Here a raise is a row of eight short columns and an entry in two indexes:
-- the primary key and user_logins_by_lastlogin, which orders search_users'
-- lastlogin pages as users_by_lastlogin did (the search columns are copied so
-- that a page is still one index walk, criteria tested on its entries).
--
-- The copied columns follow users by triggers, whatever statement writes them
-- (an account made, renamed, moved, deleted, purged; COPY too); company_id and
-- id never change.  user_logins is keyed (company_id, id) like users, and is
-- distributed with it under Citus (colocated, README "Storage").
CREATE TABLE user_logins (
    company_id BIGINT NOT NULL,
    id         BIGINT NOT NULL,
    domain_id  BIGINT NOT NULL,
    status     TEXT COLLATE "C" NOT NULL,
    address    TEXT COLLATE "C" NOT NULL,
    type       TEXT COLLATE "C" NOT NULL,
    workgroup  TEXT COLLATE "C" NOT NULL,
    lastlogin  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (company_id, id),
    FOREIGN KEY (company_id, id) REFERENCES users (company_id, id) ON DELETE CASCADE
) WITH (fillfactor = 80);
-- (fillfactor: a raise is a new row version, not HOT, since the sort index
-- holds lastlogin; room on the page keeps it beside the old one)

INSERT INTO user_logins (company_id, id, domain_id, status, address, type, workgroup, lastlogin)
SELECT company_id, id, domain_id, status, address, type, workgroup, lastlogin FROM users;

CREATE INDEX user_logins_by_lastlogin
    ON user_logins (domain_id, status, lastlogin, address, id, type, workgroup);

DROP INDEX users_by_lastlogin;
ALTER TABLE users DROP COLUMN lastlogin;
-- users is now written by tree actions only: leave room for their HOT updates
ALTER TABLE users SET (fillfactor = 90);

-- (SET search_path FROM CURRENT: the function finds user_logins in the schema
-- it was made in, whatever the search_path of the session writing users)
CREATE FUNCTION user_logins_follow() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO user_logins (company_id, id, domain_id, status, address, type, workgroup)
        VALUES (NEW.company_id, NEW.id, NEW.domain_id, NEW.status, NEW.address, NEW.type,
                NEW.workgroup);
    ELSE
        UPDATE user_logins
           SET domain_id = NEW.domain_id, status = NEW.status, address = NEW.address,
               type = NEW.type, workgroup = NEW.workgroup
         WHERE company_id = NEW.company_id AND id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_logins_insert AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION user_logins_follow();
CREATE TRIGGER users_logins_update
    AFTER UPDATE OF domain_id, status, address, type, workgroup ON users
    FOR EACH ROW
    WHEN ((OLD.domain_id, OLD.status, OLD.address, OLD.type, OLD.workgroup)
          IS DISTINCT FROM (NEW.domain_id, NEW.status, NEW.address, NEW.type, NEW.workgroup))
    EXECUTE FUNCTION user_logins_follow();
