//! Access Guard: notices when a person behind an IAM user has left (deactivated in
//! Slack, gone from the GitHub organisation), waits out a grace period, asks the
//! security channel, and on approval removes their access one audited step at a time.
//!
//! - [`identity`] reads and normalises who an IAM user is (pure);
//! - [`directories`] reads IAM, Slack and GitHub;
//! - [`detect`] decides who is gone and runs the grace clock (pure);
//! - [`scan`] puts them together and stores what changed;
//! - [`details`] gathers what a revocation request shows;
//! - [`messages`] is what Access Guard posts;
//! - [`revoke`] and [`steps`] are the revocation the approval gate runs;
//! - [`run`] is the daily job, the chat commands and Keep access;
//! - [`store`] holds its SQL; [`cli`] is `opsmate access scan`.

pub mod api;
pub mod cli;
pub mod config;
pub mod details;
pub mod detect;
pub mod directories;
pub mod identity;
pub mod kinds;
pub mod messages;
pub mod page;
pub mod plug;
pub mod revoke;
pub mod run;
pub mod scan;
pub mod steps;
pub mod store;

pub use plug::PLUG;

use crate::chat::slack::directory::SlackDirectory;
use crate::cloud::Aws;
use crate::config::{Config, Secrets};
use crate::features::guard::config::GuardConfig;
use chrono_tz::Tz;
use std::time::Duration;

/// Who proposes revocations.
pub const PROPOSER: &str = "access_guard";

/// How long one GitHub call may take.
const GITHUB_TIMEOUT: Duration = Duration::from_secs(30);

/// Access Guard's settings and clients, built once at start-up.
pub struct Guard {
    pub settings: GuardConfig,
    pub aws: Aws,
    /// Slack's directory, when the bot token is set.
    pub slack: Option<SlackDirectory>,
    /// The GitHub client, when `guard.github_org` is set.
    pub github: Option<octocrab::Octocrab>,
    pub tz: Tz,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("settings", &self.settings)
            .field("slack", &self.slack.is_some())
            .field("github", &self.github.is_some())
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// Builds the clients. Defaults apply when `[guard]` is absent (the CLI's `scan`
    /// works without it).
    pub fn new(config: &Config, secrets: &Secrets, aws: &Aws) -> anyhow::Result<Self> {
        let settings = config.section::<GuardConfig>()?.unwrap_or_default();
        let slack = match &secrets.slack_bot_token {
            Some(token) => Some(SlackDirectory::new(&config.slack.api_url, token)?),
            None => None,
        };
        let github = match &settings.github_org {
            Some(_) => Some(crate::github::client(config, secrets, GITHUB_TIMEOUT)?),
            None => None,
        };
        Ok(Self {
            tz: settings.timezone.unwrap_or(config.timezone),
            settings,
            aws: aws.clone(),
            slack,
            github,
        })
    }

    /// The grace period as a duration.
    pub fn grace(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.settings.grace_period_days))
    }

    /// The proposal target for an IAM user.
    pub fn target(user: &str) -> String {
        format!("iam-user:{user}")
    }
}
