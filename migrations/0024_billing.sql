-- Billing through Lemon Squeezy: the subscriptions its webhooks describe, every
-- executed action counted once as usage, and the usage reports sent to its API.
-- Times are Unix milliseconds (UTC).
CREATE TABLE subscriptions (
    id          TEXT    PRIMARY KEY,       -- Lemon Squeezy's subscription id
    customer    TEXT    NOT NULL,
    -- on_trial, active, paused, past_due, unpaid, cancelled or expired.
    status      TEXT    NOT NULL,
    -- The variant's name: the key of [billing.plans.<name>]. Empty until a
    -- subscription event names it (a payment event may come first).
    plan        TEXT    NOT NULL DEFAULT '',
    renews_at   INTEGER,
    ends_at     INTEGER,
    -- The subscription item usage is reported for.
    item_id     TEXT,
    -- When the status last changed, for "past_due since …".
    status_since INTEGER NOT NULL,
    -- Lemon Squeezy's updated_at of the last subscription object applied: an older
    -- one arriving late is not applied over it.
    source_updated_at INTEGER,
    last_event  TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- Usage records to send: one POST /v1/usage-records each, in order, retried with
-- backoff until Lemon Squeezy takes it.
CREATE TABLE billing_usage_reports (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id      TEXT    NOT NULL,
    quantity     INTEGER NOT NULL,
    -- queued, delivered or failed (refused for good, with the error).
    state        TEXT    NOT NULL DEFAULT 'queued',
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER NOT NULL,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    delivered_at INTEGER
);
CREATE INDEX billing_usage_reports_queued ON billing_usage_reports (state, id);

-- One row per executed action (a proposal that succeeded and was not a dry run),
-- counted once by kind and calendar month in the configured time zone.
CREATE TABLE billing_usage (
    proposal_id TEXT    PRIMARY KEY REFERENCES proposals (id),
    kind        TEXT    NOT NULL,
    period      TEXT    NOT NULL,          -- "2026-11"
    finished_at INTEGER NOT NULL,
    counted_at  INTEGER NOT NULL,
    -- The report that carried it to Lemon Squeezy (NULL: not reported yet, or
    -- report_usage is off).
    report_id   INTEGER REFERENCES billing_usage_reports (id)
);
CREATE INDEX billing_usage_by_period ON billing_usage (period, kind);
CREATE INDEX billing_usage_unreported ON billing_usage (report_id) WHERE report_id IS NULL;

-- Where counting started: actions finished before billing was first turned on are
-- not counted.
CREATE TABLE billing_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
