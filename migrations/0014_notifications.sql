-- Webhook notifications. The deliverer reads the audit log after `notification_cursor.after_id` and writes one
-- delivery per (webhook, event) that a webhook wants, in the transaction that moves the cursor: no event is
-- skipped across restarts, and the unique key makes a second scanner's rows no-ops. A delivery is claimed
-- (claimed_by, claimed_until) before it is sent, so of several processes on one database one sends it.
CREATE TABLE notification_cursor (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  after_id  INTEGER NOT NULL
);

CREATE TABLE notification_deliveries (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  webhook        TEXT NOT NULL,
  event_id       INTEGER NOT NULL,
  kind           TEXT NOT NULL,
  state          TEXT NOT NULL,             -- pending | delivered | failed
  attempts       INTEGER NOT NULL DEFAULT 0,
  next_at        INTEGER NOT NULL,          -- epoch ms of the next attempt
  claimed_by     TEXT,
  claimed_until  INTEGER NOT NULL DEFAULT 0,
  last_status    INTEGER,
  last_error     TEXT,
  created_at     INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL,
  UNIQUE (webhook, event_id)
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (state, next_at);
CREATE INDEX notification_deliveries_by_webhook ON notification_deliveries (webhook, state, id);
