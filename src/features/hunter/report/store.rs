//! SQL of posted reports: the summary, and which proposal each listed line is.

use super::Summary;
use crate::clock::{from_millis, to_millis};
use crate::domain::ApprovalId;
use crate::features::hunter::Finding;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

/// A report as stored.
#[derive(Debug, Clone)]
pub struct StoredReport {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub bulk: Option<ApprovalId>,
    pub summary: Summary,
    /// Listed lines in order: the proposal and the finding it deletes.
    pub items: Vec<(ApprovalId, Finding)>,
}

pub fn insert(conn: &Connection, r: &StoredReport) -> anyhow::Result<()> {
    conn.execute(
        "INSERT INTO hunter_reports (id, created_at, bulk_approval_id, summary) VALUES (?1, ?2, ?3, ?4)",
        params![
            r.id,
            to_millis(r.created_at),
            r.bulk.as_ref().map(ApprovalId::as_str),
            serde_json::to_string(&r.summary)?
        ],
    )?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO hunter_report_items (report_id, position, approval_id, finding) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (i, (approval, finding)) in r.items.iter().enumerate() {
        stmt.execute(params![
            r.id,
            i as i64,
            approval.as_str(),
            serde_json::to_string(finding)?
        ])?;
    }
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> anyhow::Result<Option<StoredReport>> {
    let head = conn
        .query_row(
            "SELECT created_at, bulk_approval_id, summary FROM hunter_reports WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )
        .optional()?;
    let Some((created_at, bulk, summary)) = head else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT approval_id, finding FROM hunter_report_items WHERE report_id = ?1 ORDER BY position",
    )?;
    let items = stmt
        .query_map([id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .map(|row| {
            let (approval, finding) = row?;
            Ok((
                ApprovalId::parse(&approval)?,
                serde_json::from_str(&finding)?,
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some(StoredReport {
        id: id.to_owned(),
        created_at: from_millis(created_at),
        bulk: bulk.map(|b| ApprovalId::parse(&b)).transpose()?,
        summary: serde_json::from_str(&summary)?,
        items,
    }))
}

/// Reports that list a proposal, or offer it as their "Delete all", newest first.
pub fn reports_with(conn: &Connection, approval: &ApprovalId) -> anyhow::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM hunter_reports
         WHERE bulk_approval_id = ?1
            OR id IN (SELECT report_id FROM hunter_report_items WHERE approval_id = ?1)
         ORDER BY created_at DESC",
    )?;
    let ids = stmt.query_map([approval.as_str()], |r| r.get(0))?;
    Ok(ids.collect::<Result<_, _>>()?)
}
