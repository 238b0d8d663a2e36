//! What counts as a zombie, decided from what AWS listed. Pure: no I/O, so every
//! rule is unit-tested.

use super::price::{PriceTable, round_cents};
use super::scan::Inventory;
use super::{Finding, ZombieKind};
use crate::cloud::ec2::Tags;
use crate::features::hunter::config::HunterConfig;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The tag AWS Backup puts on the snapshots it manages; those are its to delete.
pub const AWS_BACKUP_TAG: &str = "aws:backup:source-resource";

/// Why a resource that would qualify is left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protection {
    /// Carries the exclusion tag.
    Excluded(String),
    /// The protect-until tag names a time still ahead (or one that cannot be read).
    ProtectedUntil(String),
    /// Managed by AWS Backup.
    AwsBackup,
}

impl Protection {
    /// Said in reports and in a skipped deletion.
    pub fn describe(&self) -> String {
        match self {
            Protection::Excluded(tag) => format!("it is tagged {tag}"),
            Protection::ProtectedUntil(until) => format!("it is protected until {until}"),
            Protection::AwsBackup => "AWS Backup manages it".into(),
        }
    }
}

/// Resources left alone on purpose, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub excluded: u32,
    pub protected: u32,
    pub used_by_ami: u32,
    pub aws_backup: u32,
}

impl Skipped {
    pub fn add(&mut self, other: &Skipped) {
        self.excluded += other.excluded;
        self.protected += other.protected;
        self.used_by_ami += other.used_by_ami;
        self.aws_backup += other.aws_backup;
    }

    pub fn total(&self) -> u32 {
        self.excluded + self.protected + self.used_by_ami + self.aws_backup
    }

    fn count(&mut self, p: &Protection) {
        match p {
            Protection::Excluded(_) => self.excluded += 1,
            Protection::ProtectedUntil(_) => self.protected += 1,
            Protection::AwsBackup => self.aws_backup += 1,
        }
    }
}

/// Whether tags protect a resource right now.
pub fn protection(tags: &Tags, settings: &HunterConfig, now: DateTime<Utc>) -> Option<Protection> {
    if let Some(tag) = crate::config::excluded_by(&settings.exclude_tag, tags) {
        return Some(Protection::Excluded(tag));
    }
    if let Some(raw) = tags.get(&settings.protect_until_tag) {
        match protected_until(raw) {
            Some(until) if until <= now => {}
            // A value that cannot be read protects: better kept than wrongly deleted.
            _ => return Some(Protection::ProtectedUntil(raw.clone())),
        }
    }
    if tags.contains_key(AWS_BACKUP_TAG) {
        return Some(Protection::AwsBackup);
    }
    None
}

/// `2027-01-31` protects through the end of that day (UTC); an RFC 3339 time until it.
pub fn protected_until(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    Some(day.succ_opt()?.and_hms_opt(0, 0, 0)?.and_utc())
}

/// Idle resources found in one region, before their history is known.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Classified {
    /// `first_seen` and `last_seen` are `now` until the store says otherwise.
    pub candidates: Vec<Finding>,
    pub skipped: Skipped,
}

/// Applies the rules to one region's inventory.
pub fn classify(
    inventory: &Inventory,
    account: Option<&str>,
    region: &str,
    settings: &HunterConfig,
    prices: &PriceTable,
    now: DateTime<Utc>,
) -> Classified {
    let prices = prices.for_region(region);
    let mut out = Classified::default();
    let finding = |kind, id: &str, cost: f64, tags: &Tags| Finding {
        id: id.to_owned(),
        kind,
        region: region.to_owned(),
        account: account.map(str::to_owned),
        monthly_cost_usd: round_cents(cost),
        cost_is_upper_bound: false,
        first_seen: now,
        last_seen: now,
        created: None,
        size_gib: None,
        detail: String::new(),
        name: tags.get("Name").cloned(),
        owner: tags.get("Owner").or_else(|| tags.get("owner")).cloned(),
    };

    for v in inventory.volumes.iter().filter(|v| v.state == "available") {
        if let Some(p) = protection(&v.tags, settings, now) {
            out.skipped.count(&p);
            continue;
        }
        let price = prices.volume(&v.volume_type, v.size_gib, v.iops, v.throughput);
        let mut f = finding(ZombieKind::Volume, &v.id, price.usd, &v.tags);
        f.created = v.created;
        f.size_gib = Some(i64::from(v.size_gib));
        f.detail = if price.known_type {
            v.volume_type.clone()
        } else {
            format!("{} (priced as gp2)", v.volume_type)
        };
        out.candidates.push(f);
    }

    let min_age = Duration::days(i64::from(settings.snapshot_min_age_days));
    for s in &inventory.snapshots {
        let old_enough = s.started.is_some_and(|t| now - t >= min_age);
        if !old_enough || s.state != "completed" {
            continue;
        }
        if let Some(p) = protection(&s.tags, settings, now) {
            out.skipped.count(&p);
            continue;
        }
        if inventory.ami_snapshots.contains(&s.id) {
            out.skipped.used_by_ami += 1;
            continue;
        }
        // The full size when AWS reports it, else the source volume's size.
        let gib = s
            .full_size_bytes
            .map(|b| b as f64 / (1u64 << 30) as f64)
            .unwrap_or(f64::from(s.volume_size_gib));
        let mut f = finding(
            ZombieKind::Snapshot,
            &s.id,
            prices.snapshot(gib, &s.storage_tier),
            &s.tags,
        );
        f.cost_is_upper_bound = true;
        f.created = s.started;
        f.size_gib = Some(i64::from(s.volume_size_gib));
        f.detail = match &s.volume_id {
            Some(vol) => format!("{} tier, of {vol}", s.storage_tier),
            None => format!("{} tier", s.storage_tier),
        };
        out.candidates.push(f);
    }

    for a in inventory.addresses.iter().filter(|a| a.is_idle()) {
        if let Some(p) = protection(&a.tags, settings, now) {
            out.skipped.count(&p);
            continue;
        }
        let mut f = finding(ZombieKind::ElasticIp, a.id(), prices.public_ipv4(), &a.tags);
        f.detail = a.public_ip.clone();
        out.candidates.push(f);
    }
    out
}

/// True when a candidate may be proposed: volumes only after `volume_min_idle_days`
/// of being seen idle (AWS does not say when they were detached).
pub fn is_due(f: &Finding, settings: &HunterConfig, now: DateTime<Utc>) -> bool {
    match f.kind {
        ZombieKind::Volume => {
            now - f.first_seen >= Duration::days(i64::from(settings.volume_min_idle_days))
        }
        ZombieKind::Snapshot | ZombieKind::ElasticIp => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::ec2::{AddressSummary, SnapshotSummary, VolumeSummary};

    fn now() -> DateTime<Utc> {
        "2026-11-22T09:00:00Z".parse().unwrap()
    }

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn volume(id: &str, state: &str, t: &[(&str, &str)]) -> VolumeSummary {
        VolumeSummary {
            id: id.into(),
            state: state.into(),
            size_gib: 100,
            volume_type: "gp3".into(),
            iops: Some(3000),
            throughput: Some(125),
            created: None,
            attached_to: vec![],
            tags: tags(t),
        }
    }

    fn snapshot(id: &str, days_old: i64, t: &[(&str, &str)]) -> SnapshotSummary {
        SnapshotSummary {
            id: id.into(),
            volume_id: Some("vol-src".into()),
            volume_size_gib: 40,
            full_size_bytes: None,
            started: Some(now() - Duration::days(days_old)),
            storage_tier: "standard".into(),
            state: "completed".into(),
            tags: tags(t),
        }
    }

    fn address(alloc: &str, association: Option<&str>) -> AddressSummary {
        AddressSummary {
            public_ip: "203.0.113.7".into(),
            allocation_id: Some(alloc.into()),
            association_id: association.map(str::to_owned),
            instance_id: None,
            network_interface_id: None,
            tags: Tags::new(),
        }
    }

    fn classify_default(inv: &Inventory) -> Classified {
        classify(
            inv,
            None,
            "us-east-1",
            &HunterConfig::default(),
            &PriceTable::default(),
            now(),
        )
    }

    fn ids(c: &Classified) -> Vec<&str> {
        c.candidates.iter().map(|f| f.id.as_str()).collect()
    }

    #[test]
    fn only_unattached_unprotected_volumes_are_candidates() {
        let inv = Inventory {
            volumes: vec![
                volume(
                    "vol-idle",
                    "available",
                    &[("Name", "old-db"), ("Owner", "ana")],
                ),
                volume("vol-used", "in-use", &[]),
                volume("vol-keep", "available", &[("opsmate:keep", "TRUE")]),
                volume(
                    "vol-later",
                    "available",
                    &[("opsmate:protect-until", "2026-12-01")],
                ),
                volume(
                    "vol-past",
                    "available",
                    &[("opsmate:protect-until", "2026-11-01")],
                ),
                volume(
                    "vol-junk",
                    "available",
                    &[("opsmate:protect-until", "soon")],
                ),
            ],
            ..Inventory::default()
        };
        let c = classify_default(&inv);
        assert_eq!(ids(&c), vec!["vol-idle", "vol-past"]);
        assert_eq!(
            c.skipped,
            Skipped {
                excluded: 1,
                protected: 2,
                ..Skipped::default()
            }
        );
        let f = &c.candidates[0];
        assert_eq!((f.monthly_cost_usd, f.detail.as_str()), (8.0, "gp3"));
        assert_eq!(
            (f.name.as_deref(), f.owner.as_deref()),
            (Some("old-db"), Some("ana"))
        );
    }

    #[test]
    fn snapshots_must_be_old_and_unused_by_amis_or_backup() {
        let inv = Inventory {
            snapshots: vec![
                snapshot("snap-old", 45, &[]),
                snapshot("snap-new", 3, &[]),
                snapshot("snap-ami", 90, &[]),
                snapshot(
                    "snap-backup",
                    90,
                    &[(AWS_BACKUP_TAG, "arn:aws:ec2:…:volume/vol-1")],
                ),
            ],
            ami_snapshots: ["snap-ami".to_string()].into(),
            ..Inventory::default()
        };
        let c = classify_default(&inv);
        assert_eq!(ids(&c), vec!["snap-old"]);
        assert_eq!(
            c.skipped,
            Skipped {
                used_by_ami: 1,
                aws_backup: 1,
                ..Skipped::default()
            }
        );
        let f = &c.candidates[0];
        assert!(f.cost_is_upper_bound);
        assert_eq!(f.monthly_cost_usd, 2.0);
    }

    #[test]
    fn a_custom_exclusion_tag_without_value_matches_any_value() {
        let settings = HunterConfig {
            exclude_tag: "keep".into(),
            ..HunterConfig::default()
        };
        let inv = Inventory {
            volumes: vec![
                volume("vol-a", "available", &[("keep", "")]),
                volume("vol-b", "available", &[("opsmate:keep", "true")]),
            ],
            ..Inventory::default()
        };
        let c = classify(
            &inv,
            None,
            "us-east-1",
            &settings,
            &PriceTable::default(),
            now(),
        );
        assert_eq!(ids(&c), vec!["vol-b"]);
    }

    #[test]
    fn only_unassociated_addresses_are_candidates() {
        let inv = Inventory {
            addresses: vec![
                address("eipalloc-free", None),
                address("eipalloc-used", Some("eipassoc-1")),
            ],
            ..Inventory::default()
        };
        let c = classify(
            &inv,
            Some("111122223333"),
            "eu-west-1",
            &HunterConfig::default(),
            &PriceTable::default(),
            now(),
        );
        assert_eq!(ids(&c), vec!["eipalloc-free"]);
        assert_eq!(c.candidates[0].monthly_cost_usd, 3.65);
        assert_eq!(
            c.candidates[0].resource().target(),
            "111122223333/eu-west-1/eipalloc-free"
        );
    }

    #[test]
    fn volumes_are_due_after_the_idle_days_and_zero_means_at_once() {
        let mut f = classify(
            &Inventory {
                volumes: vec![volume("vol-1", "available", &[])],
                ..Inventory::default()
            },
            None,
            "us-east-1",
            &HunterConfig::default(),
            &PriceTable::default(),
            now(),
        )
        .candidates
        .remove(0);
        let settings = HunterConfig::default();
        assert!(!is_due(&f, &settings, now()));
        f.first_seen = now() - Duration::days(7);
        assert!(is_due(&f, &settings, now()));
        f.first_seen = now();
        assert!(is_due(
            &f,
            &HunterConfig {
                volume_min_idle_days: 0,
                ..settings
            },
            now()
        ));
    }

    #[test]
    fn protect_until_reads_dates_and_times() {
        assert_eq!(
            protected_until("2026-12-01"),
            Some("2026-12-02T00:00:00Z".parse().unwrap())
        );
        assert_eq!(
            protected_until("2026-12-01T10:00:00+01:00"),
            Some("2026-12-01T09:00:00Z".parse().unwrap())
        );
        assert_eq!(protected_until("next week"), None);
    }
}
