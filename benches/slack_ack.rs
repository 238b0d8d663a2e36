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
use common::{readyz, rss_kib, wrk};
use opsmate::chat::slack::verify::SlackVerifier;
use opsmate::config::Secret;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "bench-signing-secret";

fn lua_string(s: &str) -> String {
    format!("{s:?}")
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed (apt-get install wrk)");
        std::process::exit(1);
    }
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // The response_url sink: answers like Slack does.
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = answered.clone();
    let sink = rt.block_on(async {
        let app = Router::new().route(
            "/response",
            post(move || {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                async { "ok" }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    });

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_opsmate"))
        .arg("serve")
        .env("OPSMATE_STORAGE__PATH", dir.path().join("opsmate.db"))
        .env("OPSMATE_HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("OPSMATE_SLACK__API_URL", format!("http://{sink}/api"))
        .env("SLACK_BOT_TOKEN", "xoxb-bench")
        .env("SLACK_SIGNING_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !readyz(port) {
        assert!(start.elapsed() < Duration::from_secs(20), "not ready");
        std::thread::sleep(Duration::from_millis(5));
    }

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
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();

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
