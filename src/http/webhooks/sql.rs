//! The SQL of `webhook_deliveries`.

use super::{Delivery, DeliveryName, WebhookRef};
use crate::clock::{from_millis, to_millis};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

/// A verified delivery, as the door stores it.
pub struct NewDelivery {
    pub source: &'static str,
    pub feature: &'static str,
    pub name: DeliveryName,
    pub body: Vec<u8>,
    pub received_at: DateTime<Utc>,
}

/// Stores a delivery; false when its source and key were stored before (a redelivery).
pub fn insert(c: &mut Connection, d: &NewDelivery) -> anyhow::Result<bool> {
    let n = c.execute(
        "INSERT OR IGNORE INTO webhook_deliveries
             (source, delivery_key, feature, event, lane, body, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            d.source,
            d.name.key,
            d.feature,
            d.name.event,
            d.name.lane,
            d.body,
            to_millis(d.received_at)
        ],
    )?;
    Ok(n == 1)
}

/// The delivery, if it still waits to be handled.
pub fn queued(c: &mut Connection, source: &str, key: &str) -> anyhow::Result<Option<Delivery>> {
    Ok(c.query_row(
        "SELECT feature, event, body, received_at FROM webhook_deliveries
         WHERE source = ?1 AND delivery_key = ?2 AND state = 'queued'",
        params![source, key],
        |r| {
            Ok(Delivery {
                source: source.to_owned(),
                key: key.to_owned(),
                feature: r.get(0)?,
                event: r.get(1)?,
                body: r.get(2)?,
                received_at: from_millis(r.get(3)?),
            })
        },
    )
    .optional()?)
}

/// Marks a delivery handled, or failed with `error`.
pub fn finish(
    c: &mut Connection,
    source: &str,
    key: &str,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    c.execute(
        "UPDATE webhook_deliveries SET state = ?3, error = ?4, handled_at = ?5
         WHERE source = ?1 AND delivery_key = ?2",
        params![
            source,
            key,
            if error.is_some() { "failed" } else { "handled" },
            error,
            to_millis(now)
        ],
    )?;
    Ok(())
}

/// Every delivery still waiting, oldest first.
pub fn waiting(c: &mut Connection) -> anyhow::Result<Vec<WebhookRef>> {
    let mut stmt = c.prepare(
        "SELECT source, delivery_key, lane FROM webhook_deliveries
         WHERE state = 'queued' ORDER BY received_at, rowid",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(WebhookRef {
            source: r.get(0)?,
            key: r.get(1)?,
            lane: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes handled and failed deliveries received before `before` (a redelivery that
/// late is handled as new). Returns how many.
pub fn prune(c: &mut Connection, before: DateTime<Utc>) -> anyhow::Result<usize> {
    Ok(c.execute(
        "DELETE FROM webhook_deliveries WHERE state != 'queued' AND received_at < ?1",
        [to_millis(before)],
    )?)
}

/// (waiting, failed) deliveries, for `/readyz`-style reports and tests.
pub fn counts(c: &mut Connection) -> anyhow::Result<(i64, i64)> {
    Ok(c.query_row(
        "SELECT COALESCE(SUM(state = 'queued'), 0), COALESCE(SUM(state = 'failed'), 0)
         FROM webhook_deliveries",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}
