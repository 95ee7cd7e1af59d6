-- Summaries read one kind of event by time. There is deliberately no index on request_id: its keys are
-- random, so every append would dirty a random index page (in SQLite's WAL a whole page per event), which
-- cost a quarter of manifest throughput in the benchmark; a request-id lookup is rare and scans instead.
CREATE INDEX audit_by_kind_time ON audit_events (kind, time, id);
