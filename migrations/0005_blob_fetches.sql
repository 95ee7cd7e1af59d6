-- Who is downloading a blob from the upstream right now, across the processes and machines sharing this
-- database: one download per blob, and the others follow its temp file in the shared store. A lease that
-- is not renewed expires, so a process that died cannot hold a blob forever.
CREATE TABLE blob_fetches (
  digest      TEXT PRIMARY KEY,
  owner       TEXT NOT NULL,
  temp_path   TEXT NOT NULL,
  expires_at  INTEGER NOT NULL
);
