-- Web console sign-ins. The browser holds a random session id in a signed cookie;
-- only the id's SHA-256 is stored. `csrf` is the token every POST of the session
-- must carry.
CREATE TABLE web_sessions (
    id_hash    TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL,              -- Slack user id
    name       TEXT,
    csrf       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);

-- The key that signs the console's cookies, made at the first start.
CREATE TABLE web_keys (
    name TEXT PRIMARY KEY,
    key  BLOB NOT NULL
);
