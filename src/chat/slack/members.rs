//! The Slack member directory as `team_join` and `user_change` report it.

use crate::clock::to_millis;
use crate::events::SlackMember;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

/// Inserts or updates a member. Returns the `deleted` flag it had before, if known.
pub fn upsert(
    conn: &Connection,
    m: &SlackMember,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<bool>> {
    let before: Option<bool> = conn
        .query_row(
            "SELECT deleted FROM slack_members WHERE user_id = ?1",
            [&m.user_id],
            |r| r.get(0),
        )
        .optional()?;
    conn.execute(
        "INSERT INTO slack_members (user_id, team_id, name, real_name, email, deleted, is_bot, updated_at, last_event)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (user_id) DO UPDATE SET
            team_id = excluded.team_id, name = excluded.name, real_name = excluded.real_name,
            email = excluded.email, deleted = excluded.deleted, is_bot = excluded.is_bot,
            updated_at = excluded.updated_at, last_event = excluded.last_event",
        params![
            m.user_id,
            m.team_id,
            m.name,
            m.real_name,
            m.email,
            m.deleted,
            m.is_bot,
            to_millis(now),
            m.event
        ],
    )?;
    Ok(before)
}

/// One member as stored.
pub fn get(conn: &Connection, user_id: &str) -> anyhow::Result<Option<(Option<String>, bool)>> {
    Ok(conn
        .query_row(
            "SELECT email, deleted FROM slack_members WHERE user_id = ?1",
            [user_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}
