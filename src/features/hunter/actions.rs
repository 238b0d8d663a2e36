//! The deletions the approval gate runs: one resource (`delete_volume`,
//! `delete_snapshot`, `release_address`) or a whole listed set (`delete_zombies`).
//!
//! Each resource is described again just before acting: a volume attached since the
//! scan, a snapshot now used by an AMI, an address associated again, or a resource
//! tagged for keeping is skipped and said so. A resource already gone counts as
//! already deleted. Every step is audited.

use super::detect::{self, Protection};
use super::{Hunter, Resource, ZombieKind};
use crate::approvals::{ActionHandler, ActionRegistry, BoxFuture, Precheck, Proposal};
use crate::audit::Audit;
use crate::clock::SharedClock;
use crate::cloud::ec2::{self, Deleted};
use crate::domain::ActionKind;
use anyhow::Context as _;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Longest wait for a volume's final snapshot to complete before deleting the volume.
pub const FINAL_SNAPSHOT_WAIT: Duration = Duration::from_secs(15 * 60);

/// Tag put on every final snapshot, naming the volume it preserves.
pub const FINAL_SNAPSHOT_TAG: &str = "opsmate:final-snapshot-of";

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
        ActionKind::DeleteVolume,
        ActionKind::DeleteSnapshot,
        ActionKind::ReleaseAddress,
        ActionKind::DeleteZombies,
    ] {
        if registry.get(kind).is_none() {
            registry.register(kind, deleter.clone());
        }
    }
}

/// Reads the resources a proposal covers from its params.
pub fn resources_of(p: &Proposal) -> anyhow::Result<Vec<Resource>> {
    let key = if p.kind == ActionKind::DeleteZombies {
        "resources"
    } else {
        "resource"
    };
    let value = p
        .params
        .get(key)
        .cloned()
        .with_context(|| format!("proposal {} has no params.{key}", p.id))?;
    if p.kind == ActionKind::DeleteZombies {
        Ok(serde_json::from_value(value)?)
    } else {
        Ok(vec![serde_json::from_value(value)?])
    }
}

/// What happened to one resource.
fn outcome(resource: &Resource, result: &str, extra: Value) -> Value {
    let mut v = json!({"target": resource.target(), "kind": resource.kind, "result": result});
    if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    v
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
            ZombieKind::Volume => match ec2::volume_now(&client, &r.id).await? {
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
            ZombieKind::Snapshot => match ec2::snapshot_now(&client, &r.id).await? {
                None => Ok(Precheck::Qualifies),
                Some(s) => {
                    if let Some(p) = self.protected(&s.tags) {
                        return changed(format!("{}: {}", r.id, p.describe()));
                    }
                    match ec2::ami_using_snapshot(&client, &r.id).await? {
                        Some(ami) => changed(format!("{} is used by {ami}", r.id)),
                        None => Ok(Precheck::Qualifies),
                    }
                }
            },
            ZombieKind::ElasticIp => match ec2::address_now(&client, &r.id).await? {
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

    /// Deletes one resource that passed its re-check; `dry_run` only says what it
    /// would do. The report says what really happened.
    async fn delete_one(&self, p: &Proposal, r: &Resource, dry_run: bool) -> anyhow::Result<Value> {
        let client = self.client(r)?;
        let snapshot_first =
            r.kind == ZombieKind::Volume && self.hunter.settings.snapshot_before_delete;
        if dry_run {
            let v = outcome(r, "would_delete", json!({"final_snapshot": snapshot_first}));
            self.audit_step(p, "hunter.would_delete", r, v.clone())
                .await?;
            return Ok(v);
        }
        let mut final_snapshot = None;
        if snapshot_first {
            let tags = match ec2::volume_now(&client, &r.id).await? {
                Some(v) => v.tags,
                None => {
                    let v = outcome(r, "already_deleted", json!({}));
                    self.audit_step(p, "hunter.already_deleted", r, v.clone())
                        .await?;
                    return Ok(v);
                }
            };
            // AWS reserves the aws: prefix; those tags cannot be copied.
            let mut tags: ec2::Tags = tags
                .into_iter()
                .filter(|(k, _)| !k.starts_with("aws:"))
                .collect();
            tags.insert(FINAL_SNAPSHOT_TAG.into(), r.id.clone());
            tags.insert("opsmate:approval".into(), p.id.to_string());
            let description = format!(
                "Final snapshot of {} before OpsMate deleted it (approval {})",
                r.id, p.id
            );
            match ec2::snapshot_volume(&client, &r.id, &description, &tags, FINAL_SNAPSHOT_WAIT)
                .await?
            {
                Some(id) => {
                    self.audit_step(p, "hunter.final_snapshot", r, json!({"snapshot": id}))
                        .await?;
                    final_snapshot = Some(id);
                }
                None => {
                    let v = outcome(r, "already_deleted", json!({}));
                    self.audit_step(p, "hunter.already_deleted", r, v.clone())
                        .await?;
                    return Ok(v);
                }
            }
        }
        let deleted = match r.kind {
            ZombieKind::Volume => ec2::delete_volume(&client, &r.id).await?,
            ZombieKind::Snapshot => ec2::delete_snapshot(&client, &r.id).await?,
            ZombieKind::ElasticIp => ec2::release_address(&client, &r.id).await?,
        };
        let (result, event) = match deleted {
            Deleted::Now => ("deleted", "hunter.deleted"),
            Deleted::AlreadyGone => ("already_deleted", "hunter.already_deleted"),
        };
        let v = outcome(r, result, json!({"final_snapshot": final_snapshot}));
        self.audit_step(p, event, r, v.clone()).await?;
        Ok(v)
    }

    /// A whole set: each resource re-checked and deleted in turn; one failing does not
    /// stop the rest. `failed` counts the failures, which make the proposal failed.
    async fn delete_set(&self, p: &Proposal, dry_run: bool) -> anyhow::Result<Value> {
        let mut items = Vec::new();
        let mut failed = 0;
        for r in resources_of(p)? {
            let item = match self.recheck_one(&r).await {
                Ok(Precheck::NoLongerQualifies(why)) => {
                    let v = outcome(&r, "skipped", json!({"why": why}));
                    self.audit_step(p, "hunter.skipped", &r, v.clone()).await?;
                    v
                }
                Ok(Precheck::Qualifies) => match self.delete_one(p, &r, dry_run).await {
                    Ok(v) => v,
                    Err(e) => {
                        failed += 1;
                        let v = outcome(&r, "failed", json!({"error": format!("{e:#}")}));
                        self.audit_step(p, "hunter.failed", &r, v.clone()).await?;
                        v
                    }
                },
                Err(e) => {
                    failed += 1;
                    let v = outcome(
                        &r,
                        "failed",
                        json!({"error": format!("re-check failed: {e:#}")}),
                    );
                    self.audit_step(p, "hunter.failed", &r, v.clone()).await?;
                    v
                }
            };
            items.push(item);
        }
        Ok(json!({"items": items, "failed": failed}))
    }
}

impl ActionHandler for Deleter {
    fn recheck<'a>(&'a self, p: &'a Proposal) -> BoxFuture<'a, anyhow::Result<Precheck>> {
        Box::pin(async move {
            if p.kind == ActionKind::DeleteZombies {
                // Each member is re-checked on its own while the set runs.
                return Ok(Precheck::Qualifies);
            }
            let resources = resources_of(p)?;
            let r = resources.first().context("no resource")?;
            let check = self.recheck_one(r).await?;
            if let Precheck::NoLongerQualifies(why) = &check {
                self.audit_step(p, "hunter.skipped", r, json!({"why": why}))
                    .await?;
            }
            Ok(check)
        })
    }

    fn execute<'a>(
        &'a self,
        p: &'a Proposal,
        dry_run: bool,
    ) -> BoxFuture<'a, anyhow::Result<Value>> {
        Box::pin(async move {
            if p.kind == ActionKind::DeleteZombies {
                return self.delete_set(p, dry_run).await;
            }
            let resources = resources_of(p)?;
            let r = resources.first().context("no resource")?;
            match self.delete_one(p, r, dry_run).await {
                Ok(v) => Ok(v),
                Err(e) => {
                    self.audit_step(p, "hunter.failed", r, json!({"error": format!("{e:#}")}))
                        .await?;
                    Err(e)
                }
            }
        })
    }
}
