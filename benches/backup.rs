//! Backups of a big database, as whole processes see them: a ~1 GiB database
//! (30 days of one-a-minute samples for 50 checks, and 1,000,000 audit rows with
//! real hashes) is backed up by `opsmate backup create` next to a running `opsmate
//! serve`, and Slack's acknowledgement latency is measured idle and while the
//! backup runs.
//!
//! `cargo bench --bench backup` prints the database's size, the backup's copy and
//! verification times (as the backup recorded them) and its whole wall time, the
//! compressed file's size, and the p50 and p99 of signed `/opsmate help` requests
//! (10 connections, driven by `wrk`) idle and during the backup.

mod common;

use axum::Router;
use axum::routing::post;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use common::{bench_main, launch_opsmate, opsmate_binary, serve_fake, stop, wrk_for};
use opsmate::chat::slack::verify::SlackVerifier;
use opsmate::config::Secret;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

const SECRET: &str = "bench-signing-secret";
const CHECKS: usize = 50;
const DAYS: i64 = 30;
const PER_DAY: i64 = 24 * 60;
const AUDIT_ROWS: i64 = 1_000_000;
/// Connections of the latency runs: enough to keep the bot busy, not so many that
/// the queue fills and the figure measures "busy" answers instead.
const CONNECTIONS: u32 = 10;

fn main() -> ExitCode {
    bench_main("backup", run)
}

fn run() -> anyhow::Result<()> {
    if std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_err()
    {
        anyhow::bail!("wrk is not installed (apt-get install wrk)");
    }
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("opsmate.db");
    let seeding = Instant::now();
    seed(&db, Utc::now())?;
    let seeded_in = seeding.elapsed();
    let db_bytes = std::fs::metadata(&db)?.len();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let sink = serve_fake(
        &rt,
        Router::new().route("/response", post(|| async { "ok" })),
    );
    let backups = dir.path().join("backups");
    let env = [
        ("OPSMATE_SLACK__API_URL", format!("http://{sink}/api")),
        ("SLACK_BOT_TOKEN", "xoxb-bench".to_owned()),
        ("SLACK_SIGNING_SECRET", SECRET.to_owned()),
        ("OPSMATE_BACKUP__DESTINATION", backups.display().to_string()),
    ];
    let (child, port) = launch_opsmate(dir.path(), &env, None)?;
    let script = signed_command_script(dir.path(), &sink.to_string())?;
    let url = format!("http://127.0.0.1:{port}/slack/commands");

    let idle = wrk_for(&script, CONNECTIONS, &url, "10s");
    let backup = std::process::Command::new(opsmate_binary())
        .args(["backup", "create"])
        .env("OPSMATE_STORAGE__PATH", &db)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let started = Instant::now();
    let during = wrk_for(&script, CONNECTIONS, &url, "10s");
    let out = backup.wait_with_output()?;
    let wall = started.elapsed();
    stop(child);
    if !out.status.success() {
        anyhow::bail!(
            "opsmate backup create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let c = rusqlite::Connection::open(&db)?;
    let (status, copy_ms, verify_ms, file_bytes): (String, i64, i64, i64) = c.query_row(
        "SELECT status, copy_ms, verify_ms, file_bytes FROM backups ORDER BY id DESC LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "## Backup of a {:.0} MiB database ({CHECKS} checks × {DAYS} days × one sample a minute, {AUDIT_ROWS} audit rows; seeded in {:.0} s)",
        mib(db_bytes),
        seeded_in.as_secs_f64()
    );
    println!("| figure | result |");
    println!("|---|---|");
    println!("| backup status | {status} |");
    println!(
        "| copy (online backup API) and compression | {:.1} s |",
        copy_ms as f64 / 1000.0
    );
    println!(
        "| verification (decompress, integrity_check, audit chain walk) | {:.1} s |",
        verify_ms as f64 / 1000.0
    );
    println!(
        "| `opsmate backup create`, whole process | {:.1} s |",
        wall.as_secs_f64()
    );
    println!(
        "| compressed file | {:.0} MiB ({:.1}% of the database) |",
        mib(file_bytes as u64),
        100.0 * file_bytes as f64 / db_bytes as f64
    );
    println!(
        "| Slack ack p50 / p99, idle | {} / {} |",
        idle.line("50%"),
        idle.line("99%")
    );
    println!(
        "| Slack ack p50 / p99, during the backup | {} / {} |",
        during.line("50%"),
        during.line("99%")
    );
    println!(
        "| requests/s idle / during | {} / {} |",
        idle.line("Requests/sec:"),
        during.line("Requests/sec:")
    );
    Ok(())
}

/// The wrk script of a signed `/opsmate help`, answered through the sink.
fn signed_command_script(dir: &Path, sink: &str) -> anyhow::Result<std::path::PathBuf> {
    let body = serde_urlencoded::to_string([
        ("team_id", "T0BENCH"),
        ("channel_id", "C0BENCH"),
        ("user_id", "UBENCH"),
        ("command", "/opsmate"),
        ("text", "help"),
        ("response_url", &format!("http://{sink}/response")),
        ("trigger_id", "1.2.3"),
    ])?;
    let ts = Utc::now().timestamp().to_string();
    let signature = SlackVerifier::new(Secret::new(SECRET)).sign(&ts, body.as_bytes());
    let script = dir.join("signed.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = {body:?}\nwrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\nwrk.headers[\"X-Slack-Request-Timestamp\"] = {ts:?}\nwrk.headers[\"X-Slack-Signature\"] = {signature:?}\n"
        ),
    )?;
    Ok(script)
}

/// The schema, then the samples and the audit chain, written straight to SQLite
/// (the audit rows with the chain's real hashes, so the verification walks a real
/// chain).
fn seed(db: &Path, now: DateTime<Utc>) -> anyhow::Result<()> {
    let store = opsmate::store::Store::open(db, std::time::Duration::from_secs(5))?;
    store.with_conn(|c| {
        c.execute_batch("PRAGMA synchronous = OFF")?;
        seed_samples(c, now)?;
        seed_audit(c, now)?;
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
        Ok(())
    })
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
            let name = format!("service-{i}");
            for m in 0..DAYS * PER_DAY {
                let down = (3000..3040).contains(&(m % (7 * PER_DAY)));
                let latency = 80.0 + ((m * 37 + i as i64 * 11) % 320) as f64;
                let message = if down {
                    "HTTP 503, expected 200".to_owned()
                } else {
                    format!("HTTP 200 in {latency} ms")
                };
                insert.execute(rusqlite::params![
                    name,
                    (start + Duration::minutes(m)).timestamp_millis(),
                    if down { "critical" } else { "ok" },
                    latency,
                    message
                ])?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

/// A million rows of the shape a busy month leaves: scans and their findings, each
/// with a few hundred bytes of details.
fn seed_audit(c: &mut rusqlite::Connection, now: DateTime<Utc>) -> anyhow::Result<()> {
    let tx = c.transaction()?;
    {
        let mut prev: String = tx
            .query_row(
                "SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap_or_else(|_| opsmate::audit::GENESIS_HASH.to_owned());
        let first: i64 =
            tx.query_row("SELECT coalesce(max(seq), 0) + 1 FROM audit_log", [], |r| {
                r.get(0)
            })?;
        let mut insert = tx.prepare(
            "INSERT INTO audit_log (seq, at, actor, event, subject, details, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let start = now - Duration::days(DAYS);
        let padding = "x".repeat(560);
        for n in 0..AUDIT_ROWS {
            let seq = first + n;
            let at = (start + Duration::milliseconds(n * 2_592))
                .to_rfc3339_opts(SecondsFormat::Millis, true);
            let subject = format!("vol-{:017x}", n * 7919);
            let details = serde_json::json!({
                "region": "eu-central-1",
                "size_gib": 100 + n % 900,
                "monthly_cost_usd": format!("{:.2}", (n % 9000) as f64 / 10.0),
                "note": padding,
            })
            .to_string();
            let hash = opsmate::audit::row_hash(
                seq,
                &at,
                "scheduler",
                "hunter.volume_found",
                &subject,
                &details,
                &prev,
            );
            insert.execute(rusqlite::params![
                seq,
                at,
                "scheduler",
                "hunter.volume_found",
                subject,
                details,
                prev,
                hash
            ])?;
            prev = hash;
        }
    }
    tx.commit()?;
    Ok(())
}
