-- Trust that changes after the first pull (SQLite migration 0007): revoked signers and time-boxed
-- exceptions, never deleted, each change written with its audit event; trust_generation counts changes.

CREATE TABLE revocations (
  id         BIGSERIAL PRIMARY KEY,
  signer     TEXT NOT NULL,
  reason     TEXT NOT NULL,
  author     TEXT NOT NULL,
  time       TEXT NOT NULL,
  lifted_at  TEXT,
  lifted_by  TEXT
);

CREATE TABLE policy_exceptions (
  id               BIGSERIAL PRIMARY KEY,
  repository       TEXT NOT NULL,
  digest           TEXT,
  until            TEXT NOT NULL,
  reason           TEXT NOT NULL,
  author           TEXT NOT NULL,
  time             TEXT NOT NULL,
  cover_deny_rule  INTEGER NOT NULL DEFAULT 0,
  revoked_at       TEXT,
  revoked_by       TEXT,
  expired          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX policy_exceptions_open ON policy_exceptions (until) WHERE revoked_at IS NULL AND expired = 0;

CREATE TABLE trust_generation (
  id  INTEGER PRIMARY KEY CHECK (id = 1),
  n   BIGINT NOT NULL
);
INSERT INTO trust_generation (id, n) VALUES (1, 0);
