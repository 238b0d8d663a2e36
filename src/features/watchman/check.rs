//! The evening check: which instances would stop, is anyone still working, and what
//! stopping saves. Used by the job, `watchman status` and `opsmate watchman check`.

use super::Watchman;
use super::decide::{self, Verdict};
use super::price;
use super::signals::{Signal, github, holds, linear};
use crate::cloud::instances::{self, InstanceSummary};
use crate::store::Store;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::task::JoinSet;

/// What happens to one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceAction {
    Stop,
    Skip,
}

/// One matching instance and what tonight's check does with it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceLine {
    pub id: crate::cloud::ids::InstanceId,
    pub region: String,
    pub instance_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub action: InstanceAction,
    /// Why it is skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// USD per hour while running, when the type is in the price table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hourly_usd: Option<f64>,
}

/// The outcome of a check, as printed by `opsmate watchman check --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub checked_at: DateTime<Utc>,
    pub decision: Verdict,
    pub reasons: Vec<String>,
    pub instances: Vec<InstanceLine>,
    pub signals: Vec<Signal>,
    /// Hours from now to the morning start; `None` without a morning start.
    pub hours_stopped: Option<f64>,
    /// Savings of stopping until the morning start, for types in the price table.
    pub estimated_savings_usd: Option<f64>,
    /// Types not in the price table (their savings are unknown).
    pub unpriced_types: Vec<String>,
}

impl Check {
    pub fn to_stop(&self) -> impl Iterator<Item = &InstanceLine> {
        self.instances
            .iter()
            .filter(|i| i.action == InstanceAction::Stop)
    }
}

/// Why an instance is not stopped, if it is not.
fn skip_reason(i: &InstanceSummary, w: &Watchman) -> Option<String> {
    if let Some(group) = i.auto_scaling_group() {
        return Some(format!(
            "in Auto Scaling group {group}: stopping it would only make the group replace it"
        ));
    }
    crate::config::excluded_by(&w.settings.exclude_tag, &i.tags).map(|tag| format!("tagged {tag}"))
}

/// Running instances matching the tag filters, every region concurrently. Returns
/// the lines and the regions that could not be listed.
pub async fn targets(w: &Watchman) -> (Vec<InstanceLine>, Vec<String>) {
    let mut tasks = JoinSet::new();
    for region in &w.regions {
        let (client, region) = (w.aws.ec2(region), region.clone());
        let filters = w.settings.tag_filters.clone();
        tasks.spawn(async move {
            let found = instances::with_tags(&client, &filters, "running").await;
            (region, found)
        });
    }
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((region, Ok(found))) => lines.extend(found.into_iter().map(|i| {
                let why = skip_reason(&i, w);
                InstanceLine {
                    action: if why.is_some() {
                        InstanceAction::Skip
                    } else {
                        InstanceAction::Stop
                    },
                    why,
                    hourly_usd: price::hourly(&i.instance_type),
                    name: i.name().map(str::to_owned),
                    region: region.clone(),
                    instance_type: i.instance_type,
                    id: i.id,
                }
            })),
            Ok((region, Err(e))) => errors.push(format!("{region}: {e:#}")),
            Err(e) => errors.push(format!("a region listing died: {e}")),
        }
    }
    lines.sort_by(|a, b| (&a.region, &a.id).cmp(&(&b.region, &b.id)));
    (lines, errors)
}

/// Reads every configured signal, concurrently, plus any hold.
pub async fn signals(
    w: &Watchman,
    store: &Store,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<Signal>> {
    let s = &w.settings;
    let since = now - chrono::Duration::minutes(i64::from(s.quiet_minutes));
    let github = async {
        match &w.github {
            Some(client) if s.github_org.is_some() || !s.github_repos.is_empty() => Some(
                github::recent_push(client, s.github_org.as_deref(), &s.github_repos, since, now)
                    .await,
            ),
            _ => None,
        }
    };
    let linear = async {
        if s.linear_team_keys.is_empty() {
            None
        } else {
            Some(
                linear::urgent_issues(
                    &w.http,
                    &w.linear_url,
                    w.linear_key.as_ref(),
                    &s.linear_team_keys,
                )
                .await,
            )
        }
    };
    let (github, linear) = tokio::join!(github, linear);
    let hold = store.call(move |c| holds::active(c, now)).await?;
    let mut out: Vec<Signal> = github.into_iter().chain(linear).collect();
    out.extend(hold.map(|h| h.signal(w.tz)));
    Ok(out)
}

/// The whole check, acting on nothing.
pub async fn check(w: &Watchman, store: &Store, now: DateTime<Utc>) -> anyhow::Result<Check> {
    let ((instances, errors), signals) = tokio::join!(targets(w), signals(w, store, now));
    let signals = signals?;
    let stoppable = instances
        .iter()
        .filter(|i| i.action == InstanceAction::Stop)
        .count();
    let decision = decide::decide(&signals, stoppable, &errors);
    let mut reasons = decision.reasons;
    let skipped = instances.len() - stoppable;
    if skipped > 0 {
        reasons.push(format!(
            "{skipped} matching instance(s) are skipped (see the list)"
        ));
    }
    let hours_stopped = w
        .start
        .as_ref()
        .and_then(|s| s.next_after(now))
        .map(|start| (start - now).num_minutes() as f64 / 60.0);
    let mut unpriced: Vec<String> = instances
        .iter()
        .filter(|i| i.action == InstanceAction::Stop && i.hourly_usd.is_none())
        .map(|i| i.instance_type.clone())
        .collect();
    unpriced.sort();
    unpriced.dedup();
    let estimated_savings_usd = hours_stopped.map(|h| {
        let per_hour: f64 = instances
            .iter()
            .filter(|i| i.action == InstanceAction::Stop)
            .filter_map(|i| i.hourly_usd)
            .sum();
        (per_hour * h * 100.0).round() / 100.0
    });
    Ok(Check {
        checked_at: now,
        decision: decision.decision,
        reasons,
        instances,
        signals,
        hours_stopped,
        estimated_savings_usd,
        unpriced_types: unpriced,
    })
}
