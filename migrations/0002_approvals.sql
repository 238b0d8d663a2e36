-- Proposals waiting for (or past) a human decision. Times are Unix milliseconds (UTC).
CREATE TABLE proposals (
    id                 TEXT    PRIMARY KEY,
    kind               TEXT    NOT NULL,          -- e.g. "delete_volume"
    target             TEXT    NOT NULL,          -- e.g. "vol-0abc" or "us-east-1/vol-0abc"
    params             TEXT    NOT NULL DEFAULT '{}',
    reason             TEXT    NOT NULL,
    proposed_by        TEXT    NOT NULL,          -- "scheduler", "slack:U123" …
    state              TEXT    NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'approved', 'rejected', 'expired', 'executing',
                         'succeeded', 'failed', 'skipped', 'interrupted')),
    required_approvals INTEGER NOT NULL DEFAULT 1 CHECK (required_approvals >= 1),
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    decided_by         TEXT,
    decided_at         INTEGER,
    finished_at        INTEGER,
    outcome            TEXT,                      -- JSON: what really happened
    posted_platform    TEXT,
    posted_channel     TEXT,
    posted_message_id  TEXT
);

-- Only one open proposal per (kind, target).
CREATE UNIQUE INDEX proposals_one_open_per_target
    ON proposals (kind, target)
    WHERE state IN ('pending', 'approved', 'executing');

CREATE INDEX proposals_by_state ON proposals (state, expires_at);

-- One row per distinct approver, so a two-approver rule counts people, not clicks.
CREATE TABLE approval_votes (
    proposal_id TEXT    NOT NULL REFERENCES proposals (id),
    approver    TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (proposal_id, approver)
);
