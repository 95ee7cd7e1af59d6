-- Prefetch runs (SQLite migration 0012): the last run of each scheduled prefetch list and its images' outcomes.
CREATE TABLE prefetch_runs (
  list TEXT PRIMARY KEY,
  started_at TEXT NOT NULL,
  finished_at TEXT NOT NULL,
  result TEXT NOT NULL
);
