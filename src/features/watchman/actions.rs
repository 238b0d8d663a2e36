//! The stop the approval gate runs. Just before stopping, every signal is read again
//! (a push during the notice keeps staging up) and each instance is described again
//! (one stopped by hand, tagged for keeping or gone is skipped). Every instance's
//! outcome is reported and audited.

use super::check::{self, InstanceAction};
use super::decide::{self, Verdict};
use super::{STOPPED_TAG, Watchman};
use crate::approvals::{
    ActionHandler, ActionRegistry, ActionRun, BoxFuture, Precheck, Progress, Proposal,
};
use crate::audit::Audit;
use crate::clock::SharedClock;
use crate::cloud::instances;
use crate::domain::ActionKind;
use crate::store::Store;
use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// An instance named in a stop proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub id: String,
    pub region: String,
}

/// Registers the stop handler unless one is registered already.
pub fn register(
    registry: &mut ActionRegistry,
    watchman: Arc<Watchman>,
    store: Store,
    audit: Audit,
    clock: SharedClock,
) {
    if registry.get(ActionKind::STOP_INSTANCES).is_none() {
        registry.register(
            ActionKind::STOP_INSTANCES,
            Arc::new(Stopper {
                watchman,
                store,
                audit,
                clock,
            }),
        );
    }
}

pub fn targets_of(p: &Proposal) -> anyhow::Result<Vec<Target>> {
    let v = p
        .params
        .get("instances")
        .cloned()
        .context("the proposal names no instances")?;
    Ok(serde_json::from_value(v)?)
}

struct Stopper {
    watchman: Arc<Watchman>,
    store: Store,
    audit: Audit,
    clock: SharedClock,
}

fn line(t: &Target, result: &str, why: Option<String>) -> Value {
    json!({"id": t.id, "region": t.region, "result": result, "why": why})
}

impl Stopper {
    /// Stops one region's share; returns per-instance results and how many failed.
    async fn stop_region(
        &self,
        p: &Proposal,
        region: &str,
        targets: &[&Target],
        dry_run: bool,
    ) -> anyhow::Result<(Vec<Value>, usize)> {
        let client = self.watchman.aws.ec2(region);
        let ids: Vec<String> = targets.iter().map(|t| t.id.clone()).collect();
        let now: BTreeMap<String, instances::InstanceSummary> = match instances::now(&client, &ids)
            .await
        {
            Ok(found) => found.into_iter().map(|i| (i.id.clone(), i)).collect(),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), %region, "describing instances before the stop failed");
                let why = e.to_string();
                return Ok((
                    targets
                        .iter()
                        .map(|t| line(t, "failed", Some(why.clone())))
                        .collect(),
                    targets.len(),
                ));
            }
        };
        let mut out = Vec::new();
        let mut to_stop = Vec::new();
        let spec = &self.watchman.settings.exclude_tag;
        for t in targets {
            match now.get(&t.id) {
                None => out.push(line(t, "skipped", Some("it no longer exists".into()))),
                Some(i) if i.state != "running" => out.push(line(
                    t,
                    "skipped",
                    Some(format!("it is {} already", i.state)),
                )),
                Some(i) if crate::config::excluded_by(spec, &i.tags).is_some() => out.push(line(
                    t,
                    "skipped",
                    Some(format!("tagged {spec} since the check")),
                )),
                Some(_) => to_stop.push(t.id.clone()),
            }
        }
        if to_stop.is_empty() {
            return Ok((out, 0));
        }
        if dry_run {
            for id in &to_stop {
                out.push(json!({"id": id, "region": region, "result": "would_stop"}));
            }
            return Ok((out, 0));
        }
        let stamp = self.clock.now().to_rfc3339();
        // Tag first: an instance stopped but not tagged would never be started again.
        let stopped = match instances::tag(&client, &to_stop, STOPPED_TAG, &stamp).await {
            Ok(()) => instances::stop(&client, &to_stop).await,
            Err(e) => Err(e),
        };
        match stopped {
            Ok(states) => {
                for (id, state) in states {
                    self.audit
                        .record(
                            "system",
                            crate::audit::events::WATCHMAN_STOPPED,
                            format!("{region}/{id}"),
                            json!({"approval": p.id, "state": state}),
                        )
                        .await?;
                    out.push(
                        json!({"id": id, "region": region, "result": "stopped", "state": state}),
                    );
                }
                Ok((out, 0))
            }
            Err(e) => {
                let (why, detail) = (e.to_string(), format!("{e:#}"));
                // Nothing stopped: take the tag off again so the morning leaves them be.
                let _ = instances::untag(&client, &to_stop, STOPPED_TAG).await;
                for id in &to_stop {
                    self.audit
                        .record(
                            "system",
                            crate::audit::events::WATCHMAN_STOP_FAILED,
                            format!("{region}/{id}"),
                            json!({"approval": p.id, "error": why, "detail": detail}),
                        )
                        .await?;
                    out.push(json!({"id": id, "region": region, "result": "failed", "why": why}));
                }
                Ok((out, to_stop.len()))
            }
        }
    }
}

/// Lines for the chat message, one per instance.
fn summary(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| {
            let why = i["why"]
                .as_str()
                .map(|w| format!(": {w}"))
                .unwrap_or_default();
            format!(
                "{} ({}) {}{why}",
                i["id"].as_str().unwrap_or("?"),
                i["region"].as_str().unwrap_or("?"),
                i["result"].as_str().unwrap_or("?").replace('_', " ")
            )
        })
        .collect()
}

impl ActionHandler for Stopper {
    fn recheck<'a>(&'a self, p: &'a Proposal) -> BoxFuture<'a, anyhow::Result<Precheck>> {
        Box::pin(async move {
            let now = self.clock.now();
            // A stop approved after the night it was for would stop staging by day.
            if let Some(morning) = self
                .watchman
                .start
                .as_ref()
                .and_then(|s| s.next_after(p.created_at))
                && now >= morning
            {
                return Ok(Precheck::NoLongerQualifies(format!(
                    "the night is over: the morning start was at {}",
                    crate::chat::answers::local(morning, self.watchman.tz)
                )));
            }
            let signals = check::signals(&self.watchman, &self.store, now).await?;
            let decision = decide::decide(&signals, 1, &[]);
            Ok(match decision.decision {
                Verdict::Stop => Precheck::Qualifies,
                Verdict::Keep => Precheck::NoLongerQualifies(format!(
                    "someone is working now: {}",
                    decision.reasons.join("; ")
                )),
            })
        })
    }

    fn execute<'a>(
        &'a self,
        p: &'a Proposal,
        run: &'a ActionRun<'a>,
    ) -> BoxFuture<'a, anyhow::Result<Progress>> {
        let dry_run = run.dry_run;
        Box::pin(async move {
            let targets = targets_of(p)?;
            let mut by_region: BTreeMap<&str, Vec<&Target>> = BTreeMap::new();
            for t in &targets {
                by_region.entry(t.region.as_str()).or_default().push(t);
            }
            let mut items = Vec::new();
            let mut failed = 0;
            for (region, targets) in by_region {
                let (lines, n) = self.stop_region(p, region, &targets, dry_run).await?;
                items.extend(lines);
                failed += n;
            }
            Ok(Progress::Done(json!({
                "summary": summary(&items),
                "instances": items,
                "failed": failed,
                "estimated_savings_usd": p.params.get("estimated_savings_usd"),
            })))
        })
    }
}

/// The instances a check would stop, as proposal params.
pub fn params(check: &check::Check) -> Value {
    let targets: Vec<Target> = check
        .instances
        .iter()
        .filter(|i| i.action == InstanceAction::Stop)
        .map(|i| Target {
            id: i.id.clone(),
            region: i.region.clone(),
        })
        .collect();
    json!({
        "instances": targets,
        "estimated_savings_usd": check.estimated_savings_usd,
        "hours_stopped": check.hours_stopped,
    })
}
