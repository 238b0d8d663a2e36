-- Events acknowledged to a person (commands, clicks, directory changes) that a
-- shutdown's drain had no time to handle. The next start handles them first, in
-- the order they arrived, and deletes each row as it is queued again.
CREATE TABLE parked_events (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    parked_at INTEGER NOT NULL,
    event     TEXT    NOT NULL
);
