//! A month of health data as whole processes see it: 30 days of 60-second samples for
//! 8 checks, rolled up by the hour, raw samples kept 7 days. Times `opsmate health
//! slo` and `opsmate digest` as processes of the release binary (or `$OPSMATE_BIN`),
//! and reports the database size.
//!
//! `cargo bench --bench health_month`. The samples are seeded with SQL, then the app
//! is built once on that database, which rolls up what has no rollup yet (as an
//! upgraded database is), and one pruning pass drops raw samples past 7 days.

mod common;

use chrono::{DateTime, Duration, Utc};
use opsmate::app::{App, AppOptions};
use opsmate::features::observatory::runner;
use std::process::{Command, ExitCode};
use std::time::Instant;

const CHECKS: usize = 8;
const DAYS: i64 = 30;
const PER_DAY: i64 = 1_440;
const RUNS: usize = 15;
const TARGET_MS: f64 = 50.0;
const TARGET_MIB: f64 = 25.0;

fn main() -> ExitCode {
    common::bench_main("health_month", run)
}

fn config_text(db: &std::path::Path) -> String {
    let mut text = format!(
        "[storage]\npath = \"{}\"\n\n[observatory]\n\n[observatory.self_checks]\nenabled = false\n",
        db.display()
    );
    for i in 0..CHECKS {
        text.push_str(&format!(
            "\n[[observatory.checks]]\nname = \"service-{i}\"\nkind = \"http\"\nurl = \"https://service-{i}.example.com/health\"\nlatency_slo_ms = 500\n"
        ));
    }
    text
}

fn run() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("opsmate.db");
    let config_path = dir.path().join("opsmate.toml");
    std::fs::write(&config_path, config_text(&db))?;
    let loaded = opsmate::config::load(Some(&config_path), &opsmate::config::load::Env::new())?;
    let now = Utc::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (rows, seeding, rollup, pruned) = rt.block_on(async {
        // The schema first, then a month of samples, then the app that rolls them up.
        let options = || AppOptions {
            one_shot: true,
            feature_timers: false,
            ..AppOptions::default()
        };
        drop(App::build(&loaded, options()).await?);
        let store = opsmate::store::Store::open(&db, std::time::Duration::from_secs(5))?;
        let t = Instant::now();
        let rows = store.call(move |c| seed(c, now)).await?;
        let seeding = t.elapsed();
        drop(store);
        let t = Instant::now();
        let app = App::build(&loaded, options()).await?;
        let rollup = t.elapsed();
        let ctx = app.ctx.clone();
        let o = ctx
            .features
            .get::<opsmate::features::observatory::Observatory>()
            .ok_or_else(|| anyhow::anyhow!("observatory is on"))?;
        let pruned = runner::prune_job(&ctx, &o).await?;
        ctx.store
            .call(|c| Ok(c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?))
            .await?;
        anyhow::Ok((rows, seeding, rollup, pruned))
    })?;
    let size_after_prune = common::db_size(&db);
    let bin = common::opsmate_binary();
    let time = |args: &[&str]| -> anyhow::Result<(Vec<f64>, String)> {
        let mut ms = Vec::new();
        let mut out = String::new();
        for _ in 0..RUNS {
            let t = Instant::now();
            let o = Command::new(&bin)
                .args(["--config", &config_path.display().to_string()])
                .args(args)
                .env("RUST_LOG", "warn")
                .output()?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(
                o.status.success(),
                "{args:?} failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            out = String::from_utf8_lossy(&o.stdout).into_owned();
        }
        ms.sort_by(f64::total_cmp);
        Ok((ms, out))
    };
    let (slo, slo_out) = time(&["health", "slo"])?;
    anyhow::ensure!(
        slo_out.contains("service-7"),
        "the SLO report lists every check: {slo_out}"
    );
    let (digest, digest_out) = time(&["digest"])?;
    anyhow::ensure!(
        digest_out.contains("(30 d)"),
        "the digest has 30-day numbers: {digest_out}"
    );
    rt.block_on(async {
        let store = opsmate::store::Store::open(&db, std::time::Duration::from_secs(5))?;
        store.call(|c| Ok(c.execute_batch("VACUUM;")?)).await
    })?;
    let size_vacuumed = common::db_size(&db);
    let mib = |b: u64| b as f64 / 1_048_576.0;
    let median = |v: &[f64]| v[v.len() / 2];
    println!(
        "## A month of health data: {CHECKS} checks × {DAYS} days × one sample a minute ({rows} samples)"
    );
    println!();
    println!(
        "seeded in {:.1} s; rolled up at start-up in {:.1} s; {pruned} raw samples past 7 days pruned",
        seeding.as_secs_f64(),
        rollup.as_secs_f64()
    );
    println!();
    println!("| measure | median | min | max | target |");
    println!("|---|---|---|---|---|");
    for (name, v) in [
        ("`opsmate health slo` (process)", &slo),
        ("`opsmate digest` (process)", &digest),
    ] {
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.1} ms | ≤ {TARGET_MS} ms |",
            median(v),
            v[0],
            v[v.len() - 1]
        );
    }
    println!(
        "| database after pruning (file, pages free for reuse) | {:.1} MiB | | | ≤ {TARGET_MIB} MiB |",
        mib(size_after_prune)
    );
    println!(
        "| database, vacuumed (7 days raw + 30 days of rollups) | {:.1} MiB | | | ≤ {TARGET_MIB} MiB |",
        mib(size_vacuumed)
    );
    Ok(())
}

/// 30 days of one sample a minute per check: ok at 80–400 ms, with a 40-minute
/// outage per check each week.
fn seed(c: &mut rusqlite::Connection, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let tx = c.transaction()?;
    let mut n = 0;
    {
        let mut insert = tx.prepare(
            "INSERT INTO health_samples (check_name, at, status, value, unit, message)
             VALUES (?1, ?2, ?3, ?4, 'ms', ?5)",
        )?;
        let start = now - Duration::days(DAYS);
        for i in 0..CHECKS {
            let name = format!("service-{i}");
            for m in 0..DAYS * PER_DAY {
                let week_minute = m % (7 * PER_DAY);
                let down = (3000..3040).contains(&week_minute);
                let at = start + Duration::minutes(m);
                let latency = 80.0 + ((m * 37 + i as i64 * 11) % 320) as f64;
                let message = if down {
                    "HTTP 503, expected 200".to_owned()
                } else {
                    format!("HTTP 200 in {latency} ms")
                };
                insert.execute(rusqlite::params![
                    name,
                    at.timestamp_millis(),
                    if down { "critical" } else { "ok" },
                    latency,
                    message
                ])?;
                n += 1;
            }
        }
    }
    tx.commit()?;
    Ok(n)
}
