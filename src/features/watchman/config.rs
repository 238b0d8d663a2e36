//! `[watchman]`: Night Watchman's settings. The section being present turns it on.

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Default shutdown: weekdays at 20:00 in the configured time zone.
pub const DEFAULT_SHUTDOWN: &str = "0 20 * * 1-5";
/// Default morning start: weekdays at 08:00.
pub const DEFAULT_START: &str = "0 8 * * 1-5";

/// How a stop is decided once the team looks offline.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum WatchmanMode {
    /// Announce the stop with Keep online / Stop now buttons; stop at the deadline
    /// unless somebody keeps.
    #[default]
    Notice,
    /// Stop nothing without an Approve click through the approval gate.
    Approve,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WatchmanConfig {
    /// Running instances carrying all of these tags are the targets.
    pub tag_filters: BTreeMap<String, String>,
    /// Regions to look in; unset means `aws.regions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regions: Option<Vec<String>>,
    /// Five-field cron of the evening check.
    pub shutdown_schedule: String,
    /// Five-field cron of the morning start; empty turns the morning start off.
    pub start_schedule: String,
    /// Time zone of both schedules; unset means the top-level `timezone`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Tz>,
    pub mode: WatchmanMode,
    /// In `notice` mode, how long people have to click Keep online.
    pub notice_minutes: u32,
    /// A GitHub push this recent means someone is still working.
    pub quiet_minutes: u32,
    /// GitHub organisation whose most recently pushed repository is checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github_org: Option<String>,
    /// Individual repositories (`owner/name`) to check as well.
    pub github_repos: Vec<String>,
    /// Linear team keys whose open Urgent issues keep staging up.
    pub linear_team_keys: Vec<String>,
    /// `key=value` (or `key`): instances carrying it are never stopped.
    pub exclude_tag: String,
    /// Slack channel for notices and decisions; unset means `slack.alert_channel`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack_channel: Option<String>,
    /// Telegram chat for them; unset means `telegram.alert_chat_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub telegram_chat_id: Option<i64>,
}

impl Default for WatchmanConfig {
    fn default() -> Self {
        Self {
            tag_filters: [("env".to_owned(), "staging".to_owned())].into(),
            regions: None,
            shutdown_schedule: DEFAULT_SHUTDOWN.into(),
            start_schedule: DEFAULT_START.into(),
            timezone: None,
            mode: WatchmanMode::Notice,
            notice_minutes: 15,
            quiet_minutes: 30,
            github_org: None,
            github_repos: Vec::new(),
            linear_team_keys: Vec::new(),
            exclude_tag: "opsmate:keep=true".into(),
            slack_channel: None,
            telegram_chat_id: None,
        }
    }
}

impl crate::config::Section for WatchmanConfig {
    const NAME: &'static str = "watchman";

    fn validate(&self) -> Result<(), (String, String)> {
        crate::config::check_cron("watchman.shutdown_schedule", &self.shutdown_schedule)?;
        if self.starts_in_the_morning() {
            crate::config::check_cron("watchman.start_schedule", &self.start_schedule)?;
        }
        WatchmanConfig::validate(self)
    }
}

impl WatchmanConfig {
    /// When the evening check runs, in `timezone`, else in `default_tz`.
    pub fn shutdown_schedule(
        &self,
        default_tz: chrono_tz::Tz,
    ) -> Result<crate::scheduler::CronSchedule, crate::scheduler::CronError> {
        crate::scheduler::CronSchedule::parse(
            &self.shutdown_schedule,
            self.timezone.unwrap_or(default_tz),
        )
    }

    /// When the morning start runs, if it is on.
    pub fn start_schedule(
        &self,
        default_tz: chrono_tz::Tz,
    ) -> Result<Option<crate::scheduler::CronSchedule>, crate::scheduler::CronError> {
        if !self.starts_in_the_morning() {
            return Ok(None);
        }
        crate::scheduler::CronSchedule::parse(
            &self.start_schedule,
            self.timezone.unwrap_or(default_tz),
        )
        .map(Some)
    }

    /// Whether the morning start is on.
    pub fn starts_in_the_morning(&self) -> bool {
        !self.start_schedule.trim().is_empty()
    }

    /// Checks that types alone cannot express. Returns `(key, problem)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.tag_filters.is_empty() {
            return Err((
                "watchman.tag_filters".into(),
                "needs at least one tag, e.g. { env = \"staging\" }: an empty filter would match every instance".into(),
            ));
        }
        if !(1..=240).contains(&self.notice_minutes) {
            return Err((
                "watchman.notice_minutes".into(),
                "must be between 1 and 240".into(),
            ));
        }
        if !(1..=1440).contains(&self.quiet_minutes) {
            return Err((
                "watchman.quiet_minutes".into(),
                "must be between 1 and 1440".into(),
            ));
        }
        for (i, repo) in self.github_repos.iter().enumerate() {
            let ok = repo
                .split_once('/')
                .is_some_and(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'));
            if !ok {
                return Err((
                    format!("watchman.github_repos[{i}]"),
                    format!("{repo:?} is not owner/name"),
                ));
            }
        }
        if let Some(regions) = &self.regions
            && regions.is_empty()
        {
            return Err((
                "watchman.regions".into(),
                "must list at least one region, or be left out to use aws.regions".into(),
            ));
        }
        crate::config::check_exclude_tag("watchman.exclude_tag", &self.exclude_tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> chrono::DateTime<chrono::Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_shutdown_keeps_its_local_time_on_the_dst_change_day() {
        let watchman = WatchmanConfig {
            shutdown_schedule: "0 20 * * *".into(),
            ..WatchmanConfig::default()
        };
        let s = watchman
            .shutdown_schedule(chrono_tz::Europe::Berlin)
            .unwrap();
        // Saturday in CET (UTC+1), then Sunday 29 March 2026, the change to CEST (UTC+2).
        assert_eq!(
            s.next_after(utc("2026-03-28T12:00:00Z")),
            Some(utc("2026-03-28T19:00:00Z"))
        );
        assert_eq!(
            s.next_after(utc("2026-03-29T12:00:00Z")),
            Some(utc("2026-03-29T18:00:00Z"))
        );
        // And back on Sunday 25 October 2026.
        assert_eq!(
            s.next_after(utc("2026-10-25T12:00:00Z")),
            Some(utc("2026-10-25T19:00:00Z"))
        );
    }

    #[test]
    fn defaults_are_weekday_evenings_and_mornings() {
        let watchman = WatchmanConfig::default();
        let friday_noon = utc("2026-11-27T12:00:00Z");
        let stop = watchman.shutdown_schedule(chrono_tz::UTC).unwrap();
        let start = watchman.start_schedule(chrono_tz::UTC).unwrap().unwrap();
        assert_eq!(
            stop.next_after(friday_noon),
            Some(utc("2026-11-27T20:00:00Z"))
        );
        assert_eq!(
            start.next_after(friday_noon),
            Some(utc("2026-11-30T08:00:00Z"))
        );
    }

    #[test]
    fn bad_settings_name_their_key() {
        let bad = WatchmanConfig {
            github_repos: vec!["acme".into()],
            ..WatchmanConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "watchman.github_repos[0]");
        let bad = WatchmanConfig {
            tag_filters: Default::default(),
            ..WatchmanConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "watchman.tag_filters");
    }
}
