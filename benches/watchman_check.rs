//! Night Watchman decision time: `opsmate watchman check --json` (release binary) with
//! 500 repositories in a fake GitHub organisation and 2,000 staging instances in
//! `moto_server` over two regions, behind the test proxy.
//!
//! Each region has its own moto process behind the proxy, as AWS regions are
//! independent endpoints: one moto (a single Python process) would serve both regions'
//! listings one after another.
//!
//! `cargo bench --bench watchman_check` prints the wall time of five runs (min, median,
//! max) after a warm-up, the GitHub calls each decision cost (the organisation's
//! repositories sorted by last push, so one call however many repositories there are),
//! the EC2 calls per action and region against the fewest the paging allows, and one
//! run where a push five minutes ago keeps staging up.
//! moto is found in `$MOTO_SERVER`, `target/moto-venv/bin/moto_server` or `PATH`.

mod common;

use common::moto::{Moto, cpu_time, moto_binary};

#[path = "../tests/it/support/aws_proxy.rs"]
mod aws_proxy;

#[path = "../tests/it/support/fake_github.rs"]
#[allow(dead_code)]
mod fake_github;

#[path = "../tests/it/support/fake_github_git.rs"]
#[allow(dead_code)]
mod fake_github_git;

#[path = "../tests/it/support/fake_github_checks.rs"]
#[allow(dead_code)]
mod fake_github_checks;

use anyhow::{Context, bail};
use aws_proxy::{AwsProxy, ProxyCall};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, InstanceType, ResourceType, Tag, TagSpecification,
};
use chrono::{DateTime, Utc};
use fake_github::FakeGithub;
use opsmate::cloud::Aws;
use opsmate::cloud::ec2::describe_error;
use opsmate::config::AwsConfig;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
/// Running `env=staging` instances per region: the targets.
const STAGING_PER_REGION: usize = 1_000;
/// Running `env=production` instances per region, which the tag filter must leave out.
const PRODUCTION_PER_REGION: usize = 50;
/// Instances per RunInstances call while seeding.
const BATCH: usize = 100;
const ORG: &str = "acme";
const REPOS: usize = 500;
/// Pushes are spread over this many days.
const PUSH_SPREAD_DAYS: i64 = 30;
/// Age of the newest push in the quiet organisation: older than `quiet_minutes` (30).
const QUIET_NEWEST_MINUTES: i64 = 120;
/// Age of the newest push in the busy organisation.
const BUSY_NEWEST_MINUTES: i64 = 5;
/// The repository pushed to five minutes ago in the busy organisation.
const BUSY_REPO: usize = 321;
const TIMED_RUNS: usize = 5;
/// Largest page AWS allows for DescribeInstances.
const PAGE: usize = 1000;
/// Fewest GitHub calls a decision can cost: one page of one repository, newest first.
const MIN_GITHUB_CALLS: usize = 1;
const ACCESS_KEY: &str = "testing";
const SECRET_KEY: &str = "testing";

fn main() -> ExitCode {
    common::bench_main("watchman_check", run)
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
    let now = Utc::now();
    let quiet_github = rt.block_on(organisation(now, None));
    let busy_github = rt.block_on(organisation(now, Some(BUSY_REPO)));

    let started = Instant::now();
    rt.block_on(seed(&endpoints))?;
    let seeding = started.elapsed();

    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let cli = Cli {
        dir: dir.path().to_owned(),
        endpoint: proxy.endpoint.clone(),
    };

    let warm_up = cli.run(&quiet_github, &proxy, &motos)?;
    warm_up.check.expect_stop()?;

    let mut timed = Vec::with_capacity(TIMED_RUNS);
    for _ in 0..TIMED_RUNS {
        let run = cli.run(&quiet_github, &proxy, &motos)?;
        run.check.expect_stop()?;
        timed.push(run);
    }

    let busy = cli.run(&busy_github, &proxy, &motos)?;
    let busy_reason = busy.check.expect_keep(&repo_name(BUSY_REPO))?;

    print_report(&Report {
        seeding,
        warm_up: &warm_up,
        timed: &timed,
        busy: &busy,
        busy_reason: &busy_reason,
    });
    Ok(())
}

fn repo_name(i: usize) -> String {
    format!("{ORG}/repo-{i:04}")
}

/// Age rank of repository `i` (0 = newest push): a fixed permutation, so the newest
/// repository is neither the first nor the last one added.
fn push_rank(i: usize) -> usize {
    (i * 337 + 123) % REPOS
}

/// The repository with the newest push in the quiet organisation.
fn quiet_newest() -> usize {
    (0..REPOS).find(|&i| push_rank(i) == 0).unwrap_or(0)
}

/// A fake GitHub with `REPOS` repositories pushed over the last `PUSH_SPREAD_DAYS`
/// days, the newest `QUIET_NEWEST_MINUTES` ago; `busy` is then pushed to
/// `BUSY_NEWEST_MINUTES` ago.
async fn organisation(now: DateTime<Utc>, busy: Option<usize>) -> FakeGithub {
    let github = FakeGithub::start().await;
    let newest = chrono::Duration::minutes(QUIET_NEWEST_MINUTES);
    let spread = chrono::Duration::days(PUSH_SPREAD_DAYS) - newest;
    let step = spread / i32::try_from(REPOS - 1).unwrap_or(i32::MAX);
    for i in 0..REPOS {
        let rank = i32::try_from(push_rank(i)).unwrap_or(i32::MAX);
        let at = if busy == Some(i) {
            now - chrono::Duration::minutes(BUSY_NEWEST_MINUTES)
        } else {
            now - newest - step * rank
        };
        github.pushed(&repo_name(i), at);
    }
    github
}

/// Seeds each region's moto directly (the proxy would only add noise to its call log),
/// the regions concurrently.
async fn seed(endpoints: &[String]) -> anyhow::Result<()> {
    let mut regions = JoinSet::new();
    for (region, endpoint) in REGIONS.into_iter().zip(endpoints) {
        let endpoint = endpoint.clone();
        regions.spawn(async move { seed_region(region, &endpoint).await });
    }
    while let Some(done) = regions.join_next().await {
        done??;
    }
    Ok(())
}

/// One region: an own AMI, the staging instances in batches, then the production ones.
async fn seed_region(region: &'static str, endpoint: &str) -> anyhow::Result<()> {
    let aws = Aws::with_static_credentials(
        &AwsConfig {
            regions: vec![region.to_owned()],
            endpoint_url: Some(endpoint.to_owned()),
            ..Default::default()
        },
        ACCESS_KEY,
        SECRET_KEY,
    )
    .await;
    let client = aws.ec2(region);
    let image = register_image(&client, region).await?;
    let mut left = STAGING_PER_REGION;
    while left > 0 {
        let n = left.min(BATCH);
        run_instances(&client, region, &image, n, "staging").await?;
        left -= n;
    }
    run_instances(&client, region, &image, PRODUCTION_PER_REGION, "production").await
}

/// An own AMI with an 8 GiB root volume; returns its id.
async fn register_image(client: &Client, region: &str) -> anyhow::Result<String> {
    let out = client
        .register_image()
        .name("base")
        .root_device_name("/dev/sda1")
        .block_device_mappings(
            BlockDeviceMapping::builder()
                .device_name("/dev/sda1")
                .ebs(EbsBlockDevice::builder().volume_size(8).build())
                .build(),
        )
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("RegisterImage in {region}: {}", describe_error(&e)))?;
    out.image_id()
        .map(str::to_owned)
        .context("RegisterImage returned no id")
}

/// `n` running t3.medium instances tagged `env=<env>`, in one RunInstances call.
async fn run_instances(
    client: &Client,
    region: &str,
    image: &str,
    n: usize,
    env: &str,
) -> anyhow::Result<()> {
    let count = i32::try_from(n).context("batch size")?;
    let out = client
        .run_instances()
        .image_id(image)
        .instance_type(InstanceType::T3Medium)
        .min_count(count)
        .max_count(count)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .tags(Tag::builder().key("env").value(env).build())
                .build(),
        )
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("RunInstances in {region}: {}", describe_error(&e)))?;
    if out.instances().len() != n {
        bail!(
            "RunInstances in {region} started {} instances, not {n}",
            out.instances().len()
        );
    }
    Ok(())
}

/// How to run the release binary's `watchman check --json` against the proxy.
struct Cli {
    /// Holds the database; also the working directory, so no `./opsmate.toml` is read.
    dir: PathBuf,
    endpoint: String,
}

/// One finished run of the CLI and what the fakes saw during it.
struct Run {
    wall: Duration,
    check: Outcome,
    /// Paths GitHub was asked for.
    github_calls: Vec<String>,
    ec2_calls: Vec<ProxyCall>,
    /// CPU time moto used during the run; `None` off Linux.
    moto_cpu: Option<Duration>,
}

impl Cli {
    /// Runs one check against `github`, timed end to end (process start,
    /// configuration, database, listing, signals, JSON output).
    fn run(&self, github: &FakeGithub, proxy: &AwsProxy, motos: &[Moto]) -> anyhow::Result<Run> {
        let regions = format!("[{}]", REGIONS.map(|r| format!("{r:?}")).join(","));
        let mut command = Command::new(env!("CARGO_BIN_EXE_opsmate"));
        command
            .args(["watchman", "check", "--json"])
            .current_dir(&self.dir)
            .env_remove("OPSMATE_CONFIG")
            .env("OPSMATE_STORAGE__PATH", self.dir.join("opsmate.db"))
            .env("OPSMATE_AWS__REGIONS", regions)
            .env("OPSMATE_AWS__ENDPOINT_URL", &self.endpoint)
            .env("OPSMATE_GITHUB__API_URL", &github.url)
            .env("OPSMATE_WATCHMAN__GITHUB_ORG", ORG)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "error");
        proxy.clear_calls();
        let github_before = github.calls().len();
        let cpu_before = cpu_time(motos);
        let started = Instant::now();
        let out = command.output().context("running opsmate watchman check")?;
        let wall = started.elapsed();
        let moto_cpu = cpu_time(motos)
            .zip(cpu_before)
            .map(|(after, before)| after.saturating_sub(before));
        let github_calls = github.calls().split_off(github_before);
        let ec2_calls = proxy.calls();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            bail!("opsmate watchman check failed ({}):\n{stderr}", out.status);
        }
        let json: Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("stdout is not JSON\n{stderr}"))?;
        Ok(Run {
            wall,
            check: Outcome::parse(&json)?,
            github_calls,
            ec2_calls,
            moto_cpu,
        })
    }
}

/// The parts of the printed check the benchmark verifies and reports.
struct Outcome {
    decision: String,
    reasons: Vec<String>,
    /// Region → instances listed with `action == "stop"`.
    to_stop: BTreeMap<String, usize>,
    /// Instances listed with any other action.
    other: usize,
    /// Distinct instance ids listed.
    distinct: usize,
    listed: usize,
    savings_usd: Option<f64>,
}

impl Outcome {
    fn parse(json: &Value) -> anyhow::Result<Self> {
        let decision = json["decision"]
            .as_str()
            .context("no decision in the output")?
            .to_owned();
        let reasons = json["reasons"]
            .as_array()
            .context("no reasons in the output")?
            .iter()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect();
        let instances = json["instances"]
            .as_array()
            .context("no instances in the output")?;
        let mut to_stop: BTreeMap<String, usize> = BTreeMap::new();
        let mut other = 0;
        let mut ids = BTreeSet::new();
        for i in instances {
            let (Some(id), Some(region), Some(action)) =
                (i["id"].as_str(), i["region"].as_str(), i["action"].as_str())
            else {
                bail!("instance without id, region or action: {i}");
            };
            ids.insert(id);
            if action == "stop" {
                *to_stop.entry(region.to_owned()).or_default() += 1;
            } else {
                other += 1;
            }
        }
        Ok(Self {
            decision,
            reasons,
            to_stop,
            other,
            distinct: ids.len(),
            listed: instances.len(),
            savings_usd: json["estimated_savings_usd"].as_f64(),
        })
    }

    /// Every staging instance, and nothing else, is listed to stop, each region's own.
    fn expect_targets(&self) -> anyhow::Result<()> {
        let expected: BTreeMap<String, usize> = REGIONS
            .iter()
            .map(|r| ((*r).to_owned(), STAGING_PER_REGION))
            .collect();
        let total = STAGING_PER_REGION * REGIONS.len();
        if self.to_stop != expected
            || self.other != 0
            || self.listed != total
            || self.distinct != total
        {
            bail!(
                "expected {STAGING_PER_REGION} instances to stop per region and nothing else, \
                 got {:?} to stop, {} otherwise, {} listed ({} distinct)",
                self.to_stop,
                self.other,
                self.listed,
                self.distinct
            );
        }
        Ok(())
    }

    /// A quiet organisation: stop, with the GitHub reason naming the newest push.
    fn expect_stop(&self) -> anyhow::Result<()> {
        self.expect_targets()?;
        if self.decision != "stop" {
            bail!(
                "expected decision stop, got {}: {:?}",
                self.decision,
                self.reasons
            );
        }
        let newest = repo_name(quiet_newest());
        if !self
            .reasons
            .iter()
            .any(|r| r.starts_with("GitHub: quiet") && r.contains(&newest))
        {
            bail!("no quiet GitHub reason naming {newest}: {:?}", self.reasons);
        }
        Ok(())
    }

    /// A recent push: keep, with a reason naming `repo`; returns that reason.
    fn expect_keep(&self, repo: &str) -> anyhow::Result<String> {
        self.expect_targets()?;
        if self.decision != "keep" {
            bail!(
                "expected decision keep, got {}: {:?}",
                self.decision,
                self.reasons
            );
        }
        self.reasons
            .iter()
            .find(|r| r.contains(repo))
            .cloned()
            .with_context(|| format!("no reason names {repo}: {:?}", self.reasons))
    }

    fn github_reason(&self) -> &str {
        self.reasons
            .iter()
            .find(|r| r.starts_with("GitHub"))
            .map_or("", String::as_str)
    }
}

/// Everything the printed tables are made of.
struct Report<'a> {
    seeding: Duration,
    warm_up: &'a Run,
    /// The timed runs, in run order.
    timed: &'a [Run],
    busy: &'a Run,
    busy_reason: &'a str,
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// The median run (by wall time), and the min and max wall times.
fn spread(runs: &[Run]) -> (&Run, Duration, Duration) {
    let mut sorted: Vec<&Run> = runs.iter().collect();
    sorted.sort_by_key(|r| r.wall);
    let min = sorted.first().map(|r| r.wall).unwrap_or_default();
    let max = sorted.last().map(|r| r.wall).unwrap_or_default();
    (sorted[sorted.len() / 2], min, max)
}

fn print_report(r: &Report) {
    let (median, min, max) = spread(r.timed);
    println!(
        "## Night Watchman decision: `opsmate watchman check --json` vs a fake GitHub \
         organisation and moto_server behind the proxy"
    );
    println!();
    println!(
        "seeded {} running staging + {} production instances over {} regions in {:.1} s \
         ({BATCH} per RunInstances call); organisation `{ORG}` has {REPOS} repositories \
         pushed over the last {PUSH_SPREAD_DAYS} days, the newest {QUIET_NEWEST_MINUTES} min ago",
        STAGING_PER_REGION * REGIONS.len(),
        PRODUCTION_PER_REGION * REGIONS.len(),
        REGIONS.len(),
        r.seeding.as_secs_f64()
    );
    println!();
    print_runs(r, median, min, max);
    println!();
    print_github(r, median);
    println!();
    print_ec2(&median.ec2_calls);
    println!();
    print_summary(r, median);
}

/// Every run with its wall time and the calls it made.
fn print_runs(r: &Report, median: &Run, min: Duration, max: Duration) {
    println!(
        "| run | decision | wall time | GitHub calls | EC2 calls | moto CPU (both processes) |"
    );
    println!("|---|---|---|---|---|---|");
    let row = |label: &str, run: &Run| {
        println!(
            "| {label} | {} | {} | {} | {} | {} |",
            run.check.decision,
            ms(run.wall),
            run.github_calls.len(),
            run.ec2_calls.len(),
            run.moto_cpu.map_or_else(|| "n/a".to_owned(), ms)
        );
    };
    row("warm-up (creates the database)", r.warm_up);
    for (i, run) in r.timed.iter().enumerate() {
        row(&format!("timed {}", i + 1), run);
    }
    row(
        &format!("push {BUSY_NEWEST_MINUTES} min ago (keep)"),
        r.busy,
    );
    println!();
    println!("| decision time, {TIMED_RUNS} timed runs | wall time |");
    println!("|---|---|");
    println!("| min | {} |", ms(min));
    println!("| **median** | **{}** |", ms(median.wall));
    println!("| max | {} |", ms(max));
    println!(
        "| push {BUSY_NEWEST_MINUTES} min ago → keep (one run) | {} |",
        ms(r.busy.wall)
    );
}

/// GitHub calls per decision and what they asked for.
fn print_github(r: &Report, median: &Run) {
    let mut paths: BTreeMap<&str, usize> = BTreeMap::new();
    for run in r.timed.iter().chain([r.busy]) {
        for p in &run.github_calls {
            *paths.entry(p.as_str()).or_default() += 1;
        }
    }
    let per_run: Vec<String> = r
        .timed
        .iter()
        .map(|run| run.github_calls.len().to_string())
        .collect();
    println!("GitHub calls ({REPOS} repositories in `{ORG}`):");
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| calls per timed run (run order) | {} |",
        per_run.join(", ")
    );
    println!("| calls in the keep run | {} |", r.busy.github_calls.len());
    println!("| minimum possible per decision | {MIN_GITHUB_CALLS} |");
    for (path, n) in &paths {
        println!("| `GET {path}` (timed + keep runs) | {n} |");
    }
    println!(
        "| GitHub reason (quiet, median run) | {} |",
        median.check.github_reason()
    );
    println!("| GitHub reason (keep run) | {} |", r.busy_reason);
}

/// Fewest calls a region can cost: full pages of its running staging instances.
fn minimum_calls() -> usize {
    STAGING_PER_REGION.div_ceil(PAGE).max(1)
}

/// EC2 calls per action and region, against the minimum.
fn print_ec2(calls: &[ProxyCall]) {
    let mut count: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for c in calls {
        *count
            .entry((c.action.as_str(), c.region.as_str()))
            .or_default() += 1;
    }
    let mut actions: Vec<&str> = vec!["DescribeInstances"];
    for (action, _) in count.keys() {
        if !actions.contains(action) {
            actions.push(action);
        }
    }
    println!("EC2 calls in the median run (as the proxy saw them):");
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
    let minimum = vec![minimum_calls(); REGIONS.len()];
    print_row("**total**", &totals);
    print_row(
        &format!("minimum possible ({STAGING_PER_REGION} instances, ≤ {PAGE} per page)"),
        &minimum,
    );
    let others = calls.len() - totals.iter().sum::<usize>();
    let failed = calls
        .iter()
        .filter(|c| !(200..300).contains(&c.status))
        .count();
    println!();
    println!(
        "matches the minimum: {}; non-2xx answers: {failed}; calls outside the two regions: {others}",
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

fn print_summary(r: &Report, median: &Run) {
    let per_region: Vec<String> = REGIONS
        .iter()
        .map(|region| {
            let n = median
                .ec2_calls
                .iter()
                .filter(|c| c.region == *region)
                .count();
            format!("{region} {n}")
        })
        .collect();
    let github: BTreeSet<usize> = r.timed.iter().map(|run| run.github_calls.len()).collect();
    let github: Vec<String> = github.iter().map(usize::to_string).collect();
    println!("### Summary");
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| decision time (median of {TIMED_RUNS}), {} instances, {REPOS} repositories | **{}** |",
        STAGING_PER_REGION * REGIONS.len(),
        ms(median.wall)
    );
    println!(
        "| GitHub calls per decision | {} (minimum {MIN_GITHUB_CALLS}) |",
        github.join("–")
    );
    println!(
        "| EC2 calls per region | {} (minimum {} each) |",
        per_region.join(", "),
        minimum_calls()
    );
    println!(
        "| estimated savings until the morning start | {} |",
        median
            .check
            .savings_usd
            .map_or_else(|| "n/a".to_owned(), |usd| format!("${usd:.2}"))
    );
    println!(
        "| keep run (push {BUSY_NEWEST_MINUTES} min ago) | {}, {} GitHub call(s) |",
        ms(r.busy.wall),
        r.busy.github_calls.len()
    );
    println!("| seeding time | {:.1} s |", r.seeding.as_secs_f64());
}
