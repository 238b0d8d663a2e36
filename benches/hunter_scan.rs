//! Zombie Hunter scan time: `opsmate zombies --json` (release binary) against a real
//! `moto_server` behind the test proxy that pages like AWS, with 5,000 unattached
//! volumes and 5,000 snapshots spread over three regions.
//!
//! Each region has its own moto process behind the proxy, as AWS regions are
//! independent endpoints: one moto (a single Python process) would serve the three
//! regions' requests one after another and hide the concurrency being measured.
//!
//! `cargo bench --bench hunter_scan` prints the median wall time of three runs next to
//! each region scanned alone (regions are scanned concurrently, so the total should be
//! close to the slowest region, not the sum), the API calls per action and region
//! against the fewest the paging allows, how much the requests overlapped, and moto's
//! CPU time (three Python processes on however many cores the machine has).
//! moto is found in `$MOTO_SERVER`, `target/moto-venv/bin/moto_server` or `PATH`.

mod common;

use common::moto::{
    ACCESS_KEY, Moto, SECRET_KEY, cpu_time, create_volume, ec2_client, moto_binary,
};

#[path = "../tests/it/support/aws_proxy.rs"]
mod aws_proxy;

use anyhow::{Context, bail};
use aws_proxy::{AwsProxy, ProxyCall};
use aws_sdk_ec2::Client;
use opsmate::cloud::ec2::describe_error;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];
const VOLUMES: usize = 5_000;
const SNAPSHOTS: usize = 5_000;
/// Enough requests in flight to keep moto busy while seeding, without queueing
/// thousands of them at once.
const SEED_CONCURRENCY: usize = 16;
const TIMED_RUNS: usize = 3;
/// Largest page AWS (and the proxy) allows for the paged Describe calls.
const PAGE: usize = 1000;
/// The calls one region's scan makes, in the order the table lists them.
const ACTIONS: [&str; 4] = [
    "DescribeVolumes",
    "DescribeSnapshots",
    "DescribeImages",
    "DescribeAddresses",
];

fn main() -> ExitCode {
    common::bench_main("hunter_scan", run)
}

fn run() -> anyhow::Result<()> {
    let binary = moto_binary()?;
    let motos = REGIONS
        .iter()
        .map(|_| Moto::start(&binary))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let endpoints: Vec<String> = motos.iter().map(|m| m.endpoint.clone()).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the Tokio runtime")?;
    let proxy = rt.block_on(AwsProxy::start(&endpoints[0]));
    for (region, endpoint) in REGIONS.iter().zip(&endpoints) {
        proxy.route_region(region, endpoint);
    }

    let started = Instant::now();
    rt.block_on(seed(&endpoints))?;
    let seeding = started.elapsed();

    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let cli = Cli {
        dir: dir.path().to_owned(),
        endpoint: proxy.endpoint.clone(),
    };
    let all = Expected::all();
    let warm_up = cli.scan(None)?;
    warm_up.check(&all)?;

    let mut timed = Vec::with_capacity(TIMED_RUNS);
    for _ in 0..TIMED_RUNS {
        proxy.clear_calls();
        let cpu_before = cpu_time(&motos);
        let scan = cli.scan(None)?;
        let moto_cpu = cpu_time(&motos)
            .zip(cpu_before)
            .map(|(after, before)| after.saturating_sub(before));
        scan.check(&all)?;
        timed.push(Timed {
            scan,
            calls: proxy.calls(),
            moto_cpu,
        });
    }
    let timed_walls: Vec<Duration> = timed.iter().map(|t| t.scan.wall).collect();
    timed.sort_by_key(|t| t.scan.wall);
    let median = &timed[timed.len() / 2];

    let mut alone = Vec::with_capacity(REGIONS.len());
    for (i, region) in REGIONS.iter().enumerate() {
        let scan = cli.scan(Some(region))?;
        scan.check(&Expected::region(i))?;
        alone.push((*region, scan.wall));
    }

    print_report(&Report {
        seeding,
        warm_up: warm_up.wall,
        timed: &timed_walls,
        median,
        alone: &alone,
    });
    Ok(())
}

/// Region `i`'s part of `total`, so the parts differ by at most one (1667/1667/1666).
fn share(total: usize, i: usize) -> usize {
    total / REGIONS.len() + usize::from(i < total % REGIONS.len())
}

/// One seeding request.
enum SeedJob {
    Volume {
        client: Client,
        region: &'static str,
    },
    Snapshot {
        client: Client,
        volume_id: String,
    },
}

impl SeedJob {
    async fn run(self) -> anyhow::Result<()> {
        match self {
            SeedJob::Volume { client, region } => create_volume(&client, region).await.map(drop),
            SeedJob::Snapshot { client, volume_id } => client
                .create_snapshot()
                .volume_id(&volume_id)
                .send()
                .await
                .map(drop)
                .map_err(|e| {
                    anyhow::anyhow!("CreateSnapshot of {volume_id}: {}", describe_error(&e))
                }),
        }
    }
}

/// Seeds each region's moto directly (the proxy would only add noise to its call
/// log): the volumes, and the snapshots of one source volume per region, which is
/// deleted afterwards so exactly `VOLUMES` volumes remain.
async fn seed(endpoints: &[String]) -> anyhow::Result<()> {
    let mut sources = Vec::with_capacity(REGIONS.len());
    let mut jobs = Vec::with_capacity(VOLUMES + SNAPSHOTS);
    for (i, (region, endpoint)) in REGIONS.into_iter().zip(endpoints).enumerate() {
        let client = ec2_client(endpoint, region).await;
        let source = create_volume(&client, region).await?;
        jobs.extend((0..share(VOLUMES, i)).map(|_| SeedJob::Volume {
            client: client.clone(),
            region,
        }));
        jobs.extend((0..share(SNAPSHOTS, i)).map(|_| SeedJob::Snapshot {
            client: client.clone(),
            volume_id: source.clone(),
        }));
        sources.push((client, source));
    }
    run_bounded(jobs, SEED_CONCURRENCY).await?;
    for (client, source) in sources {
        client
            .delete_volume()
            .volume_id(&source)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("DeleteVolume {source}: {}", describe_error(&e)))?;
    }
    Ok(())
}

/// Runs the jobs with at most `limit` in flight; the first failure stops the seeding.
async fn run_bounded(jobs: Vec<SeedJob>, limit: usize) -> anyhow::Result<()> {
    let mut running = JoinSet::new();
    for job in jobs {
        if running.len() >= limit
            && let Some(done) = running.join_next().await
        {
            done??;
        }
        running.spawn(job.run());
    }
    while let Some(done) = running.join_next().await {
        done??;
    }
    Ok(())
}

/// How to run the release binary's `zombies --json` against the proxy.
struct Cli {
    /// Holds the database; also the working directory, so no `./opsmate.toml` is read.
    dir: PathBuf,
    endpoint: String,
}

/// One finished run of the CLI.
struct Scan {
    wall: Duration,
    stdout: String,
    stderr: String,
    success: bool,
}

impl Cli {
    /// Runs one scan, of all regions or of `region` alone, and times it end to end
    /// (process start, configuration, database, scan, JSON output).
    fn scan(&self, region: Option<&str>) -> anyhow::Result<Scan> {
        let regions = format!("[{}]", REGIONS.map(|r| format!("{r:?}")).join(","));
        let mut command = Command::new(env!("CARGO_BIN_EXE_opsmate"));
        command.args(["zombies", "--json"]);
        if let Some(region) = region {
            command.args(["--region", region]);
        }
        command
            .current_dir(&self.dir)
            .env_remove("OPSMATE_CONFIG")
            .env("OPSMATE_STORAGE__PATH", self.dir.join("opsmate.db"))
            .env("OPSMATE_AWS__REGIONS", regions)
            .env("OPSMATE_AWS__ENDPOINT_URL", &self.endpoint)
            // moto's snapshots are brand new and its volumes were never seen before.
            .env("OPSMATE_HUNTER__VOLUME_MIN_IDLE_DAYS", "0")
            .env("OPSMATE_HUNTER__SNAPSHOT_MIN_AGE_DAYS", "0")
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "error");
        let started = Instant::now();
        let out = command.output().context("running opsmate zombies")?;
        Ok(Scan {
            wall: started.elapsed(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            success: out.status.success(),
        })
    }
}

/// The findings a run must report.
struct Expected {
    regions: Vec<&'static str>,
    volumes: usize,
    snapshots: usize,
}

impl Expected {
    fn all() -> Self {
        Self {
            regions: REGIONS.to_vec(),
            volumes: VOLUMES,
            snapshots: SNAPSHOTS,
        }
    }

    fn region(i: usize) -> Self {
        Self {
            regions: vec![REGIONS[i]],
            volumes: share(VOLUMES, i),
            snapshots: share(SNAPSHOTS, i),
        }
    }
}

impl Scan {
    /// A fast run that misses resources would be a meaningless number: the run must
    /// succeed and report every seeded volume and snapshot of the scanned regions.
    fn check(&self, expected: &Expected) -> anyhow::Result<()> {
        if !self.success {
            bail!("opsmate zombies failed:\n{}", self.stderr);
        }
        let findings: Vec<serde_json::Value> =
            serde_json::from_str(&self.stdout).context("stdout is not a JSON array")?;
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for f in &findings {
            let region = f["region"].as_str().unwrap_or_default();
            if !expected.regions.contains(&region) {
                bail!("finding from an unscanned region: {f}");
            }
            if f["id"].as_str().is_none()
                || f["monthly_cost_usd"].as_f64().is_none()
                || f["first_seen"].as_str().is_none()
            {
                bail!("finding without id, monthly_cost_usd or first_seen: {f}");
            }
            *kinds.entry(f["kind"].as_str().unwrap_or("?")).or_default() += 1;
        }
        let (volumes, snapshots) = (kinds.get("volume"), kinds.get("snapshot"));
        if volumes != Some(&expected.volumes) || snapshots != Some(&expected.snapshots) {
            bail!(
                "expected {} volumes and {} snapshots in {:?}, got {kinds:?}\n{}",
                expected.volumes,
                expected.snapshots,
                expected.regions,
                self.stderr
            );
        }
        Ok(())
    }
}

/// One timed all-regions run with what the proxy and moto saw during it.
struct Timed {
    scan: Scan,
    calls: Vec<ProxyCall>,
    /// CPU time moto used during the run; `None` off Linux.
    moto_cpu: Option<Duration>,
}

/// Everything the printed tables are made of.
struct Report<'a> {
    seeding: Duration,
    warm_up: Duration,
    /// Wall times of the timed runs, in run order.
    timed: &'a [Duration],
    median: &'a Timed,
    alone: &'a [(&'static str, Duration)],
}

/// `a / b`, 0 when `b` is zero.
fn ratio(a: Duration, b: Duration) -> f64 {
    if b.is_zero() {
        0.0
    } else {
        a.as_secs_f64() / b.as_secs_f64()
    }
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

fn print_report(r: &Report) {
    println!(
        "## Zombie Hunter scan: `opsmate zombies --json` vs moto_server behind the paging proxy"
    );
    println!();
    println!(
        "seeded {VOLUMES} unattached volumes + {SNAPSHOTS} snapshots over {} regions in {:.1} s \
         ({SEED_CONCURRENCY} concurrent requests)",
        REGIONS.len(),
        r.seeding.as_secs_f64()
    );
    println!();
    print_wall_times(r);
    println!();
    print_calls(&r.median.calls);
    println!();
    print_concurrency(r);
    println!();
    println!("opsmate's own report (stderr) of the median run:");
    for line in r.median.scan.stderr.lines() {
        println!("    {line}");
    }
}

/// The headline: the all-regions median next to each region alone.
fn print_wall_times(r: &Report) {
    let runs: Vec<String> = r.timed.iter().map(|d| ms(*d)).collect();
    println!("| scan | wall time |");
    println!("|---|---|");
    println!("| warm-up (creates the database) | {} |", ms(r.warm_up));
    println!("| all regions, {TIMED_RUNS} runs | {} |", runs.join(", "));
    println!(
        "| **all regions, median** ({VOLUMES} volumes + {SNAPSHOTS} snapshots) | **{}** |",
        ms(r.median.scan.wall)
    );
    for (i, (region, wall)) in r.alone.iter().enumerate() {
        println!(
            "| `--region {region}` alone ({} + {}) | {} |",
            share(VOLUMES, i),
            share(SNAPSHOTS, i),
            ms(*wall)
        );
    }
    let sum: Duration = r.alone.iter().map(|(_, d)| *d).sum();
    let slowest = r.alone.iter().map(|(_, d)| *d).max().unwrap_or_default();
    println!("| slowest region alone | {} |", ms(slowest));
    println!("| sum of the regions alone | {} |", ms(sum));
    println!(
        "| all regions ÷ slowest alone; ÷ sum alone | {:.2}×; {:.2}× |",
        ratio(r.median.scan.wall, slowest),
        ratio(r.median.scan.wall, sum)
    );
}

/// Fewest calls a region can cost: full pages of volumes and snapshots, one (empty)
/// page of images, and DescribeAddresses, which is not paged.
fn minimum_calls(i: usize) -> usize {
    pages(share(VOLUMES, i)) + pages(share(SNAPSHOTS, i)) + 1 + 1
}

/// Pages needed for `items`; an empty listing still takes one call.
fn pages(items: usize) -> usize {
    items.div_ceil(PAGE).max(1)
}

/// Calls per action and region, against the minimum.
fn print_calls(calls: &[ProxyCall]) {
    let mut count: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for c in calls {
        *count
            .entry((c.action.as_str(), c.region.as_str()))
            .or_default() += 1;
    }
    let mut actions: Vec<&str> = ACTIONS.to_vec();
    for (action, _) in count.keys() {
        if !actions.contains(action) {
            actions.push(action);
        }
    }
    println!("API calls in the median run (as the proxy saw them):");
    println!();
    println!("| action | {} | total |", REGIONS.join(" | "));
    println!("|---|{}---|", "---|".repeat(REGIONS.len()));
    for action in &actions {
        let per_region: Vec<usize> = REGIONS
            .iter()
            .map(|r| count.get(&(*action, *r)).copied().unwrap_or(0))
            .collect();
        print_row(action, &per_region);
    }
    let totals: Vec<usize> = REGIONS
        .iter()
        .map(|r| calls.iter().filter(|c| c.region == *r).count())
        .collect();
    let minimum: Vec<usize> = (0..REGIONS.len()).map(minimum_calls).collect();
    print_row("**total**", &totals);
    print_row("minimum possible", &minimum);
    let others = calls.len() - totals.iter().sum::<usize>();
    let failed = calls
        .iter()
        .filter(|c| !(200..300).contains(&c.status))
        .count();
    println!();
    println!(
        "matches the minimum: {}; non-2xx answers: {failed}; calls outside the three regions: {others}",
        if totals == minimum && others == 0 {
            "yes"
        } else {
            "NO"
        }
    );
}

fn print_row(label: &str, per_region: &[usize]) {
    let cells: Vec<String> = per_region.iter().map(usize::to_string).collect();
    println!(
        "| {label} | {} | {} |",
        cells.join(" | "),
        per_region.iter().sum::<usize>()
    );
}

/// Whether regions really overlapped: per-region spans, their sum against the wall
/// time, and the most requests the proxy had open at once.
fn print_concurrency(r: &Report) {
    println!("Concurrency in the median run:");
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    let mut sum = Duration::ZERO;
    for region in REGIONS {
        let span = region_span(&r.median.calls, region);
        sum += span;
        println!("| {region}: first request → last answer | {} |", ms(span));
    }
    println!("| sum of the region spans | {} |", ms(sum));
    println!("| wall time of the run | {} |", ms(r.median.scan.wall));
    let overlap = overlap(&r.median.calls);
    println!(
        "| time with ≥ 1 request open at the proxy | {} |",
        ms(overlap.busy)
    );
    println!(
        "| peak requests in flight (all regions) | {} |",
        overlap.peak
    );
    let moto_cpu = r.median.moto_cpu.map_or_else(|| "n/a".to_owned(), ms);
    println!(
        "| moto_server CPU time during the run (three processes, one per region) | {moto_cpu} |"
    );
}

/// From the region's first request arriving to its last answer leaving the proxy.
fn region_span(calls: &[ProxyCall], region: &str) -> Duration {
    let mine = calls.iter().filter(|c| c.region == region);
    let first = mine.clone().map(|c| c.started).min();
    let last = mine.map(|c| c.finished).max();
    match (first, last) {
        (Some(first), Some(last)) => last.saturating_duration_since(first),
        _ => Duration::ZERO,
    }
}

/// How the requests of one run overlapped at the proxy.
struct Overlap {
    /// Most requests open at the same instant.
    peak: usize,
    /// Time with at least one request open: what the run spent waiting on AWS (moto).
    busy: Duration,
}

/// Sweeps the start and finish instants; a finish at the same instant as a start is
/// counted first, so back-to-back requests do not count as overlapping.
fn overlap(calls: &[ProxyCall]) -> Overlap {
    let mut events: Vec<(Instant, i32)> = calls
        .iter()
        .flat_map(|c| [(c.started, 1), (c.finished, -1)])
        .collect();
    events.sort();
    let (mut open, mut peak, mut busy) = (0i32, 0i32, Duration::ZERO);
    let mut previous: Option<Instant> = None;
    for (at, delta) in events {
        if open > 0
            && let Some(previous) = previous
        {
            busy += at.saturating_duration_since(previous);
        }
        open += delta;
        peak = peak.max(open);
        previous = Some(at);
    }
    Overlap {
        peak: usize::try_from(peak).unwrap_or(0),
        busy,
    }
}
