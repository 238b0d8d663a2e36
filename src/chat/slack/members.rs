//! The Slack member directory as `team_join` and `user_change` report it.

use crate::clock::to_millis;
use crate::domain::SlackUserId;
use crate::events::SlackMember;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use slack_morphism::prelude::SlackUser;

/// A member as Slack describes them; `event` says where it came from (`team_join`,
/// `user_change`, `users.list`). `None` for a user id that is not a Slack member id.
pub fn from_slack(user: &SlackUser, event: &'static str) -> Option<SlackMember> {
    let profile = user.profile.as_ref();
    Some(SlackMember {
        user_id: SlackUserId::parse(user.id.as_ref()).ok()?,
        team_id: user.team_id.as_ref().map(|t| t.to_string()),
        name: user.name.clone(),
        real_name: user
            .real_name
            .clone()
            .or_else(|| profile.and_then(|p| p.real_name.clone())),
        email: profile
            .and_then(|p| p.email.as_ref())
            .map(|e| e.to_string()),
        deleted: user.deleted.unwrap_or(false),
        is_bot: user.flags.is_bot.unwrap_or(false),
        event: event.into(),
    })
}

/// Inserts or updates a member. Returns the `deleted` flag it had before, if known.
pub fn upsert(
    conn: &Connection,
    m: &SlackMember,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<bool>> {
    let before: Option<bool> = conn
        .query_row(
            "SELECT deleted FROM slack_members WHERE user_id = ?1",
            [m.user_id.as_str()],
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
            m.user_id.as_str(),
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

/// Every stored member: the directory as events and the last full listing left it.
pub fn all(conn: &Connection) -> anyhow::Result<Vec<SlackMember>> {
    let mut stmt = conn.prepare(
        "SELECT user_id, team_id, name, real_name, email, deleted, is_bot FROM slack_members",
    )?;
    let rows = stmt.query_map([], |r| {
        let user_id: String = r.get(0)?;
        Ok(SlackMember {
            user_id: SlackUserId::parse(&user_id).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    0,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })?,
            team_id: r.get(1)?,
            name: r.get(2)?,
            real_name: r.get(3)?,
            email: r.get(4)?,
            deleted: r.get(5)?,
            is_bot: r.get(6)?,
            event: "stored".into(),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Stores a full listing (`users.list`) in one transaction.
pub fn sync(
    tx: &rusqlite::Transaction<'_>,
    members: &[SlackMember],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    for m in members {
        upsert(tx, m, now)?;
    }
    Ok(())
}
