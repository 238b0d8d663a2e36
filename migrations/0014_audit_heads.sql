-- Heads of the audit chain (row id and hash) that left the database, in the daily
-- digest. `audit verify` checks the chain still reaches each one with the same
-- hash, so trimming the tail or rewriting rows and their hashes is named. A copy
-- kept outside (the digest in chat) is checked with `audit verify --head ID:HASH`.
CREATE TABLE audit_heads (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    seq       INTEGER NOT NULL,             -- the audit row the head names
    hash      TEXT    NOT NULL,             -- that row's hash
    posted_at TEXT    NOT NULL,             -- RFC 3339 UTC
    via       TEXT    NOT NULL              -- where it went, e.g. "digest to slack:C0OPS"
);

CREATE TRIGGER audit_heads_no_update BEFORE UPDATE ON audit_heads
BEGIN
    SELECT RAISE(ABORT, 'audit_heads is append-only: UPDATE refused');
END;

CREATE TRIGGER audit_heads_no_delete BEFORE DELETE ON audit_heads
BEGIN
    SELECT RAISE(ABORT, 'audit_heads is append-only: DELETE refused');
END;
