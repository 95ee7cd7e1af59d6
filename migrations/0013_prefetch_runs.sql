-- The last run of each scheduled prefetch list: when it ran and each image's outcome with its reasons (JSON),
-- for GET /api/v1/prefetch and the console. Every run replaces its list's row; the audit log keeps the history.
CREATE TABLE prefetch_runs (
  list TEXT PRIMARY KEY,
  started_at TEXT NOT NULL,
  finished_at TEXT NOT NULL,
  result TEXT NOT NULL
);
