//! Events a stop's drain had no time for, kept in SQLite and handled after the next
//! start. Only what a person was told was received is kept: commands, clicks and
//! directory changes. A job occurrence cut off is not: the scheduler runs the job's
//! next occurrence (and catches up a missed one within its window).

use crate::clock::to_millis;
use crate::events::{CommandRequest, DecisionRequest, DirectoryChange, Event, PressRequest};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

/// An event as stored.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Parked {
    Decision(DecisionRequest),
    Command(CommandRequest),
    Directory(DirectoryChange),
    Press(PressRequest),
}

/// Keeps one event for the next start. Returns false (keeping nothing) for a job,
/// a Reject waiting for its dialog, and a Home tab to draw.
pub fn park(conn: &Connection, now: DateTime<Utc>, event: Event) -> anyhow::Result<bool> {
    let parked = match event {
        Event::Decision(d) => Parked::Decision(d),
        Event::Command(c) => Parked::Command(c),
        Event::Directory(d) => Parked::Directory(d),
        Event::Press(p) => Parked::Press(p),
        // A job's next occurrence runs anyway; a dialog cannot open once its
        // trigger has expired (the person presses again); a Home tab is drawn anew
        // when next opened.
        // A webhook delivery is stored by its door and queued again at the next start.
        Event::Job(_) | Event::AskReason(_) | Event::HomeOpened(_) | Event::Webhook(_) => {
            return Ok(false);
        }
    };
    conn.execute(
        "INSERT INTO parked_events (parked_at, event) VALUES (?1, ?2)",
        params![to_millis(now), serde_json::to_string(&parked)?],
    )?;
    Ok(true)
}

/// Takes every kept event, oldest first, deleting the rows it returns. A row that
/// cannot be read (written by another version) stays, and is logged.
pub fn take_all(conn: &mut Connection) -> anyhow::Result<Vec<Event>> {
    let tx = conn.transaction()?;
    let rows: Vec<(i64, String)> = {
        let mut stmt = tx.prepare("SELECT seq, event FROM parked_events ORDER BY seq")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    let mut events = Vec::new();
    for (seq, text) in rows {
        match serde_json::from_str::<Parked>(&text) {
            Ok(parked) => {
                tx.execute("DELETE FROM parked_events WHERE seq = ?1", [seq])?;
                events.push(match parked {
                    Parked::Decision(d) => Event::Decision(d),
                    Parked::Command(c) => Event::Command(c),
                    Parked::Directory(d) => Event::Directory(d),
                    Parked::Press(p) => Event::Press(p),
                });
            }
            Err(e) => {
                tracing::error!(seq, error = %e, "a kept event cannot be read; it stays in parked_events")
            }
        }
    }
    tx.commit()?;
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::command;
    use crate::domain::{Actor, SlackUserId};
    use crate::events::{JobKind, JobRun, ReplyTo};
    use crate::store::Store;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), std::time::Duration::from_secs(5)).unwrap();
        (dir, store)
    }

    fn help_from_slack(reply: &str) -> Event {
        Event::Command(CommandRequest {
            from: Actor::Slack {
                user: SlackUserId::parse("UALICE").unwrap(),
                groups: Vec::new(),
            },
            parsed: command::parse("help"),
            reply: ReplyTo::SlackResponseUrl {
                url: format!("https://hooks.slack.com/{reply}"),
                channel: "C0OPS".into(),
            },
        })
    }

    #[test]
    fn kept_events_come_back_in_order_once_and_jobs_are_not_kept() {
        let (_dir, store) = store();
        let now = Utc::now();
        store
            .with_conn(|c| {
                assert!(park(c, now, help_from_slack("a"))?);
                let job = Event::Job(JobRun {
                    job: JobKind::EXPIRE_APPROVALS,
                    scheduled_for: now,
                    catch_up: false,
                });
                assert!(!park(c, now, job)?);
                assert!(park(c, now, help_from_slack("b"))?);
                Ok(())
            })
            .unwrap();
        let events = store.with_conn(take_all).unwrap();
        let replies: Vec<String> = events
            .iter()
            .map(|e| match e {
                Event::Command(c) => format!("{:?}", c.reply),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(replies.len(), 2);
        assert!(
            replies[0].contains("/a") && replies[1].contains("/b"),
            "{replies:?}"
        );
        assert!(store.with_conn(take_all).unwrap().is_empty(), "taken once");
    }

    #[test]
    fn an_unreadable_row_stays_and_does_not_hide_the_others() {
        let (_dir, store) = store();
        let now = Utc::now();
        store
            .with_conn(|c| {
                c.execute(
                    "INSERT INTO parked_events (parked_at, event) VALUES (0, '{\"mystery\":1}')",
                    [],
                )?;
                park(c, now, help_from_slack("a"))?;
                Ok(())
            })
            .unwrap();
        assert_eq!(store.with_conn(take_all).unwrap().len(), 1);
        let left: i64 = store
            .with_conn(|c| Ok(c.query_row("SELECT COUNT(*) FROM parked_events", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(left, 1);
    }
}
