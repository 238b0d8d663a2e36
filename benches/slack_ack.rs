//! Slack acknowledgement latency: signed `/opsmate help` requests at 100 concurrent
//! connections for 10 s on loopback, driven by `wrk` (Debian package `wrk`), against
//! the release binary. Every request is verified, parsed, queued and answered through
//! the outbox to a local `response_url` sink, as in production.
//!
//! `cargo bench --bench slack_ack` prints requests/s, p50, p99, the RSS after, and
//! how many commands went through the queue (the rest were answered "busy" at once
//! because the queue was full).

mod common;

use axum::Router;
use axum::routing::post;
use common::{rss_kib, serve_fake, start_opsmate, stop, wrk, wrk_bench_setup};
use opsmate::chat::slack::verify::SlackVerifier;
use opsmate::config::Secret;

const SECRET: &str = "bench-signing-secret";

fn lua_string(s: &str) -> String {
    format!("{s:?}")
}

fn main() {
    let Some((dir, rt)) = wrk_bench_setup() else {
        return;
    };
    // The response_url sink: answers like Slack does.
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = answered.clone();
    let sink = serve_fake(
        &rt,
        Router::new().route(
            "/response",
            post(move || {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                async { "ok" }
            }),
        ),
    );

    let (child, port) = start_opsmate(
        dir.path(),
        &[
            ("OPSMATE_SLACK__API_URL", format!("http://{sink}/api")),
            ("SLACK_BOT_TOKEN", "xoxb-bench".into()),
            ("SLACK_SIGNING_SECRET", SECRET.into()),
        ],
    );

    let body = serde_urlencoded::to_string([
        ("team_id", "T0BENCH"),
        ("channel_id", "C0BENCH"),
        ("user_id", "UBENCH"),
        ("command", "/opsmate"),
        ("text", "help"),
        ("response_url", &format!("http://{sink}/response")),
        ("trigger_id", "1.2.3"),
    ])
    .unwrap();
    let ts = chrono::Utc::now().timestamp().to_string();
    let signature = SlackVerifier::new(Secret::new(SECRET)).sign(&ts, body.as_bytes());
    let script = dir.path().join("signed.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = {}\nwrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\nwrk.headers[\"X-Slack-Request-Timestamp\"] = {}\nwrk.headers[\"X-Slack-Signature\"] = {}\n",
            lua_string(&body),
            lua_string(&ts),
            lua_string(&signature)
        ),
    )
    .unwrap();
    let report = wrk(
        &script,
        100,
        &format!("http://127.0.0.1:{port}/slack/commands"),
    );
    let rss = rss_kib(child.id());
    // Answers delivered by the end of the run (the rest are still queued: the outbox
    // drains at slack-morphism's per-webhook rate).
    let last = answered.load(std::sync::atomic::Ordering::Relaxed);
    stop(child);

    report.print_table(
        "signed /slack/commands, 100 connections, 10 s",
        "non-2xx answers",
    );
    println!(
        "| RSS right after the run | {:.1} MiB |",
        rss as f64 / 1024.0
    );
    println!("| answers already delivered through response_url when the run ended | {last} |");
    let db = rusqlite::Connection::open(dir.path().join("opsmate.db")).unwrap();
    let answered: i64 = db
        .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
        .unwrap();
    let total = report.total();
    println!("| commands taken into the queue and answered (outbox rows) | {answered} |");
    println!(
        "| commands answered \"busy\" at once (queue full) | {} |",
        total.saturating_sub(answered as u64)
    );
}
