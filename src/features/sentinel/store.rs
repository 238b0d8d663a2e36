//! The SQL of `sentinel_pulls` and `sentinel_bypasses`.

use super::rules::RuleResult;
use crate::clock::{from_millis, to_millis};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

/// A pull request as Sentinel last saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PullRow {
    pub repo: String,
    pub number: u64,
    pub title: String,
    pub author: String,
    pub url: String,
    pub state: String,
    pub head_sha: String,
    pub results: Vec<RuleResult>,
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_run_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waived_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waive_note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waived_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposal: Option<String>,
    #[serde(skip)]
    pub announced: bool,
    pub evaluated_at: DateTime<Utc>,
}

impl PullRow {
    /// `owner/name#N`.
    pub fn key(&self) -> String {
        format!("{}#{}", self.repo, self.number)
    }

    /// The rules failing on its head.
    pub fn failing(&self) -> Vec<&RuleResult> {
        self.results.iter().filter(|r| !r.passed).collect()
    }

    /// Failing and not waived: what a merge would bypass.
    pub fn blocked(&self) -> bool {
        !self.passed && self.waived_by.is_none()
    }
}

const COLUMNS: &str = "repo, number, title, author, url, state, head_sha, results, passed,
     check_run_id, waived_by, waive_note, waived_at, proposal, announced, evaluated_at";

fn read(r: &Row<'_>) -> rusqlite::Result<PullRow> {
    let results: String = r.get(7)?;
    Ok(PullRow {
        repo: r.get(0)?,
        number: r.get::<_, i64>(1)? as u64,
        title: r.get(2)?,
        author: r.get(3)?,
        url: r.get(4)?,
        state: r.get(5)?,
        head_sha: r.get(6)?,
        // Written by this module; an unreadable list reads as no results.
        results: serde_json::from_str(&results).unwrap_or_default(),
        passed: r.get(8)?,
        check_run_id: r.get::<_, Option<i64>>(9)?.map(|v| v as u64),
        waived_by: r.get(10)?,
        waive_note: r.get(11)?,
        waived_at: r.get::<_, Option<i64>>(12)?.map(from_millis),
        proposal: r.get(13)?,
        announced: r.get(14)?,
        evaluated_at: from_millis(r.get(15)?),
    })
}

pub fn get(c: &Connection, repo: &str, number: u64) -> anyhow::Result<Option<PullRow>> {
    Ok(c.query_row(
        &format!("SELECT {COLUMNS} FROM sentinel_pulls WHERE repo = ?1 AND number = ?2"),
        params![repo, number as i64],
        read,
    )
    .optional()?)
}

/// Writes the whole row.
pub fn put(c: &Connection, p: &PullRow) -> anyhow::Result<()> {
    c.execute(
        &format!(
            "INSERT OR REPLACE INTO sentinel_pulls ({COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
        ),
        params![
            p.repo,
            p.number as i64,
            p.title,
            p.author,
            p.url,
            p.state,
            p.head_sha,
            serde_json::to_string(&p.results)?,
            p.passed,
            p.check_run_id.map(|v| v as i64),
            p.waived_by,
            p.waive_note,
            p.waived_at.map(to_millis),
            p.proposal,
            p.announced,
            to_millis(p.evaluated_at),
        ],
    )?;
    Ok(())
}

/// The row whose waive proposal is `id`.
pub fn by_proposal(c: &Connection, id: &str) -> anyhow::Result<Option<PullRow>> {
    Ok(c.query_row(
        &format!("SELECT {COLUMNS} FROM sentinel_pulls WHERE proposal = ?1"),
        [id],
        read,
    )
    .optional()?)
}

/// Open pull requests failing and not waived, of `repo` (or every repository).
pub fn open_blocked(c: &Connection, repo: Option<&str>) -> anyhow::Result<Vec<PullRow>> {
    let mut stmt = c.prepare(&format!(
        "SELECT {COLUMNS} FROM sentinel_pulls
         WHERE state = 'open' AND passed = 0 AND waived_by IS NULL
           AND (?1 IS NULL OR repo = ?1 COLLATE NOCASE)
         ORDER BY evaluated_at DESC"
    ))?;
    let rows = stmt.query_map([repo], read)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A merge that bypassed a failing check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bypass {
    pub repo: String,
    pub number: u64,
    pub title: String,
    pub author: String,
    pub merged_by: Option<String>,
    pub url: String,
    pub head_sha: String,
    pub failing: Vec<String>,
    pub merged_at: DateTime<Utc>,
}

/// Records a bypass; false when this pull request's was recorded before.
pub fn add_bypass(c: &Connection, b: &Bypass) -> anyhow::Result<bool> {
    Ok(c.execute(
        "INSERT OR IGNORE INTO sentinel_bypasses
             (repo, number, title, author, merged_by, url, head_sha, failing, merged_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            b.repo,
            b.number as i64,
            b.title,
            b.author,
            b.merged_by,
            b.url,
            b.head_sha,
            serde_json::to_string(&b.failing)?,
            to_millis(b.merged_at)
        ],
    )? == 1)
}

/// Bypasses merged in `[start, end)`, of `repo` (or every repository), newest first.
pub fn bypasses(
    c: &Connection,
    repo: Option<&str>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<Vec<Bypass>> {
    let mut stmt = c.prepare(
        "SELECT repo, number, title, author, merged_by, url, head_sha, failing, merged_at
         FROM sentinel_bypasses
         WHERE merged_at >= ?1 AND merged_at < ?2 AND (?3 IS NULL OR repo = ?3 COLLATE NOCASE)
         ORDER BY merged_at DESC",
    )?;
    let rows = stmt.query_map(params![to_millis(start), to_millis(end), repo], |r| {
        let failing: String = r.get(7)?;
        Ok(Bypass {
            repo: r.get(0)?,
            number: r.get::<_, i64>(1)? as u64,
            title: r.get(2)?,
            author: r.get(3)?,
            merged_by: r.get(4)?,
            url: r.get(5)?,
            head_sha: r.get(6)?,
            failing: serde_json::from_str(&failing).unwrap_or_default(),
            merged_at: from_millis(r.get(8)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// (waivers done, pull requests checked) in `[start, end)`, for the digest.
pub fn counts(
    c: &Connection,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<(i64, i64)> {
    Ok(c.query_row(
        "SELECT COALESCE(SUM(waived_at >= ?1 AND waived_at < ?2), 0),
                COALESCE(SUM(evaluated_at >= ?1 AND evaluated_at < ?2), 0)
         FROM sentinel_pulls",
        params![to_millis(start), to_millis(end)],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}
