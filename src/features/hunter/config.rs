//! `[hunter]`: Zombie Hunter's settings. The section being present turns the feature on.

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Default schedule: weekdays at 09:00 in the configured time zone.
pub const DEFAULT_HUNTER_SCHEDULE: &str = "0 9 * * 1-5";

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HunterConfig {
    /// Regions to scan; unset means `aws.regions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regions: Option<Vec<String>>,
    /// An unattached volume is proposed for deletion only after it was seen idle this
    /// many days (AWS does not record when a volume was detached).
    pub volume_min_idle_days: u32,
    /// Own snapshots younger than this are left alone.
    pub snapshot_min_age_days: u32,
    /// `key=value` (or just `key`, any value): resources carrying it are skipped.
    pub exclude_tag: String,
    /// Tag whose value is a date (`2027-01-31`) or RFC 3339 time: the resource is
    /// skipped until then.
    pub protect_until_tag: String,
    /// Take a final snapshot of a volume (with its tags) before deleting it.
    pub snapshot_before_delete: bool,
    /// How often a deletion checks whether its final snapshots have completed. The
    /// wait holds no worker, and a restart resumes it.
    #[serde(with = "humantime_serde")]
    pub final_snapshot_poll: std::time::Duration,
    /// Five-field cron for the scheduled report.
    pub schedule: String,
    /// Time zone of `schedule`; unset means the top-level `timezone`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Tz>,
    /// IAM role ARNs to assume, one per extra account to scan. Empty: only the
    /// account of the default credentials.
    pub assume_roles: Vec<String>,
    /// TOML file of per-region price overrides (see the README).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_file: Option<PathBuf>,
    /// Slack channel id for the scheduled report; unset means `slack.alert_channel`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack_channel: Option<String>,
    /// Telegram chat for the scheduled report; unset means `telegram.alert_chat_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub telegram_chat_id: Option<i64>,
    /// Most resources listed (with buttons) in one report; the rest are counted.
    pub max_listed: usize,
}

impl Default for HunterConfig {
    fn default() -> Self {
        Self {
            regions: None,
            volume_min_idle_days: 7,
            snapshot_min_age_days: 30,
            exclude_tag: "opsmate:keep=true".into(),
            protect_until_tag: "opsmate:protect-until".into(),
            snapshot_before_delete: true,
            final_snapshot_poll: std::time::Duration::from_secs(15),
            schedule: DEFAULT_HUNTER_SCHEDULE.into(),
            timezone: None,
            assume_roles: Vec::new(),
            price_file: None,
            slack_channel: None,
            telegram_chat_id: None,
            max_listed: 100,
        }
    }
}

impl crate::config::Section for HunterConfig {
    const NAME: &'static str = "hunter";

    fn validate(&self) -> Result<(), (String, String)> {
        crate::config::check_cron("hunter.schedule", &self.schedule)?;
        HunterConfig::validate(self)
    }
}

impl HunterConfig {
    /// When the scheduled report runs: `schedule` in `timezone`, else in `default_tz`.
    pub fn schedule(
        &self,
        default_tz: chrono_tz::Tz,
    ) -> Result<crate::scheduler::CronSchedule, crate::scheduler::CronError> {
        crate::scheduler::CronSchedule::parse(&self.schedule, self.timezone.unwrap_or(default_tz))
    }

    /// Checks that types alone cannot express. Returns `(key, problem)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        crate::config::check_exclude_tag("hunter.exclude_tag", &self.exclude_tag)?;
        if self.final_snapshot_poll.is_zero()
            || self.final_snapshot_poll > std::time::Duration::from_secs(600)
        {
            return Err((
                "hunter.final_snapshot_poll".into(),
                "must be more than 0 and at most 10 minutes".into(),
            ));
        }
        if self.protect_until_tag.trim().is_empty() {
            return Err(("hunter.protect_until_tag".into(), "needs a tag key".into()));
        }
        if let Some(regions) = &self.regions
            && regions.is_empty()
        {
            return Err((
                "hunter.regions".into(),
                "must list at least one region, or be left out to use aws.regions".into(),
            ));
        }
        for (i, arn) in self.assume_roles.iter().enumerate() {
            if role_account(arn).is_none() {
                return Err((
                    format!("hunter.assume_roles[{i}]"),
                    format!(
                        "{arn:?} is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)"
                    ),
                ));
            }
        }
        if let Some(path) = &self.price_file {
            crate::features::hunter::price::PriceTable::from_file(path)
                .map_err(|e| ("hunter.price_file".to_owned(), format!("{e:#}")))?;
        }
        if !(1..=1000).contains(&self.max_listed) {
            return Err((
                "hunter.max_listed".into(),
                "must be between 1 and 1000".into(),
            ));
        }
        Ok(())
    }
}

/// The account id in an IAM role ARN, e.g. `arn:aws:iam::123456789012:role/opsmate`.
pub fn role_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (arn_word, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let valid = arn_word == "arn"
        && partition.starts_with("aws")
        && service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource
            .strip_prefix("role/")
            .is_some_and(|n| !n.is_empty());
    valid.then_some(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_are_parsed_for_their_account() {
        assert_eq!(
            role_account("arn:aws:iam::123456789012:role/opsmate-hunter"),
            Some("123456789012")
        );
        assert_eq!(
            role_account("arn:aws-cn:iam::123456789012:role/path/r"),
            Some("123456789012")
        );
        assert_eq!(role_account("arn:aws:iam::12345:role/x"), None);
        assert_eq!(role_account("arn:aws:iam::123456789012:user/x"), None);
        assert_eq!(role_account("opsmate"), None);
    }

    #[test]
    fn the_report_runs_weekdays_at_nine_local_time_by_default() {
        let schedule = HunterConfig::default()
            .schedule(chrono_tz::Europe::Berlin)
            .unwrap();
        // Friday 2026-11-20 10:00 Berlin → Monday 09:00 Berlin (08:00 UTC).
        let friday = "2026-11-20T09:00:00Z".parse().unwrap();
        assert_eq!(
            schedule.next_after(friday),
            Some("2026-11-23T08:00:00Z".parse().unwrap())
        );
    }

    #[test]
    fn exclusion_tags_match_key_and_value_or_key_alone() {
        let tags = [("opsmate:keep".to_owned(), "TRUE".to_owned())].into();
        assert_eq!(
            crate::config::excluded_by("opsmate:keep=true", &tags),
            Some("opsmate:keep=TRUE".into())
        );
        assert_eq!(
            crate::config::excluded_by("opsmate:keep=false", &tags),
            None
        );
        assert!(crate::config::excluded_by("opsmate:keep", &tags).is_some());
        assert_eq!(crate::config::excluded_by("other", &tags), None);
    }
}
