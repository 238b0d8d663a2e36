//! From Observatory's notices to incidents, inside the transaction that records the
//! check result:
//!
//! - an alert opens an incident, which Incidents posts itself (with its buttons), or
//!   joins the open incident of a check it depends on, which then shows it;
//! - a change updates the incident; a reminder or change of a muted incident, and
//!   anything about a member, is not posted again;
//! - a recovery resolves it (the message is rewritten, and Observatory still posts
//!   the recovery); members still failing then get incidents of their own.

use super::Incidents;
use super::store::{self, Incident};
use crate::audit;
use crate::features::observatory::alerts::NoticeKind;
use crate::features::observatory::listen::{Heard, NoticeListener, Observed};
use crate::features::observatory::status::Status;
use chrono::{DateTime, Utc};
use rusqlite::Transaction;
use serde_json::json;

/// Who Observatory's results are recorded as.
const OBSERVATORY: &str = "observatory";

impl NoticeListener for Incidents {
    fn observe(&self, tx: &Transaction<'_>, seen: &Observed<'_>) -> anyhow::Result<Heard> {
        let n = seen.notice;
        let failing = match n.kind {
            NoticeKind::Alert | NoticeKind::Change | NoticeKind::Reminder => true,
            NoticeKind::Recovery => false,
            NoticeKind::AfterMaintenance => n.open,
        };
        if failing {
            self.failing(tx, seen)
        } else {
            self.recovered(tx, seen)
        }
    }

    fn committed(&self) {
        self.wake.notify_one();
    }
}

impl Incidents {
    fn failing(&self, tx: &Transaction<'_>, seen: &Observed<'_>) -> anyhow::Result<Heard> {
        let (check, status, summary) = (seen.check, seen.notice.status, &seen.outcome.message);
        if let Some(id) = store::member_of(tx, check)? {
            store::member_changed(tx, id, check, status, summary)?;
            return Ok(Heard::Taken);
        }
        if let Some(open) = store::open_for(tx, check)? {
            if open.severity != status || open.summary != *summary {
                store::set_severity(tx, open.id, status, summary)?;
            }
            // A muted incident stays quiet; otherwise reminders and changes go out
            // as they always have.
            return Ok(if open.is_muted(seen.at) {
                Heard::Taken
            } else {
                Heard::Announce
            });
        }
        if let Some(cause) = self.down_dependency(tx, check)? {
            store::join(tx, cause.id, check, status, summary, seen.at)?;
            audit::append(
                tx,
                seen.at,
                OBSERVATORY,
                audit::events::INCIDENT_JOINED,
                &incident_subject(cause.id),
                &json!({"check": check, "status": status.as_str(), "depends_on": cause.check, "message": summary}),
            )?;
            return Ok(Heard::Taken);
        }
        open_incident(tx, check, status, summary, seen.at)?;
        Ok(Heard::Taken)
    }

    /// The open incident of a check that `check` depends on, if one is down.
    fn down_dependency(
        &self,
        tx: &Transaction<'_>,
        check: &str,
    ) -> anyhow::Result<Option<Incident>> {
        for dep in self.depends_on(check) {
            if let Some(open) = store::open_for(tx, dep)? {
                return Ok(Some(open));
            }
            if let Some(id) = store::member_of(tx, dep)? {
                return store::get(tx, id);
            }
        }
        Ok(None)
    }
}

fn open_incident(
    tx: &Transaction<'_>,
    check: &str,
    status: Status,
    summary: &str,
    at: DateTime<Utc>,
) -> anyhow::Result<i64> {
    let id = store::open(tx, check, status, summary, at)?;
    audit::append(
        tx,
        at,
        OBSERVATORY,
        audit::events::INCIDENT_OPENED,
        &incident_subject(id),
        &json!({"check": check, "severity": status.as_str(), "message": summary}),
    )?;
    Ok(id)
}

impl Incidents {
    fn recovered(&self, tx: &Transaction<'_>, seen: &Observed<'_>) -> anyhow::Result<Heard> {
        let check = seen.check;
        if let Some(id) = store::member_of(tx, check)? {
            // Its alert was never posted on its own, so neither is its recovery.
            store::member_recovered(tx, id, check, seen.at)?;
            return Ok(Heard::Taken);
        }
        let Some(open) = store::open_for(tx, check)? else {
            return Ok(Heard::Announce);
        };
        store::resolve(tx, open.id, seen.at, &seen.outcome.message)?;
        audit::append(
            tx,
            seen.at,
            OBSERVATORY,
            audit::events::INCIDENT_RESOLVED,
            &incident_subject(open.id),
            &json!({
                "check": check,
                "after_ms": (seen.at - open.opened_at).num_milliseconds(),
                "acked_by": open.acked_by,
                "message": seen.outcome.message,
            }),
        )?;
        super::escalate::on_resolved(tx, open.id, self.tz, seen.at)?;
        // Members still failing were waiting on this check; now they are news of their own.
        for m in store::members(tx, open.id)? {
            if m.recovered_at.is_none() {
                open_incident(tx, &m.check, m.status, &m.summary, seen.at)?;
            }
        }
        Ok(Heard::Announce)
    }
}

/// The audit subject of an incident.
pub fn incident_subject(id: i64) -> String {
    format!("incident:{id}")
}
