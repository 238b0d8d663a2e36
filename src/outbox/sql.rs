//! Every SQL statement on `outbox`.

use super::{Destination, Operation, Platform};
use crate::clock::{from_millis, to_millis};
use crate::domain::ApprovalId;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

/// One queued (or delivered) message.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub id: i64,
    pub destination: Destination,
    pub operation: Operation,
    pub payload: Value,
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub remote_id: Option<String>,
    /// The proposal this message presents, if any.
    pub approval: Option<String>,
}

const COLUMNS: &str = "id, platform, channel, operation, payload, state, attempts,
    next_attempt_at, last_error, created_at, sent_at, remote_id, approval_id";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxMessage> {
    let bad = |i: usize, what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("unknown {what}").into(),
        )
    };
    let platform: String = row.get(1)?;
    let operation: String = row.get(3)?;
    let payload: String = row.get(4)?;
    Ok(OutboxMessage {
        id: row.get(0)?,
        destination: Destination {
            platform: Platform::parse(&platform).ok_or_else(|| bad(1, "platform"))?,
            channel: row.get(2)?,
        },
        operation: Operation::parse(&operation).ok_or_else(|| bad(3, "operation"))?,
        payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
        state: row.get(5)?,
        attempts: row.get(6)?,
        next_attempt_at: from_millis(row.get(7)?),
        last_error: row.get(8)?,
        created_at: from_millis(row.get(9)?),
        sent_at: row.get::<_, Option<i64>>(10)?.map(from_millis),
        remote_id: row.get(11)?,
        approval: row.get(12)?,
    })
}

pub fn insert(
    conn: &Connection,
    to: &Destination,
    op: Operation,
    payload: &Value,
    approval: Option<&ApprovalId>,
    tag: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<i64> {
    conn.execute(
        "INSERT INTO outbox (platform, channel, operation, payload, next_attempt_at, created_at,
                             approval_id, tag)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)",
        params![
            to.platform.as_str(),
            to.channel,
            op.as_str(),
            payload.to_string(),
            to_millis(now),
            approval.map(ApprovalId::as_str),
            tag,
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn get(conn: &Connection, id: i64) -> anyhow::Result<Option<OutboxMessage>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?)
}

/// The head of each destination's queue, if it is due. Later messages to the same
/// destination wait behind it, so order is kept per channel.
pub fn due_heads(
    conn: &Connection,
    platforms: &[&str],
    now: DateTime<Utc>,
    limit: usize,
) -> anyhow::Result<Vec<OutboxMessage>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox
         WHERE id IN (SELECT min(id) FROM outbox WHERE state = 'queued' GROUP BY platform, channel)
           AND next_attempt_at <= ?1
         ORDER BY next_attempt_at, id"
    ))?;
    let rows = stmt.query_map([to_millis(now)], from_row)?;
    let mut out = Vec::new();
    for row in rows {
        let row = row?;
        if platforms.contains(&row.destination.platform.as_str()) {
            out.push(row);
            if out.len() >= limit {
                break;
            }
        }
    }
    Ok(out)
}

/// Deletes up to `batch` messages delivered before `before`; returns how many. Queued
/// and failed ones are kept (a failed one is the evidence of what never arrived).
pub fn prune_delivered(
    conn: &Connection,
    before: DateTime<Utc>,
    batch: usize,
) -> anyhow::Result<usize> {
    Ok(conn.execute(
        "DELETE FROM outbox WHERE id IN (
             SELECT id FROM outbox WHERE state = 'sent' AND sent_at < ?1 ORDER BY id LIMIT ?2)",
        params![to_millis(before), batch as i64],
    )?)
}

/// When the next queued message becomes due, for the sender's sleep.
pub fn next_due(conn: &Connection, platforms: &[&str]) -> anyhow::Result<Option<DateTime<Utc>>> {
    let mut stmt = conn.prepare_cached(
        "SELECT platform, min(next_attempt_at) FROM outbox WHERE state = 'queued' GROUP BY platform",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut best: Option<i64> = None;
    for row in rows {
        let (platform, at) = row?;
        if platforms.contains(&platform.as_str()) {
            best = Some(best.map_or(at, |b| b.min(at)));
        }
    }
    Ok(best.map(from_millis))
}

/// Marks a row sent. If it presented a proposal, the message id goes on the proposal
/// too, so a decision can update that message. Call it inside a transaction.
pub fn mark_sent(
    conn: &Connection,
    id: i64,
    remote_id: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    conn.execute(
        "UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_at = ?2, remote_id = ?3,
                           last_error = NULL
         WHERE id = ?1 AND state = 'queued'",
        params![id, to_millis(now), remote_id],
    )?;
    if remote_id.is_some() {
        conn.execute(
            "UPDATE proposals
             SET posted_platform = o.platform, posted_channel = o.channel,
                 posted_message_id = o.remote_id
             FROM (SELECT platform, channel, remote_id, approval_id, operation
                   FROM outbox WHERE id = ?1) AS o
             WHERE proposals.id = o.approval_id AND o.operation = 'post'",
            [id],
        )?;
        conn.execute(
            "INSERT OR REPLACE INTO tagged_messages (platform, channel, message_id, tag)
             SELECT platform, channel, remote_id, tag FROM outbox
             WHERE id = ?1 AND tag IS NOT NULL AND operation = 'post'",
            [id],
        )?;
    }
    Ok(())
}

pub fn mark_retry(
    conn: &Connection,
    id: i64,
    next: DateTime<Utc>,
    error: &str,
) -> anyhow::Result<()> {
    conn.execute(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3
         WHERE id = ?1 AND state = 'queued'",
        params![id, to_millis(next), error],
    )?;
    Ok(())
}

pub fn mark_failed(conn: &Connection, id: i64, error: &str) -> anyhow::Result<()> {
    conn.execute(
        "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ?2
         WHERE id = ?1 AND state = 'queued'",
        params![id, error],
    )?;
    Ok(())
}

/// Undelivered count and the age in seconds of the oldest undelivered message.
pub fn depth(conn: &Connection, now: DateTime<Utc>) -> anyhow::Result<(i64, i64)> {
    let (count, oldest): (i64, Option<i64>) = conn.query_row(
        "SELECT count(*), min(created_at) FROM outbox WHERE state = 'queued'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let age = oldest.map_or(0, |t| ((to_millis(now) - t) / 1000).max(0));
    Ok((count, age))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::Platform;

    #[test]
    fn sent_proposal_messages_record_their_id_on_the_proposal() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::migrations::apply_all(&mut c).unwrap();
        c.execute(
            "INSERT INTO proposals (id, kind, target, reason, proposed_by, created_at, expires_at)
             VALUES ('abcdefghij', 'delete_volume', 't', 'r', 'scheduler', 1, 2)",
            [],
        )
        .unwrap();
        let to = Destination {
            platform: Platform::Slack,
            channel: "C1".into(),
        };
        let id = ApprovalId::parse("abcdefghij").unwrap();
        let row = insert(
            &c,
            &to,
            Operation::Post,
            &serde_json::json!({}),
            Some(&id),
            None,
            Utc::now(),
        )
        .unwrap();
        mark_sent(&c, row, Some("123.456"), Utc::now()).unwrap();
        let posted: (String, String, String) = c
            .query_row(
                "SELECT posted_platform, posted_channel, posted_message_id FROM proposals",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(posted, ("slack".into(), "C1".into(), "123.456".into()));
    }
}

#[cfg(test)]
mod due_tests {
    use super::*;
    use crate::outbox::Platform;

    #[test]
    fn the_next_row_becomes_the_head_after_the_first_is_sent() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::migrations::apply_all(&mut c).unwrap();
        let to = Destination {
            platform: Platform::Telegram,
            channel: "-100".into(),
        };
        let t = Utc::now();
        let a = insert(
            &c,
            &to,
            Operation::Post,
            &serde_json::json!({}),
            None,
            None,
            t,
        )
        .unwrap();
        let b = insert(
            &c,
            &to,
            Operation::Respond,
            &serde_json::json!({}),
            None,
            None,
            t,
        )
        .unwrap();
        let d = insert(
            &c,
            &to,
            Operation::Update,
            &serde_json::json!({}),
            None,
            None,
            t,
        )
        .unwrap();
        let later = t + chrono::Duration::seconds(1);
        assert_eq!(due_heads(&c, &["telegram"], later, 10).unwrap()[0].id, a);
        mark_sent(&c, a, Some("1"), t).unwrap();
        assert_eq!(due_heads(&c, &["telegram"], later, 10).unwrap()[0].id, b);
        mark_sent(&c, b, None, t).unwrap();
        let due = due_heads(&c, &["telegram"], later, 10).unwrap();
        assert_eq!(due.iter().map(|m| m.id).collect::<Vec<_>>(), vec![d]);
    }
}

/// A delivered message that carries a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedMessage {
    pub platform: String,
    pub channel: String,
    pub message_id: String,
    pub tag: String,
}

/// The tag of a delivered message, if it has one.
pub fn tag_of(
    conn: &Connection,
    platform: &str,
    channel: &str,
    message_id: &str,
) -> anyhow::Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT tag FROM tagged_messages WHERE platform = ?1 AND channel = ?2 AND message_id = ?3",
            params![platform, channel, message_id],
            |r| r.get(0),
        )
        .optional()?)
}

/// Delivered messages whose tag starts with `prefix`.
pub fn tagged(conn: &Connection, prefix: &str) -> anyhow::Result<Vec<TaggedMessage>> {
    let mut stmt = conn.prepare(
        "SELECT platform, channel, message_id, tag FROM tagged_messages
         WHERE substr(tag, 1, length(?1)) = ?1 ORDER BY tag, platform",
    )?;
    let rows = stmt.query_map([prefix], |r| {
        Ok(TaggedMessage {
            platform: r.get(0)?,
            channel: r.get(1)?,
            message_id: r.get(2)?,
            tag: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
