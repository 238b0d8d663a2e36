//! Hostile clients against the release binary's `opsmate serve`:
//!
//! 1. **Forged flood.** 10,000 requests to `/slack/commands` signed with the wrong
//!    secret, spread evenly over 10 s by 20 clients from one address. After a
//!    graceful stop: the audit rows they left and the database's size.
//! 2. **Slow headers.** 500 connections that send half a request's headers and then
//!    nothing, held open for the whole run (one that is closed is opened again at
//!    once). Meanwhile 400 `GET /healthz`, one after the other, each on a new
//!    connection with a 5 s limit: latency p50 / p99 / max, and how many got no
//!    answer (after five in a row without one, the rest count as unanswered). Once with the machine's descriptor limit, once with `ulimit -n 256`.
//!
//! `cargo bench --bench hostile_clients`; `OPSMATE_BIN=<path>` runs another build
//! (an earlier one, for a before-and-after figure).

mod common;

use anyhow::Context as _;
use opsmate::chat::slack::verify::SlackVerifier;
use opsmate::config::Secret;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SIGNING_SECRET: &str = "hostile-clients-signing-secret";
const FORGED: usize = 10_000;
const FLOOD_CLIENTS: usize = 20;
const FLOOD_SECONDS: u64 = 10;
const SLOW: usize = 500;
const PROBES: usize = 400;
const PROBE_LIMIT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    common::bench_main("hostile_clients", run)
}

fn run() -> anyhow::Result<()> {
    let binary = common::opsmate_binary();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!("binary: {}", binary.display());

    let flood = forged_flood(&binary, &rt)?;
    println!(
        "forged flood: {} requests in {:.1} s ({} answered 401, {} otherwise); {} audit rows, {:.1} KiB of details; database {:.1} MiB",
        FORGED,
        flood.took.as_secs_f64(),
        flood.refused,
        FORGED - flood.refused,
        flood.rows,
        flood.details_bytes as f64 / 1024.0,
        flood.db_bytes as f64 / 1024.0 / 1024.0
    );

    for nofile in [None, Some(256)] {
        let s = slow_headers(&binary, nofile, &rt)?;
        let limit = nofile.map_or_else(|| "machine's".to_owned(), |n| n.to_string());
        println!(
            "healthz with {SLOW} slow-header connections held (descriptor limit {limit}): {} of {PROBES} answered; p50 {} p99 {} max {}; slow connections reopened {} times",
            s.answered,
            ms(s.p50),
            ms(s.p99),
            ms(s.max),
            s.reopened
        );
    }
    Ok(())
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || format!("no answer in {} s", PROBE_LIMIT.as_secs()),
        |d| format!("{:.1} ms", d.as_secs_f64() * 1000.0),
    )
}

struct Flood {
    took: Duration,
    refused: usize,
    rows: i64,
    details_bytes: i64,
    db_bytes: u64,
}

fn forged_flood(binary: &std::path::Path, rt: &tokio::runtime::Runtime) -> anyhow::Result<Flood> {
    let dir = tempfile::tempdir()?;
    let env = [("SLACK_SIGNING_SECRET", SIGNING_SECRET.to_owned())];
    let (child, port) = common::launch_binary(binary, None, dir.path(), &env, None)?;
    let body = "command=%2Fopsmate&text=help&user_id=UMALLORY&channel_id=C0OPS";
    let ts = chrono::Utc::now().timestamp().to_string();
    let forged = SlackVerifier::new(Secret::new("not-the-secret")).sign(&ts, body.as_bytes());
    let started = Instant::now();
    let refused = rt.block_on(async {
        let http = reqwest::Client::builder().no_proxy().build()?;
        let per_client = FORGED / FLOOD_CLIENTS;
        let gap = Duration::from_secs(FLOOD_SECONDS) / per_client as u32;
        let mut clients = tokio::task::JoinSet::new();
        for _ in 0..FLOOD_CLIENTS {
            let (http, ts, forged) = (http.clone(), ts.clone(), forged.clone());
            let url = format!("http://127.0.0.1:{port}/slack/commands");
            clients.spawn(async move {
                let mut tick = tokio::time::interval(gap);
                let mut refused = 0;
                for _ in 0..per_client {
                    tick.tick().await;
                    let r = http
                        .post(&url)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .header("x-slack-request-timestamp", &ts)
                        .header("x-slack-signature", &forged)
                        .body(body)
                        .send()
                        .await;
                    if r.is_ok_and(|r| r.status() == 401) {
                        refused += 1;
                    }
                }
                refused
            });
        }
        anyhow::Ok(clients.join_all().await.into_iter().sum::<usize>())
    })?;
    let took = started.elapsed();
    common::stop(child);
    let db_path = dir.path().join("opsmate.db");
    let db = rusqlite::Connection::open(&db_path)?;
    let (rows, details_bytes): (i64, i64) = db.query_row(
        "SELECT count(*), coalesce(sum(length(details)), 0) FROM audit_log WHERE event = 'slack.request_rejected'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    drop(db);
    let db_bytes = ["", "-wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", db_path.display())).ok())
        .map(|m| m.len())
        .sum();
    Ok(Flood {
        took,
        refused,
        rows,
        details_bytes,
        db_bytes,
    })
}

struct Slow {
    answered: usize,
    p50: Option<Duration>,
    p99: Option<Duration>,
    max: Option<Duration>,
    reopened: usize,
}

/// Holds one slow connection open until `stop`, reopening it whenever it is closed.
async fn hold_slow(port: u16, stop: Arc<AtomicBool>, reopened: Arc<AtomicUsize>) {
    let mut first = true;
    while !stop.load(Ordering::SeqCst) {
        if !first {
            reopened.fetch_add(1, Ordering::SeqCst);
        }
        first = false;
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: opsmate\r\nX-Slow: ")
            .await
            .is_err()
        {
            continue;
        }
        let mut buf = [0u8; 512];
        loop {
            tokio::select! {
                r = s.read(&mut buf) => match r {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                },
                _ = tokio::time::sleep(Duration::from_millis(200)) => {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                }
            }
        }
    }
}

/// One `GET /healthz` on a new connection; its latency if answered 200 in time.
async fn probe(port: u16) -> Option<Duration> {
    let started = Instant::now();
    let answer = tokio::time::timeout(PROBE_LIMIT, async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: opsmate\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).await.ok()?;
        Some(answer)
    })
    .await
    .ok()
    .flatten()?;
    answer
        .starts_with(b"HTTP/1.1 200")
        .then(|| started.elapsed())
}

fn slow_headers(
    binary: &std::path::Path,
    nofile: Option<u64>,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<Slow> {
    let dir = tempfile::tempdir()?;
    let (child, port) = common::launch_binary(binary, nofile, dir.path(), &[], None)
        .context("starting the server")?;
    let stop = Arc::new(AtomicBool::new(false));
    let reopened = Arc::new(AtomicUsize::new(0));
    let mut latencies = rt.block_on(async {
        let holders: Vec<_> = (0..SLOW)
            .map(|_| tokio::spawn(hold_slow(port, stop.clone(), reopened.clone())))
            .collect();
        // Every slow connection is open before the first probe.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut latencies = Vec::with_capacity(PROBES);
        let mut unanswered_in_a_row = 0;
        for _ in 0..PROBES {
            match probe(port).await {
                Some(l) => {
                    latencies.push(l);
                    unanswered_in_a_row = 0;
                }
                None => unanswered_in_a_row += 1,
            }
            // A server that stopped answering is not waited for 400 times.
            if unanswered_in_a_row == 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.store(true, Ordering::SeqCst);
        for h in holders {
            let _ = h.await;
        }
        latencies
    });
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status();
    let mut child = child;
    let _ = child.wait();
    latencies.sort();
    // Over every probe: one with no answer counts as slower than any answer.
    let at = |q: f64| -> Option<Duration> {
        let i = ((PROBES as f64 * q).ceil() as usize).max(1);
        latencies.get(i - 1).copied()
    };
    Ok(Slow {
        answered: latencies.len(),
        p50: at(0.50),
        p99: at(0.99),
        max: at(1.0),
        reopened: reopened.load(Ordering::SeqCst),
    })
}
