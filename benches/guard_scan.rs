//! Access Guard detection time: `opsmate access scan --json` (release binary) with
//! 2,000 IAM users in `moto_server` (behind the test proxy, which pages IAM like AWS),
//! 5,000 members in a fake Slack that pages `users.list` at 200, and 1,000 members in a
//! fake GitHub organisation paged at 100.
//!
//! `cargo bench --bench guard_scan` prints the wall time of five runs (min, median,
//! max) after a warm-up, and the calls each run made to IAM, Slack and GitHub against
//! the fewest the page sizes allow. Every run's statuses are checked against the seed.
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

#[path = "../tests/it/support/fake_slack.rs"]
#[allow(dead_code)]
mod fake_slack;

use anyhow::{Context, bail};
use aws_proxy::AwsProxy;
use aws_sdk_iam::types::Tag;
use fake_github::FakeGithub;
use fake_slack::FakeSlack;
use opsmate::cloud::{Aws, describe_error};
use opsmate::config::AwsConfig;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

const IAM_USERS: usize = 2_000;
/// Users without tags, whose user name is no address: unmapped.
const UNMAPPED: usize = 50;
/// Users `0..GITHUB_TAGGED` carry a GitHub login, and all of them are org members.
const GITHUB_TAGGED: usize = 1_000;
/// Of the mapped users, `ACTIVE` are active in Slack, the next `DEACTIVATED` are
/// deactivated there, and the rest (no GitHub login either) are in no directory.
const ACTIVE: usize = 1_800;
const DEACTIVATED: usize = 100;
const SLACK_MEMBERS: usize = 5_000;
const GITHUB_MEMBERS: usize = 1_000;
const ORG: &str = "acme";
/// Largest pages: IAM 1,000, Slack 200 (the fake's cap), GitHub 100.
const IAM_PAGE: usize = 1_000;
const SLACK_PAGE: usize = 200;
const GITHUB_PAGE: usize = 100;
const TIMED_RUNS: usize = 5;
/// CreateUser calls in flight while seeding.
const SEED_CONCURRENCY: usize = 16;
const ACCESS_KEY: &str = "testing";
const SECRET_KEY: &str = "testing";

fn main() -> ExitCode {
    common::bench_main("guard_scan", run)
}

fn user_name(i: usize) -> String {
    if i >= IAM_USERS - UNMAPPED {
        format!("svc-{i:04}")
    } else {
        format!("user-{i:04}")
    }
}

fn email(i: usize) -> String {
    format!("user-{i:04}@corp.com")
}

fn login(i: usize) -> String {
    format!("user-{i:04}-gh")
}

/// The status every IAM user must come out with.
fn expected(i: usize) -> &'static str {
    match i {
        _ if i >= IAM_USERS - UNMAPPED => "unmapped",
        _ if i < ACTIVE => "present",
        _ => "missing_in_grace",
    }
}

fn run() -> anyhow::Result<()> {
    let binary = moto_binary()?;
    let moto = Moto::start(&binary)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the Tokio runtime")?;
    let proxy = rt.block_on(AwsProxy::start(&moto.endpoint));
    let (slack, github) = rt.block_on(directories());
    let started = Instant::now();
    rt.block_on(seed(&moto.endpoint))?;
    let seeding = started.elapsed();

    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let cli = Cli {
        dir: dir.path().to_owned(),
        endpoint: proxy.endpoint.clone(),
        slack: slack.api_url(),
        github: github.url.clone(),
    };
    let motos = [moto];
    let warm_up = cli.run(&proxy, &slack, &github, &motos)?;
    let mut timed = Vec::with_capacity(TIMED_RUNS);
    for _ in 0..TIMED_RUNS {
        timed.push(cli.run(&proxy, &slack, &github, &motos)?);
    }
    print_report(seeding, &warm_up, &timed);
    Ok(())
}

/// The fake Slack with `SLACK_MEMBERS` members and the fake GitHub organisation.
async fn directories() -> (FakeSlack, FakeGithub) {
    let slack = FakeSlack::start(vec![]).await;
    for i in 0..ACTIVE + DEACTIVATED {
        let id = format!("U{i:08}");
        slack.add_member(&id, &email(i), i >= ACTIVE);
    }
    for j in 0..SLACK_MEMBERS - ACTIVE - DEACTIVATED {
        slack.add_member(
            &format!("W{j:08}"),
            &format!("colleague-{j}@corp.com"),
            false,
        );
    }
    let github = FakeGithub::start().await;
    let logins: Vec<String> = (0..GITHUB_MEMBERS).map(login).collect();
    let refs: Vec<&str> = logins.iter().map(String::as_str).collect();
    github.set_members(ORG, &refs);
    (slack, github)
}

/// Creates the IAM users straight in moto, `SEED_CONCURRENCY` at a time.
async fn seed(endpoint: &str) -> anyhow::Result<()> {
    let aws = Aws::with_static_credentials(
        &AwsConfig {
            regions: vec!["us-east-1".into()],
            endpoint_url: Some(endpoint.to_owned()),
            ..Default::default()
        },
        ACCESS_KEY,
        SECRET_KEY,
    )
    .await;
    let iam = aws.iam();
    let mut running = JoinSet::new();
    for i in 0..IAM_USERS {
        if running.len() >= SEED_CONCURRENCY
            && let Some(done) = running.join_next().await
        {
            done??;
        }
        let iam = iam.clone();
        running.spawn(async move {
            let mut tags = Vec::new();
            if i < IAM_USERS - UNMAPPED {
                tags.push(Tag::builder().key("email").value(email(i)).build()?);
            }
            if i < GITHUB_TAGGED {
                tags.push(Tag::builder().key("github").value(login(i)).build()?);
            }
            iam.create_user()
                .user_name(user_name(i))
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("CreateUser: {}", describe_error(&e)))?;
            anyhow::Ok(())
        });
    }
    while let Some(done) = running.join_next().await {
        done??;
    }
    Ok(())
}

struct Cli {
    /// Holds the database; also the working directory, so no `./opsmate.toml` is read.
    dir: PathBuf,
    endpoint: String,
    slack: String,
    github: String,
}

/// One run and the calls it made.
struct Run {
    wall: Duration,
    iam_calls: usize,
    slack_calls: usize,
    github_calls: usize,
    statuses: BTreeMap<String, usize>,
    moto_cpu: Option<Duration>,
}

impl Cli {
    fn run(
        &self,
        proxy: &AwsProxy,
        slack: &FakeSlack,
        github: &FakeGithub,
        motos: &[Moto],
    ) -> anyhow::Result<Run> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_opsmate"));
        command
            .args(["access", "scan", "--json"])
            .current_dir(&self.dir)
            .env_remove("OPSMATE_CONFIG")
            .env("OPSMATE_STORAGE__PATH", self.dir.join("opsmate.db"))
            .env("OPSMATE_AWS__ENDPOINT_URL", &self.endpoint)
            .env("OPSMATE_SLACK__API_URL", &self.slack)
            .env("SLACK_BOT_TOKEN", "xoxb-bench")
            .env("OPSMATE_GITHUB__API_URL", &self.github)
            .env("OPSMATE_GUARD__GITHUB_ORG", ORG)
            .env("GITHUB_TOKEN", "ghp_bench")
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "error");
        proxy.clear_calls();
        let slack_before = slack.calls_to("users.list").len();
        let github_before = github.calls().len();
        let cpu_before = cpu_time(motos);
        let started = Instant::now();
        let out = command.output().context("running opsmate access scan")?;
        let wall = started.elapsed();
        let moto_cpu = cpu_time(motos)
            .zip(cpu_before)
            .map(|(after, before)| after.saturating_sub(before));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            bail!("opsmate access scan failed ({}):\n{stderr}", out.status);
        }
        let json: Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("stdout is not JSON\n{stderr}"))?;
        let statuses = check(&json)?;
        Ok(Run {
            wall,
            iam_calls: proxy.calls().len(),
            slack_calls: slack.calls_to("users.list").len() - slack_before,
            github_calls: github.calls().len() - github_before,
            statuses,
            moto_cpu,
        })
    }
}

/// Every IAM user is listed once with the status the seed gives them.
fn check(json: &Value) -> anyhow::Result<BTreeMap<String, usize>> {
    let users = json.as_array().context("the output is not a JSON array")?;
    if users.len() != IAM_USERS {
        bail!("{} users listed, not {IAM_USERS}", users.len());
    }
    let mut counts = BTreeMap::new();
    for i in 0..IAM_USERS {
        let name = user_name(i);
        let Some(u) = users.iter().find(|u| u["user"] == name.as_str()) else {
            bail!("{name} is missing from the output");
        };
        let status = u["status"].as_str().unwrap_or_default();
        if status != expected(i) {
            bail!("{name} is {status}, expected {}", expected(i));
        }
        *counts.entry(status.to_owned()).or_insert(0) += 1;
    }
    Ok(counts)
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

fn print_report(seeding: Duration, warm_up: &Run, timed: &[Run]) {
    let mut walls: Vec<Duration> = timed.iter().map(|r| r.wall).collect();
    walls.sort();
    let median = walls[walls.len() / 2];
    println!(
        "## Access Guard detection: `opsmate access scan --json` vs moto IAM behind the proxy, \
         a fake Slack and a fake GitHub organisation"
    );
    println!();
    println!(
        "seeded {IAM_USERS} IAM users in {:.1} s; Slack has {SLACK_MEMBERS} members \
         (pages of {SLACK_PAGE}), GitHub org `{ORG}` {GITHUB_MEMBERS} members (pages of {GITHUB_PAGE})",
        seeding.as_secs_f64()
    );
    println!();
    println!("| run | wall time | IAM calls | Slack calls | GitHub calls | moto CPU |");
    println!("|---|---|---|---|---|---|");
    let row = |label: String, r: &Run| {
        println!(
            "| {label} | {} | {} | {} | {} | {} |",
            ms(r.wall),
            r.iam_calls,
            r.slack_calls,
            r.github_calls,
            r.moto_cpu.map_or_else(|| "n/a".to_owned(), ms)
        );
    };
    row("warm-up".into(), warm_up);
    for (i, r) in timed.iter().enumerate() {
        row(format!("{}", i + 1), r);
    }
    println!();
    println!(
        "wall time over {TIMED_RUNS} runs: min {}, median {}, max {}",
        ms(walls[0]),
        ms(median),
        ms(walls[walls.len() - 1])
    );
    println!(
        "fewest calls the page sizes allow: IAM {} (GetAccountAuthorizationDetails, {IAM_PAGE} per page), \
         Slack {} (users.list), GitHub {} (org members)",
        IAM_USERS.div_ceil(IAM_PAGE),
        SLACK_MEMBERS.div_ceil(SLACK_PAGE),
        GITHUB_MEMBERS.div_ceil(GITHUB_PAGE)
    );
    println!("statuses (checked for every user): {:?}", timed[0].statuses);
}
