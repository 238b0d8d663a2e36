//! All SQL of Access Guard: people's stored state (grace clock, Keep access,
//! revocation) and the revocation steps already done.

use super::detect::Person;
use crate::clock::{from_millis, to_millis};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;

fn person(r: &rusqlite::Row<'_>) -> rusqlite::Result<Person> {
    let from: String = r.get(2)?;
    Ok(Person {
        user: r.get(0)?,
        missing_since: r.get::<_, Option<i64>>(1)?.map(from_millis),
        missing_from: serde_json::from_str(&from).unwrap_or_default(),
        kept_until: r.get::<_, Option<i64>>(3)?.map(from_millis),
        kept_by: r.get(4)?,
        kept_reason: r.get(5)?,
        revoked_at: r.get::<_, Option<i64>>(6)?.map(from_millis),
    })
}

const COLUMNS: &str =
    "iam_user, missing_since, missing_from, kept_until, kept_by, kept_reason, revoked_at";

/// Everyone stored, by IAM user name.
pub fn people(conn: &Connection) -> anyhow::Result<HashMap<String, Person>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM guard_people"))?;
    let rows = stmt.query_map([], person)?;
    let mut out = HashMap::new();
    for p in rows {
        let p = p?;
        out.insert(p.user.clone(), p);
    }
    Ok(out)
}

pub fn get(conn: &Connection, user: &str) -> anyhow::Result<Option<Person>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM guard_people WHERE iam_user = ?1"),
            [user],
            person,
        )
        .optional()?)
}

/// Stores what a scan concluded (the Keep access columns are left as they are).
pub fn save_scan(conn: &Connection, p: &Person, now: DateTime<Utc>) -> anyhow::Result<()> {
    conn.execute(
        "INSERT INTO guard_people (iam_user, missing_since, missing_from, last_scan, revoked_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (iam_user) DO UPDATE SET missing_since = excluded.missing_since,
            missing_from = excluded.missing_from, last_scan = excluded.last_scan,
            revoked_at = excluded.revoked_at",
        params![
            p.user,
            p.missing_since.map(to_millis),
            serde_json::to_string(&p.missing_from)?,
            to_millis(now),
            p.revoked_at.map(to_millis),
        ],
    )?;
    Ok(())
}

/// Forgets users IAM no longer has (a new user of the same name starts afresh).
pub fn forget_except(conn: &Connection, users: &[String]) -> anyhow::Result<usize> {
    let keep: std::collections::HashSet<&str> = users.iter().map(String::as_str).collect();
    let stored: Vec<String> = {
        let mut stmt = conn.prepare("SELECT iam_user FROM guard_people")?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    let mut n = 0;
    for user in stored.iter().filter(|u| !keep.contains(u.as_str())) {
        n += conn.execute("DELETE FROM guard_people WHERE iam_user = ?1", [user])?;
        conn.execute("DELETE FROM guard_steps WHERE iam_user = ?1", [user])?;
    }
    Ok(n)
}

/// Records Keep access. Returns false when this proposal's keep is recorded already.
pub fn keep(
    conn: &Connection,
    user: &str,
    until: DateTime<Utc>,
    by: &str,
    reason: Option<&str>,
    approval: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    if let Some(approval) = approval {
        let seen: Option<String> = conn
            .query_row(
                "SELECT iam_user FROM guard_people WHERE kept_approval = ?1",
                [approval],
                |r| r.get(0),
            )
            .optional()?;
        if seen.is_some() {
            return Ok(false);
        }
    }
    conn.execute(
        "INSERT INTO guard_people (iam_user, last_scan, kept_until, kept_by, kept_reason, kept_approval)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (iam_user) DO UPDATE SET kept_until = excluded.kept_until,
            kept_by = excluded.kept_by, kept_reason = excluded.kept_reason,
            kept_approval = excluded.kept_approval",
        params![
            user,
            to_millis(now),
            to_millis(until),
            by,
            reason,
            approval
        ],
    )?;
    Ok(true)
}

/// Marks the revocation finished.
pub fn set_revoked(conn: &Connection, user: &str, at: DateTime<Utc>) -> anyhow::Result<()> {
    conn.execute(
        "INSERT INTO guard_people (iam_user, last_scan, revoked_at) VALUES (?1, ?2, ?2)
         ON CONFLICT (iam_user) DO UPDATE SET revoked_at = excluded.revoked_at",
        params![user, to_millis(at)],
    )?;
    Ok(())
}

/// Steps already done for the user's revocation, with what each removed.
pub fn done_steps(conn: &Connection, user: &str) -> anyhow::Result<HashMap<String, Vec<String>>> {
    let mut stmt = conn.prepare("SELECT step, removed FROM guard_steps WHERE iam_user = ?1")?;
    let rows = stmt.query_map([user], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = HashMap::new();
    for row in rows {
        let (step, removed) = row?;
        out.insert(step, serde_json::from_str(&removed).unwrap_or_default());
    }
    Ok(out)
}

pub fn step_done(
    conn: &Connection,
    user: &str,
    step: &str,
    approval: &str,
    removed: &[String],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO guard_steps (iam_user, step, approval_id, done_at, removed)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            user,
            step,
            approval,
            to_millis(now),
            serde_json::to_string(removed)?
        ],
    )?;
    Ok(())
}

/// Forgets the steps of a finished or abandoned absence (the person came back).
pub fn clear_steps(conn: &Connection, user: &str) -> anyhow::Result<()> {
    conn.execute("DELETE FROM guard_steps WHERE iam_user = ?1", [user])?;
    Ok(())
}
