//! `opsmate watchman check --json` and `opsmate watchman run`, against moto and the
//! fake GitHub API.

use crate::cli::{against_aws, opsmate, output};
use crate::support::fake_github::FakeGithub;
use crate::support::moto::Moto;
use crate::support::watchman::{instance, state};
use chrono::{Duration, Utc};
use serde_json::Value;
use std::process::Command;

fn watchman(dir: &std::path::Path, moto: &Moto, github: &FakeGithub, args: &[&str]) -> Command {
    let mut cmd = opsmate(dir);
    against_aws(&mut cmd, &moto.endpoint)
        .arg("watchman")
        .args(args)
        .env("OPSMATE_GITHUB__API_URL", &github.url)
        .env("OPSMATE_WATCHMAN__GITHUB_ORG", "acme")
        .env("USER", "ops-oncall");
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_prints_the_decision_reasons_and_instances_and_run_stops_them() {
    let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
    let github = FakeGithub::start().await;
    github.pushed("acme/api", Utc::now() - Duration::hours(2));
    let ec2 = moto.aws("us-east-1").await.ec2("us-east-1");
    let web = instance(&ec2, &[("env", "staging")]).await;
    let asg = instance(
        &ec2,
        &[("env", "staging"), ("aws:autoscaling:groupName", "g")],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();

    let out = output(watchman(dir.path(), &moto, &github, &["check", "--json"])).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let check: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(check["decision"], "stop");
    let reasons: Vec<&str> = check["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("last push to acme/api 120 min ago")),
        "{reasons:?}"
    );
    let instances = check["instances"].as_array().unwrap();
    let find = |id: &str| instances.iter().find(|i| i["id"] == id).unwrap().clone();
    assert_eq!(find(&web)["action"], "stop");
    assert_eq!(find(&web)["region"], "us-east-1");
    assert_eq!(find(&asg)["action"], "skip");
    assert!(
        find(&asg)["why"]
            .as_str()
            .unwrap()
            .contains("Auto Scaling group g")
    );
    assert_eq!(
        state(&ec2, &web).await.0,
        "running",
        "check changes nothing"
    );

    // A push now: keep.
    github.pushed("acme/web", Utc::now());
    let out = output(watchman(dir.path(), &moto, &github, &["check", "--json"])).await;
    let check: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(check["decision"], "keep");

    // `run` with the push an hour old: it stops, recorded as the operator's decision.
    github.pushed("acme/web", Utc::now() - Duration::hours(1));
    let out = output(watchman(dir.path(), &moto, &github, &["run"])).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("{web} (us-east-1) stopped")),
        "{text}"
    );
    assert_ne!(state(&ec2, &web).await.0, "running");
    assert_eq!(state(&ec2, &asg).await.0, "running");
    let audit = output({
        let mut c = opsmate(dir.path());
        c.args(["audit", "tail", "-n", "50"]);
        c
    })
    .await;
    let audit = String::from_utf8_lossy(&audit.stdout);
    assert!(
        audit.contains("cli:ops-oncall") && audit.contains("approval.approved_unattended"),
        "{audit}"
    );
}
