//! Night Watchman against moto, the fake GitHub and Linear APIs and the fake Slack,
//! on a manual clock.

use super::config_in;
use super::fake_github::FakeGithub;
use super::fake_linear::FakeLinear;
use super::fake_slack::FakeSlack;
use super::moto::Moto;
use super::slack::{self, CHANNEL, SlackHarness};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{InstanceType, ResourceType, Tag, TagSpecification};
use chrono::{DateTime, Utc};
use opsmate::clock::{Clock, ManualClock};
use opsmate::config::{AwsConfig, Config, Secret};
use opsmate::events::{JobKind, JobRun};
use opsmate::features::watchman::config::WatchmanConfig;
use opsmate::features::watchman::run;

pub const REGION: &str = "us-east-1";

pub struct WatchmanHarness {
    pub slack: SlackHarness,
    pub github: FakeGithub,
    pub linear: FakeLinear,
    pub clock: ManualClock,
    pub moto: Moto,
}

impl WatchmanHarness {
    /// Everything up, `[watchman]` on for org `acme` and Linear team `OPS`, notices in
    /// the Slack channel; `tweak` adjusts the config.
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> Self {
        let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
        let github = FakeGithub::start().await;
        let linear = FakeLinear::start().await;
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeSlack::start(vec![]).await;
        let mut config = config_in(dir.path());
        config.aws = AwsConfig {
            regions: vec![REGION.into()],
            endpoint_url: Some(moto.endpoint.clone()),
            max_attempts: 2,
        };
        config.slack.api_url = fake.api_url();
        config.github.api_url = github.url.clone();
        config.linear.api_url = linear.url.clone();
        config
            .approvals
            .set_policy(opsmate::domain::ActionKind::STOP_INSTANCES, slack::policy());
        config.sections.set(&WatchmanConfig {
            github_org: Some("acme".into()),
            linear_team_keys: vec!["OPS".into()],
            slack_channel: Some(CHANNEL.into()),
            ..WatchmanConfig::default()
        });
        tweak(&mut config);
        // The evening of the shutdown job (20:00 UTC), whatever the time of day the
        // tests run at: an hour later is then still night.
        let clock = ManualClock::new(last_evening(Utc::now()));
        let mut secrets = slack::secrets();
        secrets.github_token = Some(Secret::new("ghp_test_token"));
        secrets.linear_api_key = Some(Secret::new("lin_api_test_key"));
        let slack = SlackHarness::start_on_clock(dir, fake, config, secrets, &clock).await;
        Self {
            slack,
            github,
            linear,
            clock,
            moto,
        }
    }

    pub fn ctx(&self) -> &opsmate::dispatch::Context {
        &self.slack.app.ctx
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub async fn ec2(&self) -> Client {
        self.moto.aws(REGION).await.ec2(REGION)
    }

    /// The evening job, as the scheduler would run it now.
    pub async fn evening(&self) {
        let job = JobRun {
            job: JobKind::WATCHMAN_SHUTDOWN,
            scheduled_for: self.now(),
            catch_up: false,
        };
        run::evening(self.ctx(), &job).await.expect("evening check");
    }

    pub async fn deadlines(&self) {
        run::deadlines(self.ctx()).await.expect("deadline job");
        // The stops run in the executor; the job only approves them.
        self.ctx().executor.idle().await;
    }

    pub async fn morning(&self) {
        run::morning(self.ctx()).await.expect("morning start");
    }

    /// Ends the test through the app's `finish` (nothing left queued, failed or
    /// erroring).
    pub async fn stop(self) {
        self.slack.app.finish().await;
    }
}

/// The latest 20:00 UTC at or before `now`.
fn last_evening(now: DateTime<Utc>) -> DateTime<Utc> {
    let today = now
        .date_naive()
        .and_hms_opt(20, 0, 0)
        .expect("20:00 exists")
        .and_utc();
    if today <= now {
        today
    } else {
        today - chrono::Duration::days(1)
    }
}

/// A running instance with these tags, from a fresh own AMI.
pub async fn instance(ec2: &Client, tags: &[(&str, &str)]) -> String {
    let (image, _) = super::hunter::ami(ec2).await;
    let mut req = ec2
        .run_instances()
        .image_id(image)
        .instance_type(InstanceType::T3Medium)
        .min_count(1)
        .max_count(1);
    if !tags.is_empty() {
        req = req.tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .set_tags(Some(
                    tags.iter()
                        .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
                        .collect(),
                ))
                .build(),
        );
    }
    req.send().await.unwrap().instances()[0]
        .instance_id()
        .unwrap()
        .to_owned()
}

/// The state of an instance in moto, and its tags.
pub async fn state(ec2: &Client, id: &str) -> (String, Vec<(String, String)>) {
    let out = ec2
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .unwrap();
    let i = &out.reservations()[0].instances()[0];
    (
        i.state().unwrap().name().unwrap().as_str().to_owned(),
        i.tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap().to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
    )
}
