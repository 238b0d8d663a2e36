//! Reads the three directories at once: IAM users (with tags, groups and policies),
//! Slack members and GitHub organisation members. IAM failing fails the scan; Slack
//! or GitHub failing makes that directory unreadable (nobody counts as gone from it),
//! and Slack falls back to the directory stored from its events.

use super::Guard;
use super::detect::{Directories, View};
use super::identity::{normalize_email, normalize_login};
use crate::chat::slack::members;
use crate::cloud::CallCounter;
use crate::cloud::iam::{self, IamUser};
use crate::events::SlackMember;
use crate::store::{self, Store};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// GitHub's largest page for organisation members.
pub const GITHUB_PAGE: u8 = 100;

/// Calls made to each service by one read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Calls {
    pub iam: u64,
    pub slack: u32,
    pub github: u32,
}

/// Everything one read found.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub users: Vec<IamUser>,
    pub dirs: Directories,
    /// One line per directory: what was read, or why not.
    pub notes: Vec<String>,
    pub calls: Calls,
}

/// Reads all three concurrently.
pub async fn read(g: &Guard, store: &Store, now: DateTime<Utc>) -> anyhow::Result<Snapshot> {
    let counter = CallCounter::default();
    let client = g.aws.iam_counted(&counter);
    let (users, people) = tokio::join!(iam::users(&client), people(g, store, now));
    let users = users?;
    let (dirs, mut notes, mut calls) = people;
    notes.insert(0, format!("IAM: {} users", users.len()));
    calls.iam = counter.get();
    Ok(Snapshot {
        users,
        dirs,
        notes,
        calls,
    })
}

/// Reads the people directories (Slack and GitHub) concurrently: what a revocation
/// checks again just before it runs.
pub async fn people(
    g: &Guard,
    store: &Store,
    now: DateTime<Utc>,
) -> (Directories, Vec<String>, Calls) {
    let ((slack, slack_note, slack_calls), (github, github_note, github_calls)) =
        tokio::join!(read_slack(g, store, now), read_github(g));
    (
        Directories { slack, github },
        vec![slack_note, github_note],
        Calls {
            iam: 0,
            slack: slack_calls,
            github: github_calls,
        },
    )
}

/// Members by normalised email: active if any non-bot account with it is active.
pub fn by_email(
    members: &[SlackMember],
    aliases: &std::collections::BTreeMap<String, String>,
) -> HashMap<String, bool> {
    let mut out: HashMap<String, bool> = HashMap::new();
    for m in members.iter().filter(|m| !m.is_bot) {
        if let Some(email) = m.email.as_deref().and_then(|e| normalize_email(e, aliases)) {
            *out.entry(email).or_default() |= !m.deleted;
        }
    }
    out
}

async fn read_slack(
    g: &Guard,
    store: &Store,
    now: DateTime<Utc>,
) -> (View<HashMap<String, bool>>, String, u32) {
    let aliases = &g.settings.domain_aliases;
    let Some(directory) = &g.slack else {
        return (
            View::Off,
            "Slack: not connected (SLACK_BOT_TOKEN is not set)".into(),
            0,
        );
    };
    let error = match directory.list().await {
        Ok(listing) => {
            let n = listing.members.len();
            let calls = listing.calls;
            let map = by_email(&listing.members, aliases);
            let stored = listing.members;
            if let Err(e) = store
                .call(move |c| store::immediate(c, |tx| members::sync(tx, &stored, now)))
                .await
            {
                tracing::warn!(error = %format!("{e:#}"), "could not store the Slack directory");
            }
            return (
                View::Read(map),
                format!("Slack: {n} members in {calls} users.list calls"),
                calls,
            );
        }
        Err(e) => format!("{e:#}"),
    };
    match store.call(|c| members::all(c)).await {
        Ok(stored) if !stored.is_empty() => (
            View::Read(by_email(&stored, aliases)),
            format!(
                "Slack: users.list failed ({error}); used the {} members stored from Slack's events",
                stored.len()
            ),
            0,
        ),
        _ => (
            View::Failed(error.clone()),
            format!("Slack: unreadable ({error}); nobody counts as gone from Slack"),
            0,
        ),
    }
}

/// Only the login of each member is needed.
#[derive(Debug, Deserialize)]
struct Member {
    login: String,
}

async fn read_github(g: &Guard) -> (View<HashSet<String>>, String, u32) {
    let (Some(client), Some(org)) = (&g.github, &g.settings.github_org) else {
        return (
            View::Off,
            "GitHub: not read (guard.github_org is not set)".into(),
            0,
        );
    };
    match org_members(client, org).await {
        Ok((logins, calls)) => (
            View::Read(logins.iter().filter_map(|l| normalize_login(l)).collect()),
            format!("GitHub {org}: {} members in {calls} calls", logins.len()),
            calls,
        ),
        Err((e, calls)) => (
            View::Failed(e.clone()),
            format!("GitHub {org}: unreadable ({e}); nobody counts as gone from GitHub"),
            calls,
        ),
    }
}

/// Every member login, following the `Link: rel="next"` pages, 100 per page.
async fn org_members(
    client: &octocrab::Octocrab,
    org: &str,
) -> Result<(Vec<String>, u32), (String, u32)> {
    let route = format!("/orgs/{org}/members");
    let fail = |e: octocrab::Error, calls| {
        (
            format!("listing {org}'s members: {}", crate::github::error_text(&e)),
            calls,
        )
    };
    let mut calls = 1;
    let mut page: octocrab::Page<Member> = client
        .get(&route, Some(&[("per_page", GITHUB_PAGE)]))
        .await
        .map_err(|e| fail(e, 1))?;
    let mut logins: Vec<String> = Vec::new();
    loop {
        logins.extend(page.items.drain(..).map(|m| m.login));
        if page.next.is_none() {
            break;
        }
        calls += 1;
        match client.get_page::<Member>(&page.next).await {
            Ok(Some(next)) => page = next,
            Ok(None) => break,
            Err(e) => return Err(fail(e, calls)),
        }
    }
    Ok((logins, calls))
}
