//! The state moves of a feature's own delivery queue (Incidents' pager and webhook
//! deliveries, billing's usage reports): delivered, due again later, or failed for
//! good. Each queue's table has `state`, `attempts`, `last_error`, `next_at` and
//! `delivered_at`; the table name is one of the queues' constants, never input.

use crate::clock::to_millis;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

/// The row was delivered.
pub fn delivered(
    c: &Connection,
    table: &'static str,
    id: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    c.execute(
        &format!(
            "UPDATE {table} SET state = 'delivered', attempts = attempts + 1,
               delivered_at = ?2, last_error = NULL WHERE id = ?1"
        ),
        params![id, to_millis(now)],
    )?;
    Ok(())
}

/// The row is tried again at `next`.
pub fn retry(
    c: &Connection,
    table: &'static str,
    id: i64,
    error: &str,
    next: DateTime<Utc>,
) -> anyhow::Result<()> {
    c.execute(
        &format!(
            "UPDATE {table} SET attempts = attempts + 1, last_error = ?2, next_at = ?3
             WHERE id = ?1"
        ),
        params![id, error, to_millis(next)],
    )?;
    Ok(())
}

/// Retrying cannot help: the row is kept as failed, with why.
pub fn failed(c: &Connection, table: &'static str, id: i64, error: &str) -> anyhow::Result<()> {
    c.execute(
        &format!(
            "UPDATE {table} SET state = 'failed', attempts = attempts + 1, last_error = ?2
             WHERE id = ?1"
        ),
        params![id, error],
    )?;
    Ok(())
}
