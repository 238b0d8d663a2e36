//! `opsmate access scan [--json]` against moto's IAM, the fake Slack directory and
//! the fake GitHub organisation.

use crate::cli::{against_aws, opsmate, output};
use crate::support::fake_github::FakeGithub;
use crate::support::fake_slack::FakeSlack;
use crate::support::guard::create_user as user;
use crate::support::moto::Moto;
use serde_json::Value;
use std::process::Command;

struct Setup {
    moto: Moto,
    slack: FakeSlack,
    github: FakeGithub,
    dir: tempfile::TempDir,
}

impl Setup {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = opsmate(self.dir.path());
        against_aws(&mut cmd, &self.moto.endpoint)
            .args(["access", "scan"])
            .args(args)
            .env("OPSMATE_SLACK__API_URL", self.slack.api_url())
            .env("SLACK_BOT_TOKEN", "xoxb-test-bot-token")
            .env("OPSMATE_GITHUB__API_URL", &self.github.url)
            .env("OPSMATE_GUARD__GITHUB_ORG", "acme")
            .env("GITHUB_TOKEN", "ghp_test_token");
        cmd
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_prints_every_user_with_status_and_keeps_the_grace_clock() {
    let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
    let iam = moto.aws("us-east-1").await.iam();
    user(
        &iam,
        "alice",
        &[("email", "alice@corp.com"), ("github", "alice-gh")],
    )
    .await;
    user(&iam, "bob", &[("email", "bob@corp.com")]).await;
    user(&iam, "ci-bot", &[]).await;
    let slack = FakeSlack::start(vec![]).await;
    slack.add_member("U0ALICE", "alice@corp.com", false);
    slack.add_member("U0BOB", "bob@corp.com", true);
    let github = FakeGithub::start().await;
    github.set_members("acme", &["alice-gh"]);
    let s = Setup {
        moto,
        slack,
        github,
        dir: tempfile::tempdir().unwrap(),
    };

    let out = output(s.command(&["--json"])).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let users: Value = serde_json::from_slice(&out.stdout).unwrap();
    let users = users.as_array().expect("a JSON array");
    assert_eq!(users.len(), 3);
    let find = |name: &str| users.iter().find(|u| u["user"] == name).unwrap().clone();
    let alice = find("alice");
    assert_eq!(alice["status"], "present");
    assert_eq!(alice["email"], "alice@corp.com");
    assert_eq!(alice["missing_from"], serde_json::json!([]));
    assert!(alice["since"].is_null());
    let bob = find("bob");
    assert_eq!(bob["status"], "missing_in_grace");
    assert_eq!(
        bob["missing_from"],
        serde_json::json!(["slack (deactivated)"])
    );
    let since = bob["since"].as_str().expect("a time").to_owned();
    assert_eq!(find("ci-bot")["status"], "unmapped");
    assert!(
        stderr.contains("calls: IAM 1, Slack 1, GitHub 1"),
        "{stderr}"
    );

    // The second scan remembers when Bob was first found missing.
    let out = output(s.command(&["--json"])).await;
    let users: Value = serde_json::from_slice(&out.stdout).unwrap();
    let bob = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user"] == "bob")
        .unwrap()
        .clone();
    assert_eq!(bob["since"], since.as_str());

    // Text output; an unreadable GitHub exits 1 and says so.
    s.github.fail_with(500);
    let out = output(s.command(&[])).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stdout.contains("missing_in_grace"), "{stdout}");
    assert!(stderr.contains("GitHub acme: unreadable"), "{stderr}");
}
