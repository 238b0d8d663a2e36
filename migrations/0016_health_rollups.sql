-- Observatory's hourly rollups per check, written as samples arrive: time-weighted
-- up and down time (each sample covers until the next, at most two intervals, as
-- the digest counts it), the sample count, and a latency histogram good enough for
-- a p95 ("bucket:count;…", buckets 10% wide). 7- and 30-day numbers read these, so
-- raw samples can age out sooner than the rollups.
CREATE TABLE health_rollups (
    check_name TEXT    NOT NULL,
    hour       INTEGER NOT NULL,   -- Unix ms of the hour's start, UTC
    up_ms      INTEGER NOT NULL DEFAULT 0,
    down_ms    INTEGER NOT NULL DEFAULT 0,
    samples    INTEGER NOT NULL DEFAULT 0,
    latency    TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (check_name, hour)
) WITHOUT ROWID;
CREATE INDEX health_rollups_by_hour ON health_rollups (hour);
