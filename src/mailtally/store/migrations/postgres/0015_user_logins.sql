-- Migration 15 is SQLite's (0015_user_logins.sql: users.lastlogin moves to a
-- narrow table of its own, user_logins).  PostgreSQL made that table in its
-- migration 13; here nothing changes, on purpose.  The number is taken so
-- that schema_version names the same schema on both backends.
SELECT 1;
