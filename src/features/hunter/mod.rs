//! Zombie Hunter: finds unattached EBS volumes, old own snapshots and idle Elastic
//! IPs across regions (and accounts), prices them, posts them with Delete buttons,
//! and deletes exactly what a person approved, re-checking each resource first.
//!
//! - [`scan`] lists what AWS has, every region concurrently;
//! - [`detect`] decides what is a zombie (pure);
//! - [`findings`] remembers when each was first seen;
//! - [`hunt`] ties those together into one result;
//! - [`report`] turns a result into proposals and chat messages;
//! - [`run`] is the scheduled job and the chat command;
//! - [`actions`] are the deletions the approval gate runs;
//! - [`price`] is the price table.

pub mod actions;
pub mod api;
pub mod cli;
pub mod config;
pub mod detect;
pub mod findings;
pub mod hunt;
pub mod kinds;
pub mod page;
pub mod plug;
pub mod price;
pub mod report;
pub mod run;
pub mod scan;
pub mod table;

pub use plug::PLUG;

use crate::cloud::Aws;
use crate::cloud::ids::{AddressId, SnapshotId, VolumeId};
use crate::config::Config;
use crate::features::hunter::config::HunterConfig;
use crate::features::hunter::config::role_account;
use chrono::{DateTime, Utc};
use price::PriceTable;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Who proposes Zombie Hunter's deletions (the job, not the person who asked).
pub const PROPOSER: &str = "zombie_hunter";

/// What kind of idle resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZombieKind {
    Volume,
    Snapshot,
    ElasticIp,
}

impl ZombieKind {
    pub const ALL: [ZombieKind; 3] = [
        ZombieKind::Volume,
        ZombieKind::Snapshot,
        ZombieKind::ElasticIp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ZombieKind::Volume => "volume",
            ZombieKind::Snapshot => "snapshot",
            ZombieKind::ElasticIp => "elastic_ip",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Plural label for summaries.
    pub fn label(self) -> &'static str {
        match self {
            ZombieKind::Volume => "unattached volumes",
            ZombieKind::Snapshot => "old snapshots",
            ZombieKind::ElasticIp => "idle Elastic IPs",
        }
    }

    /// The approval kind of deleting one.
    pub fn action(self) -> crate::domain::ActionKind {
        use crate::domain::ActionKind;
        match self {
            ZombieKind::Volume => ActionKind::DELETE_VOLUME,
            ZombieKind::Snapshot => ActionKind::DELETE_SNAPSHOT,
            ZombieKind::ElasticIp => ActionKind::RELEASE_ADDRESS,
        }
    }
}

impl fmt::Display for ZombieKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `us-east-1`, or `111122223333/us-east-1` for an account reached through a role.
pub fn region_label(account: Option<&str>, region: &str) -> String {
    match account {
        Some(a) => format!("{a}/{region}"),
        None => region.to_owned(),
    }
}

/// Which resource: enough to find it again and act on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Resource {
    pub kind: ZombieKind,
    /// Volume, snapshot or allocation id (public IP for EC2-Classic addresses).
    pub id: String,
    pub region: String,
    /// Account id when scanned through an assumed role; `None` for the default
    /// credentials' account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

impl Resource {
    /// Its id as a volume id (refused if it is not one).
    pub fn volume_id(&self) -> anyhow::Result<VolumeId> {
        Ok(VolumeId::parse(&self.id)?)
    }

    /// Its id as a snapshot id (refused if it is not one).
    pub fn snapshot_id(&self) -> anyhow::Result<SnapshotId> {
        Ok(SnapshotId::parse(&self.id)?)
    }

    /// Its id as an Elastic IP's (refused if it is neither an allocation id nor an IP).
    pub fn address_id(&self) -> anyhow::Result<AddressId> {
        Ok(AddressId::parse(&self.id)?)
    }

    /// The proposal target: `region/id`, or `account/region/id` for another account.
    pub fn target(&self) -> String {
        format!(
            "{}/{}",
            region_label(self.account.as_deref(), &self.region),
            self.id
        )
    }
}

/// One idle resource, priced, as reported and as printed by `opsmate zombies --json`.
/// Scripts depend on these field names; the README documents them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub id: String,
    pub kind: ZombieKind,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub monthly_cost_usd: f64,
    /// True for snapshots: deleting one frees only blocks no other snapshot shares.
    pub cost_is_upper_bound: bool,
    /// When OpsMate first saw it idle.
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// When AWS created it (snapshots: when it was started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    /// GiB (volumes, snapshots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_gib: Option<i64>,
    /// Volume type, snapshot storage tier, or the public IP.
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

impl Finding {
    /// See [`region_label`].
    pub fn region_label(&self) -> String {
        region_label(self.account.as_deref(), &self.region)
    }

    pub fn resource(&self) -> Resource {
        Resource {
            kind: self.kind,
            id: self.id.clone(),
            region: self.region.clone(),
            account: self.account.clone(),
        }
    }
}

/// One set of credentials to scan with.
#[derive(Clone, Debug)]
pub struct Account {
    /// `None` for the default credentials.
    pub id: Option<String>,
    pub aws: Aws,
}

/// Zombie Hunter's settings and clients, built once at start-up.
#[derive(Debug)]
pub struct Hunter {
    pub settings: HunterConfig,
    pub regions: Vec<String>,
    pub prices: PriceTable,
    pub accounts: Vec<Account>,
}

impl Hunter {
    /// Reads the price file and prepares one AWS handle per account. `settings`
    /// defaults apply when `[hunter]` is absent (the CLI works without it).
    pub async fn new(config: &Config, aws: &Aws) -> anyhow::Result<Self> {
        let settings = config.section::<HunterConfig>()?.unwrap_or_default();
        let prices = match &settings.price_file {
            Some(path) => PriceTable::from_file(path)?,
            None => PriceTable::default(),
        };
        let mut accounts = vec![Account {
            id: None,
            aws: aws.clone(),
        }];
        for arn in &settings.assume_roles {
            accounts.push(Account {
                id: role_account(arn).map(str::to_owned),
                aws: aws.assume_role(arn).await,
            });
        }
        let regions = settings
            .regions
            .clone()
            .unwrap_or_else(|| config.aws.regions.clone());
        Ok(Self {
            settings,
            regions,
            prices,
            accounts,
        })
    }

    /// The AWS handle for a resource's account.
    pub fn aws_for(&self, account: Option<&str>) -> anyhow::Result<&Aws> {
        self.accounts
            .iter()
            .find(|a| a.id.as_deref() == account)
            .map(|a| &a.aws)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "account {} is no longer in hunter.assume_roles",
                    account.unwrap_or("(default)")
                )
            })
    }
}
