-- Console single sign-on (SQLite migration 0012).
-- Single sign-on of people to the console. A sign-in begun at the provider waits here for its callback (one
-- use: the row is deleted when the callback takes it, so a replayed state finds nothing); a signed-in person's
-- session lives here until it expires or they sign out. Both are keyed by the sha256 of the secret the browser
-- holds, never the secret itself.
CREATE TABLE console_logins (
  state_hash     TEXT PRIMARY KEY,
  browser_hash   TEXT NOT NULL,
  nonce          TEXT NOT NULL,
  code_verifier  TEXT NOT NULL,
  redirect_url   TEXT NOT NULL,
  expires_at     BIGINT NOT NULL
);
CREATE INDEX console_logins_by_expiry ON console_logins (expires_at);

CREATE TABLE console_sessions (
  id_hash     TEXT PRIMARY KEY,
  csrf        TEXT NOT NULL,
  subject     TEXT NOT NULL,
  issuer      TEXT NOT NULL,
  name        TEXT NOT NULL,
  role        TEXT NOT NULL,
  created_at  BIGINT NOT NULL,
  expires_at  BIGINT NOT NULL
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);
