//! Observatory against local services, the fake Slack and the fake Telegram, on a
//! manual clock. The check timers are off: tests run checks and flushes by hand.

use super::actions::CountingAction;
use super::config_in;
use super::fake_service::FakeService;
use super::fake_slack::FakeSlack;
use super::fake_telegram::FakeTelegram;
use super::slack::{self, CHANNEL, SlackHarness};
use super::telegram_updates::{TG_CHAT, TG_SECRET};
use chrono::Utc;
use opsmate::app::AppOptions;
use opsmate::clock::ManualClock;
use opsmate::config::{Config, Secret, Secrets};
use opsmate::features::observatory::Observatory;
use opsmate::features::observatory::config::{CheckConfig, CheckKind, ObservatoryConfig};
use opsmate::features::observatory::status::Outcome;
use std::sync::Arc;

pub struct HealthHarness {
    pub slack: SlackHarness,
    pub telegram: FakeTelegram,
    pub service: FakeService,
    pub clock: ManualClock,
    secrets: Secrets,
}

/// An http check of `url` with a 1 s timeout.
pub fn http_check(name: &str, url: &str) -> CheckConfig {
    CheckConfig {
        url: Some(url.into()),
        timeout: Some(std::time::Duration::from_secs(1)),
        ..CheckConfig::new(name, CheckKind::Http)
    }
}

/// The app on `clock`, with or without the check timers.
async fn launch(
    dir: tempfile::TempDir,
    fake: FakeSlack,
    config: Config,
    secrets: &Secrets,
    clock: &ManualClock,
    timers: bool,
) -> SlackHarness {
    // AWS through `config.aws` with moto's static credentials (Incidents' EC2 reboot).
    let aws = opsmate::cloud::Aws::with_static_credentials(&config.aws, "testing", "testing").await;
    let options = AppOptions {
        clock: Arc::new(clock.clone()),
        feature_timers: timers,
        aws: Some(aws),
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
    // Requests are signed at the app's "now", as Slack's would be.
    h.clock = Some(clock.clone());
    h
}

impl HealthHarness {
    /// Observatory on with one http check `api` of the fake service, alerts to the
    /// Slack channel and the Telegram chat; `tweak` adjusts the config.
    pub async fn start(tweak: impl FnOnce(&mut Config, &FakeService)) -> Self {
        Self::start_with(tweak, false).await
    }

    /// The same with the check timers running, as in production.
    pub async fn start_live(tweak: impl FnOnce(&mut Config, &FakeService)) -> Self {
        Self::start_with(tweak, true).await
    }

    async fn start_with(tweak: impl FnOnce(&mut Config, &FakeService), timers: bool) -> Self {
        let service = FakeService::start().await;
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeSlack::start(vec![]).await;
        let telegram = FakeTelegram::start().await;
        let mut config = config_in(dir.path());
        config.slack.api_url = fake.api_url();
        config.slack.alert_channel = Some(CHANNEL.into());
        config.telegram.api_url = telegram.api_url();
        config.telegram.public_url = Some("https://opsmate.example.com".into());
        config.telegram.allowed_chat_ids = vec![TG_CHAT];
        config.telegram.alert_chat_id = Some(TG_CHAT);
        config.sections.set(&ObservatoryConfig {
            checks: vec![http_check("api", &service.url)],
            self_checks: opsmate::features::observatory::config::SelfChecks {
                enabled: false,
                ..Default::default()
            },
            ..ObservatoryConfig::default()
        });
        tweak(&mut config, &service);
        let clock = ManualClock::new(opsmate::clock::from_millis(Utc::now().timestamp_millis()));
        let mut secrets = slack::secrets();
        secrets.telegram_bot_token = Some(Secret::new("123456:TEST-token"));
        secrets.telegram_webhook_secret = Some(Secret::new(TG_SECRET));
        let secrets = secrets
            .with_named(
                super::fake_pager::ROUTING_KEY_ENV,
                super::fake_pager::ROUTING_KEY,
            )
            .with_named(
                super::fake_pager::WEBHOOK_SECRET_ENV,
                super::fake_pager::WEBHOOK_SECRET,
            )
            .with_named(
                super::fake_pager::SMTP_USERNAME_ENV,
                super::fake_pager::SMTP_USERNAME,
            )
            .with_named(
                super::fake_pager::SMTP_PASSWORD_ENV,
                super::fake_pager::SMTP_PASSWORD,
            );
        let slack = launch(dir, fake, config, &secrets, &clock, timers).await;
        Self {
            slack,
            telegram,
            service,
            clock,
            secrets,
        }
    }

    pub fn ctx(&self) -> &opsmate::dispatch::Context {
        &self.slack.app.ctx
    }

    pub fn observatory(&self) -> Arc<Observatory> {
        self.ctx()
            .features
            .get::<opsmate::features::observatory::Observatory>()
            .expect("observatory is on")
    }

    /// Runs the configured check `name` once, as its timer would.
    pub async fn check(&self, name: &str) -> Outcome {
        let o = self.observatory();
        let check = o
            .settings
            .checks
            .iter()
            .find(|c| c.name == name)
            .expect("a configured check")
            .clone();
        o.check_once(self.ctx(), &check).await.expect("check runs")
    }

    /// Advances the clock by `secs` and runs the check.
    pub async fn check_after(&self, secs: i64, name: &str) -> Outcome {
        self.clock.advance(chrono::Duration::seconds(secs));
        self.check(name).await
    }

    /// One round: the check after `secs`, then, `group_wait` (30 s) later, a flush.
    /// Returns how many notices went out.
    pub async fn round(&self, secs: i64, name: &str) -> usize {
        self.check_after(secs, name).await;
        self.clock.advance(chrono::Duration::seconds(30));
        self.flush().await
    }

    /// Sends what is due; returns how many notices went out.
    pub async fn flush(&self) -> usize {
        self.observatory().flush(self.ctx()).await.expect("flush")
    }

    /// Slack messages Observatory posted so far (their text).
    pub fn posted(&self) -> Vec<String> {
        self.slack
            .fake
            .calls_to("chat.postMessage")
            .iter()
            .map(|c| super::slack::all_text(&c.body))
            .collect()
    }

    /// Stops the app and starts it again on the same database and clock.
    pub async fn restart(self) -> Self {
        let Self {
            slack,
            telegram,
            service,
            clock,
            secrets,
        } = self;
        let SlackHarness {
            dir,
            fake,
            app,
            config,
            ..
        } = slack;
        app.stop().await;
        let slack = launch(dir, fake, config, &secrets, &clock, false).await;
        Self {
            slack,
            telegram,
            service,
            clock,
            secrets,
        }
    }

    /// Ends the test through the app's `finish` (nothing left queued, failed or
    /// erroring).
    pub async fn stop(self) {
        self.slack.app.finish().await;
    }
}
