-- Every policy the proxy has enforced, newest last. The newest row is the active policy; rows are never
-- changed, so a rollback is a new version copying an old one.
CREATE TABLE policy_versions (
  version      INTEGER PRIMARY KEY,
  time         TEXT NOT NULL,
  author       TEXT NOT NULL,
  source       TEXT NOT NULL CHECK (source IN ('config', 'api')),
  rules        TEXT NOT NULL,
  diff         TEXT NOT NULL,
  rollback_of  INTEGER
);

CREATE TRIGGER policy_versions_no_update BEFORE UPDATE ON policy_versions
BEGIN
  SELECT RAISE(ABORT, 'policy versions are append-only');
END;

CREATE TRIGGER policy_versions_no_delete BEFORE DELETE ON policy_versions
BEGIN
  SELECT RAISE(ABORT, 'policy versions are append-only');
END;

-- Audit queries filter by kind and user and page by id.
CREATE INDEX audit_by_kind ON audit_events (kind, id);
CREATE INDEX audit_by_user ON audit_events (user, id);
