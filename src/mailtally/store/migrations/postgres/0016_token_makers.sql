-- As SQLite's 0016_token_makers.sql: a token made by generate_token names its
-- maker's account, so that the tokens an admin made are dropped when it loses
-- the rights it made them with.
ALTER TABLE tokens ADD COLUMN made_by BIGINT;
CREATE INDEX tokens_made_by ON tokens (made_by) WHERE made_by IS NOT NULL;
