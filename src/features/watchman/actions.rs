//! The stop the approval gate runs. Just before stopping, every signal is read again
//! (a push during the notice keeps staging up) and each instance is described again
//! (one stopped by hand, tagged for keeping or gone is skipped). Every instance's
//! outcome is reported and audited.

use super::check::{self, InstanceAction};
use super::decide::{self, Verdict};
use super::{STOPPED_TAG, Watchman};
use crate::approvals::{
    ActionHandler, ActionRegistry, ActionReport, ActionRun, BoxFuture, Done, Precheck, Progress,
    Proposal,
};
use crate::audit::Audit;
use crate::clock::SharedClock;
use crate::cloud::ids::InstanceId;
use crate::cloud::instances;
use crate::domain::ActionKind;
use crate::store::Store;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// An instance named in a stop proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub id: InstanceId,
    pub region: String,
}

/// The parameters of a stop proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopParams {
    pub instances: Vec<Target>,
    #[serde(default)]
    pub estimated_savings_usd: Option<f64>,
    #[serde(default)]
    pub hours_stopped: Option<f64>,
}

/// What happened to one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopResult {
    Stopped,
    WouldStop,
    Skipped,
    Failed,
}

/// One instance's line of a stop report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceLine {
    pub id: String,
    pub region: String,
    pub result: StopResult,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// The state EC2 answered the stop with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

impl InstanceLine {
    fn new(id: &str, region: &str, result: StopResult) -> Self {
        Self {
            id: id.to_owned(),
            region: region.to_owned(),
            result,
            why: None,
            state: None,
        }
    }

    fn because(self, why: impl Into<String>) -> Self {
        Self {
            why: Some(why.into()),
            ..self
        }
    }
}

/// The report of a stop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopReport {
    pub instances: Vec<InstanceLine>,
    pub failed: usize,
    pub estimated_savings_usd: Option<f64>,
}

impl ActionReport for StopReport {
    /// A line per instance, e.g. `i-0abc (eu-west-1) stopped`.
    fn summary(&self) -> Vec<String> {
        self.instances
            .iter()
            .map(|i| {
                let result = match i.result {
                    StopResult::Stopped => "stopped",
                    StopResult::WouldStop => "would stop",
                    StopResult::Skipped => "skipped",
                    StopResult::Failed => "failed",
                };
                let why = i.why.as_ref().map(|w| format!(": {w}")).unwrap_or_default();
                format!("{} ({}) {result}{why}", i.id, i.region)
            })
            .collect()
    }

    fn failed(&self) -> usize {
        self.failed
    }
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
    Ok(p.params_as::<StopParams>()?.instances)
}

struct Stopper {
    watchman: Arc<Watchman>,
    store: Store,
    audit: Audit,
    clock: SharedClock,
}

impl Stopper {
    /// Stops one region's share; returns per-instance results and how many failed.
    async fn stop_region(
        &self,
        p: &Proposal,
        region: &str,
        targets: &[&Target],
        dry_run: bool,
    ) -> anyhow::Result<(Vec<InstanceLine>, usize)> {
        let client = self.watchman.aws.ec2(region);
        let ids: Vec<InstanceId> = targets.iter().map(|t| t.id.clone()).collect();
        let now: BTreeMap<InstanceId, instances::InstanceSummary> = match instances::now(
            &client, &ids,
        )
        .await
        {
            Ok(found) => found.into_iter().map(|i| (i.id.clone(), i)).collect(),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), %region, "describing instances before the stop failed");
                let why = e.to_string();
                return Ok((
                    targets
                        .iter()
                        .map(|t| {
                            InstanceLine::new(t.id.as_str(), &t.region, StopResult::Failed)
                                .because(&why)
                        })
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
                None => out.push(skipped(t, "it no longer exists".into())),
                Some(i) if i.state != "running" => {
                    out.push(skipped(t, format!("it is {} already", i.state)));
                }
                Some(i) if crate::config::excluded_by(spec, &i.tags).is_some() => {
                    out.push(skipped(t, format!("tagged {spec} since the check")));
                }
                Some(_) => to_stop.push(t.id.clone()),
            }
        }
        if to_stop.is_empty() {
            return Ok((out, 0));
        }
        if dry_run {
            for id in &to_stop {
                out.push(InstanceLine::new(
                    id.as_str(),
                    region,
                    StopResult::WouldStop,
                ));
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
                    out.push(InstanceLine {
                        state: Some(state),
                        ..InstanceLine::new(&id, region, StopResult::Stopped)
                    });
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
                    out.push(
                        InstanceLine::new(id.as_str(), region, StopResult::Failed).because(&why),
                    );
                }
                Ok((out, to_stop.len()))
            }
        }
    }
}

fn skipped(t: &Target, why: String) -> InstanceLine {
    InstanceLine::new(t.id.as_str(), &t.region, StopResult::Skipped).because(why)
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
            let savings = p.params_as::<StopParams>()?.estimated_savings_usd;
            Ok(Progress::Done(Done::of(&StopReport {
                instances: items,
                failed,
                estimated_savings_usd: savings,
            })?))
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
    let params = StopParams {
        instances: targets,
        estimated_savings_usd: check.estimated_savings_usd,
        hours_stopped: check.hours_stopped,
    };
    serde_json::to_value(params).unwrap_or_default()
}
