-- Webhook notifications (SQLite migration 0012): a cursor over audit ids and one delivery row per (webhook,
-- event), claimed before it is sent so that one process of those sharing the database sends it.
CREATE TABLE notification_cursor (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  after_id  BIGINT NOT NULL
);

CREATE TABLE notification_deliveries (
  id             BIGSERIAL PRIMARY KEY,
  webhook        TEXT NOT NULL,
  event_id       BIGINT NOT NULL,
  kind           TEXT NOT NULL,
  state          TEXT NOT NULL,
  attempts       INTEGER NOT NULL DEFAULT 0,
  next_at        BIGINT NOT NULL,
  claimed_by     TEXT,
  claimed_until  BIGINT NOT NULL DEFAULT 0,
  last_status    INTEGER,
  last_error     TEXT,
  created_at     BIGINT NOT NULL,
  updated_at     BIGINT NOT NULL,
  UNIQUE (webhook, event_id)
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (state, next_at);
CREATE INDEX notification_deliveries_by_webhook ON notification_deliveries (webhook, state, id);
