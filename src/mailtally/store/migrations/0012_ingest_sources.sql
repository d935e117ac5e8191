-- Ingest sources (issue 13): one ingester per mail host, each with its own
-- file positions and joiner state, all writing to one store.
--
-- A file read before sources existed belongs to the source 'default', and the
-- joiner state saved under 'joiner' becomes that source's ('joiner/default'),
-- so that a store ingested before this migration resumes where it stopped.
ALTER TABLE ingest_files ADD COLUMN source TEXT NOT NULL DEFAULT 'default';

CREATE INDEX ingest_files_source ON ingest_files (source, id);

UPDATE ingest_state SET name = 'joiner/default' WHERE name = 'joiner';
