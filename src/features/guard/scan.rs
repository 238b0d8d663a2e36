//! One scan: read the directories, decide about every IAM user, move the grace
//! clocks, and store and audit what changed, all in one transaction.

use super::Guard;
use super::detect::{self, Change, Finding, Person, Status};
use super::directories::{self, Calls};
use super::identity::identify;
use super::store;
use crate::approvals::{Proposal, ProposalState};
use crate::audit;
use crate::cloud::iam::IamUser;
use crate::dispatch::Context;
use crate::domain::ActionKind;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

/// Unmapped users named in a scan's audit row (the rest are counted).
const UNMAPPED_LISTED: usize = 100;

/// A Keep access decision in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kept {
    pub by: String,
    pub until: DateTime<Utc>,
    pub reason: Option<String>,
}

/// The newest revocation proposal for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revocation {
    pub approval: String,
    pub state: ProposalState,
}

/// Where one IAM user stands; the JSON of `opsmate access scan --json`.
#[derive(Debug, Clone, Serialize)]
pub struct UserReport {
    pub user: String,
    pub email: Option<String>,
    pub github_login: Option<String>,
    pub status: Status,
    /// Directories the person is missing from (`slack`, `slack (deactivated)`, `github`).
    pub missing_from: Vec<String>,
    /// When a scan first found them missing.
    pub since: Option<DateTime<Utc>>,
    /// When the grace period ends (or ended).
    pub grace_ends: Option<DateTime<Utc>>,
    pub kept: Option<Kept>,
    pub revocation: Option<Revocation>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why someone is unmapped, or which directory could not be read.
    pub note: Option<String>,
    /// This scan positively found them gone (not merely remembered).
    #[serde(skip)]
    pub confirmed_gone: bool,
    #[serde(skip)]
    pub iam: IamUser,
}

impl UserReport {
    /// Departed, confirmed now, not revoked, not kept and not already asked.
    pub fn to_propose(&self) -> bool {
        self.status == Status::Departed
            && self.confirmed_gone
            && self.revoked_at.is_none()
            && !self.revocation.as_ref().is_some_and(|r| r.state.is_open())
    }
}

/// What one scan found.
#[derive(Debug, Clone)]
pub struct Scan {
    pub at: DateTime<Utc>,
    pub users: Vec<UserReport>,
    /// One line per directory.
    pub notes: Vec<String>,
    /// Directories that could not be read (nobody counted as gone from them).
    pub unreadable: Vec<String>,
    pub calls: Calls,
}

impl Scan {
    pub fn count(&self, status: Status) -> usize {
        self.users.iter().filter(|u| u.status == status).count()
    }
}

fn report(
    iam: &IamUser,
    person: &Person,
    status: Status,
    finding: &Finding,
    g: &Guard,
    latest: Option<&Proposal>,
) -> UserReport {
    let id = identify(iam.name.as_str(), &iam.tags, &g.settings);
    let note = match finding {
        Finding::Unmapped(why) => Some(why.clone()),
        Finding::Unverified(why) => Some(format!("not verified: {}", why.join("; "))),
        _ => None,
    };
    UserReport {
        user: iam.name.to_string(),
        email: id.email,
        github_login: id.login,
        status,
        missing_from: person.missing_from.clone(),
        since: person.missing_since,
        grace_ends: person.missing_since.map(|s| s + g.grace()),
        kept: match (&person.kept_until, &person.kept_by) {
            (Some(until), Some(by)) if status == Status::Kept => Some(Kept {
                by: by.clone(),
                until: *until,
                reason: person.kept_reason.clone(),
            }),
            _ => None,
        },
        revocation: latest.map(|p| Revocation {
            approval: p.id.to_string(),
            state: p.state,
        }),
        revoked_at: person.revoked_at,
        note,
        confirmed_gone: matches!(finding, Finding::Gone { .. }),
        iam: iam.clone(),
    }
}

/// Scans now. Fails only when IAM cannot be listed.
pub async fn scan(ctx: &Context, g: &Guard) -> anyhow::Result<Scan> {
    // Whole milliseconds, as stored: a time reads the same on every scan.
    let now = crate::clock::from_millis(crate::clock::to_millis(ctx.clock.now()));
    let snapshot = directories::read(g, &ctx.store, now).await?;
    let stored = ctx.store.call(|c| store::people(c)).await?;
    let latest = ctx.gate.latest_by_target(ActionKind::REVOKE_ACCESS).await?;
    let mut users = Vec::with_capacity(snapshot.users.len());
    let mut changes = Vec::new();
    let mut people = Vec::with_capacity(snapshot.users.len());
    for iam in &snapshot.users {
        let id = identify(iam.name.as_str(), &iam.tags, &g.settings);
        let finding = detect::assess(&id, &snapshot.dirs, g.settings.rule);
        let (person, status, change) = detect::advance(
            stored.get(iam.name.as_str()),
            iam.name.as_str(),
            &finding,
            now,
            g.grace(),
        );
        let r = report(
            iam,
            &person,
            status,
            &finding,
            g,
            latest.get(&Guard::target(iam.name.as_str())),
        );
        if change != Change::None {
            changes.push((
                iam.name.clone(),
                change,
                r.email.clone(),
                r.missing_from.clone(),
            ));
        }
        users.push(r);
        people.push(person);
    }
    let unreadable: Vec<String> = [
        match &snapshot.dirs.slack {
            detect::View::Failed(e) => Some(format!("slack: {e}")),
            _ => None,
        },
        match &snapshot.dirs.github {
            detect::View::Failed(e) => Some(format!("github: {e}")),
            _ => None,
        },
    ]
    .into_iter()
    .flatten()
    .collect();
    let names: Vec<String> = snapshot.users.iter().map(|u| u.name.to_string()).collect();
    // One row per scan: the digest reports unmapped users from it.
    let count = |s: Status| users.iter().filter(|u| u.status == s).count();
    let summary = json!({
        "users": users.len(),
        "present": count(Status::Present),
        "missing_in_grace": count(Status::MissingInGrace),
        "departed": count(Status::Departed),
        "kept": count(Status::Kept),
        "unmapped": users
            .iter()
            .filter(|u| u.status == Status::Unmapped)
            .map(|u| u.user.clone())
            .take(UNMAPPED_LISTED)
            .collect::<Vec<_>>(),
        "unmapped_count": count(Status::Unmapped),
        "unreadable": unreadable,
    });
    ctx.store
        .call(move |c| {
            crate::store::immediate(c, |tx| {
                for p in &people {
                    store::save_scan(tx, p, now)?;
                }
                store::forget_except(tx, &names)?;
                audit::append(
                    tx,
                    now,
                    super::PROPOSER,
                    crate::audit::events::GUARD_SCANNED,
                    "iam",
                    &summary,
                )?;
                for (user, change, email, missing_from) in &changes {
                    let event = match change {
                        Change::StartedMissing => crate::audit::events::GUARD_MISSING,
                        Change::Returned => {
                            store::clear_steps(tx, user.as_str())?;
                            crate::audit::events::GUARD_RETURNED
                        }
                        Change::None => continue,
                    };
                    audit::append(
                        tx,
                        now,
                        super::PROPOSER,
                        event,
                        user.as_str(),
                        &json!({"email": email, "missing_from": missing_from}),
                    )?;
                }
                Ok(())
            })
        })
        .await?;
    tracing::info!(
        users = users.len(),
        iam_calls = snapshot.calls.iam,
        slack_calls = snapshot.calls.slack,
        github_calls = snapshot.calls.github,
        "access scan done"
    );
    Ok(Scan {
        at: now,
        users,
        notes: snapshot.notes,
        unreadable,
        calls: snapshot.calls,
    })
}
