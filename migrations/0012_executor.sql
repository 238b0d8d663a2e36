-- The executor. Times are Unix ms UTC.
--
-- A proposal whose action is made of resumable steps has a row here while it runs:
-- at start-up such a proposal is resumed from its stored steps instead of being
-- marked interrupted. A proposal claimed by a set (a "Delete all") names the set as
-- its parent; the set resumes it.
CREATE TABLE action_progress (
    proposal_id TEXT    PRIMARY KEY REFERENCES proposals (id),
    parent_id   TEXT    REFERENCES proposals (id),
    started_at  INTEGER NOT NULL,
    passes      INTEGER NOT NULL DEFAULT 0,
    next_pass_at INTEGER
);

-- Where a multi-step action is: one JSON value per key (e.g. the final snapshot
-- requested for one volume), written before the next step starts.
CREATE TABLE action_steps (
    proposal_id TEXT    NOT NULL REFERENCES proposals (id),
    key         TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (proposal_id, key)
);
