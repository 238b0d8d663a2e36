//! `opsmate zombies` output: a table for people, JSON for scripts.

use super::ZombieKind;
use super::hunt::HuntResult;
use std::io::Write;

/// Writes the findings as an aligned table with a total line.
pub fn write_table(out: &mut impl Write, result: &HuntResult) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<11} {:<26} {:<28} {:>12}  {:<10} DETAIL",
        "KIND", "ID", "REGION", "USD/MONTH", "FIRST SEEN"
    )?;
    for f in &result.findings {
        let region = f.region_label();
        let cost = if f.cost_is_upper_bound {
            format!("≤{:.2}", f.monthly_cost_usd)
        } else {
            format!("{:.2}", f.monthly_cost_usd)
        };
        let detail = match (f.kind, f.size_gib) {
            (ZombieKind::ElasticIp, _) | (_, None) => f.detail.clone(),
            (_, Some(gib)) => format!("{gib} GiB {}", f.detail),
        };
        let name = f
            .name
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        writeln!(
            out,
            "{:<11} {:<26} {:<28} {:>12}  {:<10} {detail}{name}",
            f.kind.as_str(),
            f.id,
            region,
            cost,
            f.first_seen.format("%Y-%m-%d"),
        )?;
    }
    writeln!(
        out,
        "{} idle resource(s), ${:.2}/month (snapshot costs are upper bounds)",
        result.findings.len(),
        result.total_usd()
    )
}

/// Writes the findings as a JSON array (the documented fields).
pub fn write_json(out: &mut impl Write, result: &HuntResult) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &result.findings)?;
    writeln!(out)?;
    Ok(())
}

/// One line per region for standard error: calls, time, and any failure.
pub fn write_regions(out: &mut impl Write, result: &HuntResult) -> std::io::Result<()> {
    for r in &result.regions {
        match &r.error {
            None => writeln!(
                out,
                "scanned {}: {} API calls in {} ms",
                r.label, r.api_calls, r.elapsed_ms
            )?,
            Some(e) => writeln!(out, "could not scan {}: {e}", r.label)?,
        }
    }
    writeln!(
        out,
        "{} region(s) in {} ms, {} API calls; {} watched (not idle long enough yet), {} skipped",
        result.regions.len(),
        result.elapsed_ms,
        result.api_calls(),
        result.watching,
        result.skipped.total()
    )
}
