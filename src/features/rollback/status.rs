//! Where every watched application stands: `/opsmate rollbacks`, Telegram
//! `/rollbacks` and `opsmate rollback status [--json]` all read this.

use super::Rollback;
use super::config::RollbackConfig;
use super::github::short;
use super::state::{AppRow, State};
use super::store;
use crate::chat::answers::local;
use crate::chat::message::{ChatMessage, Part};
use crate::dispatch::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Every application `settings` watches, in the configuration's order, as the
/// database has it; one never seen degraded is healthy. Needs no Argo CD token, so
/// `opsmate rollback status` works wherever the database is.
pub async fn statuses(
    settings: &RollbackConfig,
    store: &crate::store::Store,
) -> anyhow::Result<Vec<AppStatus>> {
    let rows = store.call(|c| store::all(c)).await?;
    Ok(settings
        .apps
        .iter()
        .map(|cfg| {
            let row = rows.iter().find(|r| r.app == cfg.name);
            status_of(cfg.name.as_str(), cfg.environment.as_str(), row)
        })
        .collect())
}

/// One application's line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppStatus {
    pub app: String,
    pub environment: &'static str,
    pub state: &'static str,
    pub since: Option<DateTime<Utc>>,
    pub degraded_polls: u32,
    pub episode: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

impl Rollback {
    /// Every configured application, in the configuration's order.
    pub async fn statuses(&self, ctx: &Context) -> anyhow::Result<Vec<AppStatus>> {
        statuses(&self.settings, &ctx.store).await
    }

    /// `/opsmate rollbacks`.
    pub async fn list(&self, ctx: &Context) -> anyhow::Result<ChatMessage> {
        let statuses = self.statuses(ctx).await?;
        let lines: Vec<String> = statuses.iter().map(|s| line(s, self.tz)).collect();
        Ok(ChatMessage {
            title: format!("Rollback Pilot: {} application(s)", statuses.len()),
            parts: vec![Part::Text(if lines.is_empty() {
                "No applications are configured under [[rollback.apps]].".into()
            } else {
                lines.join("\n")
            })],
            footer: Some(format!(
                "Argo CD polled every {}",
                humantime::format_duration(self.settings.poll_interval)
            )),
        })
    }
}

fn status_of(app: &str, environment: &'static str, row: Option<&AppRow>) -> AppStatus {
    let Some(r) = row else {
        return AppStatus {
            app: app.to_owned(),
            environment,
            state: State::Healthy.as_str(),
            since: None,
            degraded_polls: 0,
            episode: 0,
            pull_request: None,
            candidate: None,
            outcome: None,
        };
    };
    AppStatus {
        app: app.to_owned(),
        environment,
        state: r.state.as_str(),
        since: Some(r.since),
        degraded_polls: r.degraded_polls,
        episode: r.episode,
        pull_request: r.flow.pull.as_ref().map(|p| p.url.clone()),
        candidate: r.flow.candidate.as_ref().map(|c| c.revision.clone()),
        outcome: r.flow.outcome.clone(),
    }
}

/// `web (staging): pr_open since 14:03, rolling back to abc1234, https://…/pull/12`.
pub fn line(s: &AppStatus, tz: chrono_tz::Tz) -> String {
    let mut out = format!("{} ({}): {}", s.app, s.environment, s.state);
    if let Some(since) = s.since {
        out.push_str(&format!(" since {}", local(since, tz)));
    }
    if s.state == "suspect" {
        out.push_str(&format!(", {} Degraded poll(s) in a row", s.degraded_polls));
    }
    if let Some(c) = &s.candidate {
        out.push_str(&format!(", rolling back to {}", short(c)));
    }
    if let Some(pr) = &s.pull_request {
        out.push_str(&format!(", {pr}"));
    }
    if let Some(o) = &s.outcome {
        out.push_str(&format!(" — last episode: {o}"));
    }
    out
}
