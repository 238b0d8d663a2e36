-- Sentinel: where each pull request it checks stands (its latest head, the rules'
-- results on it, the check run, any waiver), and the pull requests merged while
-- their check was failing and unwaived.
CREATE TABLE sentinel_pulls (
    repo          TEXT    NOT NULL,
    number        INTEGER NOT NULL,
    title         TEXT    NOT NULL,
    author        TEXT    NOT NULL,
    url           TEXT    NOT NULL,
    -- open, closed or merged.
    state         TEXT    NOT NULL,
    head_sha      TEXT    NOT NULL,
    -- JSON list of the rules' results on head_sha.
    results       TEXT    NOT NULL,
    passed        INTEGER NOT NULL,
    check_run_id  INTEGER,
    -- The waiver of head_sha's failing rules, once approved and done.
    waived_by     TEXT,
    waive_note    TEXT,
    waived_at     INTEGER,
    -- The waive proposal of head_sha.
    proposal      TEXT,
    -- The message was posted (its later changes rewrite it).
    announced     INTEGER NOT NULL DEFAULT 0,
    evaluated_at  INTEGER NOT NULL,
    PRIMARY KEY (repo, number)
);
CREATE INDEX sentinel_pulls_failing ON sentinel_pulls (state, passed);

CREATE TABLE sentinel_bypasses (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    repo       TEXT    NOT NULL,
    number     INTEGER NOT NULL,
    title      TEXT    NOT NULL,
    author     TEXT    NOT NULL,
    merged_by  TEXT,
    url        TEXT    NOT NULL,
    head_sha   TEXT    NOT NULL,
    -- JSON list of the rules that were failing.
    failing    TEXT    NOT NULL,
    merged_at  INTEGER NOT NULL,
    UNIQUE (repo, number)
);
CREATE INDEX sentinel_bypasses_at ON sentinel_bypasses (merged_at);
