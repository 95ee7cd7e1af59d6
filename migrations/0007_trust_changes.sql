-- Trust that changes after the first pull: revoked signers and time-boxed exceptions. Rows are never
-- deleted: a lifted revocation or a revoked exception keeps its row with the time and who did it, and each
-- change is written together with its audit event. `trust_generation` counts changes, so every process can
-- notice one made by another and reload.

CREATE TABLE revocations (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  signer     TEXT NOT NULL,           -- JSON: {"key"} | {"keyless": {"issuer", "subject"}} | {"logIndex"}
  reason     TEXT NOT NULL,
  author     TEXT NOT NULL,
  time       TEXT NOT NULL,
  lifted_at  TEXT,
  lifted_by  TEXT
);

CREATE TABLE policy_exceptions (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
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
  n   INTEGER NOT NULL
);
INSERT INTO trust_generation (id, n) VALUES (1, 0);
