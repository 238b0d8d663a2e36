//! Night Watchman: stops staging instances in the evening when nobody is working (no
//! recent GitHub push, no urgent Linear issue, no hold), warns first so someone can
//! keep them up, and in the morning starts exactly what it stopped.
//!
//! - [`signals`] read GitHub, Linear and holds, each with its evidence;
//! - [`decide`] turns them into stop or keep (pure);
//! - [`check`] lists the targets and estimates the savings;
//! - [`actions`] is the stop the approval gate runs;
//! - [`messages`] is what it posts;
//! - [`run`] is the evening, deadline and morning jobs and the chat commands;
//! - [`price`] is the instance price table.

pub mod actions;
pub mod api;
pub mod check;
pub mod cli;
pub mod config;
pub mod decide;
pub mod kinds;
pub mod messages;
pub mod page;
pub mod plug;
pub mod price;
pub mod run;
pub mod signals;

pub use plug::PLUG;

use crate::cloud::Aws;
use crate::config::{Config, Secret};
use crate::features::watchman::config::WatchmanConfig;
use crate::scheduler::CronSchedule;
use chrono_tz::Tz;
use std::time::Duration;

/// A missed evening check still runs if OpsMate is back within this time; the check
/// then stops only if it is still before the morning start.
pub const NIGHT_CATCH_UP: Duration = Duration::from_secs(16 * 3600);

/// Tag put on every instance Night Watchman stops; the morning start starts only
/// instances carrying it, so an instance a person stopped stays stopped.
pub const STOPPED_TAG: &str = "opsmate:stopped-at";

/// Who proposes the stop.
pub const PROPOSER: &str = "night_watchman";

/// Night Watchman's settings and clients, built once at start-up.
pub struct Watchman {
    pub settings: WatchmanConfig,
    pub regions: Vec<String>,
    pub aws: Aws,
    /// GitHub client (octocrab), pointed at `github.api_url`.
    pub github: Option<octocrab::Octocrab>,
    pub http: reqwest::Client,
    pub linear_url: String,
    pub linear_key: Option<Secret>,
    pub tz: Tz,
    /// The morning start, when on.
    pub start: Option<CronSchedule>,
}

impl std::fmt::Debug for Watchman {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchman")
            .field("regions", &self.regions)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// How long a GitHub or Linear call may take before the signal counts as unreadable.
const SIGNAL_TIMEOUT: Duration = Duration::from_secs(15);

impl Watchman {
    /// Builds the clients. `settings` defaults apply when `[watchman]` is absent (the
    /// CLI's `check` works without it).
    pub fn new(
        config: &Config,
        secrets: &crate::config::Secrets,
        aws: &Aws,
    ) -> anyhow::Result<Self> {
        let settings = config.section::<WatchmanConfig>()?.unwrap_or_default();
        let github = Some(crate::github::client(config, secrets, SIGNAL_TIMEOUT)?);
        let start = settings.start_schedule(config.timezone)?;
        Ok(Self {
            regions: settings
                .regions
                .clone()
                .unwrap_or_else(|| config.aws.regions.clone()),
            tz: settings.timezone.unwrap_or(config.timezone),
            settings,
            aws: aws.clone(),
            github,
            http: reqwest::Client::builder().timeout(SIGNAL_TIMEOUT).build()?,
            linear_url: config.linear.api_url.clone(),
            linear_key: secrets.linear_api_key.clone(),
            start,
        })
    }
}
