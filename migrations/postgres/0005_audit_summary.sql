-- Summaries read one kind of event by time; the events of one request are looked up by its id.
CREATE INDEX audit_by_kind_time ON audit_events (kind, time, id);
CREATE INDEX audit_by_request ON audit_events (request_id);
