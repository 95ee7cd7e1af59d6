-- Tag drift (SQLite migration 0008): the digest each tag last passed its rule with (or an admin accepted), and the digest it was
-- last seen moved to, so a move is recorded once. One row per (upstream, repository, tag).

CREATE TABLE verified_tags (
  upstream     TEXT NOT NULL,
  repository   TEXT NOT NULL,
  tag          TEXT NOT NULL,
  digest       TEXT NOT NULL,
  verified_at  TEXT NOT NULL,
  accepted_by  TEXT,
  seen_digest  TEXT,
  PRIMARY KEY (upstream, repository, tag)
);
