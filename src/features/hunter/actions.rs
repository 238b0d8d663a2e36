//! The deletions the approval gate runs: one resource (`delete_volume`,
//! `delete_snapshot`, `release_address`) or a whole listed set (`delete_zombies`).
//!
//! Each resource is described again just before acting: a volume attached since the
//! scan, a snapshot now used by an AMI, an address associated again, or a resource
//! tagged for keeping is skipped and said so. A resource already gone counts as
//! already deleted. Every step is audited.
//!
//! A volume is deleted in resumable steps: its final snapshot is requested and the
//! id stored; the executor calls again on its own timer (`hunter.final_snapshot_poll`)
//! until the snapshot completes; the volume is checked once more and deleted. A set
//! requests every final snapshot first, so fifteen volumes take about one snapshot's
//! time. After a restart the wait resumes: the stored id, or the snapshot tagged with
//! the approval, is used again, never a second snapshot.
//!
//! A set takes over the lines of its report that are still pending when it runs
//! ([`Gate::claim_for_set`]); each such line's own proposal records what happened to
//! it. A line already decided on its own is left alone.

use super::detect::{self, Protection};
use super::{Finding, Hunter, Resource, ZombieKind};
use crate::approvals::{
    ActionHandler, ActionRegistry, ActionReport, ActionRun, BoxFuture, Done, Gate, Outcome,
    Precheck, Progress, Proposal, ProposalState,
};
use crate::audit::Audit;
use crate::audit::events;
use crate::clock::SharedClock;
use crate::cloud::ec2::{self, Deleted};
use crate::cloud::ids::SnapshotId;
use crate::domain::{ActionKind, ApprovalId};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Longest wait for a volume's final snapshot to complete before giving up on the
/// deletion (the volume is kept).
pub const FINAL_SNAPSHOT_WAIT: Duration = Duration::from_secs(15 * 60);

/// Tag put on every final snapshot, naming the volume it preserves.
pub const FINAL_SNAPSHOT_TAG: &str = "opsmate:final-snapshot-of";

/// Tag put on every final snapshot, naming the approval that asked for it.
pub const APPROVAL_TAG: &str = "opsmate:approval";

/// Registers Zombie Hunter's handlers for the kinds nobody registered yet.
pub fn register(
    registry: &mut ActionRegistry,
    hunter: Arc<Hunter>,
    audit: Audit,
    clock: SharedClock,
) {
    let deleter = Arc::new(Deleter {
        hunter,
        audit,
        clock,
    });
    for kind in [
        ActionKind::DELETE_VOLUME,
        ActionKind::DELETE_SNAPSHOT,
        ActionKind::RELEASE_ADDRESS,
        ActionKind::DELETE_ZOMBIES,
    ] {
        if registry.get(kind).is_none() {
            registry.register(kind, deleter.clone());
        }
    }
}

/// The parameters of a proposal to delete one idle resource (a report line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineParams {
    pub resource: Resource,
    /// The finding as reported, with its cost.
    pub finding: Finding,
    /// The report it is a line of.
    pub report: String,
}

/// The parameters of a "Delete all" over a report's lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetParams {
    pub resources: Vec<Resource>,
    /// The kinds in the set: whoever decides it must pass each one's policy (see
    /// [`crate::approvals::kinds::policy_kinds`]).
    pub kinds: Vec<ActionKind>,
    pub report: String,
    pub monthly_cost_usd: f64,
}

/// Reads the resources a proposal covers from its params.
pub fn resources_of(p: &Proposal) -> anyhow::Result<Vec<Resource>> {
    if p.kind == ActionKind::DELETE_ZOMBIES {
        Ok(p.params_as::<SetParams>()?.resources)
    } else {
        Ok(vec![p.params_as::<LineParams>()?.resource])
    }
}

/// What happened to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemResult {
    Deleted,
    AlreadyDeleted,
    WouldDelete,
    Skipped,
    Failed,
}

/// One resource's line of a deletion's report: the `report` of a single deletion's
/// outcome, and each entry of a set's `report.items`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub target: String,
    pub kind: ZombieKind,
    pub result: ItemResult,
    /// The final snapshot taken before the volume was deleted (or kept with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_snapshot: Option<SnapshotId>,
    /// Why it was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// What failed, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Item {
    fn new(r: &Resource, result: ItemResult) -> Self {
        Self {
            target: r.target(),
            kind: r.kind,
            result,
            final_snapshot: None,
            why: None,
            error: None,
        }
    }

    fn skipped(r: &Resource, why: String) -> Self {
        Self {
            why: Some(why),
            ..Self::new(r, ItemResult::Skipped)
        }
    }

    fn failed(r: &Resource, error: String) -> Self {
        Self {
            error: Some(error),
            ..Self::new(r, ItemResult::Failed)
        }
    }

    fn with_snapshot(mut self, snapshot: Option<SnapshotId>) -> Self {
        self.final_snapshot = snapshot;
        self
    }

    fn event(&self) -> &'static str {
        match self.result {
            ItemResult::Deleted => events::HUNTER_DELETED,
            ItemResult::AlreadyDeleted => events::HUNTER_ALREADY_DELETED,
            ItemResult::WouldDelete => events::HUNTER_WOULD_DELETE,
            ItemResult::Skipped => events::HUNTER_SKIPPED,
            ItemResult::Failed => events::HUNTER_FAILED,
        }
    }

    /// What happened, in words, for chat.
    pub fn sentence(&self) -> String {
        let id = self.target.rsplit('/').next().unwrap_or(&self.target);
        match self.result {
            ItemResult::Deleted => match &self.final_snapshot {
                Some(s) => format!("{id}: deleted; final snapshot {s}"),
                None => format!("{id}: deleted"),
            },
            ItemResult::AlreadyDeleted => format!("{id}: already gone"),
            ItemResult::WouldDelete => format!("{id}: would be deleted"),
            ItemResult::Skipped => format!(
                "{id}: skipped, {}",
                self.why.as_deref().unwrap_or("it changed")
            ),
            ItemResult::Failed => format!(
                "{id}: failed, {}",
                self.error.as_deref().unwrap_or("unknown error")
            ),
        }
    }

    /// The state and outcome of a proposal about this one resource.
    fn proposal_outcome(&self, dry_run: bool) -> anyhow::Result<(ProposalState, Outcome)> {
        let done = Done::of(self)?;
        Ok(match self.result {
            ItemResult::Skipped => (
                ProposalState::Skipped,
                Outcome {
                    report: Some(done.report),
                    summary: done.summary,
                    ..Outcome::skipped(self.why.clone().unwrap_or_default())
                },
            ),
            ItemResult::Failed => (
                ProposalState::Failed,
                Outcome {
                    report: Some(done.report),
                    summary: done.summary,
                    ..Outcome::failed(self.error.clone().unwrap_or_default())
                },
            ),
            _ => (ProposalState::Succeeded, Outcome::done(dry_run, done)),
        })
    }
}

/// A proposal about one resource reports its line.
impl ActionReport for Item {
    fn summary(&self) -> Vec<String> {
        vec![self.sentence()]
    }
}

/// A set reports every line, and counts the failed ones.
impl ActionReport for SetReport {
    fn summary(&self) -> Vec<String> {
        self.items.iter().map(Item::sentence).collect()
    }

    fn failed(&self) -> usize {
        self.failed
    }
}

/// The report of a set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetReport {
    pub items: Vec<Item>,
    pub failed: usize,
}

/// Where one resource of a deletion is, stored as a step under its target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
enum ResourceStep {
    /// The final snapshot is requested; the volume is deleted once it completes.
    Snapshotting {
        snapshot: SnapshotId,
        requested_at: DateTime<Utc>,
    },
    /// Finished.
    Done { item: Item },
}

/// One resource a deletion covers, and the line's own proposal when a set took it
/// over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Member {
    resource: Resource,
    proposal: Option<ApprovalId>,
}

const MEMBERS_STEP: &str = "members";

fn step_key(r: &Resource) -> String {
    format!("resource:{}", r.target())
}

struct Deleter {
    hunter: Arc<Hunter>,
    audit: Audit,
    clock: SharedClock,
}

impl Deleter {
    fn client(&self, r: &Resource) -> anyhow::Result<aws_sdk_ec2::Client> {
        Ok(self.hunter.aws_for(r.account.as_deref())?.ec2(&r.region))
    }

    fn protected(&self, tags: &ec2::Tags) -> Option<Protection> {
        detect::protection(tags, &self.hunter.settings, self.clock.now())
    }

    /// Describes the resource now: `Qualifies` if it is still idle and unprotected,
    /// or gone (deleting it then reports "already deleted").
    async fn recheck_one(&self, r: &Resource) -> anyhow::Result<Precheck> {
        let client = self.client(r)?;
        let changed = |why: String| Ok(Precheck::NoLongerQualifies(why));
        match r.kind {
            ZombieKind::Volume => match ec2::volume_now(&client, &r.volume_id()?).await? {
                None => Ok(Precheck::Qualifies),
                Some(v) if v.state != "available" => changed(match v.attached_to.first() {
                    Some(i) => format!("{} was attached to {i} since the scan", r.id),
                    None => format!("{} is {} now, not available", r.id, v.state),
                }),
                Some(v) => match self.protected(&v.tags) {
                    Some(p) => changed(format!("{}: {}", r.id, p.describe())),
                    None => Ok(Precheck::Qualifies),
                },
            },
            ZombieKind::Snapshot => match ec2::snapshot_now(&client, &r.snapshot_id()?).await? {
                None => Ok(Precheck::Qualifies),
                Some(s) => {
                    if let Some(p) = self.protected(&s.tags) {
                        return changed(format!("{}: {}", r.id, p.describe()));
                    }
                    match ec2::ami_using_snapshot(&client, &r.snapshot_id()?).await? {
                        Some(ami) => changed(format!("{} is used by {ami}", r.id)),
                        None => Ok(Precheck::Qualifies),
                    }
                }
            },
            ZombieKind::ElasticIp => match ec2::address_now(&client, &r.address_id()?).await? {
                None => Ok(Precheck::Qualifies),
                Some(a) if !a.is_idle() => changed(format!(
                    "{} ({}) is associated with {} now",
                    r.id,
                    a.public_ip,
                    a.instance_id
                        .or(a.network_interface_id)
                        .or(a.association_id)
                        .unwrap_or_default()
                )),
                Some(a) => match self.protected(&a.tags) {
                    Some(p) => changed(format!("{}: {}", r.id, p.describe())),
                    None => Ok(Precheck::Qualifies),
                },
            },
        }
    }

    async fn audit_step(
        &self,
        p: &Proposal,
        event: &str,
        r: &Resource,
        details: Value,
    ) -> anyhow::Result<()> {
        let mut details = details;
        details["approval"] = json!(p.id);
        self.audit
            .record("system", event, r.target(), details)
            .await
            .map(|_| ())
    }

    /// The resources this execution covers. A set decides, once, which lines it
    /// takes over: those still pending now; the choice is stored with its steps.
    async fn members(&self, p: &Proposal, run: &ActionRun<'_>) -> anyhow::Result<Vec<Member>> {
        if p.kind != ActionKind::DELETE_ZOMBIES {
            return Ok(resources_of(p)?
                .into_iter()
                .map(|resource| Member {
                    resource,
                    proposal: None,
                })
                .collect());
        }
        if let Some(members) = run.steps.get::<Vec<Member>>(MEMBERS_STEP).await? {
            return Ok(members);
        }
        let lines = report_lines(p, run.gate.store()).await?;
        let mut members = Vec::new();
        for resource in resources_of(p)? {
            let line = lines
                .iter()
                .find(|(_, target)| *target == resource.target())
                .map(|(id, _)| id.clone());
            match line {
                Some(id) if run.gate.claim_for_set(&id, p).await? => members.push(Member {
                    resource,
                    proposal: Some(id),
                }),
                // Decided on its own: that decision stands.
                Some(_) => {}
                None => members.push(Member {
                    resource,
                    proposal: None,
                }),
            }
        }
        run.steps
            .put(MEMBERS_STEP, &members, self.clock.now())
            .await?;
        Ok(members)
    }

    /// Starts one resource: re-checks it (unless the executor just did), then
    /// deletes it, or for a volume requests its final snapshot.
    async fn start(
        &self,
        p: &Proposal,
        r: &Resource,
        rechecked: bool,
        dry_run: bool,
    ) -> anyhow::Result<ResourceStep> {
        if !rechecked && let Precheck::NoLongerQualifies(why) = self.recheck_one(r).await? {
            return Ok(done(Item::skipped(r, why)));
        }
        let snapshot_first =
            r.kind == ZombieKind::Volume && self.hunter.settings.snapshot_before_delete;
        if dry_run {
            return Ok(done(Item::new(r, ItemResult::WouldDelete)));
        }
        if !snapshot_first {
            return self.delete(r, None).await;
        }
        let client = self.client(r)?;
        let approval = p.id.to_string();
        let asked_before = ec2::tagged_snapshot(
            &client,
            &[(FINAL_SNAPSHOT_TAG, &r.id), (APPROVAL_TAG, &approval)],
        )
        .await?;
        let snapshot = match asked_before {
            Some(id) => id,
            None => {
                let Some(volume) = ec2::volume_now(&client, &r.volume_id()?).await? else {
                    return Ok(done(Item::new(r, ItemResult::AlreadyDeleted)));
                };
                // AWS reserves the aws: prefix; those tags cannot be copied.
                let mut tags: ec2::Tags = volume
                    .tags
                    .into_iter()
                    .filter(|(k, _)| !k.starts_with("aws:"))
                    .collect();
                tags.insert(FINAL_SNAPSHOT_TAG.into(), r.id.clone());
                tags.insert(APPROVAL_TAG.into(), approval);
                let description = format!(
                    "Final snapshot of {} before OpsMate deleted it (approval {})",
                    r.id, p.id
                );
                match ec2::request_snapshot(&client, &r.volume_id()?, &description, &tags).await? {
                    Some(id) => id,
                    None => return Ok(done(Item::new(r, ItemResult::AlreadyDeleted))),
                }
            }
        };
        self.audit_step(
            p,
            events::HUNTER_FINAL_SNAPSHOT_REQUESTED,
            r,
            json!({"snapshot": snapshot}),
        )
        .await?;
        Ok(ResourceStep::Snapshotting {
            snapshot,
            requested_at: self.clock.now(),
        })
    }

    /// Deletes a resource that passed its re-check.
    async fn delete(
        &self,
        r: &Resource,
        snapshot: Option<SnapshotId>,
    ) -> anyhow::Result<ResourceStep> {
        let client = self.client(r)?;
        let deleted = match r.kind {
            ZombieKind::Volume => ec2::delete_volume(&client, &r.volume_id()?).await?,
            ZombieKind::Snapshot => ec2::delete_snapshot(&client, &r.snapshot_id()?).await?,
            ZombieKind::ElasticIp => ec2::release_address(&client, &r.address_id()?).await?,
        };
        let result = match deleted {
            Deleted::Now => ItemResult::Deleted,
            Deleted::AlreadyGone => ItemResult::AlreadyDeleted,
        };
        Ok(done(Item::new(r, result).with_snapshot(snapshot)))
    }

    /// A volume whose final snapshot has completed: looked at once more (it may have
    /// been attached meanwhile), then deleted.
    async fn after_snapshot(
        &self,
        p: &Proposal,
        r: &Resource,
        snapshot: SnapshotId,
    ) -> anyhow::Result<ResourceStep> {
        self.audit_step(
            p,
            events::HUNTER_FINAL_SNAPSHOT,
            r,
            json!({"snapshot": snapshot}),
        )
        .await?;
        match self.recheck_one(r).await? {
            Precheck::NoLongerQualifies(why) => Ok(done(
                Item::skipped(
                    r,
                    format!("{why}; kept, with its final snapshot {snapshot}"),
                )
                .with_snapshot(Some(snapshot)),
            )),
            Precheck::Qualifies => self.delete(r, Some(snapshot)).await,
        }
    }

    /// Moves every snapshotting volume on: deleted once its snapshot completed, failed
    /// (volume kept) when the snapshot failed, vanished or took too long.
    async fn check_snapshots(
        &self,
        p: &Proposal,
        waiting: Vec<(&Resource, SnapshotId, DateTime<Utc>)>,
    ) -> anyhow::Result<Vec<(Resource, ResourceStep)>> {
        let mut by_client: std::collections::BTreeMap<(Option<String>, String), Vec<SnapshotId>> =
            Default::default();
        for (r, snapshot, _) in &waiting {
            by_client
                .entry((r.account.clone(), r.region.clone()))
                .or_default()
                .push(snapshot.clone());
        }
        let mut states = std::collections::HashMap::new();
        for ((account, region), ids) in by_client {
            let client = self.hunter.aws_for(account.as_deref())?.ec2(&region);
            states.extend(ec2::snapshot_states(&client, &ids).await?);
        }
        let now = self.clock.now();
        let mut out = Vec::new();
        for (r, snapshot, requested_at) in waiting {
            let step = match states.get(&snapshot).map(|s| s.state.as_str()) {
                Some("completed") => self.after_snapshot(p, r, snapshot).await?,
                Some("error") => done(Item::failed(
                    r,
                    format!("its final snapshot {snapshot} failed; the volume was kept"),
                )),
                None => done(Item::failed(
                    r,
                    format!(
                        "its final snapshot {snapshot} disappeared before it completed; the volume was kept"
                    ),
                )),
                Some(_)
                    if now - requested_at > chrono::Duration::from_std(FINAL_SNAPSHOT_WAIT)? =>
                {
                    done(Item::failed(
                        r,
                        format!(
                            "its final snapshot {snapshot} did not complete within {} minutes; the volume was kept",
                            FINAL_SNAPSHOT_WAIT.as_secs() / 60
                        ),
                    ))
                }
                Some(_) => continue,
            };
            out.push((r.clone(), step));
        }
        Ok(out)
    }

    /// Records a finished resource: its audit row, its step, and for a line a set
    /// took over, that line's own proposal.
    async fn finish(
        &self,
        p: &Proposal,
        member: &Member,
        item: &Item,
        run: &ActionRun<'_>,
    ) -> anyhow::Result<()> {
        self.audit_step(
            p,
            item.event(),
            &member.resource,
            serde_json::to_value(item)?,
        )
        .await?;
        run.steps
            .put(
                &step_key(&member.resource),
                &done(item.clone()),
                self.clock.now(),
            )
            .await?;
        if let Some(line) = &member.proposal {
            finish_line(run.gate, line, item, run.dry_run).await?;
        }
        Ok(())
    }

    /// One pass over every resource: starts what has not started, checks the final
    /// snapshots, and says whether to come back.
    async fn advance(&self, p: &Proposal, run: &ActionRun<'_>) -> anyhow::Result<Progress> {
        let members = self.members(p, run).await?;
        let single = p.kind != ActionKind::DELETE_ZOMBIES;
        let mut steps = Vec::with_capacity(members.len());
        let mut finished_now = false;
        for m in &members {
            let stored = run
                .steps
                .get::<ResourceStep>(&step_key(&m.resource))
                .await?;
            let step = match stored {
                Some(step) => step,
                None => {
                    let step = self
                        .start(p, &m.resource, single && run.rechecked, run.dry_run)
                        .await
                        .unwrap_or_else(|e| done(Item::failed(&m.resource, e.to_string())));
                    match &step {
                        ResourceStep::Done { item } => {
                            self.finish(p, m, item, run).await?;
                            finished_now = true;
                        }
                        ResourceStep::Snapshotting { .. } => {
                            run.steps
                                .put(&step_key(&m.resource), &step, self.clock.now())
                                .await?;
                        }
                    }
                    step
                }
            };
            steps.push(step);
        }
        let waiting: Vec<_> = members
            .iter()
            .zip(&steps)
            .filter_map(|(m, s)| match s {
                ResourceStep::Snapshotting {
                    snapshot,
                    requested_at,
                } => Some((&m.resource, snapshot.clone(), *requested_at)),
                ResourceStep::Done { .. } => None,
            })
            .collect();
        if !waiting.is_empty() {
            for (r, step) in self.check_snapshots(p, waiting).await? {
                if let ResourceStep::Done { item } = &step {
                    let m = members
                        .iter()
                        .find(|m| m.resource == r)
                        .context("a checked resource is a member")?;
                    self.finish(p, m, item, run).await?;
                    finished_now = true;
                }
                if let Some(i) = members.iter().position(|m| m.resource == r) {
                    steps[i] = step;
                }
            }
        }
        let items: Vec<Item> = steps
            .iter()
            .filter_map(|s| match s {
                ResourceStep::Done { item } => Some(item.clone()),
                ResourceStep::Snapshotting { .. } => None,
            })
            .collect();
        if items.len() < steps.len() {
            return Ok(Progress::Wait {
                after: self.hunter.settings.final_snapshot_poll,
                changed: finished_now,
            });
        }
        if single {
            let item = items.into_iter().next().context("no resource")?;
            return match item.result {
                ItemResult::Skipped => Ok(Progress::Skipped(item.why.unwrap_or_default())),
                ItemResult::Failed => anyhow::bail!(item.error.unwrap_or_default()),
                _ => Ok(Progress::Done(Done::of(&item)?)),
            };
        }
        let failed = items
            .iter()
            .filter(|i| i.result == ItemResult::Failed)
            .count();
        Ok(Progress::Done(Done::of(&SetReport { items, failed })?))
    }
}

/// The report's lines (proposal, target) of a set's report.
async fn report_lines(
    p: &Proposal,
    store: &crate::store::Store,
) -> anyhow::Result<Vec<(ApprovalId, String)>> {
    let report = p.params_as::<SetParams>()?.report;
    let stored = store
        .call(move |c| super::report::store::get(c, &report))
        .await?;
    Ok(stored
        .map(|r| {
            r.items
                .into_iter()
                .map(|(id, f)| (id, f.resource().target()))
                .collect()
        })
        .unwrap_or_default())
}

fn done(item: Item) -> ResourceStep {
    ResourceStep::Done { item }
}

/// Ends a line that a set took over, with what happened to its resource.
async fn finish_line(
    gate: &Gate,
    line: &ApprovalId,
    item: &Item,
    dry_run: bool,
) -> anyhow::Result<()> {
    let (state, outcome) = item.proposal_outcome(dry_run)?;
    gate.finish_execution(line, state, outcome, None).await?;
    Ok(())
}

impl ActionHandler for Deleter {
    fn recheck<'a>(&'a self, p: &'a Proposal) -> BoxFuture<'a, anyhow::Result<Precheck>> {
        Box::pin(async move {
            if p.kind == ActionKind::DELETE_ZOMBIES {
                // Each member is re-checked on its own while the set runs.
                return Ok(Precheck::Qualifies);
            }
            let resources = resources_of(p)?;
            let r = resources.first().context("no resource")?;
            let check = self.recheck_one(r).await?;
            if let Precheck::NoLongerQualifies(why) = &check {
                self.audit_step(p, events::HUNTER_SKIPPED, r, json!({"why": why}))
                    .await?;
            }
            Ok(check)
        })
    }

    fn execute<'a>(
        &'a self,
        p: &'a Proposal,
        run: &'a ActionRun<'a>,
    ) -> BoxFuture<'a, anyhow::Result<Progress>> {
        Box::pin(self.advance(p, run))
    }

    fn resumable(&self) -> bool {
        true
    }

    fn locks(&self, p: &Proposal) -> Vec<String> {
        match resources_of(p) {
            Ok(resources) => resources.iter().map(Resource::target).collect(),
            Err(_) => vec![p.target.clone()],
        }
    }
}
