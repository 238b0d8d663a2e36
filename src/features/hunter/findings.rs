//! Remembering findings: when each idle resource was first and last seen, and when
//! it stopped being idle. All SQL of Zombie Hunter's findings lives here.

use super::Finding;
use crate::clock::{from_millis, to_millis};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use std::collections::HashSet;

/// Records one region that was listed in full: every candidate is upserted (a
/// resource seen again after it was resolved starts a new idle period), and every
/// earlier finding of that region not seen now is marked resolved. Returns the
/// candidates with their `first_seen` from history, and how many were resolved.
///
/// Only call this for a region whose listing succeeded: a failed listing says
/// nothing about what is gone.
pub fn record_region(
    conn: &Connection,
    account: Option<&str>,
    region: &str,
    mut candidates: Vec<Finding>,
    now: DateTime<Utc>,
) -> anyhow::Result<(Vec<Finding>, usize)> {
    let account_key = account.unwrap_or_default();
    let now_ms = to_millis(now);
    let mut upsert = conn.prepare_cached(
        "INSERT INTO hunter_findings
             (account, region, kind, resource_id, first_seen, last_seen, resolved_at,
              monthly_cost_usd, details)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, NULL, ?6, ?7)
         ON CONFLICT (account, region, kind, resource_id) DO UPDATE SET
             first_seen = CASE WHEN resolved_at IS NULL THEN first_seen ELSE excluded.first_seen END,
             last_seen = excluded.last_seen,
             resolved_at = NULL,
             monthly_cost_usd = excluded.monthly_cost_usd,
             details = excluded.details
         RETURNING first_seen",
    )?;
    for f in &mut candidates {
        let first_seen: i64 = upsert.query_row(
            params![
                account_key,
                region,
                f.kind.as_str(),
                f.id,
                now_ms,
                f.monthly_cost_usd,
                serde_json::to_string(f)?,
            ],
            |r| r.get(0),
        )?;
        f.first_seen = from_millis(first_seen);
        f.last_seen = now;
    }
    // Everything open in this region that the listing did not include is resolved.
    let seen: HashSet<(&str, &str)> = candidates
        .iter()
        .map(|f| (f.kind.as_str(), f.id.as_str()))
        .collect();
    let mut open = conn.prepare_cached(
        "SELECT kind, resource_id FROM hunter_findings
         WHERE account = ?1 AND region = ?2 AND resolved_at IS NULL",
    )?;
    let open: Vec<(String, String)> = open
        .query_map(params![account_key, region], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut resolve = conn.prepare_cached(
        "UPDATE hunter_findings SET resolved_at = ?5
         WHERE account = ?1 AND region = ?2 AND kind = ?3 AND resource_id = ?4",
    )?;
    let mut resolved = 0;
    for (kind, id) in &open {
        if !seen.contains(&(kind.as_str(), id.as_str())) {
            resolved += resolve.execute(params![account_key, region, kind, id, now_ms])?;
        }
    }
    Ok((candidates, resolved))
}

/// When a finding was resolved, if it was.
pub fn resolved_at(
    conn: &Connection,
    account: Option<&str>,
    region: &str,
    kind: &str,
    id: &str,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    use rusqlite::OptionalExtension;
    let at: Option<Option<i64>> = conn
        .query_row(
            "SELECT resolved_at FROM hunter_findings
             WHERE account = ?1 AND region = ?2 AND kind = ?3 AND resource_id = ?4",
            params![account.unwrap_or_default(), region, kind, id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(at.flatten().map(from_millis))
}
