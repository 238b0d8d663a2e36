//! Every SQL statement on `proposals` and `approval_votes`.

use super::proposal::{NewProposal, PostedAt, Proposal, ProposalState};
use crate::clock::{from_millis, to_millis};
use crate::domain::ApprovalId;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

const COLUMNS: &str = "id, kind, target, params, reason, proposed_by, state, required_approvals,
    created_at, expires_at, decided_by, decided_at, finished_at, outcome,
    posted_platform, posted_channel, posted_message_id, decision_note";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Proposal> {
    let text = |i: usize| -> rusqlite::Result<String> { row.get(i) };
    let conv = |i: usize, e: anyhow::Error| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
    };
    let params: String = text(3)?;
    let outcome: Option<String> = row.get(13)?;
    let posted = match (
        row.get::<_, Option<String>>(14)?,
        row.get::<_, Option<String>>(15)?,
        row.get::<_, Option<String>>(16)?,
    ) {
        (Some(platform), Some(channel), Some(message_id)) => Some(PostedAt {
            platform: crate::outbox::Platform::parse(&platform)
                .ok_or_else(|| conv(14, anyhow::anyhow!("unknown platform {platform:?}")))?,
            channel,
            message_id,
        }),
        _ => None,
    };
    Ok(Proposal {
        id: ApprovalId::parse(&text(0)?).map_err(|e| conv(0, e.into()))?,
        kind: text(1)?
            .parse()
            .map_err(|e: crate::domain::InvalidId| conv(1, e.into()))?,
        target: text(2)?,
        params: serde_json::from_str(&params).unwrap_or(Value::Null),
        reason: text(4)?,
        proposed_by: text(5)?,
        state: text(6)?.parse().map_err(|e| conv(6, e))?,
        required_approvals: row.get(7)?,
        created_at: from_millis(row.get(8)?),
        expires_at: from_millis(row.get(9)?),
        decided_by: row.get(10)?,
        decided_at: row.get::<_, Option<i64>>(11)?.map(from_millis),
        finished_at: row.get::<_, Option<i64>>(12)?.map(from_millis),
        outcome: outcome.and_then(|o| serde_json::from_str(&o).ok()),
        posted,
        decision_note: row.get(17)?,
    })
}

pub fn get(conn: &Connection, id: &ApprovalId) -> anyhow::Result<Option<Proposal>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM proposals WHERE id = ?1"),
            [id.as_str()],
            from_row,
        )
        .optional()?)
}

pub fn open_for_target(
    conn: &Connection,
    kind: &str,
    target: &str,
) -> anyhow::Result<Option<Proposal>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM proposals
                 WHERE kind = ?1 AND target = ?2 AND state IN ('pending', 'approved', 'executing')"
            ),
            [kind, target],
            from_row,
        )
        .optional()?)
}

/// The newest proposal of `kind` for each target.
pub fn latest_by_target(
    conn: &Connection,
    kind: &str,
) -> anyhow::Result<std::collections::HashMap<String, Proposal>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM proposals WHERE kind = ?1 ORDER BY created_at, rowid"
    ))?;
    let mut out = std::collections::HashMap::new();
    for p in stmt.query_map([kind], from_row)? {
        let p = p?;
        out.insert(p.target.clone(), p);
    }
    Ok(out)
}

pub fn in_state(conn: &Connection, state: ProposalState) -> anyhow::Result<Vec<Proposal>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM proposals WHERE state = ?1 ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map([state.as_str()], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One page of proposals, newest first: those in `state` (any when `None`) stored
/// before row `before` (from the start when `None`), with each one's row number,
/// which is the next page's cursor.
pub fn page(
    conn: &Connection,
    state: Option<ProposalState>,
    before: Option<i64>,
    limit: usize,
) -> anyhow::Result<Vec<(i64, Proposal)>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS}, rowid FROM proposals
         WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR rowid < ?2)
         ORDER BY rowid DESC LIMIT ?3"
    ))?;
    let rows = stmt.query_map(
        rusqlite::params![state.map(|s| s.as_str()), before, limit as i64],
        |row| Ok((row.get::<_, i64>(18)?, from_row(row)?)),
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn pending_expired_by(conn: &Connection, now: DateTime<Utc>) -> anyhow::Result<Vec<Proposal>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM proposals WHERE state = 'pending' AND expires_at <= ?1"
    ))?;
    let rows = stmt.query_map([to_millis(now)], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Inserts a pending proposal. Returns false if an open one exists for (kind, target).
pub fn insert(
    conn: &Connection,
    id: &ApprovalId,
    p: &NewProposal,
    required_approvals: u32,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let inserted = conn.execute(
        "INSERT INTO proposals (id, kind, target, params, reason, proposed_by, state,
                                required_approvals, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8, ?9)
         ON CONFLICT DO NOTHING",
        params![
            id.as_str(),
            p.kind.as_str(),
            p.target,
            p.params.to_string(),
            p.reason,
            p.proposed_by,
            required_approvals,
            to_millis(now),
            to_millis(expires_at),
        ],
    )?;
    Ok(inserted == 1)
}

pub fn set_posted(conn: &Connection, id: &ApprovalId, posted: &PostedAt) -> anyhow::Result<()> {
    conn.execute(
        "UPDATE proposals SET posted_platform = ?2, posted_channel = ?3, posted_message_id = ?4
         WHERE id = ?1",
        params![
            id.as_str(),
            posted.platform.as_str(),
            posted.channel,
            posted.message_id
        ],
    )?;
    Ok(())
}

/// Records one approver's vote. Returns false if this approver already voted.
pub fn add_vote(
    conn: &Connection,
    id: &ApprovalId,
    approver: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let n = conn.execute(
        "INSERT INTO approval_votes (proposal_id, approver, at) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
        params![id.as_str(), approver, to_millis(now)],
    )?;
    Ok(n == 1)
}

/// Approvers who voted, in vote order.
pub fn voters(conn: &Connection, id: &ApprovalId) -> anyhow::Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT approver FROM approval_votes WHERE proposal_id = ?1 ORDER BY at, approver",
    )?;
    let rows = stmt.query_map([id.as_str()], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The one conditional update behind every decision: moves `pending` to `to` only if
/// the proposal is still pending and unexpired. Returns whether this call won.
pub fn decide_pending(
    conn: &Connection,
    id: &ApprovalId,
    to: ProposalState,
    decided_by: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let n = conn.execute(
        "UPDATE proposals SET state = ?2, decided_by = ?3, decided_at = ?4
         WHERE id = ?1 AND state = 'pending' AND expires_at > ?4",
        params![id.as_str(), to.as_str(), decided_by, to_millis(now)],
    )?;
    Ok(n == 1)
}

/// Records why the decider decided (the reason they typed), beside the decision.
pub fn note_decision(conn: &Connection, id: &ApprovalId, note: &str) -> anyhow::Result<()> {
    conn.execute(
        "UPDATE proposals SET decision_note = ?2 WHERE id = ?1",
        params![id.as_str(), note],
    )?;
    Ok(())
}

/// Moves `from` to `to` if the proposal is still in `from`. Returns whether it moved.
pub fn transition(
    conn: &Connection,
    id: &ApprovalId,
    from: ProposalState,
    to: ProposalState,
) -> anyhow::Result<bool> {
    let n = conn.execute(
        "UPDATE proposals SET state = ?3 WHERE id = ?1 AND state = ?2",
        params![id.as_str(), from.as_str(), to.as_str()],
    )?;
    Ok(n == 1)
}

/// Marks a pending proposal expired if its time is up.
pub fn expire(conn: &Connection, id: &ApprovalId, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let n = conn.execute(
        "UPDATE proposals SET state = 'expired', finished_at = ?2
         WHERE id = ?1 AND state = 'pending' AND expires_at <= ?2",
        params![id.as_str(), to_millis(now)],
    )?;
    Ok(n == 1)
}

/// Records how an execution ended.
pub fn finish(
    conn: &Connection,
    id: &ApprovalId,
    to: ProposalState,
    outcome: &super::outcome::Outcome,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let n = conn.execute(
        "UPDATE proposals SET state = ?2, outcome = ?3, finished_at = ?4
         WHERE id = ?1 AND state = 'executing'",
        params![
            id.as_str(),
            to.as_str(),
            serde_json::to_string(outcome)?,
            to_millis(now)
        ],
    )?;
    Ok(n == 1)
}

/// Counts per state, for metrics.
pub fn count_by_state(conn: &Connection) -> anyhow::Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare("SELECT state, count(*) FROM proposals GROUP BY state")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
