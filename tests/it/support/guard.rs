//! Access Guard against moto's IAM (behind the recording, fault-injecting proxy), the
//! fake Slack directory and the fake GitHub organisation, on a manual clock.

use super::aws_proxy::AwsProxy;
use super::config_in;
use super::fake_github::FakeGithub;
use super::fake_slack::FakeSlack;
use super::fake_telegram::FakeTelegram;
use super::moto::Moto;
use super::slack::{self, CHANNEL, SlackHarness};
use super::telegram_updates::TG_SECRET;
pub use super::telegram_updates::{TG_ALICE, TG_CHAT};
use aws_sdk_iam::Client;
use aws_sdk_iam::types::Tag;
use chrono::{DateTime, Utc};
use opsmate::clock::{Clock, ManualClock};
use opsmate::config::{AwsConfig, Config, Secret};
use opsmate::features::guard::config::GuardConfig;
use opsmate::features::guard::run;
use opsmate::features::guard::scan::{Scan, UserReport};

pub const ORG: &str = "acme";
const CERT: &str = include_str!("../fixtures/signing-cert.pem");
const SSH_KEY: &str = include_str!("../fixtures/ssh-key.pub");

pub struct GuardHarness {
    pub slack: SlackHarness,
    pub telegram: FakeTelegram,
    pub github: FakeGithub,
    pub proxy: AwsProxy,
    pub clock: ManualClock,
    pub moto: Moto,
}

impl GuardHarness {
    /// Everything up with `[guard]` on for GitHub org `acme`, requests in the Slack
    /// channel, UALICE and UBOB (and group SOPS) approving revocations; `tweak`
    /// adjusts the config.
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> Self {
        let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
        let proxy = AwsProxy::start(&moto.endpoint).await;
        let github = FakeGithub::start().await;
        github.set_members(ORG, &[]);
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeSlack::start(vec![]).await;
        let telegram = FakeTelegram::start().await;
        let mut config = config_in(dir.path());
        config.telegram.api_url = telegram.api_url();
        config.telegram.public_url = Some("https://opsmate.example.com".into());
        config.telegram.allowed_chat_ids = vec![TG_CHAT];
        config.telegram.alert_chat_id = Some(TG_CHAT);
        config.telegram.approver_user_ids = vec![opsmate::domain::TelegramUserId(TG_ALICE)];
        config.aws = AwsConfig {
            regions: vec!["us-east-1".into()],
            endpoint_url: Some(proxy.endpoint.clone()),
            max_attempts: 2,
        };
        config.slack.api_url = fake.api_url();
        config.github.api_url = github.url.clone();
        config.approvals.set_policy(
            opsmate::domain::ActionKind::REVOKE_ACCESS,
            opsmate::config::KindPolicy {
                telegram_users: vec![opsmate::domain::TelegramUserId(TG_ALICE)],
                ..slack::policy()
            },
        );
        config.sections.set(&GuardConfig {
            github_org: Some(ORG.into()),
            ..GuardConfig::default()
        });
        config.slack.security_channel = Some(CHANNEL.into());
        tweak(&mut config);
        // Whole milliseconds, as the database stores times.
        let clock = ManualClock::new(opsmate::clock::from_millis(Utc::now().timestamp_millis()));
        let mut secrets = slack::secrets();
        secrets.github_token = Some(Secret::new("ghp_test_token"));
        secrets.telegram_bot_token = Some(Secret::new("123456:TEST-token"));
        secrets.telegram_webhook_secret = Some(Secret::new(TG_SECRET));
        let slack = SlackHarness::start_on_clock(dir, fake, config, secrets, &clock).await;
        Self {
            slack,
            telegram,
            github,
            proxy,
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

    pub fn advance_days(&self, days: i64) {
        self.clock.advance(chrono::Duration::days(days));
    }

    /// An IAM client straight to moto, for seeding and checking.
    pub async fn iam(&self) -> Client {
        self.moto.aws("us-east-1").await.iam()
    }

    /// The daily job: scan, then ask about everyone departed.
    pub async fn scan(&self) -> Scan {
        let g = self
            .ctx()
            .features
            .get::<opsmate::features::guard::Guard>()
            .expect("guard is on");
        run::scan_and_ask(self.ctx(), &g).await.expect("scan")
    }

    /// An IAM user with these tags.
    pub async fn iam_user(&self, name: &str, tags: &[(&str, &str)]) {
        create_user(&self.iam().await, name, tags).await;
    }

    /// A person with an IAM user tagged with `email` and `login`, an active Slack
    /// account under `slack_email` and membership of the GitHub org.
    pub async fn person(&self, user: &str, email: &str, login: &str, slack_id: &str) {
        self.iam_user(user, &[("email", email), ("github", login)])
            .await;
        self.slack.fake.add_member(slack_id, email, false);
        self.add_github(login);
    }

    pub fn add_github(&self, login: &str) {
        let mut members = self.github_members();
        members.push(login.to_owned());
        let refs: Vec<&str> = members.iter().map(String::as_str).collect();
        self.github.set_members(ORG, &refs);
    }

    pub fn remove_github(&self, login: &str) {
        let members: Vec<String> = self
            .github_members()
            .into_iter()
            .filter(|l| l != login)
            .collect();
        let refs: Vec<&str> = members.iter().map(String::as_str).collect();
        self.github.set_members(ORG, &refs);
    }

    fn github_members(&self) -> Vec<String> {
        self.github.members(ORG)
    }

    /// Gives the user every kind of access a revocation removes.
    pub async fn give_access(&self, user: &str) {
        let iam = self.iam().await;
        iam.create_access_key()
            .user_name(user)
            .send()
            .await
            .unwrap();
        iam.create_access_key()
            .user_name(user)
            .send()
            .await
            .unwrap();
        iam.create_login_profile()
            .user_name(user)
            .password("Correct-Horse-1")
            .send()
            .await
            .unwrap();
        let group = format!("{user}-developers");
        iam.create_group().group_name(&group).send().await.unwrap();
        iam.add_user_to_group()
            .group_name(&group)
            .user_name(user)
            .send()
            .await
            .unwrap();
        let policy = iam
            .create_policy()
            .policy_name(format!("{user}-deploy"))
            .policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
            )
            .send()
            .await
            .unwrap();
        iam.attach_user_policy()
            .user_name(user)
            .policy_arn(policy.policy().unwrap().arn().unwrap())
            .send()
            .await
            .unwrap();
        iam.put_user_policy()
            .user_name(user)
            .policy_name("inline-admin")
            .policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
            )
            .send()
            .await
            .unwrap();
        let device = iam
            .create_virtual_mfa_device()
            .virtual_mfa_device_name(format!("{user}-phone"))
            .send()
            .await
            .unwrap();
        let serial = device
            .virtual_mfa_device()
            .unwrap()
            .serial_number()
            .to_owned();
        iam.enable_mfa_device()
            .user_name(user)
            .serial_number(&serial)
            .authentication_code1("123456")
            .authentication_code2("654321")
            .send()
            .await
            .unwrap();
        iam.upload_ssh_public_key()
            .user_name(user)
            .ssh_public_key_body(SSH_KEY.trim())
            .send()
            .await
            .unwrap();
        iam.upload_signing_certificate()
            .user_name(user)
            .certificate_body(CERT)
            .send()
            .await
            .unwrap();
        self.proxy
            .add_service_specific_credential(user, "codecommit.amazonaws.com");
    }

    /// What access the user has left, read from moto.
    pub async fn access_of(&self, user: &str) -> Access {
        let iam = self.iam().await;
        if iam.get_user().user_name(user).send().await.is_err() {
            return Access::default();
        }
        Access {
            access_keys: iam
                .list_access_keys()
                .user_name(user)
                .send()
                .await
                .unwrap()
                .access_key_metadata()
                .len(),
            login_profile: iam.get_login_profile().user_name(user).send().await.is_ok(),
            groups: iam
                .list_groups_for_user()
                .user_name(user)
                .send()
                .await
                .unwrap()
                .groups()
                .iter()
                .map(|g| g.group_name().to_owned())
                .collect(),
            managed_policies: iam
                .list_attached_user_policies()
                .user_name(user)
                .send()
                .await
                .unwrap()
                .attached_policies()
                .iter()
                .filter_map(|p| p.policy_name().map(str::to_owned))
                .collect(),
            inline_policies: iam
                .list_user_policies()
                .user_name(user)
                .send()
                .await
                .unwrap()
                .policy_names()
                .to_vec(),
            mfa_devices: iam
                .list_mfa_devices()
                .user_name(user)
                .send()
                .await
                .unwrap()
                .mfa_devices()
                .len(),
            virtual_mfa_devices: iam
                .list_virtual_mfa_devices()
                .send()
                .await
                .unwrap()
                .virtual_mfa_devices()
                .iter()
                .filter(|d| d.serial_number().contains(&format!("{user}-phone")))
                .count(),
            ssh_keys: iam
                .list_ssh_public_keys()
                .user_name(user)
                .send()
                .await
                .unwrap()
                .ssh_public_keys()
                .len(),
            signing_certificates: iam
                .list_signing_certificates()
                .user_name(user)
                .send()
                .await
                .unwrap()
                .certificates()
                .len(),
            service_credentials: self.proxy.service_specific_credentials(user).len(),
            exists: true,
        }
    }

    /// Ends the test through the app's `finish` (nothing left queued, failed or
    /// erroring).
    pub async fn stop(self) {
        self.slack.app.finish().await;
    }
}

/// What access an IAM user has, as moto reports it (all empty once it is deleted).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Access {
    pub access_keys: usize,
    pub login_profile: bool,
    pub groups: Vec<String>,
    pub managed_policies: Vec<String>,
    pub inline_policies: Vec<String>,
    pub mfa_devices: usize,
    pub virtual_mfa_devices: usize,
    pub ssh_keys: usize,
    pub signing_certificates: usize,
    pub service_credentials: usize,
    pub exists: bool,
}

/// Creates an IAM user with these tags.
pub async fn create_user(iam: &Client, name: &str, tags: &[(&str, &str)]) {
    iam.create_user()
        .user_name(name)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap())
                .collect(),
        ))
        .send()
        .await
        .unwrap();
}

/// The report of one user in a scan.
pub fn of<'a>(scan: &'a Scan, user: &str) -> &'a UserReport {
    scan.users
        .iter()
        .find(|u| u.user == user)
        .unwrap_or_else(|| panic!("{user} is not in the scan"))
}
