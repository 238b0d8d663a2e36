//! The deliveries queue's SQL: one row per page, webhook call or mail, delivered in
//! order per target and retried until it arrives.

use crate::clock::{from_millis, to_millis};
use crate::store::retry_queue;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde_json::Value;

const TABLE: &str = "incident_deliveries";

/// One queued delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: i64,
    pub incident: i64,
    /// `pagerduty`, `webhook:<name>` or `email`.
    pub target: String,
    /// `trigger`, `acknowledge` or `resolve`.
    pub event: String,
    pub level: i64,
    pub payload: Value,
    pub attempts: i64,
}

/// A delivery's state, for the incident's message.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub target: String,
    pub event: String,
    pub level: i64,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

pub fn enqueue(
    c: &Connection,
    incident: i64,
    target: &str,
    event: &str,
    level: i64,
    payload: &Value,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    c.execute(
        "INSERT INTO incident_deliveries (incident_id, target, event, level, payload, next_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![incident, target, event, level, payload.to_string(), to_millis(now)],
    )?;
    Ok(())
}

/// The oldest queued delivery of each target, when it is due.
pub fn due_heads(c: &Connection, now: DateTime<Utc>) -> anyhow::Result<Vec<Delivery>> {
    let mut stmt = c.prepare_cached(
        "SELECT d.id, d.incident_id, d.target, d.event, d.level, d.payload, d.attempts
         FROM incident_deliveries d
         WHERE d.state = 'queued' AND d.next_at <= ?1
           AND d.id = (SELECT MIN(q.id) FROM incident_deliveries q
                       WHERE q.state = 'queued' AND q.target = d.target)
         ORDER BY d.id",
    )?;
    let rows = stmt.query_map([to_millis(now)], |r| {
        let payload: String = r.get(5)?;
        Ok(Delivery {
            id: r.get(0)?,
            incident: r.get(1)?,
            target: r.get(2)?,
            event: r.get(3)?,
            level: r.get(4)?,
            payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
            attempts: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn delivered(c: &Connection, id: i64, now: DateTime<Utc>) -> anyhow::Result<()> {
    retry_queue::delivered(c, TABLE, id, now)
}

pub fn retry(c: &Connection, id: i64, error: &str, next: DateTime<Utc>) -> anyhow::Result<()> {
    retry_queue::retry(c, TABLE, id, error, next)
}

pub fn failed(c: &Connection, id: i64, error: &str) -> anyhow::Result<()> {
    retry_queue::failed(c, TABLE, id, error)
}

/// Every delivery of an incident, oldest first.
pub fn of_incident(c: &Connection, incident: i64) -> anyhow::Result<Vec<Sent>> {
    let mut stmt = c.prepare_cached(
        "SELECT target, event, level, state, created_at, last_error FROM incident_deliveries
         WHERE incident_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([incident], |r| {
        Ok(Sent {
            target: r.get(0)?,
            event: r.get(1)?,
            level: r.get(2)?,
            state: r.get(3)?,
            created_at: from_millis(r.get(4)?),
            last_error: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The triggers of an incident (target and payload), to follow with an
/// acknowledgement or a resolution to the same places.
pub fn triggers(c: &Connection, incident: i64) -> anyhow::Result<Vec<(String, Value)>> {
    let mut stmt = c.prepare_cached(
        "SELECT target, payload FROM incident_deliveries
         WHERE incident_id = ?1 AND event = 'trigger' ORDER BY id",
    )?;
    let rows = stmt.query_map([incident], |r| {
        let payload: String = r.get(1)?;
        Ok((
            r.get(0)?,
            serde_json::from_str(&payload).unwrap_or(Value::Null),
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Raises the level an incident reached, if it is still open, unacked and at
/// `from`. False when something changed meanwhile (an ack, a recovery, another pass).
pub fn raise_level(c: &Connection, incident: i64, from: i64, to: i64) -> anyhow::Result<bool> {
    Ok(c.execute(
        "UPDATE incidents SET escalated_level = ?3, version = version + 1
         WHERE id = ?1 AND escalated_level = ?2 AND acked_by IS NULL AND resolved_at IS NULL",
        params![incident, from, to],
    )? == 1)
}

pub fn level_of(c: &Connection, incident: i64) -> anyhow::Result<i64> {
    Ok(c.query_row(
        "SELECT escalated_level FROM incidents WHERE id = ?1",
        [incident],
        |r| r.get(0),
    )?)
}
