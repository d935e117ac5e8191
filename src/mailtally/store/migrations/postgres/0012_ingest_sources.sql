-- SQLite's 0012 (see its comments): file positions and joiner state per ingest
-- source; what was read before belongs to the source 'default'.
ALTER TABLE ingest_files ADD COLUMN source TEXT COLLATE "C" NOT NULL DEFAULT 'default';

CREATE INDEX ingest_files_source ON ingest_files (source, id);

UPDATE ingest_state SET name = 'joiner/default' WHERE name = 'joiner';
