//! GitHub: a push within `quiet_minutes` means someone is still working. For an
//! organisation one call is enough: its repositories sorted by last push, newest first,
//! one per page. Named repositories cost one call each, made concurrently.

use super::{Reading, Signal};
use crate::github::error_text;
use chrono::{DateTime, Utc};
use octocrab::Octocrab;
use octocrab::params::Direction;
use octocrab::params::repos::Sort;

const NAME: &str = "GitHub";

/// The newest push among the org's and the named repositories, and whether it is
/// after `since`.
pub async fn recent_push(
    client: &Octocrab,
    org: Option<&str>,
    repos: &[String],
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Signal {
    match newest_push(client, org, repos).await {
        Err(e) => Signal::new(NAME, Reading::Unreadable(e)),
        Ok(None) => Signal::new(NAME, Reading::Quiet("no pushes found".into())),
        Ok(Some((repo, at))) if at > since => Signal::new(
            NAME,
            Reading::Busy(format!(
                "push to {repo} {} min ago",
                (now - at).num_minutes().max(0)
            )),
        ),
        Ok(Some((repo, at))) => Signal::new(
            NAME,
            Reading::Quiet(format!(
                "last push to {repo} {} min ago",
                (now - at).num_minutes().max(0)
            )),
        ),
    }
}

async fn newest_push(
    client: &Octocrab,
    org: Option<&str>,
    repos: &[String],
) -> Result<Option<(String, DateTime<Utc>)>, String> {
    let mut newest: Option<(String, DateTime<Utc>)> = None;
    let mut consider = |name: String, at: Option<DateTime<Utc>>| {
        if let Some(at) = at
            && newest.as_ref().is_none_or(|(_, n)| at > *n)
        {
            newest = Some((name, at));
        }
    };
    if let Some(org) = org {
        let page = client
            .orgs(org)
            .list_repos()
            .sort(Sort::Pushed)
            .direction(Direction::Descending)
            .per_page(1u8)
            .send()
            .await
            .map_err(|e| format!("listing {org}'s repositories: {}", error_text(&e)))?;
        for r in page.items {
            consider(r.full_name.unwrap_or(r.name), r.pushed_at);
        }
    }
    let mut lookups = tokio::task::JoinSet::new();
    for full in repos {
        let (client, full) = (client.clone(), full.clone());
        lookups.spawn(async move {
            let (owner, name) = full.split_once('/').unwrap_or((&full, ""));
            client
                .repos(owner, name)
                .get()
                .await
                .map(|r| (full.clone(), r.pushed_at))
                .map_err(|e| format!("reading {full}: {}", error_text(&e)))
        });
    }
    while let Some(done) = lookups.join_next().await {
        let (name, at) = done.map_err(|e| format!("a repository lookup died: {e}"))??;
        consider(name, at);
    }
    Ok(newest)
}
