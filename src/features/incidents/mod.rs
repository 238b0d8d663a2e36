//! Incidents: an alert becomes an incident someone owns, with the fix on its buttons.
//!
//! - [`open`] turns Observatory's notices into incidents, inside the transaction
//!   that records the result (one incident per root cause: a check whose dependency
//!   is down joins that incident);
//! - [`announce`] posts each incident's message and rewrites it as it changes;
//! - [`message`] is what that message says (pure);
//! - [`press`] is Ack, Mute and the remediation buttons;
//! - [`remediate`] runs a remediation once the gate approved it, then verifies it;
//! - [`auto`] runs a remediation with no click where its rule allows it;
//! - [`escalate`] pages, calls webhooks and mails when nobody acks, through a queue
//!   that retries until each delivery arrives;
//! - [`store`] holds its SQL; [`config`] its section; [`plug`] plugs it in.

pub mod announce;
pub mod api;
pub mod auto;
pub mod config;
pub mod escalate;
pub mod kinds;
pub mod message;
pub mod open;
pub mod plug;
pub mod press;
pub mod propose;
pub mod remediate;
pub mod store;

pub use plug::PLUG;

use crate::features::observatory::config::{CheckConfig, ObservatoryConfig};
use config::{IncidentsConfig, Plan};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;

/// Incidents' settings, built once at start-up.
pub struct Incidents {
    pub settings: IncidentsConfig,
    /// Observatory's configured checks, by name (their dependencies and remediations).
    checks: HashMap<String, CheckConfig>,
    pub tz: chrono_tz::Tz,
    /// Where incident messages go: Observatory's alert channel and chat.
    slack_channel: Option<String>,
    telegram_chat_id: Option<i64>,
    /// Wakes the announcer once a recorded result changed an incident.
    pub(crate) wake: Arc<Notify>,
    /// For pages and webhooks.
    pub(crate) http: reqwest::Client,
    /// One announcer pass at a time (the timer and a finished remediation's
    /// refresh), so no incident is posted twice.
    pub(crate) announcing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Incidents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incidents")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Incidents {
    pub fn new(
        settings: IncidentsConfig,
        observatory: &ObservatoryConfig,
        tz: chrono_tz::Tz,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(escalate::SEND_TIMEOUT)
            .build()?;
        Ok(Self {
            settings,
            checks: observatory
                .checks
                .iter()
                .map(|c| (c.name.clone(), c.clone()))
                .collect(),
            tz,
            slack_channel: observatory.slack_channel.clone(),
            telegram_chat_id: observatory.telegram_chat_id,
            wake: Arc::new(Notify::new()),
            http,
            announcing: tokio::sync::Mutex::new(()),
        })
    }

    /// The checks `check` depends on.
    pub fn depends_on(&self, check: &str) -> &[String] {
        self.checks
            .get(check)
            .map_or(&[], |c| c.depends_on.as_slice())
    }

    /// The configured check called `name` (not a built-in self-check).
    pub fn check(&self, name: &str) -> Option<&CheckConfig> {
        self.checks.get(name)
    }

    /// The remediations and runbooks `check` offers, in its order.
    pub fn plans_for(&self, check: &str) -> Vec<Plan<'_>> {
        self.checks.get(check).map_or_else(Vec::new, |c| {
            c.remediations
                .iter()
                .filter_map(|name| self.settings.plan(name))
                .collect()
        })
    }

    /// Checks that every remediation a check names exists. Returns `(key, problem)`.
    pub fn validate(&self, observatory: &ObservatoryConfig) -> Result<(), (String, String)> {
        for (i, c) in observatory.checks.iter().enumerate() {
            if let Some(missing) = c
                .remediations
                .iter()
                .find(|r| self.settings.plan(r).is_none())
            {
                return Err((
                    format!("observatory.checks[{i}].remediations"),
                    format!(
                        "no [[incidents.remediations]] or [[incidents.runbooks]] is named {missing:?}"
                    ),
                ));
            }
        }
        Ok(())
    }
}
