//! Update ids already handled, so a redelivered update is handled once, across restarts.

use crate::clock::to_millis;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

/// Records `update_id`; true if this is its first delivery.
pub fn first_delivery(
    conn: &Connection,
    update_id: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let n = conn.execute(
        "INSERT INTO telegram_updates_seen (update_id, received_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![update_id, to_millis(now)],
    )?;
    Ok(n == 1)
}

pub fn forget(conn: &Connection, update_id: i64) -> anyhow::Result<()> {
    conn.execute(
        "DELETE FROM telegram_updates_seen WHERE update_id = ?1",
        [update_id],
    )?;
    Ok(())
}

/// Where long polling resumes: one past the highest update handled.
pub fn next_offset(conn: &Connection) -> anyhow::Result<i64> {
    let max: Option<i64> = conn.query_row(
        "SELECT max(update_id) FROM telegram_updates_seen",
        [],
        |r| r.get(0),
    )?;
    Ok(max.map_or(0, |m| m + 1))
}

/// Drops old ids, keeping the highest (the polling offset).
pub fn prune(conn: &Connection, before: DateTime<Utc>) -> anyhow::Result<usize> {
    Ok(conn.execute(
        "DELETE FROM telegram_updates_seen
         WHERE received_at < ?1 AND update_id < (SELECT max(update_id) FROM telegram_updates_seen)",
        [to_millis(before)],
    )?)
}
