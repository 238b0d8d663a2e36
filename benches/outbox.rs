//! Outbox delivery throughput: how many messages a second the sender gets to a local
//! fake of Slack, keeping each queue's order.
//!
//! `cargo bench --bench outbox`. Two runs on a fresh database each:
//! - 2,000 answers through 200 `response_url`s (10 each, as one command's pages and
//!   follow-ups are), the unthrottled path;
//! - 20 channel posts to 20 channels, through the client's throttle (slack-morphism
//!   keeps chat.postMessage to about one a second per workspace).
//!
//! The fake answers at once. Every queue's messages must arrive in the order they
//! were queued, each exactly once.

mod common;

use anyhow::Context as _;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::post;
use opsmate::app::{App, AppOptions};
use opsmate::config::{Config, ConfigSource, Loaded, Secret, Secrets};
use opsmate::outbox::{Destination, Operation, Platform};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const URLS: usize = 200;
const PER_URL: usize = 10;
const CHANNELS: usize = 20;

fn main() -> ExitCode {
    common::bench_main("outbox", run)
}

/// What the fake received: queue name → the sequence numbers, in arrival order.
type Received = Arc<Mutex<HashMap<String, Vec<u64>>>>;

fn seq_of(body: &[u8]) -> Option<u64> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v["text"].as_str()?.rsplit('#').next()?.parse().ok()
}

async fn response_url(
    State(got): State<Received>,
    Path(name): Path<String>,
    body: Bytes,
) -> &'static str {
    if let Some(n) = seq_of(&body) {
        got.lock().unwrap().entry(name).or_default().push(n);
    }
    "ok"
}

async fn post_message(State(got): State<Received>, body: Bytes) -> axum::Json<Value> {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let channel = v["channel"].as_str().unwrap_or_default().to_owned();
    if let Some(n) = seq_of(&body) {
        got.lock()
            .unwrap()
            .entry(channel.clone())
            .or_default()
            .push(n);
    }
    axum::Json(json!({"ok": true, "channel": channel, "ts": "1700000000.000100"}))
}

fn run() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let got: Received = Arc::default();
    let fake = Router::new()
        .route("/response/{name}", post(response_url))
        .route("/api/chat.postMessage", post(post_message))
        .with_state(got.clone());
    let addr = common::serve_fake(&rt, fake);
    println!("outbox delivery to a local Slack fake at {addr}");
    println!("| run | messages | queues | wall time | messages/s | in order, once |");
    println!("|---|---|---|---|---|---|");
    rt.block_on(async {
        let answers = measure(
            addr,
            &got,
            "answers via response_url",
            |i| {
                let url = i % URLS;
                (
                    Destination {
                        platform: Platform::Slack,
                        channel: format!("response:{url}"),
                    },
                    Operation::Respond,
                    json!({"text": format!("page #{}", i / URLS),
                       "response_url": format!("http://{addr}/response/r{url}")}),
                    format!("r{url}"),
                )
            },
            URLS * PER_URL,
            URLS,
        )
        .await?;
        let posts = measure(
            addr,
            &got,
            "posts to channels",
            |i| {
                (
                    Destination {
                        platform: Platform::Slack,
                        channel: format!("C{i:08}"),
                    },
                    Operation::Post,
                    json!({"text": "report #0"}),
                    format!("C{i:08}"),
                )
            },
            CHANNELS,
            CHANNELS,
        )
        .await?;
        anyhow::ensure!(answers && posts, "a queue lost order or a message");
        Ok(())
    })
}

/// Queues `n` messages made by `message`, delivers them and prints one table row.
/// Returns whether every queue got its messages once, in order.
async fn measure(
    addr: std::net::SocketAddr,
    got: &Received,
    name: &str,
    message: impl Fn(usize) -> (Destination, Operation, Value, String),
    n: usize,
    queues: usize,
) -> anyhow::Result<bool> {
    got.lock().unwrap().clear();
    let dir = tempfile::tempdir()?;
    let mut config = Config::default();
    config.storage.path = dir.path().join("opsmate.db");
    config.slack.api_url = format!("http://{addr}/api");
    let loaded = Loaded {
        config,
        secrets: Secrets {
            slack_bot_token: Some(Secret::new("xoxb-bench")),
            ..Secrets::default()
        },
        source: ConfigSource::Defaults,
        env_overrides: Vec::new(),
    };
    let app = App::build(
        &loaded,
        AppOptions {
            one_shot: true,
            ..AppOptions::default()
        },
    )
    .await?;
    let mut expected: HashMap<String, Vec<u64>> = HashMap::new();
    for i in 0..n {
        let (to, op, payload, key) = message(i);
        let seq = seq_of(payload.to_string().as_bytes()).context("a sequence number")?;
        expected.entry(key).or_default().push(seq);
        app.ctx.outbox.enqueue(to, op, payload).await?;
    }
    let started = Instant::now();
    let left = app.deliver_outbox(Duration::from_secs(600)).await?;
    let took = started.elapsed();
    anyhow::ensure!(left == 0, "{left} messages were not delivered");
    let ok = *got.lock().unwrap() == expected;
    println!(
        "| {name} | {n} | {queues} | {:.2} s | {:.0} | {} |",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        if ok { "yes" } else { "NO" }
    );
    Ok(ok)
}
