-- users.lastlogin is raised for every account that logs in, once per ingest
-- batch (record.py): at 100,000 accounts that is tens of thousands of UPDATEs a
-- day, and each moved the account's entry in three indexes besides the row.
-- Two of them only served a lastlogin sort under a type or workgroup criterion;
-- users_by_lastlogin (domain_id, status, lastlogin, address, id, type,
-- workgroup) serves those pages too, testing the criterion on each index entry
-- (SQLite's plan: SEARCH users USING COVERING INDEX users_by_lastlogin): still
-- an index walk that reads no row but the page's, through the domain's entries
-- instead of only the matching ones.  Each raise now moves one entry, not three
-- (bench/RESULTS.md, "CPU of ingest at provider scale").
DROP INDEX users_type_by_lastlogin;
DROP INDEX users_workgroup_by_lastlogin;
