-- Every outgoing chat message is a row before it is sent. Times are Unix milliseconds (UTC).
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    platform        TEXT    NOT NULL CHECK (platform IN ('slack', 'telegram')),
    channel         TEXT    NOT NULL,
    operation       TEXT    NOT NULL DEFAULT 'post',   -- "post", "update" …
    payload         TEXT    NOT NULL,                  -- platform-ready JSON
    state           TEXT    NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    remote_id       TEXT                               -- message id the platform returned
);

CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
