-- Signed webhook deliveries from outside services (GitHub, Lemon Squeezy), kept
-- from the moment the door verified them: a redelivery (the same source and key)
-- is answered without being handled twice, and a delivery the process died before
-- handling is handled after the next start.
CREATE TABLE webhook_deliveries (
    source       TEXT    NOT NULL,
    delivery_key TEXT    NOT NULL,
    -- The feature whose door took it, and what the source calls the event.
    feature      TEXT    NOT NULL,
    event        TEXT    NOT NULL,
    -- Deliveries that must not overtake each other share a lane (one pull request).
    lane         TEXT,
    body         BLOB    NOT NULL,
    received_at  INTEGER NOT NULL,
    -- queued, handled or failed (with the error).
    state        TEXT    NOT NULL DEFAULT 'queued',
    handled_at   INTEGER,
    error        TEXT,
    PRIMARY KEY (source, delivery_key)
);
CREATE INDEX webhook_deliveries_queued ON webhook_deliveries (state, received_at);
