-- When each blob link was last written by a served manifest. A served manifest rewrites its links at most once an
-- hour; links nobody rewrote within storage.linkRetention are swept, so manifests that are denied or no longer
-- pulled do not keep their rows for ever. Existing links count as written now.
ALTER TABLE blob_links ADD COLUMN linked_at INTEGER NOT NULL DEFAULT 0;
UPDATE blob_links SET linked_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000;
CREATE INDEX blob_links_by_age ON blob_links (linked_at);

-- Artifact links from before artifacts were proven by their content: the next pull of an artifact that is
-- proven links its blobs again; a disguised one never does.
DELETE FROM blob_links WHERE via_artifact = 1;
