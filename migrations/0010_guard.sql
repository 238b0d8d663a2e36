-- Access Guard. What the scans concluded about each IAM user: since when the person
-- is missing (the grace clock), Keep access decisions, and a finished revocation.
-- Times are Unix ms UTC.
CREATE TABLE guard_people (
    iam_user      TEXT    PRIMARY KEY,
    missing_since INTEGER,                     -- NULL while present
    missing_from  TEXT    NOT NULL DEFAULT '[]', -- JSON array of directory labels
    last_scan     INTEGER NOT NULL,
    kept_until    INTEGER,
    kept_by       TEXT,
    kept_reason   TEXT,
    kept_approval TEXT,                        -- the proposal Keep access rejected, if any
    revoked_at    INTEGER
);

-- Revocation steps already done, so a revocation cut off by an error or a crash
-- resumes with what is left and never repeats a step.
CREATE TABLE guard_steps (
    iam_user    TEXT    NOT NULL,
    step        TEXT    NOT NULL,
    approval_id TEXT    NOT NULL,
    done_at     INTEGER NOT NULL,
    removed     TEXT    NOT NULL,              -- JSON array of what it removed
    PRIMARY KEY (iam_user, step)
);
