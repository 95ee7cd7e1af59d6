-- Content the proxy has seen. Bytes live in the content store on disk, addressed by digest.
CREATE TABLE manifests (
  digest      TEXT PRIMARY KEY,
  media_type  TEXT NOT NULL,
  size        INTEGER NOT NULL,
  is_index    INTEGER NOT NULL,
  subject     TEXT,
  stored_at   INTEGER NOT NULL
);

-- A manifest digest known to exist in one upstream repository (served by digest only there).
CREATE TABLE repository_manifests (
  upstream    TEXT NOT NULL,
  repository  TEXT NOT NULL,
  digest      TEXT NOT NULL,
  PRIMARY KEY (upstream, repository, digest)
);

-- Tags map to digests; checked_at drives revalidation after the upstream's tagTtl.
CREATE TABLE tags (
  upstream    TEXT NOT NULL,
  repository  TEXT NOT NULL,
  tag         TEXT NOT NULL,
  digest      TEXT NOT NULL,
  checked_at  INTEGER NOT NULL,
  PRIMARY KEY (upstream, repository, tag)
);

-- An index lists child manifests; a verified index vouches for them.
CREATE TABLE manifest_children (
  upstream    TEXT NOT NULL,
  repository  TEXT NOT NULL,
  parent      TEXT NOT NULL,
  child       TEXT NOT NULL,
  PRIMARY KEY (upstream, repository, child, parent)
);

-- A blob is served for a repository only through a manifest of that repository that referenced it.
CREATE TABLE blob_links (
  upstream    TEXT NOT NULL,
  repository  TEXT NOT NULL,
  digest      TEXT NOT NULL,
  manifest    TEXT NOT NULL,
  size        INTEGER NOT NULL,
  PRIMARY KEY (upstream, repository, digest, manifest)
);

-- Blobs in the content store, for size accounting and least-recently-used eviction.
CREATE TABLE blobs (
  digest       TEXT PRIMARY KEY,
  size         INTEGER NOT NULL,
  stored_at    INTEGER NOT NULL,
  last_access  INTEGER NOT NULL
);
CREATE INDEX blobs_by_access ON blobs (last_access);

-- Verification evidence per digest and trust material; policy is re-evaluated on each request.
CREATE TABLE evidence (
  digest       TEXT NOT NULL,
  fingerprint  TEXT NOT NULL,
  json         TEXT NOT NULL,
  expires_at   INTEGER NOT NULL,
  PRIMARY KEY (digest, fingerprint)
);

-- Append-only, hash-chained audit log: hash = sha256(prev_hash || canonical event JSON).
CREATE TABLE audit_events (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  time            TEXT NOT NULL,
  kind            TEXT NOT NULL,
  request_id      TEXT,
  client          TEXT,
  user            TEXT,
  upstream        TEXT,
  repository      TEXT,
  reference       TEXT,
  digest          TEXT,
  decision        TEXT,
  policy          TEXT,
  policy_version  INTEGER,
  mode            TEXT,
  reasons         TEXT NOT NULL DEFAULT '[]',
  evidence        TEXT,
  cache_hit       INTEGER,
  bytes           INTEGER,
  status          INTEGER,
  prev_hash       TEXT NOT NULL,
  hash            TEXT NOT NULL
);
CREATE INDEX audit_by_time ON audit_events (time);
CREATE INDEX audit_by_repository ON audit_events (repository, id);
CREATE INDEX audit_by_digest ON audit_events (digest, id);
CREATE INDEX audit_by_decision ON audit_events (decision, id);

-- Rows below prune_upto may be deleted by retention (which first records an anchor event); nothing else may
-- delete or change a row. The hash chain catches what goes around these triggers.
CREATE TABLE audit_control (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  prune_upto  INTEGER NOT NULL
);
INSERT INTO audit_control (id, prune_upto) VALUES (1, 0);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
  SELECT RAISE(ABORT, 'audit log is append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN OLD.id > (SELECT prune_upto FROM audit_control WHERE id = 1)
BEGIN
  SELECT RAISE(ABORT, 'audit log is append-only');
END;
