//! Rollback Pilot's SQL: the applications' rows, their transitions (each audited in
//! the same transaction) and the per-revision poll counts.

use super::state::{AppRow, Flow, State};
use crate::audit;
use crate::store;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

/// The audit subject of an application.
pub fn subject(app: &str) -> String {
    format!("rollback:{app}")
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Raw> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

type Raw = (String, String, String, u32, i64, String, i64, i64, i64);

fn parse(raw: Raw) -> anyhow::Result<AppRow> {
    let (app, state, since, degraded_polls, episode, flow, version, shown, announced) = raw;
    Ok(AppRow {
        state: State::parse(&state)
            .ok_or_else(|| anyhow::anyhow!("unknown rollback state {state:?} for {app}"))?,
        since: DateTime::parse_from_rfc3339(&since)?.with_timezone(&Utc),
        degraded_polls,
        episode,
        flow: serde_json::from_str::<Flow>(&flow)?,
        version,
        shown,
        announced,
        app,
    })
}

const COLUMNS: &str = "app, state, since, degraded_polls, episode, flow, version, shown, announced";

pub fn get(c: &Connection, app: &str) -> anyhow::Result<Option<AppRow>> {
    let raw = c
        .query_row(
            &format!("SELECT {COLUMNS} FROM rollback_apps WHERE app = ?1"),
            [app],
            row,
        )
        .optional()?;
    raw.map(parse).transpose()
}

pub fn all(c: &Connection) -> anyhow::Result<Vec<AppRow>> {
    let mut stmt = c.prepare(&format!("SELECT {COLUMNS} FROM rollback_apps ORDER BY app"))?;
    let raws = stmt.query_map([], row)?.collect::<Result<Vec<_>, _>>()?;
    raws.into_iter().map(parse).collect()
}

/// Writes `next` over the stored row, bumping its version. When the state changed,
/// the transition is audited (`rollback.<state>`) with `details`, in the same
/// transaction.
pub fn save(
    c: &mut Connection,
    next: &AppRow,
    previous: State,
    now: DateTime<Utc>,
    actor: &str,
    details: serde_json::Value,
) -> anyhow::Result<()> {
    let flow = serde_json::to_string(&next.flow)?;
    store::immediate(c, |tx| {
        tx.execute(
            "INSERT INTO rollback_apps (app, state, since, degraded_polls, episode, flow, version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1)
             ON CONFLICT (app) DO UPDATE SET state = ?2, since = ?3, degraded_polls = ?4,
                 episode = ?5, flow = ?6, version = version + 1",
            params![
                next.app,
                next.state.as_str(),
                next.since.to_rfc3339(),
                next.degraded_polls,
                next.episode,
                flow
            ],
        )?;
        if next.state != previous {
            let mut details = details;
            if let Some(map) = details.as_object_mut() {
                map.insert("from".into(), json!(previous.as_str()));
                map.insert("to".into(), json!(next.state.as_str()));
                map.insert("episode".into(), json!(next.episode));
            }
            audit::append(
                tx,
                now,
                actor,
                &format!("rollback.{}", next.state.as_str()),
                &subject(&next.app),
                &details,
            )?;
        }
        Ok(())
    })
}

/// Counts one poll of each application's deployed revision, healthy or not, in one
/// transaction. `Progressing` polls (a rollout under way) are not counted.
pub fn count_polls(
    c: &mut Connection,
    polls: &[(String, String, bool)],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let at = now.to_rfc3339();
    store::immediate(c, |tx| {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO rollback_revisions (app, revision, healthy_polls, counted_polls, first_seen, last_seen)
             VALUES (?1, ?2, ?3, 1, ?4, ?4)
             ON CONFLICT (app, revision) DO UPDATE SET healthy_polls = healthy_polls + ?3,
                 counted_polls = counted_polls + 1, last_seen = ?4",
        )?;
        for (app, revision, healthy) in polls {
            stmt.execute(params![app, revision, i64::from(*healthy), at])?;
        }
        Ok(())
    })
}

/// (healthy, counted) polls of a revision, if OpsMate ever saw it deployed.
pub fn uptime_of(c: &Connection, app: &str, revision: &str) -> anyhow::Result<Option<(i64, i64)>> {
    Ok(c.query_row(
        "SELECT healthy_polls, counted_polls FROM rollback_revisions WHERE app = ?1 AND revision = ?2",
        [app, revision],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?)
}

/// Rows whose episode has no message yet.
pub fn unannounced(c: &Connection) -> anyhow::Result<Vec<AppRow>> {
    Ok(all(c)?
        .into_iter()
        .filter(|r| r.episode > r.announced && r.state.in_episode())
        .collect())
}

pub fn mark_announced(c: &Connection, app: &str, episode: i64, version: i64) -> anyhow::Result<()> {
    c.execute(
        "UPDATE rollback_apps SET announced = ?2, shown = ?3 WHERE app = ?1",
        params![app, episode, version],
    )?;
    Ok(())
}

/// Rows whose message shows an older version.
pub fn behind(c: &Connection) -> anyhow::Result<Vec<AppRow>> {
    Ok(all(c)?
        .into_iter()
        .filter(|r| r.announced == r.episode && r.episode > 0 && r.shown < r.version)
        .collect())
}

pub fn mark_shown(c: &Connection, app: &str, version: i64) -> anyhow::Result<()> {
    c.execute(
        "UPDATE rollback_apps SET shown = max(shown, ?2) WHERE app = ?1",
        params![app, version],
    )?;
    Ok(())
}

/// Rows whose episode ended and whose ending was not announced yet.
pub fn ended_unannounced(c: &Connection) -> anyhow::Result<Vec<AppRow>> {
    let mut stmt = c.prepare(&format!(
        "SELECT {COLUMNS} FROM rollback_apps WHERE followed < episode AND announced = episode ORDER BY app"
    ))?;
    let raws = stmt.query_map([], row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(raws
        .into_iter()
        .map(parse)
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .filter(|r| r.flow.ended.is_some())
        .collect())
}

pub fn mark_followed(c: &Connection, app: &str, episode: i64) -> anyhow::Result<()> {
    c.execute(
        "UPDATE rollback_apps SET followed = ?2 WHERE app = ?1",
        params![app, episode],
    )?;
    Ok(())
}
