//! Rollback Pilot against a fake Argo CD and the fake GitHub's Git API, with the
//! fake Slack, on a manual clock. The poll timer is off: tests poll by hand, as the
//! timer would every 10 seconds.

use super::actions::CountingAction;
use super::config_in;
use super::fake_argocd::FakeArgo;
use super::fake_github::FakeGithub;
use super::fake_slack::FakeSlack;
use super::slack::{self, CHANNEL, SlackHarness, all_text};
use chrono::Utc;
use opsmate::app::AppOptions;
use opsmate::clock::ManualClock;
use opsmate::config::{Config, Secret, Secrets};
use opsmate::domain::ActionKind;
use opsmate::features::rollback::Rollback;
use opsmate::features::rollback::config::{AppConfig, Environment, PinMode, RollbackConfig};
use opsmate::features::rollback::poll::PollSummary;
use opsmate::features::rollback::state::{AppRow, State};
use std::sync::Arc;
use std::time::Duration;

pub const ARGO_TOKEN: &str = "argocd-test-token";
pub const REPO: &str = "acme/gitops";
pub const VALUES: &str = "apps/web/values.yaml";

/// web's values file pinning `tag`, with a comment and quoting that must survive.
pub fn values(tag: &str) -> String {
    format!(
        "# web's Helm values\nreplicaCount: 3\nimage:\n  repository: ghcr.io/acme/web\n  tag: \"{tag}\"   # bumped by CI\n  pullPolicy: IfNotPresent\n\nresources:\n  limits:\n    cpu: 500m\n"
    )
}

pub struct Pilot {
    pub slack: SlackHarness,
    pub argo: FakeArgo,
    pub github: FakeGithub,
    pub clock: ManualClock,
    secrets: Secrets,
    /// The stable revision (web 1.4.1) and the bad one (web 1.4.2).
    pub good: String,
    pub bad: String,
}

/// The app on `clock` with its timers off.
async fn launch(
    dir: tempfile::TempDir,
    fake: FakeSlack,
    config: Config,
    secrets: &Secrets,
    clock: &ManualClock,
) -> SlackHarness {
    let options = AppOptions {
        clock: Arc::new(clock.clone()),
        feature_timers: false,
        ..AppOptions::default()
    };
    let mut h = SlackHarness::start_custom(
        dir,
        fake,
        config,
        secrets.clone(),
        options,
        CountingAction::new(),
    )
    .await;
    h.clock = Some(clock.clone());
    h
}

/// The watched application `web`, pinned by `image.tag` in its values file.
pub fn web(environment: Environment) -> AppConfig {
    AppConfig {
        name: "web".into(),
        environment,
        repo: REPO.into(),
        base_branch: "main".into(),
        mode: PinMode::Pin,
        path: Some(VALUES.into()),
        yaml_key: Some("image.tag".into()),
    }
}

impl Pilot {
    /// web in `environment`: the repository has web 1.4.1 (deployed two hours ago
    /// and healthy for OpsMate's first `healthy_polls` polls), then web 1.4.2 is
    /// committed but not deployed yet. UALICE and UBOB may merge rollbacks.
    pub async fn start(environment: Environment, tweak: impl FnOnce(&mut Config)) -> Self {
        let argo = FakeArgo::start(ARGO_TOKEN).await;
        let github = FakeGithub::start().await;
        let good = github.git.seed(
            REPO,
            "main",
            &[(VALUES, &values("1.4.1")), ("README.md", "gitops\n")],
        );
        let bad = github.git.commit(
            REPO,
            "main",
            &[(VALUES, &values("1.4.2"))],
            "web 1.4.2: new cache layer",
        );
        let clock = ManualClock::new(opsmate::clock::from_millis(Utc::now().timestamp_millis()));
        argo.add_app("web");
        argo.deploy(
            "web",
            &good,
            opsmate::clock::Clock::now(&clock) - chrono::Duration::hours(2),
        );
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeSlack::start(vec![]).await;
        let mut config = config_in(dir.path());
        config.slack.api_url = fake.api_url();
        config.slack.alert_channel = Some(CHANNEL.into());
        config.github.api_url = github.url.clone();
        config.sections.set(&RollbackConfig {
            argocd_url: argo.url.clone(),
            min_uptime_polls: 3,
            apps: vec![web(environment)],
            ..RollbackConfig::default()
        });
        config
            .approvals
            .set_policy(ActionKind::ROLLBACK, slack::policy());
        tweak(&mut config);
        let mut secrets = slack::secrets();
        secrets.github_token = Some(Secret::new("ghp_test_token"));
        let secrets = secrets.with_named("ARGOCD_TOKEN", ARGO_TOKEN);
        let slack = launch(dir, fake, config, &secrets, &clock).await;
        Self {
            slack,
            argo,
            github,
            clock,
            secrets,
            good,
            bad,
        }
    }

    pub fn ctx(&self) -> &opsmate::dispatch::Context {
        &self.slack.app.ctx
    }

    pub fn rollback(&self) -> Arc<Rollback> {
        self.ctx()
            .features
            .get::<opsmate::features::rollback::plug::RollbackFeature>()
            .expect("rollback is on")
            .0
            .clone()
    }

    /// Ten seconds later, one poll and the announcer, as the timer does.
    pub async fn poll(&self) -> PollSummary {
        self.clock.advance(chrono::Duration::seconds(10));
        let r = self.rollback();
        let summary = r.poll_once(self.ctx()).await.expect("the poll runs");
        r.announce_once(self.ctx())
            .await
            .expect("the announcer runs");
        summary
    }

    /// `n` polls.
    pub async fn polls(&self, n: usize) {
        for _ in 0..n {
            self.poll().await;
        }
    }

    /// web 1.4.2 goes out and crash-loops: Degraded, 1 of 3 pods ready.
    pub fn deploy_bad(&self) {
        self.argo
            .deploy("web", &self.bad, opsmate::clock::Clock::now(&self.clock));
        self.argo.set_health("web", "Degraded");
        self.argo.set_pods("web", 1, 3);
    }

    /// The stable revision has been seen healthy for 5 polls; then the bad one is
    /// deployed and polled `degraded` times.
    pub async fn degrade(&self, degraded: usize) {
        self.polls(5).await;
        self.deploy_bad();
        self.polls(degraded).await;
    }

    pub fn row(&self) -> AppRow {
        self.ctx()
            .store
            .with_conn(|c| opsmate::features::rollback::store::get(c, "web"))
            .unwrap()
            .unwrap_or_else(|| AppRow::new("web", Utc::now()))
    }

    pub fn state(&self) -> State {
        self.row().state
    }

    /// Waits until the merge (or whatever the executor runs) ended and its
    /// messages went out.
    pub async fn settle(&self) {
        loop {
            self.slack.app.settle().await;
            // The poller's timer is off: run the announcer as it would while a
            // rewrite waits on a message's first delivery.
            if !self.rollback().rewrite_waiting() {
                return;
            }
            self.rollback()
                .announce_once(self.ctx())
                .await
                .expect("the announcer runs");
        }
    }

    /// Slack posts so far (their text).
    pub fn posted(&self) -> Vec<String> {
        self.slack
            .fake
            .calls_to("chat.postMessage")
            .iter()
            .map(|c| all_text(&c.body))
            .collect()
    }

    /// The episode message as last posted or rewritten.
    pub fn episode_message(&self) -> String {
        let calls = self.slack.fake.calls();
        calls
            .iter()
            .rev()
            .filter(|c| c.method == "chat.update" || c.method == "chat.postMessage")
            .map(|c| all_text(&c.body))
            .find(|t| t.contains("Rollback Pilot: web"))
            .unwrap_or_default()
    }

    /// Argo CD syncs the merge and web turns Healthy.
    pub fn sync_merge(&self, merge_sha: &str) {
        self.argo
            .deploy("web", merge_sha, opsmate::clock::Clock::now(&self.clock));
        self.argo.set_health("web", "Healthy");
        self.argo.set_pods("web", 3, 3);
    }

    /// Stops the app and starts it again on the same database, clock and fakes,
    /// with `tweak` applied to its configuration.
    pub async fn restart(self, tweak: impl FnOnce(&mut Config)) -> Self {
        self.relaunch(false, tweak).await
    }

    /// The process dies (nothing it was doing finishes), then starts again.
    pub async fn crash_and_restart(self) -> Self {
        self.relaunch(true, |_| {}).await
    }

    /// Ends the running app (cleanly, or as a crash) and launches a new one
    /// on everything else this harness holds.
    async fn relaunch(mut self, crash: bool, tweak: impl FnOnce(&mut Config)) -> Self {
        let SlackHarness {
            dir,
            fake,
            app,
            mut config,
            ..
        } = self.slack;
        if crash {
            app.crash().await;
        } else {
            app.stop().await;
        }
        tweak(&mut config);
        self.slack = launch(dir, fake, config, &self.secrets, &self.clock).await;
        self
    }

    pub async fn stop(self) {
        self.slack.app.finish().await;
    }
}

/// Waits at most 20 s for `cond`.
pub async fn until(cond: impl Fn() -> bool) -> bool {
    super::eventually(Duration::from_secs(20), || {
        let ok = cond();
        async move { ok }
    })
    .await
}
