//! Sentinel against the fake GitHub (pull requests with real patches, check runs,
//! team memberships) and the fake Linear, with the fake Slack. Deliveries are sent
//! as GitHub sends them: the event and delivery headers and the `sha256=` HMAC.

use super::actions::CountingAction;
use super::config_in;
use super::fake_github::FakeGithub;
use super::fake_linear::FakeLinear;
use super::fake_slack::FakeSlack;
use super::slack::{self, CHANNEL, SlackHarness};
use opsmate::app::AppOptions;
use opsmate::config::{Config, Secret};
use opsmate::domain::ActionKind;
use opsmate::features::sentinel::config::{ProtectedPaths, RepoConfig, Rules, SentinelConfig};
use opsmate::http::webhooks::signature::sign_hex;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub const REPO: &str = "acme/api";
pub const WEBHOOK_SECRET: &str = "github-webhook-test-secret";

pub struct SentinelHarness {
    pub slack: SlackHarness,
    pub github: FakeGithub,
    pub linear: FakeLinear,
    http: reqwest::Client,
    deliveries: std::sync::atomic::AtomicU64,
}

/// The rules the tests use: every rule on, two template sections, a `team` label,
/// at most 50 changed lines, `infra/**` protected by alice or the SRE team.
pub fn rules() -> Rules {
    Rules {
        template_sections: vec!["## Summary".into(), "## Testing".into()],
        required_labels: vec!["team-api".into()],
        max_changed_lines: 50,
        protected_paths: vec![ProtectedPaths {
            paths: vec!["infra/**".into()],
            reviewers: vec!["alice".into()],
            teams: vec!["acme/sre".into()],
        }],
        ..Rules::default()
    }
}

/// A description with both template sections.
pub const GOOD_BODY: &str = "## Summary\nFixes the login.\n\n## Testing\nUnit tests.";

impl SentinelHarness {
    /// `acme/api` with a README, code and one migration on `main`. UALICE and UBOB
    /// may waive; the GitHub logins alice, bob and carol are UALICE, UBOB and UCAROL.
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> Self {
        let github = FakeGithub::start().await;
        github.git.seed(
            REPO,
            "main",
            &[
                ("README.md", "api\n"),
                ("src/lib.rs", "pub fn login() {}\n"),
                (
                    "migrations/0001_users.sql",
                    "CREATE TABLE users (id INTEGER);\n",
                ),
                ("infra/main.tf", "resource \"aws_s3_bucket\" \"a\" {}\n"),
            ],
        );
        let linear = FakeLinear::start().await;
        linear.issue("OPS-7", "Login fails on Safari", "started", "In Progress");
        linear.issue("OPS-9", "Old idea", "canceled", "Canceled");
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeSlack::start(vec![]).await;
        let mut config = config_in(dir.path());
        config.slack.api_url = fake.api_url();
        config.slack.alert_channel = Some(CHANNEL.into());
        config.github.api_url = github.url.clone();
        config.linear.api_url = linear.url.clone();
        config.sections.set(&SentinelConfig {
            people: BTreeMap::from([
                ("alice".into(), "UALICE".into()),
                ("bob".into(), "UBOB".into()),
                ("carol".into(), "UCAROL".into()),
            ]),
            rules: rules(),
            repos: vec![RepoConfig {
                name: REPO.into(),
                rules: Default::default(),
            }],
            ..SentinelConfig::default()
        });
        config
            .approvals
            .set_policy(ActionKind::WAIVE_RULE, slack::policy());
        tweak(&mut config);
        let mut secrets = slack::secrets();
        secrets.github_token = Some(Secret::new("ghs_test_installation_token"));
        secrets.linear_api_key = Some(Secret::new("lin_api_test"));
        let secrets = secrets.with_named("GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET);
        let slack = SlackHarness::start_custom(
            dir,
            fake,
            config,
            secrets,
            AppOptions::default(),
            CountingAction::new(),
        )
        .await;
        Self {
            slack,
            github,
            linear,
            http: reqwest::Client::new(),
            deliveries: Default::default(),
        }
    }

    pub fn ctx(&self) -> &opsmate::dispatch::Context {
        &self.slack.app.ctx
    }

    /// Opens a pull request from `branch` changing `files`, by `author`, with `body`
    /// and `labels`; returns its number and head.
    pub fn open(
        &self,
        branch: &str,
        title: &str,
        files: &[(&str, &str)],
        author: &str,
        body: &str,
        labels: &[&str],
    ) -> (u64, String) {
        let git = &self.github.git;
        git.branch_from(REPO, branch, "main");
        let head = git.commit(REPO, branch, files, title);
        let n = git.open_pull_by(REPO, branch, "main", title);
        git.edit_pull(REPO, n, Some(author), Some(body), Some(labels));
        (n, head)
    }

    /// A delivery's JSON, shaped as GitHub's (the fields Sentinel reads and more).
    pub fn payload(&self, action: &str, n: u64) -> Value {
        let pull = self
            .github
            .git
            .pulls(REPO)
            .into_iter()
            .find(|p| p.number == n)
            .unwrap();
        json!({
            "action": action,
            "number": n,
            "pull_request": {
                "number": n, "title": pull.title, "state": pull.state, "merged": pull.merged,
                "head": {"ref": pull.head}, "base": {"ref": pull.base},
                "html_url": format!("https://github.com/{REPO}/pull/{n}")
            },
            "repository": {"full_name": REPO, "name": "api", "owner": {"login": "acme"}},
            "sender": {"login": "carol"},
            "installation": {"id": 42}
        })
    }

    /// Sends a signed delivery with a fresh delivery id; returns the status and id.
    pub async fn deliver(&self, event: &str, action: &str, n: u64) -> (u16, String) {
        let id = format!(
            "72d3162e-cc78-11e3-81ab-{:012}",
            self.deliveries
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let body = serde_json::to_vec(&self.payload(action, n)).unwrap();
        let status = self.send(event, &id, &body, Some(&sign(&body))).await;
        (status, id)
    }

    /// Sends `body` as a delivery with these headers; returns the status.
    pub async fn send(&self, event: &str, id: &str, body: &[u8], signature: Option<&str>) -> u16 {
        let mut req = self
            .http
            .post(format!("http://{}/github/webhook", self.slack.app.addr))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", id)
            .header("user-agent", "GitHub-Hookshot/044aadd")
            .body(body.to_vec());
        if let Some(sig) = signature {
            req = req.header("x-hub-signature-256", sig);
        }
        req.send().await.unwrap().status().as_u16()
    }

    /// The newest check run on `sha`, once the app has settled.
    pub async fn check_on(&self, sha: &str) -> super::fake_github_checks::CheckRun {
        self.slack.app.settle().await;
        self.github
            .checks
            .on(REPO, sha)
            .unwrap_or_else(|| panic!("no check run on {sha}: {:?}", self.github.checks.runs(REPO)))
    }
}

/// GitHub's signature header for `body`.
pub fn sign(body: &[u8]) -> String {
    format!("sha256={}", sign_hex(&Secret::new(WEBHOOK_SECRET), body))
}
