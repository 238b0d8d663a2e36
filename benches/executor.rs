//! Approval executor under load: "Delete all" of a Zombie Hunter report with 15 idle
//! volumes whose final snapshots take a minute to complete, while Slack keeps sending
//! commands and clicks; then the same with the process killed half-way.
//!
//! Everything is real but AWS and Slack: the release binary's `opsmate serve`, a
//! `moto_server` behind the test proxy (which keeps every new snapshot `pending` for
//! 60 s, as EBS does, where moto would complete it at once), and a fake Slack Web API
//! that records when each message reaches it. Requests to OpsMate are signed like
//! Slack's.
//!
//! 1. `/opsmate zombies` posts the report (15 volumes, 4 Elastic IPs, 4 old
//!    snapshots); the bench reads the proposal ids from its buttons and clicks
//!    "Delete all".
//! 2. Right away, while the final snapshots are pending, 200 `/opsmate help` and 50
//!    Reject clicks on the Elastic IP and snapshot proposals and on the Delete all
//!    itself (the first click on each decides it, later ones are told it is decided),
//!    20 in flight at a time. The clicks come from an ephemeral message (like the
//!    `/opsmate approvals` answer), so every answer comes back through the request's
//!    own `response_url`: latency is from sending the request to that answer reaching
//!    the fake Slack.
//! 3. The wall time from the Delete all click until all 15 volumes are gone in moto:
//!    about one snapshot time when the snapshots are waited for together, 15 times
//!    that when one after another.
//! 4. Again on a fresh database, moto and proxy: Delete all, `kill -9` once the first
//!    final snapshot exists, start again on the same database, and wait until all
//!    volumes are gone. No volume may get a second final snapshot.
//!
//! `cargo bench --bench executor` prints the figures as a table. Every wait is
//! bounded (at most 10 minutes for the deletions), and a failed expectation fails
//! the bench with what was seen. moto is found in `$MOTO_SERVER`,
//! `target/moto-venv/bin/moto_server` or `PATH`.

mod common;

#[path = "executor/load.rs"]
mod load;
#[path = "executor/rig.rs"]
mod rig;
#[path = "executor/server.rs"]
mod server;

#[path = "../tests/it/support/aws_proxy.rs"]
mod aws_proxy;

#[path = "../tests/it/support/fake_slack.rs"]
#[allow(dead_code)]
mod fake_slack;

#[path = "../tests/it/support/slack_requests.rs"]
mod slack_requests;

use anyhow::{Context, bail};
use common::moto::moto_binary;
use load::{Kind, Load, Measured, Outcome, run_load};
use rig::{Deletion, Rig};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

const REGION: &str = "us-east-1";
const CHANNEL: &str = "C0BENCH";
/// The Slack user who asks, approves and rejects; the only approver.
const USER: &str = "UBENCH";
const SIGNING_SECRET: &str = "bench-signing-secret";
const VOLUMES: usize = 15;
const ADDRESSES: usize = 4;
const SNAPSHOTS: usize = 4;
/// How long each final snapshot stays pending.
const SNAPSHOT_TIME: Duration = Duration::from_secs(60);
const HELPS: usize = 200;
const CLICKS: usize = 50;
const IN_FLIGHT: usize = 20;
const P99_TARGET: Duration = Duration::from_millis(500);
/// From `/opsmate zombies` to the whole report in the fake Slack.
const REPORT_DEADLINE: Duration = Duration::from_secs(120);
/// From the last request's acknowledgement to the last answer.
const ANSWER_DEADLINE: Duration = Duration::from_secs(120);
/// From the Delete all click to the first final snapshot (crash run).
const FIRST_SNAPSHOT_DEADLINE: Duration = Duration::from_secs(120);
/// From the Delete all click to all volumes gone.
const DELETION_DEADLINE: Duration = Duration::from_secs(600);
/// Per request to OpsMate, acknowledgement included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    common::bench_main("executor", run)
}

fn run() -> anyhow::Result<()> {
    let binary = moto_binary()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("building the Tokio runtime")?;

    eprintln!("executor: Delete all under load …");
    let steady = steady_run(&binary, &rt)?;
    if steady.deletion.wall.is_none() {
        print_report(&steady, None);
        bail!(
            "{} of {VOLUMES} volumes were still there {} s after Delete all (crash run skipped){}",
            steady.deletion.left,
            DELETION_DEADLINE.as_secs(),
            steady.log_tail
        );
    }
    eprintln!("executor: Delete all with kill -9 and a restart …");
    let crash = crash_run(&binary, &rt)?;
    print_report(&steady, Some(&crash));

    if crash.deletion.wall.is_none() {
        bail!(
            "after the restart, {} of {VOLUMES} volumes were still there {} s after Delete all{}",
            crash.deletion.left,
            DELETION_DEADLINE.as_secs(),
            crash.log_tail
        );
    }
    for (which, deletion) in [
        ("", &steady.deletion),
        (" in the crash run", &crash.deletion),
    ] {
        let twice = snapshotted_twice(&deletion.snapshots);
        if !twice.is_empty() {
            bail!("volumes snapshotted more than once{which}: {twice:?}");
        }
    }
    Ok(())
}

/// Volumes with more than one snapshot, and those snapshots.
fn snapshotted_twice(created: &[(String, String)]) -> BTreeMap<String, Vec<String>> {
    let mut by_volume: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (volume, snapshot) in created {
        by_volume
            .entry(volume.clone())
            .or_default()
            .push(snapshot.clone());
    }
    by_volume.retain(|_, snapshots| snapshots.len() > 1);
    by_volume
}

// The two runs.

/// The run under load.
struct Steady {
    load: Load,
    deletion: Deletion,
    log_tail: String,
}

/// The run with `kill -9` and a restart.
struct Crash {
    /// From the click to the kill.
    killed_after: Duration,
    /// Final snapshots and volume deletions before the kill.
    snapshots_before: usize,
    deleted_before: usize,
    deletion: Deletion,
    log_tail: String,
}

fn steady_run(binary: &Path, rt: &Runtime) -> anyhow::Result<Steady> {
    let mut rig = Rig::start(binary, rt)?;
    let report = rig.scan(rt)?;
    let clicked = rig.delete_all(rt, &report)?;
    let load = run_load(&rig, rt, &report);
    let deletion = rig.wait_deleted(rt, clicked)?;
    let log_tail = rig.log_tail();
    rig.server.stop();
    Ok(Steady {
        load,
        deletion,
        log_tail,
    })
}

fn crash_run(binary: &Path, rt: &Runtime) -> anyhow::Result<Crash> {
    let mut rig = Rig::start(binary, rt)?;
    let report = rig.scan(rt)?;
    let clicked = rig.delete_all(rt, &report)?;
    let deadline = clicked + FIRST_SNAPSHOT_DEADLINE;
    while rig.proxy.snapshots_created().is_empty() {
        if Instant::now() > deadline {
            bail!(
                "no final snapshot was taken within {} s of Delete all{}",
                FIRST_SNAPSHOT_DEADLINE.as_secs(),
                rig.log_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let deleted_before = rig.volumes_deleted();
    if deleted_before == VOLUMES {
        bail!(
            "every volume was gone before the first final snapshot was seen: the kill would test nothing"
        );
    }
    let killed_after = clicked.elapsed();
    let snapshots_before = rig.proxy.snapshots_created().len();
    rig.crash_and_restart()?;
    let deletion = rig.wait_deleted(rt, clicked)?;
    let log_tail = rig.log_tail();
    rig.server.stop();
    Ok(Crash {
        killed_after,
        snapshots_before,
        deleted_before,
        deletion,
        log_tail,
    })
}

// The report.

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// The nearest-rank percentile `p` of the latencies, a missing answer counting as
/// slower than any; `None` when that rank has no answer.
fn percentile(latencies: &[Option<Duration>], p: f64) -> Option<Duration> {
    let mut sorted: Vec<Duration> = latencies.iter().flatten().copied().collect();
    sorted.sort();
    let n = latencies.len();
    if n == 0 {
        return None;
    }
    let rank = ((p / 100.0 * n as f64).ceil() as usize).clamp(1, n);
    sorted.get(rank - 1).copied()
}

/// p50, p99 and the slowest of the latencies, a missing one shown as "no answer".
fn spread(latencies: &[Option<Duration>]) -> (Option<Duration>, String) {
    let show = |d: Option<Duration>| d.map_or_else(|| "no answer".to_owned(), ms);
    let p99 = percentile(latencies, 99.0);
    let text = format!(
        "{} / {} / {}",
        show(percentile(latencies, 50.0)),
        show(p99),
        show(percentile(latencies, 100.0))
    );
    (p99, text)
}

/// The answer latencies of some of the requests, against the target.
fn latency_row(label: &str, requests: &[&Measured]) {
    let latencies: Vec<Option<Duration>> = requests.iter().map(|r| r.outcome.latency()).collect();
    let (p99, text) = spread(&latencies);
    println!(
        "| {label} ({}), answer: p50 / p99 / slowest | {text} | p99 < {}: {} |",
        requests.len(),
        ms(P99_TARGET),
        if p99.is_some_and(|d| d < P99_TARGET) {
            "yes"
        } else {
            "NO"
        }
    );
}

fn deletion_cell(d: &Deletion) -> String {
    match d.wall {
        Some(wall) => format!(
            "{} ({:.1} snapshot times)",
            secs(wall),
            wall.as_secs_f64() / SNAPSHOT_TIME.as_secs_f64()
        ),
        None => format!(
            "not done: {} of {VOLUMES} left after {}",
            d.left,
            secs(DELETION_DEADLINE)
        ),
    }
}

fn snapshot_cell(d: &Deletion) -> String {
    let volumes: HashSet<&str> = d.snapshots.iter().map(|(v, _)| v.as_str()).collect();
    format!(
        "{} for {} volumes; {} volume(s) twice",
        d.snapshots.len(),
        volumes.len(),
        snapshotted_twice(&d.snapshots).len()
    )
}

fn print_report(steady: &Steady, crash: Option<&Crash>) {
    println!(
        "## Approval executor: Delete all of {VOLUMES} volumes (final snapshots pending {} s) \
         under {HELPS} `/opsmate help` + {CLICKS} clicks, {IN_FLIGHT} in flight",
        SNAPSHOT_TIME.as_secs()
    );
    println!();
    println!("| measure | result | target |");
    println!("|---|---|---|");
    let requests = &steady.load.requests;
    let of = |kind: Option<Kind>| -> Vec<&Measured> {
        requests
            .iter()
            .filter(|r| kind.is_none_or(|kind| r.kind == kind))
            .collect()
    };
    latency_row("`/opsmate help`", &of(Some(Kind::Help)));
    latency_row("Reject clicks", &of(Some(Kind::Click)));
    latency_row("all requests", &of(None));
    let acks: Vec<Option<Duration>> = requests.iter().map(|r| r.acked).collect();
    println!(
        "| all requests, HTTP acknowledgement: p50 / p99 / slowest | {} | |",
        spread(&acks).1
    );
    let count = |f: fn(&Outcome) -> bool| requests.iter().filter(|r| f(&r.outcome)).count();
    println!(
        "| answered through response_url / \"busy\" at once / no answer in {} / failed | {} / {} / {} / {} | all answered |",
        secs(ANSWER_DEADLINE),
        count(|o| matches!(o, Outcome::Answered(_))),
        count(|o| matches!(o, Outcome::Busy(_))),
        count(|o| matches!(o, Outcome::Unanswered)),
        count(|o| matches!(o, Outcome::Failed(_))),
    );
    println!(
        "| first request sent → last answer | {} | |",
        secs(steady.load.span)
    );
    println!(
        "| **Delete all → {VOLUMES} volumes gone in moto** | **{}** | about one snapshot time ({}–{} s), not {VOLUMES} × {} s |",
        deletion_cell(&steady.deletion),
        SNAPSHOT_TIME.as_secs(),
        SNAPSHOT_TIME.as_secs() + 15,
        SNAPSHOT_TIME.as_secs()
    );
    println!(
        "| final snapshots | {} | one per volume |",
        snapshot_cell(&steady.deletion)
    );
    println!(
        "| DescribeSnapshots calls (the scan's included) | {} | |",
        steady.deletion.describe_snapshots
    );
    match crash {
        Some(c) => {
            println!(
                "| crash run: `kill -9` after the first final snapshot | at {}, {} snapshot(s) taken, {} volume(s) deleted | |",
                secs(c.killed_after),
                c.snapshots_before,
                c.deleted_before
            );
            println!(
                "| **crash run: Delete all → {VOLUMES} volumes gone** (restart included) | **{}** | all gone, about one snapshot time |",
                deletion_cell(&c.deletion)
            );
            println!(
                "| crash run: final snapshots | {} | no volume twice |",
                snapshot_cell(&c.deletion)
            );
        }
        None => println!("| crash run | skipped | |"),
    }
    let failures: Vec<&str> = requests
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Failed(e) => Some(e.as_str()),
            _ => None,
        })
        .take(3)
        .collect();
    if !failures.is_empty() {
        println!();
        println!("first failed requests: {failures:?}");
    }
}
