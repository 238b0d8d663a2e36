//! Every SQL statement on `job_runs`.

use crate::clock::{from_millis, to_millis};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

/// Claims an occurrence. Returns false if it was already claimed (by an earlier run of
/// this process or before a restart), which is how a job never runs twice.
pub fn claim(
    conn: &Connection,
    job: &str,
    scheduled_for: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let n = conn.execute(
        "INSERT INTO job_runs (job, scheduled_for, started_at) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
        params![job, to_millis(scheduled_for), to_millis(now)],
    )?;
    Ok(n == 1)
}

/// The newest claimed occurrence of a job.
pub fn last_claimed(conn: &Connection, job: &str) -> anyhow::Result<Option<DateTime<Utc>>> {
    let ms: Option<i64> = conn.query_row(
        "SELECT max(scheduled_for) FROM job_runs WHERE job = ?1",
        [job],
        |r| r.get(0),
    )?;
    Ok(ms.map(from_millis))
}

pub fn finish(
    conn: &Connection,
    job: &str,
    scheduled_for: DateTime<Utc>,
    outcome: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    conn.execute(
        "UPDATE job_runs SET finished_at = ?3, outcome = ?4 WHERE job = ?1 AND scheduled_for = ?2",
        params![job, to_millis(scheduled_for), to_millis(now), outcome],
    )?;
    Ok(())
}

/// Runs that started but never finished (the process stopped mid-run).
pub fn mark_unfinished_interrupted(conn: &Connection) -> anyhow::Result<usize> {
    Ok(conn.execute(
        "UPDATE job_runs SET outcome = 'interrupted' WHERE finished_at IS NULL AND outcome IS NULL",
        [],
    )?)
}

/// Forgets occurrence rows older than `before`, keeping each job's newest one so the
/// catch-up logic still knows when it last ran.
pub fn prune(conn: &Connection, before: DateTime<Utc>) -> anyhow::Result<usize> {
    Ok(conn.execute(
        "DELETE FROM job_runs
         WHERE scheduled_for < ?1
           AND scheduled_for < (SELECT max(j.scheduled_for) FROM job_runs j WHERE j.job = job_runs.job)",
        [to_millis(before)],
    )?)
}
