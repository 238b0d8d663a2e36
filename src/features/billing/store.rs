//! The SQL of billing: `subscriptions`, `billing_usage`, `billing_usage_reports`
//! and `billing_state`.

use crate::clock::{from_millis, to_millis};
use crate::store::retry_queue;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

const TABLE: &str = "billing_usage_reports";

/// One subscription, as its last applied webhook left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscription {
    pub id: String,
    pub customer: String,
    pub status: String,
    /// The variant's name; empty until a subscription event names it.
    pub plan: String,
    pub renews_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub item_id: Option<String>,
    pub status_since: DateTime<Utc>,
    #[serde(skip)]
    pub source_updated_at: Option<DateTime<Utc>>,
    pub last_event: String,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, customer, status, plan, renews_at, ends_at, item_id, status_since,
    source_updated_at, last_event, updated_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Subscription> {
    let opt = |v: Option<i64>| v.map(from_millis);
    Ok(Subscription {
        id: r.get(0)?,
        customer: r.get(1)?,
        status: r.get(2)?,
        plan: r.get(3)?,
        renews_at: opt(r.get(4)?),
        ends_at: opt(r.get(5)?),
        item_id: r.get(6)?,
        status_since: from_millis(r.get(7)?),
        source_updated_at: opt(r.get(8)?),
        last_event: r.get(9)?,
        updated_at: from_millis(r.get(10)?),
    })
}

pub fn subscription(c: &Connection, id: &str) -> anyhow::Result<Option<Subscription>> {
    Ok(c.query_row(
        &format!("SELECT {COLUMNS} FROM subscriptions WHERE id = ?1"),
        [id],
        row,
    )
    .optional()?)
}

/// Every subscription, the most recently changed first.
pub fn subscriptions(c: &Connection) -> anyhow::Result<Vec<Subscription>> {
    let mut stmt = c.prepare(&format!(
        "SELECT {COLUMNS} FROM subscriptions ORDER BY updated_at DESC, id"
    ))?;
    let rows = stmt.query_map([], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn upsert(c: &Connection, s: &Subscription) -> anyhow::Result<()> {
    c.execute(
        &format!(
            "INSERT INTO subscriptions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (id) DO UPDATE SET customer = excluded.customer, status = excluded.status,
               plan = excluded.plan, renews_at = excluded.renews_at, ends_at = excluded.ends_at,
               item_id = excluded.item_id, status_since = excluded.status_since,
               source_updated_at = excluded.source_updated_at, last_event = excluded.last_event,
               updated_at = excluded.updated_at"
        ),
        params![
            s.id,
            s.customer,
            s.status,
            s.plan,
            s.renews_at.map(to_millis),
            s.ends_at.map(to_millis),
            s.item_id,
            to_millis(s.status_since),
            s.source_updated_at.map(to_millis),
            s.last_event,
            to_millis(s.updated_at)
        ],
    )?;
    Ok(())
}

pub fn state(c: &Connection, key: &str) -> anyhow::Result<Option<String>> {
    Ok(c.query_row(
        "SELECT value FROM billing_state WHERE key = ?1",
        [key],
        |r| r.get(0),
    )
    .optional()?)
}

pub fn set_state(c: &Connection, key: &str, value: &str) -> anyhow::Result<()> {
    c.execute(
        "INSERT INTO billing_state (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// When counting started (the first start with billing on), set once.
pub fn counting_since(c: &Connection, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    c.execute(
        "INSERT OR IGNORE INTO billing_state (key, value) VALUES ('counting_since', ?1)",
        [to_millis(now).to_string()],
    )?;
    let v = state(c, "counting_since")?.unwrap_or_default();
    Ok(v.parse::<i64>().map_or(now, from_millis))
}

/// A finished proposal that may count as usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub id: String,
    pub kind: String,
    pub finished_at: DateTime<Utc>,
}

/// Proposals that succeeded (not as a dry run) since `since` and are not counted yet.
pub fn uncounted(c: &Connection, since: DateTime<Utc>) -> anyhow::Result<Vec<Finished>> {
    let mut stmt = c.prepare_cached(
        "SELECT p.id, p.kind, p.finished_at FROM proposals p
         WHERE p.state = 'succeeded' AND p.finished_at >= ?1
           AND COALESCE(json_extract(p.outcome, '$.dry_run'), 0) = 0
           AND NOT EXISTS (SELECT 1 FROM billing_usage u WHERE u.proposal_id = p.id)
         ORDER BY p.finished_at, p.id",
    )?;
    let rows = stmt.query_map([to_millis(since)], |r| {
        Ok(Finished {
            id: r.get(0)?,
            kind: r.get(1)?,
            finished_at: from_millis(r.get(2)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Counts one proposal; false when it was counted before.
pub fn count(
    c: &Connection,
    f: &Finished,
    period: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    Ok(c.execute(
        "INSERT OR IGNORE INTO billing_usage (proposal_id, kind, period, finished_at, counted_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            f.id,
            f.kind,
            period,
            to_millis(f.finished_at),
            to_millis(now)
        ],
    )? == 1)
}

/// Usage of one period, by kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub kind: String,
    pub count: i64,
    pub reported: i64,
}

pub fn usage(c: &Connection, period: &str) -> anyhow::Result<Vec<Usage>> {
    let mut stmt = c.prepare(
        "SELECT u.kind, count(*), COALESCE(SUM(r.state = 'delivered'), 0)
         FROM billing_usage u LEFT JOIN billing_usage_reports r ON r.id = u.report_id
         WHERE u.period = ?1 GROUP BY u.kind ORDER BY u.kind",
    )?;
    let rows = stmt.query_map([period], |r| {
        Ok(Usage {
            kind: r.get(0)?,
            count: r.get(1)?,
            reported: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Queues one usage report carrying every counted action no report carries yet.
/// Returns its id, or `None` when there is nothing to report.
pub fn queue_report(
    c: &Connection,
    item_id: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<i64>> {
    let n: i64 = c.query_row(
        "SELECT count(*) FROM billing_usage WHERE report_id IS NULL",
        [],
        |r| r.get(0),
    )?;
    if n == 0 {
        return Ok(None);
    }
    c.execute(
        "INSERT INTO billing_usage_reports (item_id, quantity, next_at, created_at)
         VALUES (?1, ?2, ?3, ?3)",
        params![item_id, n, to_millis(now)],
    )?;
    let id = c.last_insert_rowid();
    c.execute(
        "UPDATE billing_usage SET report_id = ?1 WHERE report_id IS NULL",
        [id],
    )?;
    Ok(Some(id))
}

/// A usage report waiting to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub id: i64,
    pub item_id: String,
    pub quantity: i64,
    pub attempts: i64,
}

/// The oldest queued report, when it is due: reports go out one at a time, in order.
pub fn due_report(c: &Connection, now: DateTime<Utc>) -> anyhow::Result<Option<Report>> {
    Ok(c.query_row(
        "SELECT id, item_id, quantity, attempts, next_at FROM billing_usage_reports
         WHERE state = 'queued' ORDER BY id LIMIT 1",
        [],
        |r| {
            Ok((
                Report {
                    id: r.get(0)?,
                    item_id: r.get(1)?,
                    quantity: r.get(2)?,
                    attempts: r.get(3)?,
                },
                r.get::<_, i64>(4)?,
            ))
        },
    )
    .optional()?
    .filter(|(_, next_at)| *next_at <= to_millis(now))
    .map(|(r, _)| r))
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

/// Reports by state, with the last error of a queued one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reports {
    pub queued: i64,
    pub delivered: i64,
    pub failed: i64,
    /// Counted actions no report carries yet.
    pub unreported: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

pub fn reports(c: &Connection) -> anyhow::Result<Reports> {
    let (queued, delivered, failed) = c.query_row(
        "SELECT COALESCE(SUM(state = 'queued'), 0), COALESCE(SUM(state = 'delivered'), 0),
                COALESCE(SUM(state = 'failed'), 0) FROM billing_usage_reports",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let unreported = c.query_row(
        "SELECT count(*) FROM billing_usage WHERE report_id IS NULL",
        [],
        |r| r.get(0),
    )?;
    let last_error = c
        .query_row(
            "SELECT last_error FROM billing_usage_reports
             WHERE state != 'delivered' AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(Reports {
        queued,
        delivered,
        failed,
        unreported,
        last_error,
    })
}
