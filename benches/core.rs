//! Core benchmarks, printed as a table: `cargo bench --bench core`.
//!
//! - gate decisions per second, with concurrent approvals of distinct proposals;
//! - audit rows appended per second (one transaction per row, as in production);
//! - time from process start to `/readyz` answering 200 on a fresh database;
//! - idle resident memory once ready;
//! - release binary size.

mod common;

use common::{readyz, rss_kib};
use opsmate::approvals::{
    ActionHandler, ActionRegistry, ActionRun, BoxFuture, Gate, NewProposal, Precheck, Progress,
    Proposal, Verdict,
};
use opsmate::audit::Audit;
use opsmate::clock::{SharedClock, SystemClock};
use opsmate::config::{ApprovalsConfig, KindPolicy};
use opsmate::domain::{ActionKind, Actor, SlackGroupId, SlackUserId};
use opsmate::metrics::Metrics;
use opsmate::store::Store;
use serde_json::json;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Noop;

impl ActionHandler for Noop {
    fn recheck<'a>(&'a self, _: &'a Proposal) -> BoxFuture<'a, anyhow::Result<Precheck>> {
        Box::pin(async { Ok(Precheck::Qualifies) })
    }
    fn execute<'a>(
        &'a self,
        p: &'a Proposal,
        _: &'a ActionRun<'a>,
    ) -> BoxFuture<'a, anyhow::Result<Progress>> {
        Box::pin(async move {
            Ok(Progress::Done(opsmate::approvals::Done {
                report: json!({"done": p.target}),
                summary: Vec::new(),
                failed: 0,
            }))
        })
    }
}

fn gate(store: Store) -> Gate {
    let mut registry = ActionRegistry::default();
    registry.register(ActionKind::DELETE_VOLUME, Arc::new(Noop));
    let mut config = ApprovalsConfig::default();
    config.set_policy(
        ActionKind::DELETE_VOLUME,
        KindPolicy {
            slack_groups: vec![SlackGroupId::parse("SOPS").unwrap()],
            ..KindPolicy::default()
        },
    );
    let clock: SharedClock = Arc::new(SystemClock);
    Gate::new(store, clock, config, registry, Metrics::new(), false)
}

async fn bench_gate(dir: &std::path::Path) -> f64 {
    const N: usize = 2000;
    const CONCURRENCY: usize = 64;
    let store = Store::open(&dir.join("gate.db"), Duration::from_secs(5)).unwrap();
    let gate = gate(store);
    let mut ids = Vec::with_capacity(N);
    for i in 0..N {
        let p = gate
            .propose(NewProposal {
                kind: ActionKind::DELETE_VOLUME,
                target: format!("us-east-1/vol-{i:06}"),
                params: json!({}),
                reason: "bench".into(),
                proposed_by: "scheduler".into(),
            })
            .await
            .unwrap();
        ids.push(p.proposal().id.clone());
    }
    let ids = Arc::new(ids);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY {
        let (gate, ids, next) = (gate.clone(), ids.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let approver = Actor::Slack {
                user: SlackUserId::parse(&format!("U{worker:04}")).unwrap(),
                groups: vec![SlackGroupId::parse("SOPS").unwrap()],
            };
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(id) = ids.get(i) else { break };
                gate.decide(id, &approver, Verdict::Approve).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    N as f64 / start.elapsed().as_secs_f64()
}

async fn bench_audit(dir: &std::path::Path) -> f64 {
    const N: usize = 5000;
    let store = Store::open(&dir.join("audit.db"), Duration::from_secs(5)).unwrap();
    let clock: SharedClock = Arc::new(SystemClock);
    let audit = Audit::new(store, clock);
    let start = Instant::now();
    for i in 0..N {
        audit
            .record(
                "scheduler",
                "bench.row",
                format!("r{i}"),
                json!({"i": i, "note": "volume vol-0abc found idle"}),
            )
            .await
            .unwrap();
    }
    N as f64 / start.elapsed().as_secs_f64()
}

/// Starts the binary on a fresh database; returns (time to ready, RSS after 2 s idle).
fn bench_start(bin: &str, dir: &std::path::Path, run: usize) -> (Duration, u64) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let start = Instant::now();
    let mut child = Command::new(bin)
        .arg("serve")
        .env(
            "OPSMATE_STORAGE__PATH",
            dir.join(format!("start-{run}/opsmate.db")),
        )
        .env("OPSMATE_HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while !readyz(port) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "not ready in 20 s"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let ready = start.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let rss = rss_kib(child.id());
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    (ready, rss)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing to run.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let decisions = rt.block_on(bench_gate(dir.path()));
    let rows = rt.block_on(bench_audit(dir.path()));

    let bin = env!("CARGO_BIN_EXE_opsmate");
    let mut starts = Vec::new();
    let mut rss = Vec::new();
    for run in 0..10 {
        let (t, r) = bench_start(bin, dir.path(), run);
        starts.push(t);
        rss.push(r);
    }
    starts.sort();
    rss.sort();
    let size = std::fs::metadata(bin).map(|m| m.len()).unwrap_or(0);

    println!("| benchmark | result |");
    println!("|---|---|");
    println!(
        "| gate decisions/s (2,000 proposals, 64 concurrent approvers, each decision = vote + approve + execute + 4 audit rows) | {decisions:.0} |"
    );
    println!("| audit rows appended/s (one transaction per row) | {rows:.0} |");
    println!(
        "| start to /readyz 200, fresh database (10 runs) | median {:.0} ms, max {:.0} ms |",
        starts[starts.len() / 2].as_secs_f64() * 1000.0,
        starts[starts.len() - 1].as_secs_f64() * 1000.0
    );
    println!(
        "| idle RSS 2 s after ready (10 runs) | median {:.1} MiB, max {:.1} MiB |",
        rss[rss.len() / 2] as f64 / 1024.0,
        rss[rss.len() - 1] as f64 / 1024.0
    );
    println!(
        "| binary size ({bin}) | {:.1} MiB |",
        size as f64 / 1024.0 / 1024.0
    );
}
