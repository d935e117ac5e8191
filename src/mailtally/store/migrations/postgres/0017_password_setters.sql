-- As SQLite's 0017_password_setters.sql: the account of the admin that set an
-- account's password (NULL: the account itself, an operator, or before this
-- migration), so that a grant beyond that admin's rights ends the password.
ALTER TABLE users ADD COLUMN password_set_by BIGINT;
