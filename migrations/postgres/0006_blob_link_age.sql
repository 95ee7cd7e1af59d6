-- Blob link age (SQLite migration 0011): when each link was last written by a served manifest, so links nobody
-- rewrote within storage.linkRetention are swept; artifact links from before artifacts were proven by content go.
ALTER TABLE blob_links ADD COLUMN linked_at BIGINT NOT NULL DEFAULT 0;
UPDATE blob_links SET linked_at = (extract(epoch FROM now()) * 1000)::bigint;
CREATE INDEX blob_links_by_age ON blob_links (linked_at);
DELETE FROM blob_links WHERE via_artifact = 1;
