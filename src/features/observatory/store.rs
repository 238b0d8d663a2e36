//! All SQL of Observatory: samples, alert state and the notices waiting to be sent.

use super::alerts::{AlertState, Held};
use super::slo::Point;
use super::status::{Outcome, Status};
use crate::clock::{from_millis, to_millis};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

/// Rows one pruning statement deletes, so a prune never holds the write lock long.
pub const PRUNE_BATCH: usize = 5_000;

/// A stored sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub check: String,
    pub at: DateTime<Utc>,
    pub outcome: Outcome,
}

pub fn insert_sample(
    conn: &Connection,
    check: &str,
    at: DateTime<Utc>,
    o: &Outcome,
) -> anyhow::Result<()> {
    conn.execute(
        "INSERT INTO health_samples (check_name, at, status, value, unit, message)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            check,
            to_millis(at),
            o.status.as_str(),
            o.value,
            o.unit,
            o.message
        ],
    )?;
    Ok(())
}

fn status_of(text: &str) -> Status {
    Status::parse(text).unwrap_or(Status::Error)
}

/// Points of `check` in [start, end), plus the last one before `start` (it covers the
/// window's beginning). Without `latency` only time and status are read, which the
/// `(check_name, at, status)` index answers alone; with it, the value of checks
/// measured in ms is read too.
pub fn points(
    conn: &Connection,
    check: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    latency: bool,
) -> anyhow::Result<Vec<Point>> {
    let columns = if latency {
        "at, status, value, unit"
    } else {
        "at, status"
    };
    let row = |r: &rusqlite::Row<'_>| -> rusqlite::Result<Point> {
        let status = Status::parse(r.get_ref(1)?.as_str()?).unwrap_or(Status::Error);
        let latency_ms = if latency && r.get_ref(3)?.as_str()? == "ms" {
            r.get(2)?
        } else {
            None
        };
        Ok(Point {
            at: from_millis(r.get(0)?),
            status,
            latency_ms,
        })
    };
    let mut out: Vec<Point> = conn
        .query_row(
            &format!(
                "SELECT {columns} FROM health_samples
                 WHERE check_name = ?1 AND at < ?2 ORDER BY at DESC LIMIT 1"
            ),
            params![check, to_millis(start)],
            row,
        )
        .optional()?
        .into_iter()
        .collect();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {columns} FROM health_samples
         WHERE check_name = ?1 AND at >= ?2 AND at < ?3 ORDER BY at"
    ))?;
    for p in stmt.query_map(params![check, to_millis(start), to_millis(end)], row)? {
        out.push(p?);
    }
    Ok(out)
}

/// The newest `n` samples, newest first (`check` narrows to one check).
pub fn recent(conn: &Connection, check: Option<&str>, n: usize) -> anyhow::Result<Vec<Sample>> {
    let mut stmt = conn.prepare(
        "SELECT check_name, at, status, value, unit, message FROM health_samples
         WHERE ?1 IS NULL OR check_name = ?1 ORDER BY at DESC, id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![check, n as i64], |r| {
        let status: String = r.get(2)?;
        Ok(Sample {
            check: r.get(0)?,
            at: from_millis(r.get(1)?),
            outcome: Outcome {
                status: status_of(&status),
                value: r.get(3)?,
                unit: r.get(4)?,
                message: r.get(5)?,
            },
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes up to [`PRUNE_BATCH`] samples older than `before`; returns how many.
pub fn prune_batch(conn: &Connection, before: DateTime<Utc>) -> anyhow::Result<usize> {
    Ok(conn.execute(
        "DELETE FROM health_samples WHERE id IN
           (SELECT id FROM health_samples WHERE at < ?1 ORDER BY at LIMIT ?2)",
        params![to_millis(before), PRUNE_BATCH as i64],
    )?)
}

const ALERT_COLUMNS: &str = "check_name, last_status, bad_streak, good_streak, open_status,
    open_since, last_notified, held_since, held_status";

fn alert_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, AlertState)> {
    let last: String = r.get(1)?;
    let open: Option<String> = r.get(4)?;
    let held_since: Option<i64> = r.get(7)?;
    let held_status: Option<String> = r.get(8)?;
    Ok((
        r.get(0)?,
        AlertState {
            last_status: Status::parse(&last),
            bad_streak: r.get(2)?,
            good_streak: r.get(3)?,
            open: open.as_deref().and_then(Status::parse),
            open_since: r.get::<_, Option<i64>>(5)?.map(from_millis),
            last_notified: r.get::<_, Option<i64>>(6)?.map(from_millis),
            held: held_since.map(|since| Held {
                since: from_millis(since),
                open: held_status.as_deref().and_then(Status::parse),
            }),
        },
    ))
}

pub fn alert_state(conn: &Connection, check: &str) -> anyhow::Result<AlertState> {
    let state = conn
        .query_row(
            &format!("SELECT {ALERT_COLUMNS} FROM health_alerts WHERE check_name = ?1"),
            [check],
            alert_row,
        )
        .optional()?;
    Ok(state.map(|(_, s)| s).unwrap_or_default())
}

/// Every check's alert state, by name.
pub fn alert_states(conn: &Connection) -> anyhow::Result<Vec<(String, AlertState)>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {ALERT_COLUMNS} FROM health_alerts ORDER BY check_name"
    ))?;
    let rows = stmt.query_map([], alert_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn save_alert_state(
    conn: &Connection,
    check: &str,
    s: &AlertState,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    conn.execute(
        "INSERT INTO health_alerts (check_name, last_status, bad_streak, good_streak, open_status,
            open_since, last_notified, held_since, held_status, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (check_name) DO UPDATE SET last_status = excluded.last_status,
            bad_streak = excluded.bad_streak, good_streak = excluded.good_streak,
            open_status = excluded.open_status, open_since = excluded.open_since,
            last_notified = excluded.last_notified, held_since = excluded.held_since,
            held_status = excluded.held_status, updated_at = excluded.updated_at",
        params![
            check,
            s.last_status.unwrap_or(Status::Ok).as_str(),
            s.bad_streak,
            s.good_streak,
            s.open.map(Status::as_str),
            s.open_since.map(to_millis),
            s.last_notified.map(to_millis),
            s.held.map(|h| to_millis(h.since)),
            s.held.and_then(|h| h.open).map(Status::as_str),
            to_millis(now),
        ],
    )?;
    Ok(())
}

/// A notice waiting to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedNotice {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub check: String,
    pub kind: String,
    pub status: Status,
    pub text: String,
}

pub fn queue_notice(
    conn: &Connection,
    at: DateTime<Utc>,
    check: &str,
    kind: &str,
    status: Status,
    text: &str,
) -> anyhow::Result<()> {
    conn.execute(
        "INSERT INTO health_notices (at, check_name, kind, status, text) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![to_millis(at), check, kind, status.as_str(), text],
    )?;
    Ok(())
}

pub fn queued_notices(conn: &Connection) -> anyhow::Result<Vec<QueuedNotice>> {
    let mut stmt = conn.prepare(
        "SELECT id, at, check_name, kind, status, text FROM health_notices ORDER BY at, id",
    )?;
    let rows = stmt.query_map([], |r| {
        let status: String = r.get(4)?;
        Ok(QueuedNotice {
            id: r.get(0)?,
            at: from_millis(r.get(1)?),
            check: r.get(2)?,
            kind: r.get(3)?,
            status: status_of(&status),
            text: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn delete_notices(conn: &Connection, ids: &[i64]) -> anyhow::Result<()> {
    for id in ids {
        conn.execute("DELETE FROM health_notices WHERE id = ?1", [id])?;
    }
    Ok(())
}
