//! Event ids already handled, so Slack's redeliveries are handled once, across restarts.

use crate::clock::to_millis;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

/// Records `event_id`; true if this is its first delivery.
pub fn first_delivery(
    conn: &Connection,
    event_id: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let n = conn.execute(
        "INSERT INTO slack_events_seen (event_id, received_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![event_id, to_millis(now)],
    )?;
    Ok(n == 1)
}

/// Undoes [`first_delivery`] when the event could not be queued, so Slack's retry is
/// handled.
pub fn forget(conn: &Connection, event_id: &str) -> anyhow::Result<()> {
    conn.execute(
        "DELETE FROM slack_events_seen WHERE event_id = ?1",
        [event_id],
    )?;
    Ok(())
}

/// Drops ids older than `before`; Slack stops retrying after about an hour.
pub fn prune(conn: &Connection, before: DateTime<Utc>) -> anyhow::Result<usize> {
    Ok(conn.execute(
        "DELETE FROM slack_events_seen WHERE received_at < ?1",
        [to_millis(before)],
    )?)
}
