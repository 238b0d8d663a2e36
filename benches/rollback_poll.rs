//! Rollback Pilot watching 200 Argo CD applications polled every 10 seconds, in the
//! release binary for `BENCH_MINUTES` (default 5): the CPU share and resident memory
//! of `serve`, and the Argo CD and GitHub calls it makes per poll while every
//! application is healthy (the target is one Argo CD call and no GitHub call).
//!
//! `cargo bench --bench rollback_poll`. The fake Argo CD answers
//! `GET /api/v1/applications` with 200 applications (each with three history
//! entries, as Argo CD's documented JSON has them) and counts every request; the
//! fake GitHub only counts.

mod common;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::{any, get};
use serde_json::{Value, json};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const APPS: usize = 200;

fn main() -> ExitCode {
    common::bench_main("rollback_poll", run)
}

#[derive(Default)]
struct Counts {
    list: AtomicU64,
    other_argo: AtomicU64,
    github: AtomicU64,
}

fn application(i: usize) -> Value {
    let sha = |n: usize| format!("{:040x}", i * 10 + n);
    json!({
        "metadata": {"name": format!("app-{i}"), "namespace": "argocd"},
        "spec": {"project": "default",
                 "source": {"repoURL": "https://github.com/acme/gitops.git", "path": format!("apps/app-{i}"), "targetRevision": "main"},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": format!("app-{i}")}},
        "status": {
            "health": {"status": "Healthy"},
            "sync": {"status": "Synced", "revision": sha(3)},
            "history": (1..=3).map(|n| json!({
                "id": n, "revision": sha(n),
                "deployStartedAt": "2026-12-01T09:59:50Z", "deployedAt": "2026-12-01T10:00:00Z",
                "source": {"repoURL": "https://github.com/acme/gitops.git", "path": format!("apps/app-{i}"), "targetRevision": "main"}
            })).collect::<Vec<_>>()
        }
    })
}

async fn applications(State(c): State<Arc<(Counts, Value)>>) -> axum::Json<Value> {
    c.0.list.fetch_add(1, Ordering::Relaxed);
    axum::Json(c.1.clone())
}

async fn other_argo(State(c): State<Arc<(Counts, Value)>>) -> StatusCode {
    c.0.other_argo.fetch_add(1, Ordering::Relaxed);
    StatusCode::NOT_FOUND
}

async fn github(State(c): State<Arc<(Counts, Value)>>, _uri: Uri) -> StatusCode {
    c.0.github.fetch_add(1, Ordering::Relaxed);
    StatusCode::NOT_FOUND
}

fn config(argo: std::net::SocketAddr, github: std::net::SocketAddr) -> String {
    let mut text = format!(
        "[github]\napi_url = \"http://{github}\"\n\n[rollback]\nargocd_url = \"http://{argo}\"\npoll_interval = \"10s\"\n"
    );
    for i in 0..APPS {
        text.push_str(&format!(
            "\n[[rollback.apps]]\nname = \"app-{i}\"\nenvironment = \"{}\"\nrepo = \"acme/gitops\"\npath = \"apps/app-{i}/values.yaml\"\nyaml_key = \"image.tag\"\n",
            if i % 2 == 0 { "staging" } else { "production" }
        ));
    }
    text
}

fn run() -> anyhow::Result<()> {
    let minutes: u64 = std::env::var("BENCH_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let list = json!({"metadata": {"resourceVersion": "1"}, "items": (0..APPS).map(application).collect::<Vec<_>>()});
    let list_bytes = serde_json::to_vec(&list)?.len();
    let state = Arc::new((Counts::default(), list));
    let argo = common::serve_fake(
        &rt,
        axum::Router::new()
            .route("/api/v1/applications", get(applications))
            .fallback(other_argo)
            .with_state(state.clone()),
    );
    let gh = common::serve_fake(
        &rt,
        axum::Router::new()
            .fallback(any(github))
            .with_state(state.clone()),
    );
    let dir = tempfile::tempdir()?;
    let config_path = dir.path().join("opsmate.toml");
    std::fs::write(&config_path, config(argo, gh))?;
    let env = [
        ("OPSMATE_CONFIG", config_path.display().to_string()),
        ("ARGOCD_TOKEN", "bench-token".to_owned()),
        ("GITHUB_TOKEN", "ghp_bench".to_owned()),
    ];
    let (child, _port) =
        common::launch_opsmate(dir.path(), &env, Some(&dir.path().join("serve.log")))?;
    let pid = child.id();
    // The first poll runs at start; measure from the second.
    std::thread::sleep(Duration::from_secs(2));
    let (polls_start, cpu_start, started) = (
        state.0.list.load(Ordering::Relaxed),
        common::cpu_seconds(pid),
        Instant::now(),
    );
    let mut rss = Vec::new();
    while started.elapsed() < Duration::from_secs(minutes * 60) {
        std::thread::sleep(Duration::from_secs(10));
        rss.push(common::rss_kib(pid));
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = common::cpu_seconds(pid) - cpu_start;
    let polls = state.0.list.load(Ordering::Relaxed) - polls_start;
    let (other, github) = (
        state.0.other_argo.load(Ordering::Relaxed),
        state.0.github.load(Ordering::Relaxed),
    );
    let db = common::db_size(&dir.path().join("opsmate.db"));
    common::stop(child);
    let per_poll = |n: u64| n as f64 / polls.max(1) as f64;
    println!(
        "## {APPS} Argo CD applications polled every 10 s, all healthy, for {minutes} min (release `serve`)"
    );
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| CPU of `serve` (user + system) | {:.2}% of one core ({cpu:.2} s in {wall:.0} s) |",
        cpu / wall * 100.0
    );
    println!(
        "| resident memory | max {:.1} MiB, at the end {:.1} MiB |",
        *rss.iter().max().unwrap_or(&0) as f64 / 1024.0,
        *rss.last().unwrap_or(&0) as f64 / 1024.0
    );
    println!(
        "| polls | {polls} ({:.1} s apart) |",
        wall / polls.max(1) as f64
    );
    println!(
        "| Argo CD calls per poll | {:.2} (`GET /api/v1/applications`, {} KiB each) + {:.2} other |",
        per_poll(polls),
        list_bytes / 1024,
        per_poll(other)
    );
    println!("| GitHub calls per poll | {:.2} |", per_poll(github));
    println!(
        "| database after the run | {:.1} MiB |",
        db as f64 / 1_048_576.0
    );
    Ok(())
}
