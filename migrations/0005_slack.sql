-- Slack Events API deliveries already handled, so a redelivery (X-Slack-Retry-Num) is
-- handled once, even across a restart. Times are Unix milliseconds (UTC).
CREATE TABLE slack_events_seen (
    event_id    TEXT    PRIMARY KEY,
    received_at INTEGER NOT NULL
);

-- The Slack member directory as team_join and user_change events report it; Access
-- Guard reads deactivations from here.
CREATE TABLE slack_members (
    user_id     TEXT    PRIMARY KEY,
    team_id     TEXT,
    name        TEXT,
    real_name   TEXT,
    email       TEXT,
    deleted     INTEGER NOT NULL DEFAULT 0,
    is_bot      INTEGER NOT NULL DEFAULT 0,
    updated_at  INTEGER NOT NULL,
    last_event  TEXT    NOT NULL       -- "team_join" or "user_change"
);

-- Which proposal an outbox message presents, so the message id Slack returns is
-- recorded on the proposal and a decision can update that message.
ALTER TABLE outbox ADD COLUMN approval_id TEXT REFERENCES proposals (id);

