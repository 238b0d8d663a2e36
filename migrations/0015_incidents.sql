-- Incidents: one per root cause. An alert opens one; a failing check whose
-- dependency is down joins the dependency's incident as a member instead.
-- Times are Unix ms UTC.
CREATE TABLE incidents (
    id             INTEGER PRIMARY KEY,
    check_name     TEXT    NOT NULL,
    severity       TEXT    NOT NULL,      -- warn | critical | error, the latest while open
    summary        TEXT    NOT NULL,      -- what the check said when it last changed
    opened_at      INTEGER NOT NULL,
    acked_by       TEXT,
    acked_at       INTEGER,
    muted_by       TEXT,
    muted_until    INTEGER,
    resolved_at    INTEGER,
    resolved_note  TEXT,
    -- The message: posted once (announced), rewritten while version > shown.
    announced      INTEGER NOT NULL DEFAULT 0,
    version        INTEGER NOT NULL DEFAULT 1,
    shown          INTEGER NOT NULL DEFAULT 0
);
-- At most one open incident per check.
CREATE UNIQUE INDEX incidents_open_by_check ON incidents (check_name) WHERE resolved_at IS NULL;
CREATE INDEX incidents_by_opened ON incidents (opened_at);

-- Checks that failed while a check they depend on was down.
CREATE TABLE incident_members (
    incident_id  INTEGER NOT NULL REFERENCES incidents (id),
    check_name   TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    summary      TEXT    NOT NULL,
    joined_at    INTEGER NOT NULL,
    recovered_at INTEGER,
    PRIMARY KEY (incident_id, check_name)
);
CREATE INDEX incident_members_open ON incident_members (check_name) WHERE recovered_at IS NULL;

-- Escalation: the highest level reached (0: none yet).
ALTER TABLE incidents ADD COLUMN escalated_level INTEGER NOT NULL DEFAULT 0;

-- Pages, webhooks and mail about incidents, delivered in order per target and
-- retried until they arrive, so a pager outage loses nothing. Payloads hold no
-- secret: routing keys, signing keys and SMTP credentials are added when sent.
CREATE TABLE incident_deliveries (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    target      TEXT    NOT NULL,      -- pagerduty | webhook:<name> | email
    event       TEXT    NOT NULL,      -- trigger | acknowledge | resolve
    level       INTEGER NOT NULL,      -- the escalation level it belongs to
    payload     TEXT    NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'queued',  -- queued | delivered | failed
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL,
    last_error  TEXT,
    created_at  INTEGER NOT NULL,
    delivered_at INTEGER
);
CREATE INDEX incident_deliveries_queued ON incident_deliveries (target, id) WHERE state = 'queued';
CREATE INDEX incident_deliveries_by_incident ON incident_deliveries (incident_id);

-- Every remediation run asked for (pressed or by an auto rule), for the hourly cap
-- of auto runs and the "its last run did not fail" rule.
CREATE TABLE incident_runs (
    proposal_id TEXT    PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    remediation TEXT    NOT NULL,
    auto        INTEGER NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX incident_runs_by_remediation ON incident_runs (remediation, at);

