//! Observatory digest cost: 30 days of 60-second samples for 10 checks (432,000 rows)
//! in the real SQLite store, then the time to build the daily digest and the SLO
//! report, the database size, and one full pruning pass.
//!
//! `cargo bench --bench observatory_digest`. One more day of samples beyond the
//! 30-day retention is seeded, so the pruning pass has 14,400 rows to delete.

mod common;

use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use opsmate::app::{App, AppOptions};
use opsmate::config::{Config, ConfigSource, Loaded, Secrets};
use opsmate::features::observatory::config::{CheckConfig, CheckKind, ObservatoryConfig};
use opsmate::features::observatory::{digest, runner, slo};
use std::process::ExitCode;
use std::time::Instant;

const CHECKS: usize = 10;
const DAYS: i64 = 30;
const PER_DAY: i64 = 1_440;
const RUNS: usize = 7;
const TARGET_MS: f64 = 100.0;

fn main() -> ExitCode {
    common::bench_main("observatory_digest", run)
}

fn run() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async_run())
}

fn check(i: usize) -> CheckConfig {
    CheckConfig {
        url: Some(format!("https://service-{i}.example.com/health")),
        latency_slo_ms: Some(500),
        ..CheckConfig::new(&format!("service-{i}"), CheckKind::Http)
    }
}

async fn async_run() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = Config::default();
    config.storage.path = dir.path().join("opsmate.db");
    config.sections.set(&ObservatoryConfig {
        checks: (0..CHECKS).map(check).collect(),
        ..ObservatoryConfig::default()
    });
    let loaded = Loaded {
        config,
        secrets: Secrets::default(),
        source: ConfigSource::Defaults,
        env_overrides: Vec::new(),
    };
    let options = AppOptions {
        one_shot: true,
        feature_timers: false,
        ..AppOptions::default()
    };
    let app = App::build(&loaded, options).await?;
    let ctx = app.ctx.clone();
    let o = ctx
        .features
        .get::<opsmate::features::observatory::Observatory>()
        .context("observatory is on")?;
    let now = Utc::now();
    let started = Instant::now();
    let rows = ctx.store.call(move |c| seed(c, now)).await?;
    let seeding = started.elapsed();
    let size = common::db_size(&dir.path().join("opsmate.db"));

    let (start, end) = slo::digest_window(&o.digest_schedule, now);
    let mut digest_ms = Vec::new();
    let mut slo_ms = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let msg = digest::build(&ctx, &o, now).await?.message;
        digest_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(
            msg.plain().contains("service-9: uptime"),
            "the digest lists every check"
        );
        let t = Instant::now();
        let report = digest::slo_report(&ctx, &o, start, end).await?;
        slo_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(report.len() == CHECKS, "the SLO report covers every check");
    }
    let t = Instant::now();
    let pruned = runner::prune_job(&ctx, &o).await?;
    let prune = t.elapsed();
    let t = Instant::now();
    let pruned_again = runner::prune_job(&ctx, &o).await?;
    let prune_again = t.elapsed();

    digest_ms.sort_by(f64::total_cmp);
    slo_ms.sort_by(f64::total_cmp);
    let median = |v: &[f64]| v[v.len() / 2];
    println!(
        "## Observatory digest over {rows} samples ({CHECKS} checks, {DAYS} days + 1 day past retention, every 60 s)"
    );
    println!();
    println!(
        "seeded in {:.1} s; database {:.1} MiB (with its WAL)",
        seeding.as_secs_f64(),
        size as f64 / 1_048_576.0
    );
    println!();
    println!("| measure | median | min | max | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| digest (health, uptime 1/7/30 d, p95, incidents, work) | {:.1} ms | {:.1} ms | {:.1} ms | ≤ {TARGET_MS} ms |",
        median(&digest_ms),
        digest_ms[0],
        digest_ms[digest_ms.len() - 1]
    );
    println!(
        "| SLO report alone | {:.1} ms | {:.1} ms | {:.1} ms | ≤ {TARGET_MS} ms |",
        median(&slo_ms),
        slo_ms[0],
        slo_ms[slo_ms.len() - 1]
    );
    println!();
    println!(
        "pruning pass: {pruned} rows past retention deleted in {:.1} ms (batches of {}); a pass with nothing to delete: {pruned_again} rows in {:.1} ms",
        prune.as_secs_f64() * 1000.0,
        opsmate::features::observatory::store::PRUNE_BATCH,
        prune_again.as_secs_f64() * 1000.0
    );
    Ok(())
}

/// 31 days of one sample a minute per check (30 × 1,440 × 10 = 432,000 within the
/// retention): ok at 80–400 ms, with a 40-minute outage per check each week.
fn seed(c: &mut rusqlite::Connection, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let tx = c.transaction()?;
    let mut n = 0;
    {
        let mut insert = tx.prepare(
            "INSERT INTO health_samples (check_name, at, status, value, unit, message)
             VALUES (?1, ?2, ?3, ?4, 'ms', '')",
        )?;
        let start = now - Duration::days(DAYS + 1);
        for i in 0..CHECKS {
            let name = format!("service-{i}");
            for m in 0..(DAYS + 1) * PER_DAY {
                let week_minute = m % (7 * PER_DAY);
                let down = (3000..3040).contains(&week_minute);
                let at = start + Duration::minutes(m);
                let latency = 80.0 + ((m * 37 + i as i64 * 11) % 320) as f64;
                insert.execute(rusqlite::params![
                    name,
                    at.timestamp_millis(),
                    if down { "critical" } else { "ok" },
                    latency
                ])?;
                n += 1;
            }
        }
    }
    tx.commit()?;
    Ok(n)
}
