//! Manual holds: "keep staging online until …", set by command or button. All SQL of
//! holds and of notice deadlines lives here.

use super::{Reading, Signal};
use crate::clock::{from_millis, to_millis};
use crate::domain::ApprovalId;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// A hold in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hold {
    pub until: DateTime<Utc>,
    pub set_by: String,
    pub reason: Option<String>,
}

impl Hold {
    /// The hold as a signal: always busy while it lasts.
    pub fn signal(&self, tz: chrono_tz::Tz) -> Signal {
        let until = crate::chat::answers::local(self.until, tz);
        let why = self
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        Signal::new(
            "Hold",
            Reading::Busy(format!("kept online by {} until {until}{why}", self.set_by)),
        )
    }
}

pub fn insert(conn: &Connection, hold: &Hold, now: DateTime<Utc>) -> anyhow::Result<()> {
    conn.execute(
        "INSERT INTO watchman_holds (set_at, until, set_by, reason) VALUES (?1, ?2, ?3, ?4)",
        params![
            to_millis(now),
            to_millis(hold.until),
            hold.set_by,
            hold.reason
        ],
    )?;
    Ok(())
}

/// The hold lasting longest among those in force at `now`.
pub fn active(conn: &Connection, now: DateTime<Utc>) -> anyhow::Result<Option<Hold>> {
    Ok(conn
        .query_row(
            "SELECT until, set_by, reason FROM watchman_holds WHERE until > ?1
             ORDER BY until DESC LIMIT 1",
            [to_millis(now)],
            |r| {
                Ok(Hold {
                    until: from_millis(r.get(0)?),
                    set_by: r.get(1)?,
                    reason: r.get(2)?,
                })
            },
        )
        .optional()?)
}

pub fn insert_notice(
    conn: &Connection,
    approval: &ApprovalId,
    deadline: DateTime<Utc>,
) -> anyhow::Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO watchman_notices (approval_id, deadline) VALUES (?1, ?2)",
        params![approval.as_str(), to_millis(deadline)],
    )?;
    Ok(())
}

/// Notices whose deadline has passed and that were not handled yet; each is marked
/// handled as it is returned, so it is acted on once.
pub fn take_due_notices(conn: &Connection, now: DateTime<Utc>) -> anyhow::Result<Vec<ApprovalId>> {
    let mut stmt = conn.prepare(
        "UPDATE watchman_notices SET handled_at = ?1
         WHERE handled_at IS NULL AND deadline <= ?1 RETURNING approval_id",
    )?;
    let ids = stmt
        .query_map([to_millis(now)], |r| r.get::<_, String>(0))?
        .map(|id| Ok(ApprovalId::parse(&id?)?))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(ids)
}
