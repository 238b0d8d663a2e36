//! Monthly list prices: us-east-1 by default, overridable per region from a TOML file.
//!
//! A month is 730 hours, as AWS prices it. Snapshot prices are an upper bound:
//! snapshots are incremental, so deleting one frees only the blocks no other
//! snapshot shares.

use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

pub const HOURS_PER_MONTH: f64 = 730.0;

/// One region's prices, in USD.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Prices {
    pub gp3_gb_month: f64,
    /// Per IOPS-month above [`GP3_FREE_IOPS`].
    pub gp3_iops_month: f64,
    /// Per MB/s-month above [`GP3_FREE_THROUGHPUT`].
    pub gp3_throughput_month: f64,
    pub gp2_gb_month: f64,
    pub io1_gb_month: f64,
    pub io1_iops_month: f64,
    pub io2_gb_month: f64,
    /// io2 IOPS up to 32,000; higher tiers are cheaper, see [`Prices::io2_iops`].
    pub io2_iops_month: f64,
    pub io2_iops_month_tier2: f64,
    pub io2_iops_month_tier3: f64,
    pub st1_gb_month: f64,
    pub sc1_gb_month: f64,
    pub standard_gb_month: f64,
    pub snapshot_standard_gb_month: f64,
    pub snapshot_archive_gb_month: f64,
    pub public_ipv4_hour: f64,
}

/// gp3 includes this many IOPS and this much throughput (MB/s) in the storage price.
pub const GP3_FREE_IOPS: i32 = 3000;
pub const GP3_FREE_THROUGHPUT: i32 = 125;

impl Default for Prices {
    /// us-east-1 list prices.
    fn default() -> Self {
        Self {
            gp3_gb_month: 0.08,
            gp3_iops_month: 0.005,
            gp3_throughput_month: 0.04,
            gp2_gb_month: 0.10,
            io1_gb_month: 0.125,
            io1_iops_month: 0.065,
            io2_gb_month: 0.125,
            io2_iops_month: 0.065,
            io2_iops_month_tier2: 0.0455,
            io2_iops_month_tier3: 0.032,
            st1_gb_month: 0.045,
            sc1_gb_month: 0.015,
            standard_gb_month: 0.05,
            snapshot_standard_gb_month: 0.05,
            snapshot_archive_gb_month: 0.0125,
            public_ipv4_hour: 0.005,
        }
    }
}

impl Prices {
    /// io2 provisioned IOPS, tiered: up to 32,000, 32,001–64,000, above 64,000.
    fn io2_iops(&self, iops: f64) -> f64 {
        let tier1 = iops.min(32_000.0);
        let tier2 = (iops - 32_000.0).clamp(0.0, 32_000.0);
        let tier3 = (iops - 64_000.0).max(0.0);
        tier1 * self.io2_iops_month
            + tier2 * self.io2_iops_month_tier2
            + tier3 * self.io2_iops_month_tier3
    }

    /// Monthly cost of a volume. An unknown type is priced as gp2 and says so.
    pub fn volume(
        &self,
        volume_type: &str,
        size_gib: i32,
        iops: Option<i32>,
        throughput: Option<i32>,
    ) -> VolumePrice {
        let gb = f64::from(size_gib.max(0));
        let iops = f64::from(iops.unwrap_or(0).max(0));
        let (usd, known) = match volume_type {
            "gp3" => {
                let extra_iops = (iops - f64::from(GP3_FREE_IOPS)).max(0.0);
                let extra_tp =
                    (f64::from(throughput.unwrap_or(0)) - f64::from(GP3_FREE_THROUGHPUT)).max(0.0);
                (
                    gb * self.gp3_gb_month
                        + extra_iops * self.gp3_iops_month
                        + extra_tp * self.gp3_throughput_month,
                    true,
                )
            }
            "gp2" => (gb * self.gp2_gb_month, true),
            "io1" => (gb * self.io1_gb_month + iops * self.io1_iops_month, true),
            "io2" => (gb * self.io2_gb_month + self.io2_iops(iops), true),
            "st1" => (gb * self.st1_gb_month, true),
            "sc1" => (gb * self.sc1_gb_month, true),
            "standard" => (gb * self.standard_gb_month, true),
            _ => (gb * self.gp2_gb_month, false),
        };
        VolumePrice {
            usd: round_cents(usd),
            known_type: known,
        }
    }

    /// Upper bound of a snapshot's monthly cost: its full size at its tier's price.
    pub fn snapshot(&self, size_gib: f64, storage_tier: &str) -> f64 {
        let per_gb = if storage_tier == "archive" {
            self.snapshot_archive_gb_month
        } else {
            self.snapshot_standard_gb_month
        };
        round_cents(size_gib.max(0.0) * per_gb)
    }

    /// An Elastic IP bills as a public IPv4 address every hour.
    pub fn public_ipv4(&self) -> f64 {
        round_cents(self.public_ipv4_hour * HOURS_PER_MONTH)
    }
}

/// A volume's price, and whether its type was in the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VolumePrice {
    pub usd: f64,
    pub known_type: bool,
}

/// Rounds to whole cents, so totals add up as displayed.
pub fn round_cents(usd: f64) -> f64 {
    (usd * 100.0).round() / 100.0
}

/// Per-region overrides as written in `price_file`: any price left out keeps its
/// us-east-1 value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
struct PriceFile(HashMap<String, Prices>);

/// Prices for every region: the defaults, with a file's overrides.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    default: Prices,
    regions: HashMap<String, Prices>,
}

impl PriceTable {
    /// Reads a price file: one table per region, e.g. `["eu-west-1"]` with
    /// `gp3_gb_month = 0.088`. An unknown key is an error naming it.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading price file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("price file {}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let de = toml::Deserializer::parse(text)?;
        let file: PriceFile = serde_path_to_error::deserialize(de)
            .map_err(|e| anyhow::anyhow!("key '{}': {}", e.path(), e.inner().message()))?;
        Ok(Self {
            default: Prices::default(),
            regions: file.0,
        })
    }

    pub fn for_region(&self, region: &str) -> &Prices {
        self.regions.get(region).unwrap_or(&self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Prices {
        Prices::default()
    }

    #[test]
    fn gp3_storage_only_within_the_free_iops_and_throughput() {
        assert_eq!(p().volume("gp3", 100, Some(3000), Some(125)).usd, 8.00);
        assert_eq!(p().volume("gp3", 100, None, None).usd, 8.00);
    }

    #[test]
    fn gp3_extra_iops_and_throughput_are_added() {
        // 100 GB × 0.08 + 2,000 IOPS × 0.005 + 125 MB/s × 0.04
        assert_eq!(
            p().volume("gp3", 100, Some(5000), Some(250)).usd,
            8.0 + 10.0 + 5.0
        );
        assert_eq!(
            p().volume("gp3", 500, Some(16000), Some(1000)).usd,
            40.0 + 65.0 + 35.0
        );
    }

    #[test]
    fn every_other_volume_type_has_its_own_price() {
        assert_eq!(p().volume("gp2", 100, Some(300), None).usd, 10.00);
        assert_eq!(p().volume("io1", 100, Some(1000), None).usd, 12.5 + 65.0);
        assert_eq!(p().volume("io2", 100, Some(1000), None).usd, 12.5 + 65.0);
        assert_eq!(p().volume("st1", 1000, None, None).usd, 45.00);
        assert_eq!(p().volume("sc1", 1000, None, None).usd, 15.00);
        assert_eq!(p().volume("standard", 100, None, None).usd, 5.00);
    }

    #[test]
    fn io2_iops_are_tiered() {
        // 32,000 × 0.065 + 32,000 × 0.0455 + 16,000 × 0.032
        let v = p().volume("io2", 0, Some(80_000), None);
        assert_eq!(v.usd, 2080.0 + 1456.0 + 512.0);
    }

    #[test]
    fn an_unknown_type_is_priced_as_gp2_and_flagged() {
        let v = p().volume("gp9", 10, None, None);
        assert_eq!(v.usd, 1.00);
        assert!(!v.known_type);
        assert!(p().volume("gp3", 10, None, None).known_type);
    }

    #[test]
    fn snapshots_by_tier_and_public_ipv4_by_the_hour() {
        assert_eq!(p().snapshot(100.0, "standard"), 5.00);
        assert_eq!(p().snapshot(100.0, "archive"), 1.25);
        assert_eq!(p().public_ipv4(), 3.65);
    }

    #[test]
    fn a_price_file_overrides_one_region_and_names_unknown_keys() {
        let t = PriceTable::parse("[\"eu-west-1\"]\ngp3_gb_month = 0.088\n").unwrap();
        assert_eq!(
            t.for_region("eu-west-1").volume("gp3", 100, None, None).usd,
            8.80
        );
        assert_eq!(t.for_region("eu-west-1").gp2_gb_month, 0.10);
        assert_eq!(
            t.for_region("us-east-1").volume("gp3", 100, None, None).usd,
            8.00
        );
        let err = PriceTable::parse("[\"eu-west-1\"]\ngp3_per_gb = 0.088\n").unwrap_err();
        assert!(err.to_string().contains("gp3_per_gb"), "{err}");
    }
}
