-- Night Watchman. A hold keeps staging up until a time; who set it and why are kept.
CREATE TABLE watchman_holds (
    id      INTEGER PRIMARY KEY,
    set_at  INTEGER NOT NULL,          -- Unix ms UTC
    until   INTEGER NOT NULL,
    set_by  TEXT    NOT NULL,          -- actor key
    reason  TEXT
);
CREATE INDEX watchman_holds_until ON watchman_holds (until);

-- A stop announced in notice mode: it runs at the deadline unless somebody keeps.
CREATE TABLE watchman_notices (
    approval_id TEXT    PRIMARY KEY,
    deadline    INTEGER NOT NULL,
    handled_at  INTEGER                -- set once the deadline passed and it was handled
);
CREATE INDEX watchman_notices_due ON watchman_notices (deadline) WHERE handled_at IS NULL;
