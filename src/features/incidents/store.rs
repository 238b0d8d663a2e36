//! Incidents' SQL. Every change to what an incident's message shows bumps its
//! `version`; the announcer rewrites the message until `shown` catches up.

use crate::clock::{from_millis, to_millis};
use crate::features::observatory::status::Status;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

/// One incident as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub id: i64,
    pub check: String,
    pub severity: Status,
    pub summary: String,
    pub opened_at: DateTime<Utc>,
    pub acked_by: Option<String>,
    pub acked_at: Option<DateTime<Utc>>,
    pub muted_by: Option<String>,
    pub muted_until: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// What the check said when it recovered.
    pub resolved_note: Option<String>,
    pub announced: bool,
    pub version: i64,
    pub shown: i64,
    /// The highest escalation level reached (0: none).
    pub escalated_level: i64,
}

impl Incident {
    pub fn is_open(&self) -> bool {
        self.resolved_at.is_none()
    }

    pub fn is_muted(&self, now: DateTime<Utc>) -> bool {
        self.muted_until.is_some_and(|t| t > now)
    }
}

/// A check that failed while this incident's check was down.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub check: String,
    pub status: Status,
    pub summary: String,
    pub joined_at: DateTime<Utc>,
    pub recovered_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, check_name, severity, summary, opened_at, acked_by, acked_at, \
     muted_by, muted_until, resolved_at, resolved_note, announced, version, shown, escalated_level";

fn time(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    Ok(r.get::<_, Option<i64>>(i)?.map(from_millis))
}

fn status(text: String) -> Status {
    Status::parse(&text).unwrap_or(Status::Error)
}

fn incident(r: &Row<'_>) -> rusqlite::Result<Incident> {
    Ok(Incident {
        id: r.get(0)?,
        check: r.get(1)?,
        severity: status(r.get(2)?),
        summary: r.get(3)?,
        opened_at: from_millis(r.get(4)?),
        acked_by: r.get(5)?,
        acked_at: time(r, 6)?,
        muted_by: r.get(7)?,
        muted_until: time(r, 8)?,
        resolved_at: time(r, 9)?,
        resolved_note: r.get(10)?,
        announced: r.get::<_, i64>(11)? != 0,
        version: r.get(12)?,
        shown: r.get(13)?,
        escalated_level: r.get(14)?,
    })
}

fn many(c: &Connection, filter: &str, p: impl rusqlite::Params) -> anyhow::Result<Vec<Incident>> {
    let mut stmt = c.prepare_cached(&format!("SELECT {COLUMNS} FROM incidents {filter}"))?;
    let rows = stmt.query_map(p, incident)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get(c: &Connection, id: i64) -> anyhow::Result<Option<Incident>> {
    Ok(many(c, "WHERE id = ?1", [id])?.pop())
}

/// The open incident of `check`, if any.
pub fn open_for(c: &Connection, check: &str) -> anyhow::Result<Option<Incident>> {
    Ok(many(c, "WHERE check_name = ?1 AND resolved_at IS NULL", [check])?.pop())
}

/// Every open incident, oldest first.
pub fn open_all(c: &Connection) -> anyhow::Result<Vec<Incident>> {
    many(c, "WHERE resolved_at IS NULL ORDER BY opened_at, id", [])
}

/// The `n` incidents resolved last, newest first.
pub fn recently_resolved(c: &Connection, n: usize) -> anyhow::Result<Vec<Incident>> {
    many(
        c,
        "WHERE resolved_at IS NOT NULL ORDER BY resolved_at DESC, id DESC LIMIT ?1",
        [n as i64],
    )
}

/// Incidents whose message has not been posted yet.
pub fn unannounced(c: &Connection) -> anyhow::Result<Vec<Incident>> {
    many(c, "WHERE announced = 0 ORDER BY id", [])
}

/// Posted incidents whose message is behind.
pub fn behind(c: &Connection) -> anyhow::Result<Vec<Incident>> {
    many(c, "WHERE announced = 1 AND version > shown ORDER BY id", [])
}

pub fn open(
    c: &Connection,
    check: &str,
    severity: Status,
    summary: &str,
    at: DateTime<Utc>,
) -> anyhow::Result<i64> {
    c.execute(
        "INSERT INTO incidents (check_name, severity, summary, opened_at) VALUES (?1, ?2, ?3, ?4)",
        params![check, severity.as_str(), summary, to_millis(at)],
    )?;
    Ok(c.last_insert_rowid())
}

/// A worse or better state while open.
pub fn set_severity(
    c: &Connection,
    id: i64,
    severity: Status,
    summary: &str,
) -> anyhow::Result<()> {
    c.execute(
        "UPDATE incidents SET severity = ?2, summary = ?3, version = version + 1 WHERE id = ?1",
        params![id, severity.as_str(), summary],
    )?;
    Ok(())
}

/// Something the message shows changed.
pub fn bump(c: &Connection, id: i64) -> anyhow::Result<()> {
    c.execute(
        "UPDATE incidents SET version = version + 1 WHERE id = ?1",
        [id],
    )?;
    Ok(())
}

pub fn resolve(c: &Connection, id: i64, at: DateTime<Utc>, note: &str) -> anyhow::Result<bool> {
    Ok(c.execute(
        "UPDATE incidents SET resolved_at = ?2, resolved_note = ?3, version = version + 1
         WHERE id = ?1 AND resolved_at IS NULL",
        params![id, to_millis(at), note],
    )? == 1)
}

/// Records who owns it. False when it was already acked or is resolved.
pub fn ack(c: &Connection, id: i64, by: &str, at: DateTime<Utc>) -> anyhow::Result<bool> {
    Ok(c.execute(
        "UPDATE incidents SET acked_by = ?2, acked_at = ?3, version = version + 1
         WHERE id = ?1 AND acked_by IS NULL AND resolved_at IS NULL",
        params![id, by, to_millis(at)],
    )? == 1)
}

/// Silences it until `until`. False when it is resolved.
pub fn mute(c: &Connection, id: i64, by: &str, until: DateTime<Utc>) -> anyhow::Result<bool> {
    Ok(c.execute(
        "UPDATE incidents SET muted_by = ?2, muted_until = ?3, version = version + 1
         WHERE id = ?1 AND resolved_at IS NULL",
        params![id, by, to_millis(until)],
    )? == 1)
}

pub fn mark_announced(c: &Connection, id: i64, version: i64) -> anyhow::Result<()> {
    c.execute(
        "UPDATE incidents SET announced = 1, shown = MAX(shown, ?2) WHERE id = ?1",
        params![id, version],
    )?;
    Ok(())
}

pub fn mark_shown(c: &Connection, id: i64, version: i64) -> anyhow::Result<()> {
    c.execute(
        "UPDATE incidents SET shown = MAX(shown, ?2) WHERE id = ?1",
        params![id, version],
    )?;
    Ok(())
}

/// The open incident that `check` is a still-failing member of.
pub fn member_of(c: &Connection, check: &str) -> anyhow::Result<Option<i64>> {
    Ok(c.query_row(
        "SELECT m.incident_id FROM incident_members m JOIN incidents i ON i.id = m.incident_id
         WHERE m.check_name = ?1 AND m.recovered_at IS NULL AND i.resolved_at IS NULL",
        [check],
        |r| r.get(0),
    )
    .optional()?)
}

pub fn join(
    c: &Connection,
    id: i64,
    check: &str,
    status: Status,
    summary: &str,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    c.execute(
        "INSERT INTO incident_members (incident_id, check_name, status, summary, joined_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (incident_id, check_name) DO UPDATE SET
           status = excluded.status, summary = excluded.summary, recovered_at = NULL",
        params![id, check, status.as_str(), summary, to_millis(at)],
    )?;
    bump(c, id)
}

pub fn member_changed(
    c: &Connection,
    id: i64,
    check: &str,
    status: Status,
    summary: &str,
) -> anyhow::Result<()> {
    c.execute(
        "UPDATE incident_members SET status = ?3, summary = ?4
         WHERE incident_id = ?1 AND check_name = ?2",
        params![id, check, status.as_str(), summary],
    )?;
    bump(c, id)
}

pub fn member_recovered(
    c: &Connection,
    id: i64,
    check: &str,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    c.execute(
        "UPDATE incident_members SET recovered_at = ?3
         WHERE incident_id = ?1 AND check_name = ?2 AND recovered_at IS NULL",
        params![id, check, to_millis(at)],
    )?;
    bump(c, id)
}

pub fn members(c: &Connection, id: i64) -> anyhow::Result<Vec<Member>> {
    let mut stmt = c.prepare_cached(
        "SELECT check_name, status, summary, joined_at, recovered_at FROM incident_members
         WHERE incident_id = ?1 ORDER BY joined_at, check_name",
    )?;
    let rows = stmt.query_map([id], |r| {
        Ok(Member {
            check: r.get(0)?,
            status: status(r.get(1)?),
            summary: r.get(2)?,
            joined_at: from_millis(r.get(3)?),
            recovered_at: time(r, 4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records a remediation run asked for on an incident.
pub fn record_run(
    c: &Connection,
    proposal: &str,
    incident: i64,
    remediation: &str,
    auto: bool,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    c.execute(
        "INSERT OR IGNORE INTO incident_runs (proposal_id, incident_id, remediation, auto, at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![proposal, incident, remediation, auto, to_millis(at)],
    )?;
    Ok(())
}

/// Auto runs of `remediation` since `since`.
pub fn auto_runs_since(
    c: &Connection,
    remediation: &str,
    since: DateTime<Utc>,
) -> anyhow::Result<u32> {
    Ok(c.query_row(
        "SELECT count(*) FROM incident_runs WHERE remediation = ?1 AND auto = 1 AND at >= ?2",
        params![remediation, to_millis(since)],
        |r| r.get(0),
    )?)
}

/// The proposal of the newest run of `remediation`, pressed or auto.
pub fn last_run(c: &Connection, remediation: &str) -> anyhow::Result<Option<String>> {
    Ok(c.query_row(
        "SELECT proposal_id FROM incident_runs WHERE remediation = ?1 ORDER BY at DESC, rowid DESC LIMIT 1",
        [remediation],
        |r| r.get(0),
    )
    .optional()?)
}
