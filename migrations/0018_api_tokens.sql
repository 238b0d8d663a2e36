-- Bearer tokens of the REST API. Only the SHA-256 of a token is kept: the token
-- itself is printed once, when it is created.
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    -- 'read' (look) or 'decide' (look, and decide proposals as the owner).
    scope TEXT NOT NULL CHECK (scope IN ('read', 'decide')),
    -- The Slack user the token acts for; the gate's policies apply to them.
    owner TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

-- One live token per name, so a decision's record names exactly one.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;
