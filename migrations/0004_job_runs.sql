-- One row per scheduled occurrence that was claimed, so a restart never runs it twice.
CREATE TABLE job_runs (
    job           TEXT    NOT NULL,
    scheduled_for INTEGER NOT NULL,   -- the occurrence, Unix ms UTC
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    outcome       TEXT,               -- "ok", "error: …", "interrupted"
    PRIMARY KEY (job, scheduled_for)
);
