//! 100 checks every 10 seconds with the anomaly detector on and Incidents on, in the
//! release binary for `BENCH_MINUTES` (default 10): the CPU share and resident memory
//! of `serve`, and the time from a check's failing answer to its incident message
//! reaching the fake Slack (p50 and p99).
//!
//! `cargo bench --bench incident_load`. One check at a time fails (its service answers
//! 500 from that moment), its alert is awaited, then it heals; the clock of a failure
//! starts when the service first answers 500, and stops when `chat.postMessage` with
//! that check's incident arrives.

mod common;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{any, get};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CHECKS: usize = 100;

fn main() -> ExitCode {
    common::bench_main("incident_load", run)
}

#[derive(Default)]
struct World {
    failing: Option<usize>,
    /// When each check's service first answered 500 in this failure.
    failed_at: HashMap<usize, Instant>,
    /// When each check's incident message arrived.
    alerted_at: HashMap<usize, Instant>,
    posts: usize,
}

type Shared = Arc<Mutex<World>>;

async fn service(State(w): State<Shared>, Path(i): Path<usize>) -> StatusCode {
    let mut w = w.lock().unwrap();
    if w.failing == Some(i) {
        w.failed_at.entry(i).or_insert_with(Instant::now);
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

async fn slack(
    State(w): State<Shared>,
    Path(method): Path<String>,
    body: axum::body::Bytes,
) -> axum::Json<Value> {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut w = w.lock().unwrap();
    if method == "chat.postMessage" {
        w.posts += 1;
        let text = body["text"].as_str().unwrap_or_default().to_owned();
        if let Some(rest) = text.split(": svc-").nth(1)
            && let Some(i) = rest.split(' ').next().and_then(|n| n.parse::<usize>().ok())
            && text.contains("Incident #")
        {
            w.alerted_at.entry(i).or_insert_with(Instant::now);
        }
    }
    let ts = format!("1700000000.{:06}", w.posts);
    axum::Json(json!({"ok": true, "channel": body["channel"], "ts": ts,
                      "message": {"text": body["text"], "ts": ts}}))
}

fn config(services: std::net::SocketAddr, slack: std::net::SocketAddr) -> String {
    let mut text = format!(
        "[slack]\nmode = \"http\"\napi_url = \"http://{slack}/api\"\nalert_channel = \"C0OPS\"\n\n\
         [observatory]\ngroup_wait = \"1s\"\n\n[observatory.self_checks]\nenabled = false\n\n[incidents]\n"
    );
    for i in 0..CHECKS {
        text.push_str(&format!(
            "\n[[observatory.checks]]\nname = \"svc-{i}\"\nkind = \"http\"\nurl = \"http://{services}/svc/{i}\"\n\
             interval = \"10s\"\ntimeout = \"2s\"\nfailure_threshold = 1\nsuccess_threshold = 1\n\
             anomaly = {{ method = \"ewma\", window = \"1h\", sensitivity = 3.0, min_samples = 30 }}\n"
        ));
    }
    text
}

fn run() -> anyhow::Result<()> {
    let minutes: u64 = std::env::var("BENCH_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(10);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let world: Shared = Arc::default();
    let services = common::serve_fake(
        &rt,
        axum::Router::new()
            .route("/svc/{i}", get(service))
            .with_state(world.clone()),
    );
    let slack_addr = common::serve_fake(
        &rt,
        axum::Router::new()
            .route("/api/{method}", any(slack))
            .with_state(world.clone()),
    );
    let dir = tempfile::tempdir()?;
    let config_path = dir.path().join("opsmate.toml");
    std::fs::write(&config_path, config(services, slack_addr))?;
    let env = [
        ("OPSMATE_CONFIG", config_path.display().to_string()),
        ("SLACK_BOT_TOKEN", "xoxb-bench".to_owned()),
        ("SLACK_SIGNING_SECRET", "bench-signing-secret".to_owned()),
    ];
    let (child, _port) =
        common::launch_opsmate(dir.path(), &env, Some(&dir.path().join("serve.log")))?;
    let pid = child.id();
    let started = Instant::now();
    let cpu_start = common::cpu_seconds(pid);
    let mut rss = Vec::new();
    let mut latencies = Vec::new();
    let mut missed = 0;
    let mut next = 0;
    // Let "the usual" build up a little before the first failure.
    std::thread::sleep(Duration::from_secs(30));
    while started.elapsed() < Duration::from_secs(minutes * 60) {
        let i = next % CHECKS;
        next += 7;
        world.lock().unwrap().failing = Some(i);
        let wait = Instant::now();
        let arrived = loop {
            std::thread::sleep(Duration::from_millis(20));
            let w = world.lock().unwrap();
            if let (Some(f), Some(a)) = (w.failed_at.get(&i), w.alerted_at.get(&i)) {
                break Some(a.saturating_duration_since(*f));
            }
            if wait.elapsed() > Duration::from_secs(40) {
                break None;
            }
        };
        match arrived {
            Some(d) => latencies.push(d.as_secs_f64() * 1000.0),
            None => missed += 1,
        }
        {
            let mut w = world.lock().unwrap();
            w.failing = None;
            w.failed_at.remove(&i);
            w.alerted_at.remove(&i);
        }
        rss.push(common::rss_kib(pid));
        // Recovers on its next run; the next failure starts after that.
        std::thread::sleep(Duration::from_secs(11));
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = common::cpu_seconds(pid) - cpu_start;
    rss.push(common::rss_kib(pid));
    common::stop(child);
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * latencies.len() as f64).ceil().max(1.0) as usize;
        latencies[rank.min(latencies.len()) - 1]
    };
    println!(
        "## {CHECKS} checks every 10 s, anomaly detector on, Incidents on, for {minutes} min (release `serve`)"
    );
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| CPU of `serve` (user + system) | {:.1}% of one core ({cpu:.1} s in {wall:.0} s) |",
        cpu / wall * 100.0
    );
    println!(
        "| resident memory | max {:.1} MiB, at the end {:.1} MiB |",
        *rss.iter().max().unwrap_or(&0) as f64 / 1024.0,
        *rss.last().unwrap_or(&0) as f64 / 1024.0
    );
    println!(
        "| failing answer → incident message at the fake Slack ({} failures, {missed} missed) | p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms |",
        latencies.len(),
        pct(50.0),
        pct(99.0),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}
