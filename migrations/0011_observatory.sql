-- Observatory. Every check result is a sample; old ones are pruned in small batches.
-- Times are Unix ms UTC; status is ok | warn | critical | error.
CREATE TABLE health_samples (
    id         INTEGER PRIMARY KEY,
    check_name TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    status     TEXT    NOT NULL,
    value      REAL,
    unit       TEXT    NOT NULL DEFAULT '',
    message    TEXT    NOT NULL DEFAULT ''
);
-- Covers the uptime query (time and status only), so 30 days read from the index alone.
CREATE INDEX health_samples_by_check ON health_samples (check_name, at, status);
CREATE INDEX health_samples_by_time ON health_samples (at);

-- Alert state per check, so a restart neither re-sends an open alert nor misses a
-- recovery.
CREATE TABLE health_alerts (
    check_name    TEXT    PRIMARY KEY,
    last_status   TEXT    NOT NULL,
    bad_streak    INTEGER NOT NULL DEFAULT 0,
    good_streak   INTEGER NOT NULL DEFAULT 0,
    open_status   TEXT,              -- the status announced while an alert is open
    open_since    INTEGER,
    last_notified INTEGER,
    held_since    INTEGER,           -- a maintenance window began: what was announced then
    held_status   TEXT,
    updated_at    INTEGER NOT NULL
);

-- Alert changes waiting for group_wait, sent together as one message.
CREATE TABLE health_notices (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    check_name TEXT    NOT NULL,
    kind       TEXT    NOT NULL,     -- alert | recovery | reminder | change | after_maintenance
    status     TEXT    NOT NULL,
    text       TEXT    NOT NULL
);

-- The digest reads the audit log by event and time.
CREATE INDEX audit_log_by_event ON audit_log (event, at);
