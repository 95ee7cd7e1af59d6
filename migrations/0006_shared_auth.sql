-- Secrets every process shares (the signing key of tokens from /auth/token), created once and kept, so a
-- token issued by one process is accepted by every other and survives restarts for its lifetime.
CREATE TABLE secret_keys (
  name        TEXT PRIMARY KEY,
  key         BLOB NOT NULL,
  created_at  INTEGER NOT NULL
);

-- Failed credentials per client address, counted across processes: failures in the window that began at
-- window_start, and the end of a block (0 when none). Rows not seen for a while are pruned.
CREATE TABLE auth_failures (
  address        TEXT PRIMARY KEY,
  window_start   INTEGER NOT NULL,
  failures       INTEGER NOT NULL,
  blocked_until  INTEGER NOT NULL DEFAULT 0,
  seen_at        INTEGER NOT NULL
);
CREATE INDEX auth_failures_by_seen ON auth_failures (seen_at);
CREATE INDEX auth_failures_by_block ON auth_failures (blocked_until);
