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
