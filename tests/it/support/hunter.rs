//! Zombie Hunter against a real moto server (behind the paginating, fault-injecting
//! proxy), with the fake Slack and Telegram APIs and a manual clock.

use super::aws_proxy::AwsProxy;
use super::config_in;
use super::eventually;
use super::fake_slack::FakeSlack;
use super::fake_telegram::FakeTelegram;
use super::moto::Moto;
use super::slack::{self, CHANNEL, SlackHarness};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, ResourceType, Tag, TagSpecification, VolumeType,
};
use opsmate::clock::{Clock, ManualClock};
use opsmate::config::{AwsConfig, Config, KindPolicy, Secret};
use opsmate::features::hunter::config::HunterConfig;
use opsmate::features::hunter::hunt::{self, HuntResult};
use serde_json::Value;
use std::time::Duration;

pub const REGION: &str = "us-east-1";
pub const AZ: &str = "us-east-1a";
pub use super::telegram_updates::{TG_ALICE, TG_CHAT, TG_SECRET};

pub struct HunterHarness {
    pub slack: SlackHarness,
    pub telegram: FakeTelegram,
    pub proxy: AwsProxy,
    pub clock: ManualClock,
    pub moto: Moto,
}

/// Approvers of every deletion kind: UALICE and UBOB on Slack, 42 on Telegram.
fn approvers() -> KindPolicy {
    KindPolicy {
        telegram_users: vec![opsmate::domain::TelegramUserId(TG_ALICE)],
        ..slack::policy()
    }
}

impl HunterHarness {
    /// Starts moto, the proxy, both fakes and the app with `[hunter]` on (volumes due
    /// at once), after `tweak` adjusts the config.
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> Self {
        let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
        let proxy = AwsProxy::start(&moto.endpoint).await;
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeSlack::start(vec![]).await;
        let telegram = FakeTelegram::start().await;
        let mut config = config_in(dir.path());
        config.aws = AwsConfig {
            regions: vec![REGION.into()],
            endpoint_url: Some(proxy.endpoint.clone()),
            // An unreachable region gives up after about a second, not a minute.
            max_attempts: 3,
        };
        config.slack.api_url = fake.api_url();
        config.telegram.api_url = telegram.api_url();
        config.telegram.public_url = Some("https://opsmate.example.com".into());
        config.telegram.allowed_chat_ids = vec![TG_CHAT];
        config.telegram.approver_user_ids = vec![opsmate::domain::TelegramUserId(TG_ALICE)];
        config
            .approvals
            .set_policy(opsmate::domain::ActionKind::DELETE_VOLUME, approvers());
        config
            .approvals
            .set_policy(opsmate::domain::ActionKind::DELETE_SNAPSHOT, approvers());
        config
            .approvals
            .set_policy(opsmate::domain::ActionKind::RELEASE_ADDRESS, approvers());
        config.sections.set(&HunterConfig {
            volume_min_idle_days: 0,
            slack_channel: Some(CHANNEL.into()),
            ..HunterConfig::default()
        });
        tweak(&mut config);
        let clock = ManualClock::new(chrono::Utc::now());
        let slack = SlackHarness::start_on_clock(dir, fake, config, secrets(), &clock).await;
        Self {
            slack,
            telegram,
            proxy,
            clock,
            moto,
        }
    }

    /// A client straight to moto (not through the proxy), for seeding and checking.
    pub async fn ec2(&self, region: &str) -> Client {
        self.moto.aws(region).await.ec2(region)
    }

    pub fn ctx(&self) -> &opsmate::dispatch::Context {
        &self.slack.app.ctx
    }

    /// One hunt of every configured region, as the job runs it.
    pub async fn hunt(&self) -> HuntResult {
        let ctx = self.ctx();
        hunt::hunt(
            &ctx.features
                .get::<opsmate::features::hunter::Hunter>()
                .expect("hunter is on"),
            &ctx.store,
            &ctx.audit,
            self.clock.now(),
            &[],
            "test",
        )
        .await
        .expect("hunt")
    }

    /// Runs the scheduled job and returns the report's first Slack message, once
    /// Slack has answered with its ts.
    pub async fn scheduled_report(&self) -> Value {
        let before = self.slack.fake.calls_to("chat.postMessage").len();
        opsmate::features::hunter::run::scheduled(self.ctx())
            .await
            .expect("scheduled hunt");
        let posts = self.slack.wait_calls("chat.postMessage", before + 1).await;
        let body = posts[before].body.clone();
        // The tag is recorded once the sender marks it sent.
        let ctx = self.ctx();
        let ok = eventually(Duration::from_secs(5), || async {
            ctx.outbox.tagged("hunter:").await.unwrap().len() > before
        })
        .await;
        assert!(ok, "the report was never recorded as delivered");
        body
    }

    /// Ends the test through the app's `finish` (nothing left queued, failed or
    /// erroring).
    pub async fn stop(self) {
        self.slack.app.finish().await;
    }

    /// The process dies (see [`super::TestApp::crash`]) and a new one starts on the
    /// same database, moto and fakes.
    /// Stops the app as `serve` does on SIGTERM (with its drain), lets `between` look
    /// at the stopped app's configuration (its database), then starts a new one on
    /// the same database.
    pub async fn stop_and_restart(self, between: impl FnOnce(&Config)) -> Self {
        self.restart(true, between).await
    }

    pub async fn crash_and_restart(self) -> Self {
        self.restart(false, |_| {}).await
    }

    async fn restart(self, graceful: bool, between: impl FnOnce(&Config)) -> Self {
        let Self {
            slack,
            telegram,
            proxy,
            clock,
            moto,
        } = self;
        let SlackHarness {
            dir,
            fake,
            app,
            config,
            ..
        } = slack;
        if graceful {
            app.stop().await;
        } else {
            app.crash().await;
        }
        between(&config);
        let slack = SlackHarness::start_on_clock(dir, fake, config, secrets(), &clock).await;
        Self {
            slack,
            telegram,
            proxy,
            clock,
            moto,
        }
    }
}

fn secrets() -> opsmate::config::Secrets {
    let mut secrets = slack::secrets();
    secrets.telegram_bot_token = Some(Secret::new("123456:TEST-token"));
    secrets.telegram_webhook_secret = Some(Secret::new(TG_SECRET));
    secrets
}

/// The action id of the Slack button whose label starts with `label`, in a message
/// whose text around it mentions `near` (the resource id on the line above).
pub fn slack_button(body: &Value, near: &str, label: &str) -> String {
    let blocks = body["blocks"].as_array().expect("blocks");
    for (i, b) in blocks.iter().enumerate() {
        if b["type"] != "actions" {
            continue;
        }
        let above = i
            .checked_sub(1)
            .map(|j| blocks[j].to_string())
            .unwrap_or_default();
        if !near.is_empty() && !above.contains(near) {
            continue;
        }
        for e in b["elements"].as_array().unwrap() {
            if e["text"]["text"]
                .as_str()
                .unwrap_or_default()
                .starts_with(label)
            {
                return e["action_id"].as_str().unwrap().to_owned();
            }
        }
    }
    panic!("no {label:?} button near {near:?} in {body:#}");
}

// Seeding moto.

fn tag_spec(kind: ResourceType, tags: &[(&str, &str)]) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
                .collect(),
        ))
        .build()
}

pub async fn volume(ec2: &Client, size: i32, kind: VolumeType, tags: &[(&str, &str)]) -> String {
    let mut req = ec2
        .create_volume()
        .availability_zone(AZ)
        .size(size)
        .volume_type(kind);
    if !tags.is_empty() {
        req = req.tag_specifications(tag_spec(ResourceType::Volume, tags));
    }
    req.send().await.unwrap().volume_id().unwrap().to_owned()
}

pub async fn io1_volume(ec2: &Client, size: i32, iops: i32) -> String {
    ec2.create_volume()
        .availability_zone(AZ)
        .size(size)
        .volume_type(VolumeType::Io1)
        .iops(iops)
        .send()
        .await
        .unwrap()
        .volume_id()
        .unwrap()
        .to_owned()
}

pub async fn snapshot(ec2: &Client, volume_id: &str, tags: &[(&str, &str)]) -> String {
    let mut req = ec2.create_snapshot().volume_id(volume_id);
    if !tags.is_empty() {
        req = req.tag_specifications(tag_spec(ResourceType::Snapshot, tags));
    }
    req.send().await.unwrap().snapshot_id().unwrap().to_owned()
}

/// An own AMI (moto gives it a snapshot of its own) and that snapshot's id.
pub async fn ami(ec2: &Client) -> (String, String) {
    static AMI_NAMES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let name = format!(
        "base-{}",
        AMI_NAMES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let image = ec2
        .register_image()
        .name(name)
        .root_device_name("/dev/sda1")
        .block_device_mappings(
            BlockDeviceMapping::builder()
                .device_name("/dev/sda1")
                .ebs(EbsBlockDevice::builder().volume_size(8).build())
                .build(),
        )
        .send()
        .await
        .unwrap()
        .image_id()
        .unwrap()
        .to_owned();
    let described = ec2
        .describe_images()
        .image_ids(&image)
        .send()
        .await
        .unwrap();
    let snap = described.images()[0].block_device_mappings()[0]
        .ebs()
        .unwrap()
        .snapshot_id()
        .unwrap()
        .to_owned();
    (image, snap)
}

/// A running instance (from a fresh own AMI) in [`AZ`].
pub async fn instance(ec2: &Client) -> String {
    let (image, _) = ami(ec2).await;
    ec2.run_instances()
        .image_id(image)
        .min_count(1)
        .max_count(1)
        .placement(
            aws_sdk_ec2::types::Placement::builder()
                .availability_zone(AZ)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_owned()
}

pub async fn attach(ec2: &Client, volume_id: &str, instance_id: &str) {
    ec2.attach_volume()
        .volume_id(volume_id)
        .instance_id(instance_id)
        .device("/dev/sdf")
        .send()
        .await
        .unwrap();
}

/// Allocates an Elastic IP; returns its allocation id.
pub async fn address(ec2: &Client) -> String {
    ec2.allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .send()
        .await
        .unwrap()
        .allocation_id()
        .unwrap()
        .to_owned()
}

pub async fn volume_exists(ec2: &Client, id: &str) -> bool {
    opsmate::cloud::ec2::volume_now(ec2, &opsmate::cloud::ids::VolumeId::parse(id).unwrap())
        .await
        .unwrap()
        .is_some()
}
