//! Turning a hunt into proposals and chat messages, and keeping those messages true
//! as people decide.
//!
//! Each listed resource becomes a proposal whose button says **Delete ($x/mo)**; the
//! listed set also becomes one "Delete all" proposal. The report is stored, posted
//! to Slack and Telegram with a tag per page, and re-rendered from the proposals'
//! states whenever one of them is decided.

mod render;
pub mod store;

pub use render::{ITEMS_PER_PAGE, pages};

use super::actions::{LineParams, SetParams};
use super::hunt::HuntResult;
use super::{Finding, PROPOSER, ZombieKind};
use crate::approvals::{NewProposal, Proposal};
use crate::chat::destinations::{Destinations, rewrite_tagged};
use crate::chat::message::ChatMessage;
use crate::dispatch::Context;
use crate::domain::{ActionKind, ApprovalId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use store::StoredReport;

/// Tag prefix of report messages: `hunter:<report id>:<page>`.
const TAG_PREFIX: &str = "hunter:";

/// Count and monthly cost of a group of findings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    pub count: usize,
    pub usd: f64,
}

/// The numbers at the top of a report, fixed when it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub scanned_at: chrono::DateTime<chrono::Utc>,
    pub found: Tally,
    pub listed: usize,
    pub by_kind: BTreeMap<ZombieKind, Tally>,
    pub by_region: BTreeMap<String, Tally>,
    pub watching: u32,
    pub skipped: super::detect::Skipped,
    /// Regions that could not be scanned, with the reason.
    pub failed_regions: Vec<(String, String)>,
    pub regions_scanned: usize,
    pub volume_min_idle_days: u32,
    pub exclude_tag: String,
}

impl Summary {
    pub fn of(
        result: &HuntResult,
        listed: usize,
        settings: &crate::features::hunter::config::HunterConfig,
    ) -> Self {
        let mut by_kind: BTreeMap<ZombieKind, Tally> = BTreeMap::new();
        let mut by_region: BTreeMap<String, Tally> = BTreeMap::new();
        for f in &result.findings {
            for t in [
                by_kind.entry(f.kind).or_default(),
                by_region.entry(f.region_label()).or_default(),
            ] {
                t.count += 1;
                t.usd = super::price::round_cents(t.usd + f.monthly_cost_usd);
            }
        }
        Summary {
            scanned_at: result.scanned_at,
            found: Tally {
                count: result.findings.len(),
                usd: result.total_usd(),
            },
            listed,
            by_kind,
            by_region,
            watching: result.watching,
            skipped: result.skipped,
            failed_regions: result
                .failed_regions()
                .map(|r| (r.label.clone(), r.error.clone().unwrap_or_default()))
                .collect(),
            regions_scanned: result.regions.len(),
            volume_min_idle_days: settings.volume_min_idle_days,
            exclude_tag: settings.exclude_tag.clone(),
        }
    }
}

fn reason(f: &Finding) -> String {
    let cost = if f.cost_is_upper_bound {
        format!("up to ${:.2}/month", f.monthly_cost_usd)
    } else {
        format!("${:.2}/month", f.monthly_cost_usd)
    };
    match f.kind {
        ZombieKind::Volume => format!(
            "Unattached {} GiB {} volume, {cost}",
            f.size_gib.unwrap_or_default(),
            f.detail
        ),
        ZombieKind::Snapshot => format!("Old snapshot ({}), {cost}", f.detail),
        ZombieKind::ElasticIp => format!("Unassociated Elastic IP {}, {cost}", f.detail),
    }
}

/// Proposes the listed findings (and the set), and stores the report.
pub async fn propose(ctx: &Context, result: &HuntResult) -> anyhow::Result<StoredReport> {
    let hunter = ctx
        .features
        .get::<super::Hunter>()
        .ok_or_else(|| anyhow::anyhow!("Zombie Hunter is off"))?;
    let listed: Vec<&Finding> = result
        .findings
        .iter()
        .take(hunter.settings.max_listed)
        .collect();
    let report_id = ApprovalId::generate().to_string();
    let mut items = Vec::new();
    for f in &listed {
        let proposed = ctx
            .gate
            .propose(NewProposal {
                kind: f.kind.action(),
                target: f.resource().target(),
                params: serde_json::to_value(LineParams {
                    resource: f.resource(),
                    finding: (*f).clone(),
                    report: report_id.clone(),
                })?,
                reason: reason(f),
                proposed_by: PROPOSER.into(),
            })
            .await?;
        items.push((proposed.proposal().id.clone(), (*f).clone()));
    }
    let bulk = if listed.len() >= 2 {
        let mut kinds: Vec<ActionKind> = listed.iter().map(|f| f.kind.action()).collect();
        kinds.sort();
        kinds.dedup();
        let usd = super::price::round_cents(listed.iter().map(|f| f.monthly_cost_usd).sum());
        let proposed = ctx
            .gate
            .propose(NewProposal {
                kind: ActionKind::DELETE_ZOMBIES,
                target: format!("report:{report_id}"),
                params: serde_json::to_value(SetParams {
                    resources: listed.iter().map(|f| f.resource()).collect(),
                    kinds,
                    report: report_id.clone(),
                    monthly_cost_usd: usd,
                })?,
                reason: format!(
                    "Delete all {} listed idle resources, ${usd:.2}/month",
                    listed.len()
                ),
                proposed_by: PROPOSER.into(),
            })
            .await?;
        Some(proposed.proposal().id.clone())
    } else {
        None
    };
    let report = StoredReport {
        id: report_id,
        created_at: result.scanned_at,
        bulk,
        summary: Summary::of(result, listed.len(), &hunter.settings),
        items,
    };
    let stored = report.clone();
    ctx.store.call(move |c| store::insert(c, &stored)).await?;
    Ok(report)
}

/// The report's messages as they should read now.
pub async fn render_now(ctx: &Context, report: &StoredReport) -> anyhow::Result<Vec<ChatMessage>> {
    let mut states: HashMap<ApprovalId, Proposal> = HashMap::new();
    for id in report
        .items
        .iter()
        .map(|(id, _)| id)
        .chain(report.bulk.iter())
    {
        if let Some(p) = ctx.gate.get(id).await? {
            states.insert(id.clone(), p);
        }
    }
    let can_approve = |p: &Proposal| ctx.gate.has_approvers(p);
    Ok(pages(report, &states, &can_approve, ctx.config.timezone))
}

/// Posts every page of a report to each destination, tagged so it can be rewritten.
pub async fn post(ctx: &Context, report: &StoredReport, to: &Destinations) -> anyhow::Result<()> {
    let pages = render_now(ctx, report).await?;
    for (i, page) in pages.iter().enumerate() {
        to.post_tagged(ctx, page, &format!("{TAG_PREFIX}{}:{i}", report.id))
            .await?;
    }
    Ok(())
}

/// Rewrites every delivered message of a report from the current proposal states.
pub async fn refresh(ctx: &Context, report_id: &str) -> anyhow::Result<()> {
    let id = report_id.to_owned();
    let Some(report) = ctx.store.call(move |c| store::get(c, &id)).await? else {
        return Ok(());
    };
    let pages = render_now(ctx, &report).await?;
    rewrite_tagged(ctx, &format!("{TAG_PREFIX}{report_id}:"), |tag| {
        let page = tag.rsplit(':').next()?.parse::<usize>().ok()?;
        pages.get(page).cloned()
    })
    .await
}

/// Rewrites, once each, every report that lists one of these decided (or expired)
/// proposals. Returns how many reports there were.
pub async fn refresh_for(ctx: &Context, approvals: &[ApprovalId]) -> anyhow::Result<usize> {
    let ids = approvals.to_vec();
    let reports = ctx
        .store
        .call(move |c| {
            let mut all = std::collections::BTreeSet::new();
            for id in &ids {
                all.extend(store::reports_with(c, id)?);
            }
            Ok(all)
        })
        .await?;
    for r in &reports {
        refresh(ctx, r).await?;
    }
    Ok(reports.len())
}
