-- Zombie Hunter. AWS does not record when a volume was detached or an address
-- disassociated, so the first time OpsMate saw each idle resource is kept here.
CREATE TABLE hunter_findings (
    account          TEXT    NOT NULL,   -- '' for the default credentials' account
    region           TEXT    NOT NULL,
    kind             TEXT    NOT NULL,   -- volume | snapshot | elastic_ip
    resource_id      TEXT    NOT NULL,
    first_seen       INTEGER NOT NULL,   -- Unix ms UTC; reset when it reappears after resolving
    last_seen        INTEGER NOT NULL,
    resolved_at      INTEGER,            -- gone or no longer idle; NULL while idle
    monthly_cost_usd REAL    NOT NULL,
    details          TEXT    NOT NULL,   -- JSON
    PRIMARY KEY (account, region, kind, resource_id)
);
CREATE INDEX hunter_findings_open ON hunter_findings (account, region) WHERE resolved_at IS NULL;

-- A posted report: its summary, and the proposals it listed in order.
CREATE TABLE hunter_reports (
    id               TEXT    PRIMARY KEY,
    created_at       INTEGER NOT NULL,
    bulk_approval_id TEXT,
    summary          TEXT    NOT NULL    -- JSON
);

CREATE TABLE hunter_report_items (
    report_id   TEXT    NOT NULL REFERENCES hunter_reports (id),
    position    INTEGER NOT NULL,
    approval_id TEXT    NOT NULL,
    finding     TEXT    NOT NULL,        -- JSON
    PRIMARY KEY (report_id, position)
);
CREATE INDEX hunter_report_items_by_approval ON hunter_report_items (approval_id);
