//! Sentinel: every pull request of the configured repositories is checked against
//! the team's rules, with the result as a GitHub check run (`OpsMate Sentinel`) and,
//! when a rule is broken, a message in chat with a **Waive** button.
//!
//! - [`webhook`] is the signed door's part: which GitHub deliveries it takes;
//! - [`evaluate`] reads the pull request (its files' patches, reviews, team
//!   memberships, the Linear issues it names: [`github`], [`linear`]) and runs the
//!   [`rules`] ([`secrets_scan`] reads the added lines);
//! - [`publish`] writes the check run ([`check_run`] says what it reads), keeps the
//!   waive proposal and the chat message ([`message`]) in step, and records a merge
//!   that bypassed a failing check;
//! - [`waive`] is the approved waiver's action; [`status`] answers
//!   `/opsmate sentinel` and writes the digest's section; [`cli`] is
//!   `opsmate sentinel check`; [`store`] holds the SQL; [`plug`] plugs it in.

pub mod check_run;
pub mod cli;
pub mod config;
pub mod evaluate;
pub mod github;
pub mod kinds;
pub mod linear;
pub mod message;
pub mod plug;
pub mod publish;
pub mod rules;
pub mod secrets_scan;
pub mod status;
pub mod store;
pub mod waive;
pub mod webhook;

pub use plug::PLUG;

use config::SentinelConfig;

/// Who proposes waivers: the pull request's author is recorded as the proposer, so
/// the gate refuses their own waiver; this names the rule that put it up.
pub const RULE_ACTOR: &str = "rule:sentinel";

/// Sentinel's settings and clients, built once at start-up.
pub struct Sentinel {
    pub settings: SentinelConfig,
    pub github: octocrab::Octocrab,
    pub http: reqwest::Client,
    pub linear_url: String,
    pub linear_key: Option<crate::config::Secret>,
    pub tz: chrono_tz::Tz,
    /// One evaluation and publication per pull request at a time (a delivery and a
    /// waiver's refresh), so no check run is created twice.
    pub(crate) publishing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Sentinel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sentinel")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Sentinel {
    /// Builds the clients from the configuration.
    pub fn new(
        settings: SentinelConfig,
        config: &crate::config::Config,
        secrets: &crate::config::Secrets,
    ) -> anyhow::Result<Self> {
        let timeout = std::time::Duration::from_secs(15);
        Ok(Self {
            settings,
            github: crate::github::client(config, secrets, timeout)?,
            http: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .build()?,
            linear_url: config.linear.api_url.clone(),
            linear_key: secrets.linear_api_key.clone(),
            tz: config.timezone,
            publishing: Default::default(),
        })
    }

    /// `owner/name#N` as given in a command, with the configured spelling.
    pub fn parse_pull(&self, text: &str) -> Result<(String, u64), String> {
        let (repo, number) = parse_pull_ref(text)?;
        match self.settings.repo_named(&repo) {
            Some(name) => Ok((name.to_owned(), number)),
            None => Err(format!("{repo} is not in [[sentinel.repos]]")),
        }
    }

    /// How chat names a GitHub login: its Slack user when `people` maps it.
    pub fn person(&self, login: &str) -> String {
        match self.settings.slack_of(login) {
            Some(user) => format!("{login} (<@{user}>)"),
            None => login.to_owned(),
        }
    }

    /// The actor key the gate compares a decider with: the Slack user mapped to the
    /// GitHub login, else the login itself.
    pub fn proposer_key(&self, login: &str) -> String {
        match self.settings.slack_of(login) {
            Some(user) => format!("slack:{user}"),
            None => format!("github:{login}"),
        }
    }

    /// How GitHub's check run names a decider (`slack:U…`): the GitHub login mapped to
    /// it, with the key.
    pub fn decider_name(&self, key: &str) -> String {
        let user = key.strip_prefix("slack:").unwrap_or(key);
        match self
            .settings
            .people
            .iter()
            .find(|(_, u)| u.as_str() == user)
        {
            Some((login, _)) => format!("@{login} ({key})"),
            None => key.to_owned(),
        }
    }
}

/// Parses `owner/name#N`.
pub fn parse_pull_ref(text: &str) -> Result<(String, u64), String> {
    let bad = || format!("{text:?} is not OWNER/REPO#NUMBER");
    let (repo, number) = text.trim().split_once('#').ok_or_else(bad)?;
    let number: u64 = number.parse().map_err(|_| bad())?;
    let parts: Vec<&str> = repo.split('/').collect();
    if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) || number == 0 {
        return Err(bad());
    }
    Ok((repo.to_owned(), number))
}

#[cfg(test)]
mod tests {
    #[test]
    fn pull_references_parse() {
        assert_eq!(
            super::parse_pull_ref("acme/api#12"),
            Ok(("acme/api".into(), 12))
        );
        for bad in ["acme/api", "acme#1", "acme/api#x", "/api#1", "acme/api#0"] {
            assert!(super::parse_pull_ref(bad).is_err(), "{bad}");
        }
    }
}
