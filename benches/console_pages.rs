//! The web console's two heaviest pages on a large database: the Audit page over
//! 1,000,000 audit rows (first page, a page filtered by event, and an older page by
//! cursor) and the Health page over 30 days × 60-second samples × 20 checks.
//!
//! `cargo bench --bench console_pages`. The rows are seeded with the same SQL the
//! app writes (the audit chain through `audit::append`), the app is built on that
//! database (rolling the samples up, as an upgraded database is) and served on a
//! loopback port with `web.local_admin` (no sign-in), and each page is fetched 200
//! times one after the other. The time is the request's whole round trip on
//! loopback, which bounds the server's time from above.

mod common;

use chrono::{DateTime, Duration, Utc};
use opsmate::app::{App, AppOptions};
use std::process::ExitCode;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

const AUDIT_ROWS: usize = 1_000_000;
const CHECKS: usize = 20;
const DAYS: i64 = 30;
const PER_DAY: i64 = 1_440;
const RUNS: usize = 200;
const TARGET_MS: f64 = 50.0;
/// The events the seeded log cycles through (one in ten is an approval).
const EVENTS: [&str; 10] = [
    "approval.approved",
    "approval.proposed",
    "action.succeeded",
    "hunter.found",
    "watchman.checked",
    "guard.scanned",
    "observatory.alert",
    "outbox.failed",
    "web.signed_in",
    "directory.joined",
];

fn main() -> ExitCode {
    common::bench_main("console_pages", run)
}

fn config_text(db: &std::path::Path) -> String {
    let mut text = format!(
        "[storage]\npath = \"{}\"\n\n[web]\nlocal_admin = true\n\n[observatory]\n\n[observatory.self_checks]\nenabled = false\n",
        db.display()
    );
    for i in 0..CHECKS {
        text.push_str(&format!(
            "\n[[observatory.checks]]\nname = \"service-{i:02}\"\nkind = \"http\"\nurl = \"https://service-{i}.example.com/health\"\nlatency_slo_ms = 500\n"
        ));
    }
    text
}

fn seed_audit(c: &mut rusqlite::Connection, now: DateTime<Utc>) -> anyhow::Result<()> {
    let tx = c.transaction()?;
    let start = now - Duration::days(DAYS);
    for i in 0..AUDIT_ROWS {
        let at = start + Duration::milliseconds((i as i64) * 2_500);
        opsmate::audit::append(
            &tx,
            at,
            &format!("slack:U{:08}", i % 97),
            EVENTS[i % EVENTS.len()],
            &format!("us-east-1/vol-{i:017x}"),
            &serde_json::json!({"kind": "delete_volume", "n": i}),
        )?;
    }
    tx.commit()?;
    Ok(())
}

fn seed_samples(c: &mut rusqlite::Connection, now: DateTime<Utc>) -> anyhow::Result<()> {
    let tx = c.transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO health_samples (check_name, at, status, value, unit, message)
             VALUES (?1, ?2, ?3, ?4, 'ms', ?5)",
        )?;
        let start = now - Duration::days(DAYS);
        for i in 0..CHECKS {
            let name = format!("service-{i:02}");
            for m in 0..DAYS * PER_DAY {
                let down = (3000..3040).contains(&(m % (7 * PER_DAY)));
                let latency = 80.0 + ((m * 37 + i as i64 * 11) % 320) as f64;
                insert.execute(rusqlite::params![
                    name,
                    (start + Duration::minutes(m)).timestamp_millis(),
                    if down { "critical" } else { "ok" },
                    latency,
                    if down {
                        "HTTP 503, expected 200"
                    } else {
                        "HTTP 200"
                    },
                ])?;
            }
        }
    }
    tx.commit()?;
    Ok(())
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
    rt.block_on(async {
        let options = || AppOptions {
            feature_timers: false,
            ..AppOptions::default()
        };
        drop(App::build(&loaded, AppOptions { one_shot: true, ..options() }).await?);
        let store = opsmate::store::Store::open(&db, std::time::Duration::from_secs(5))?;
        let t = Instant::now();
        store.call(move |c| seed_audit(c, now)).await?;
        store.call(move |c| seed_samples(c, now)).await?;
        println!("seeded {AUDIT_ROWS} audit rows and {} samples in {:.0} s", CHECKS as i64 * DAYS * PER_DAY, t.elapsed().as_secs_f64());
        drop(store);
        let app = App::build(&loaded, options()).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let shutdown = CancellationToken::new();
        let serving = tokio::spawn(app.serve(listener, shutdown.clone()));
        let http = reqwest::Client::new();
        let older = AUDIT_ROWS / 2;
        let pages = [
            ("Audit, first page", "/audit".to_owned(), "approval.approved"),
            ("Audit, filtered by event", "/audit?event=approval.approved".to_owned(), "approval.approved"),
            ("Audit, filtered by actor", "/audit?actor=slack%3AU00000042".to_owned(), "slack:U00000042"),
            ("Audit, an older page (cursor)", format!("/audit?cursor={older}"), "watchman.checked"),
            ("Health, 20 checks", "/health".to_owned(), "service-19"),
        ];
        println!();
        println!("## Console pages: {AUDIT_ROWS} audit rows; {CHECKS} checks × {DAYS} days × one sample a minute");
        println!();
        println!("| page | p50 | p99 | max | target |");
        println!("|---|---|---|---|---|");
        for (name, path, needle) in pages {
            let mut ms = Vec::with_capacity(RUNS);
            for i in 0..RUNS + 5 {
                let t = Instant::now();
                let r = http.get(format!("{base}{path}")).send().await?;
                anyhow::ensure!(r.status() == 200, "{path}: {}", r.status());
                let body = r.text().await?;
                let took = t.elapsed().as_secs_f64() * 1000.0;
                anyhow::ensure!(body.contains(needle), "{path} does not show {needle}");
                if i >= 5 {
                    ms.push(took); // the first few warm the cache
                }
            }
            ms.sort_by(f64::total_cmp);
            let p = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).saturating_sub(1)];
            println!(
                "| {name} (`{path}`) | {:.1} ms | {:.1} ms | {:.1} ms | ≤ {TARGET_MS} ms |",
                p(0.50),
                p(0.99),
                ms[ms.len() - 1]
            );
        }
        shutdown.cancel();
        serving.await??;
        anyhow::Ok(())
    })?;
    println!();
    println!(
        "database: {:.0} MiB",
        common::db_size(&db) as f64 / 1_048_576.0
    );
    Ok(())
}
