//! One hunt: scan, classify, remember, and keep what is due. Used by the scheduled
//! job, the chat command and `opsmate zombies` alike.

use super::detect::{self, Skipped};
use super::scan::{self, RegionScan};
use super::{Finding, Hunter, findings};
use crate::audit::Audit;
use crate::store::{self, Store};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::{Duration, Instant};

/// How one (account, region) went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionOutcome {
    /// `us-east-1`, or `111122223333/us-east-1`.
    pub label: String,
    /// Why it could not be scanned; `None` when it was.
    pub error: Option<String>,
    pub api_calls: u64,
    pub elapsed_ms: u64,
}

/// What a hunt found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HuntResult {
    pub scanned_at: DateTime<Utc>,
    /// Due for deletion, most expensive first.
    pub findings: Vec<Finding>,
    /// Idle volumes not yet idle for `volume_min_idle_days`.
    pub watching: u32,
    pub skipped: Skipped,
    pub regions: Vec<RegionOutcome>,
    /// Findings of earlier scans that are gone or in use again.
    pub resolved: usize,
    pub elapsed_ms: u64,
}

impl HuntResult {
    pub fn total_usd(&self) -> f64 {
        super::price::round_cents(self.findings.iter().map(|f| f.monthly_cost_usd).sum())
    }

    pub fn failed_regions(&self) -> impl Iterator<Item = &RegionOutcome> {
        self.regions.iter().filter(|r| r.error.is_some())
    }

    pub fn api_calls(&self) -> u64 {
        self.regions.iter().map(|r| r.api_calls).sum()
    }
}

/// Scans `regions` (all configured when empty), records what it saw, and audits
/// the scan as `actor`.
pub async fn hunt(
    hunter: &Hunter,
    store: &Store,
    audit: &Audit,
    now: DateTime<Utc>,
    regions: &[String],
    actor: &str,
) -> anyhow::Result<HuntResult> {
    let started = Instant::now();
    let scans = scan::scan(hunter, regions).await;
    let mut result = HuntResult {
        scanned_at: now,
        findings: Vec::new(),
        watching: 0,
        skipped: Skipped::default(),
        regions: Vec::new(),
        resolved: 0,
        elapsed_ms: 0,
    };
    let mut listed = Vec::new();
    for RegionScan {
        account,
        region,
        result: listing,
        api_calls,
        elapsed,
    } in scans
    {
        let label = super::region_label(account.as_deref(), &region);
        let error = match listing {
            Ok(inventory) => {
                let classified = detect::classify(
                    &inventory,
                    account.as_deref(),
                    &region,
                    &hunter.settings,
                    &hunter.prices,
                    now,
                );
                result.skipped.add(&classified.skipped);
                listed.push((account, region, classified.candidates));
                None
            }
            Err(e) => {
                tracing::warn!(region = %label, error = %e, "region scan failed");
                Some(e)
            }
        };
        result.regions.push(RegionOutcome {
            label,
            error,
            api_calls,
            elapsed_ms: millis(elapsed),
        });
    }

    let (recorded, resolved) = store
        .call(move |c| {
            store::immediate(c, |tx| {
                let mut all = Vec::new();
                let mut resolved = 0;
                for (account, region, candidates) in listed {
                    let (found, gone) =
                        findings::record_region(tx, account.as_deref(), &region, candidates, now)?;
                    all.extend(found);
                    resolved += gone;
                }
                Ok((all, resolved))
            })
        })
        .await?;
    result.resolved = resolved;
    for f in recorded {
        if detect::is_due(&f, &hunter.settings, now) {
            result.findings.push(f);
        } else {
            result.watching += 1;
        }
    }
    result.findings.sort_by(|a, b| {
        b.monthly_cost_usd
            .total_cmp(&a.monthly_cost_usd)
            .then_with(|| a.id.cmp(&b.id))
    });
    result.elapsed_ms = millis(started.elapsed());
    audit
        .record(
            actor,
            crate::audit::events::HUNTER_SCANNED,
            "zombie_hunter",
            json!({
                "found": result.findings.len(),
                "monthly_usd": result.total_usd(),
                "watching": result.watching,
                "skipped": result.skipped,
                "resolved": result.resolved,
                "regions": result.regions,
            }),
        )
        .await?;
    Ok(result)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
