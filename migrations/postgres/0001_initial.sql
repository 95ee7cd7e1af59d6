-- The PostgreSQL schema, equal to what the SQLite migrations 0001-0006 build. Times are epoch
-- milliseconds (BIGINT) or ISO 8601 text (audit and policy times, compared as text as in SQLite); flags
-- are 0/1 integers, as the audit hash covers them in that form.

CREATE TABLE manifests (
  digest      TEXT PRIMARY KEY,
  media_type  TEXT NOT NULL,
  size        BIGINT NOT NULL,
  is_index    INTEGER NOT NULL,
  subject     TEXT,
  stored_at   BIGINT NOT NULL
);

CREATE TABLE repository_manifests (
  upstream    TEXT NOT NULL,
  repository  TEXT NOT NULL,
  digest      TEXT NOT NULL,
  PRIMARY KEY (upstream, repository, digest)
);

CREATE TABLE tags (
  upstream    TEXT NOT NULL,
  repository  TEXT NOT NULL,
  tag         TEXT NOT NULL,
  digest      TEXT NOT NULL,
  checked_at  BIGINT NOT NULL,
  PRIMARY KEY (upstream, repository, tag)
);

CREATE TABLE manifest_children (
  upstream    TEXT NOT NULL,
  repository  TEXT NOT NULL,
  parent      TEXT NOT NULL,
  child       TEXT NOT NULL,
  PRIMARY KEY (upstream, repository, child, parent)
);

CREATE TABLE blob_links (
  upstream      TEXT NOT NULL,
  repository    TEXT NOT NULL,
  digest        TEXT NOT NULL,
  manifest      TEXT NOT NULL,
  size          BIGINT NOT NULL,
  via_artifact  INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (upstream, repository, digest, manifest)
);
CREATE INDEX blob_links_by_digest ON blob_links (digest);
CREATE INDEX blob_links_by_manifest ON blob_links (manifest);

CREATE TABLE blobs (
  digest       TEXT PRIMARY KEY,
  size         BIGINT NOT NULL,
  stored_at    BIGINT NOT NULL,
  last_access  BIGINT NOT NULL
);
CREATE INDEX blobs_by_access ON blobs (last_access);

CREATE TABLE evidence (
  upstream     TEXT NOT NULL,
  repository   TEXT NOT NULL,
  digest       TEXT NOT NULL,
  fingerprint  TEXT NOT NULL,
  json         TEXT NOT NULL,
  expires_at   BIGINT NOT NULL,
  PRIMARY KEY (upstream, repository, digest, fingerprint)
);
CREATE INDEX evidence_by_digest ON evidence (digest);

-- Append-only, hash-chained audit log: hash = sha256(prev_hash || canonical event JSON). Ids are assigned
-- by the appender under the lock on audit_control's row, so they run without gaps. Times compare as bytes
-- (COLLATE "C"), as in SQLite, whatever the database's locale.
CREATE TABLE audit_events (
  id              BIGINT PRIMARY KEY,
  time            TEXT COLLATE "C" NOT NULL,
  kind            TEXT NOT NULL,
  request_id      TEXT,
  client          TEXT,
  "user"          TEXT,
  upstream        TEXT,
  repository      TEXT,
  reference       TEXT,
  digest          TEXT,
  decision        TEXT,
  policy          TEXT,
  policy_version  BIGINT,
  mode            TEXT,
  reasons         TEXT NOT NULL DEFAULT '[]',
  evidence        TEXT,
  cache_hit       INTEGER,
  bytes           BIGINT,
  status          INTEGER,
  prev_hash       TEXT NOT NULL,
  hash            TEXT NOT NULL
);
CREATE INDEX audit_by_time ON audit_events (time);
CREATE INDEX audit_by_repository ON audit_events (repository, id);
CREATE INDEX audit_by_digest ON audit_events (digest, id);
CREATE INDEX audit_by_decision ON audit_events (decision, id);
CREATE INDEX audit_by_kind ON audit_events (kind, id);
CREATE INDEX audit_by_user ON audit_events ("user", id);

-- One row: the prune point (rows up to it may be deleted by retention, nothing else may change or delete a
-- row) and the chain head. Appenders lock this row (SELECT ... FOR UPDATE), read the head, insert, move the
-- head and commit, so every replica extends one chain; head_id also remembers the highest id ever written.
CREATE TABLE audit_control (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  prune_upto  BIGINT NOT NULL,
  head_id     BIGINT NOT NULL DEFAULT 0,
  head_hash   TEXT
);
INSERT INTO audit_control (id, prune_upto) VALUES (1, 0);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND OLD.id <= (SELECT prune_upto FROM audit_control WHERE id = 1) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit log is append-only';
END $$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

CREATE TABLE policy_versions (
  version      BIGINT PRIMARY KEY,
  time         TEXT NOT NULL,
  author       TEXT NOT NULL,
  source       TEXT NOT NULL CHECK (source IN ('config', 'api')),
  rules        TEXT NOT NULL,
  diff         TEXT NOT NULL,
  rollback_of  BIGINT
);

CREATE FUNCTION policy_versions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'policy versions are append-only';
END $$;
CREATE TRIGGER policy_versions_no_change BEFORE UPDATE OR DELETE ON policy_versions
  FOR EACH ROW EXECUTE FUNCTION policy_versions_append_only();
CREATE TRIGGER policy_versions_no_truncate BEFORE TRUNCATE ON policy_versions
  FOR EACH STATEMENT EXECUTE FUNCTION policy_versions_append_only();

CREATE TABLE secret_keys (
  name        TEXT PRIMARY KEY,
  key         BYTEA NOT NULL,
  created_at  BIGINT NOT NULL
);

CREATE TABLE auth_failures (
  address        TEXT PRIMARY KEY,
  window_start   BIGINT NOT NULL,
  failures       INTEGER NOT NULL,
  blocked_until  BIGINT NOT NULL DEFAULT 0,
  seen_at        BIGINT NOT NULL
);
CREATE INDEX auth_failures_by_seen ON auth_failures (seen_at);
CREATE INDEX auth_failures_by_block ON auth_failures (blocked_until);

-- Who is downloading a blob from the upstream right now, across every replica and worker (SQLite 0005).
CREATE TABLE blob_fetches (
  digest      TEXT PRIMARY KEY,
  owner       TEXT NOT NULL,
  temp_path   TEXT NOT NULL,
  expires_at  BIGINT NOT NULL
);
