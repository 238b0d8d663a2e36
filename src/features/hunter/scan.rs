//! Lists what each region has, every (account, region) pair concurrently and the four
//! listings of a region concurrently too, so a scan takes about as long as the
//! slowest region. A region that fails is reported and never stops the others.

use super::Hunter;
use crate::cloud::CallCounter;
use crate::cloud::ec2::{self, AddressSummary, SnapshotSummary, VolumeSummary};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// What one region holds that Zombie Hunter looks at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    /// Unattached volumes only (filtered by EC2).
    pub volumes: Vec<VolumeSummary>,
    /// Own snapshots.
    pub snapshots: Vec<SnapshotSummary>,
    /// Snapshots used by own AMIs, disabled and deprecated included.
    pub ami_snapshots: HashSet<String>,
    pub addresses: Vec<AddressSummary>,
}

/// One (account, region) pair's listing.
#[derive(Debug)]
pub struct RegionScan {
    pub account: Option<String>,
    pub region: String,
    /// The inventory, or why the region could not be listed.
    pub result: Result<Inventory, String>,
    /// HTTP calls made, retries included.
    pub api_calls: u64,
    pub elapsed: Duration,
}

/// Lists `regions` (all configured ones when empty) in every account.
pub async fn scan(hunter: &Hunter, regions: &[String]) -> Vec<RegionScan> {
    let regions = if regions.is_empty() {
        &hunter.regions
    } else {
        regions
    };
    let mut tasks = JoinSet::new();
    for account in &hunter.accounts {
        for region in regions {
            let (account, region) = (account.clone(), region.clone());
            tasks.spawn(async move {
                let started = Instant::now();
                let counter = CallCounter::default();
                let client = account.aws.ec2_counted(&region, &counter);
                let result = list_region(&client).await.map_err(|e| format!("{e:#}"));
                RegionScan {
                    account: account.id,
                    region,
                    result,
                    api_calls: counter.get(),
                    elapsed: started.elapsed(),
                }
            });
        }
    }
    let mut out = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(scan) => out.push(scan),
            Err(e) => tracing::error!(error = %e, "a region scan task died"),
        }
    }
    out.sort_by(|a, b| (&a.account, &a.region).cmp(&(&b.account, &b.region)));
    out
}

async fn list_region(client: &aws_sdk_ec2::Client) -> anyhow::Result<Inventory> {
    let (volumes, snapshots, ami_snapshots, addresses) = tokio::try_join!(
        ec2::available_volumes(client),
        ec2::own_snapshots(client),
        ec2::ami_snapshot_ids(client),
        ec2::addresses(client),
    )?;
    Ok(Inventory {
        volumes,
        snapshots,
        ami_snapshots,
        addresses,
    })
}
