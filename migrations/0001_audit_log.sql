-- Append-only, hash-chained audit log. Every detection, proposal, decision
-- (including refused clicks), execution step and outcome writes one row.
CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,          -- 1, 2, 3 … assigned by the writer, never reused
    at        TEXT    NOT NULL,             -- RFC 3339 UTC with milliseconds
    actor     TEXT    NOT NULL,             -- "slack:U123", "telegram:42", "scheduler", "system"
    event     TEXT    NOT NULL,             -- dotted name, e.g. "approval.decided"
    subject   TEXT    NOT NULL,             -- what the row is about, e.g. an approval id
    details   TEXT    NOT NULL,             -- JSON object
    prev_hash TEXT    NOT NULL,             -- hash of row seq-1, 64 zeros for the first row
    hash      TEXT    NOT NULL              -- SHA-256 over this row's fields and prev_hash
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused');
END;
