//! `[guard]`: Access Guard's settings. The section being present turns it on.

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Default schedule of the directory scan: every day at 09:00.
pub const DEFAULT_GUARD_SCHEDULE: &str = "0 9 * * *";

/// Allowed `grace_period_days`, as the README and the example file state it.
pub const GRACE_PERIOD_DAYS: std::ops::RangeInclusive<u32> = 1..=365;

/// How absences combine into "departed".
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum DepartureRule {
    /// Missing from any directory that can match the person.
    Any,
    /// Missing from every directory that can match the person.
    #[default]
    All,
}

/// One revocation step, in the order they run by default.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum RevokeStep {
    /// Deactivate, then delete, every access key.
    AccessKeys,
    /// Delete the console password.
    LoginProfile,
    /// Remove the user from every group.
    Groups,
    /// Detach managed policies; delete inline policies (never the deny-all one).
    Policies,
    /// Deactivate MFA devices; delete the virtual ones.
    Mfa,
    /// SSH public keys, signing certificates, service-specific credentials.
    OtherCredentials,
    /// Attach the deny-all inline policy, so temporary credentials stop working.
    DenyAll,
}

impl RevokeStep {
    pub const ALL: [RevokeStep; 7] = [
        RevokeStep::AccessKeys,
        RevokeStep::LoginProfile,
        RevokeStep::Groups,
        RevokeStep::Policies,
        RevokeStep::Mfa,
        RevokeStep::OtherCredentials,
        RevokeStep::DenyAll,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RevokeStep::AccessKeys => "access_keys",
            RevokeStep::LoginProfile => "login_profile",
            RevokeStep::Groups => "groups",
            RevokeStep::Policies => "policies",
            RevokeStep::Mfa => "mfa",
            RevokeStep::OtherCredentials => "other_credentials",
            RevokeStep::DenyAll => "deny_all",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// What the step does, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            RevokeStep::AccessKeys => "deactivate and delete access keys",
            RevokeStep::LoginProfile => "delete the console password",
            RevokeStep::Groups => "remove from every group",
            RevokeStep::Policies => "detach managed policies, delete inline policies",
            RevokeStep::Mfa => "deactivate MFA devices, delete virtual ones",
            RevokeStep::OtherCredentials => {
                "delete SSH keys, signing certificates, service-specific credentials"
            }
            RevokeStep::DenyAll => "attach a deny-all inline policy",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    /// IAM user tag holding the person's email. A user name that is an email
    /// address is used when the tag is absent.
    pub email_tag: String,
    /// IAM user tag holding the person's GitHub login.
    pub github_tag: String,
    /// GitHub organisation whose members count as present. Unset: GitHub is not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github_org: Option<String>,
    /// IAM user name → GitHub login, for users without the tag.
    pub login_map: BTreeMap<String, String>,
    /// Email domain → the domain it stands for, e.g. `"corp.io" = "corp.com"`.
    pub domain_aliases: BTreeMap<String, String>,
    pub rule: DepartureRule,
    /// Days of continuous absence before a revocation is proposed.
    pub grace_period_days: u32,
    /// Days Keep access silences Access Guard for that user.
    pub keep_days: u32,
    /// The revocation steps, in order.
    pub steps: Vec<RevokeStep>,
    /// Delete the IAM user after the steps. Off by default: the user stays, for the trail.
    pub delete_user: bool,
    /// Most new revocation requests one scan posts; the rest wait for the next scan,
    /// so a first run over years of leavers does not flood the channel.
    pub max_requests_per_scan: usize,
    /// Five-field cron of the scan.
    pub schedule: String,
    /// Time zone of `schedule`; unset means the top-level `timezone`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Tz>,
    /// Telegram chat for revocation requests; unset means `telegram.alert_chat_id`.
    /// (On Slack they go to `slack.security_channel`, else `slack.alert_channel`.)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub telegram_chat_id: Option<i64>,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            email_tag: "email".into(),
            github_tag: "github".into(),
            github_org: None,
            login_map: BTreeMap::new(),
            domain_aliases: BTreeMap::new(),
            rule: DepartureRule::All,
            grace_period_days: 7,
            keep_days: 90,
            steps: RevokeStep::ALL.to_vec(),
            delete_user: false,
            max_requests_per_scan: 20,
            schedule: DEFAULT_GUARD_SCHEDULE.into(),
            timezone: None,
            telegram_chat_id: None,
        }
    }
}

impl crate::config::Section for GuardConfig {
    const NAME: &'static str = "guard";

    fn validate(&self) -> Result<(), (String, String)> {
        crate::config::check_cron("guard.schedule", &self.schedule)?;
        GuardConfig::validate(self)
    }
}

impl GuardConfig {
    /// When the directory scan runs: `schedule` in `timezone`, else in `default_tz`.
    pub fn schedule(
        &self,
        default_tz: chrono_tz::Tz,
    ) -> Result<crate::scheduler::CronSchedule, crate::scheduler::CronError> {
        crate::scheduler::CronSchedule::parse(&self.schedule, self.timezone.unwrap_or(default_tz))
    }

    /// Checks that types alone cannot express. Returns `(key, problem)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        for (key, value) in [
            ("guard.email_tag", &self.email_tag),
            ("guard.github_tag", &self.github_tag),
        ] {
            if value.trim().is_empty() {
                return Err((key.into(), "must name a tag".into()));
            }
        }
        if let Some(org) = &self.github_org
            && (org.is_empty() || org.contains('/'))
        {
            return Err((
                "guard.github_org".into(),
                format!("{org:?} is not an organisation login"),
            ));
        }
        if !GRACE_PERIOD_DAYS.contains(&self.grace_period_days) {
            return Err((
                "guard.grace_period_days".into(),
                format!(
                    "must be between {} and {}",
                    GRACE_PERIOD_DAYS.start(),
                    GRACE_PERIOD_DAYS.end()
                ),
            ));
        }
        if !(1..=3650).contains(&self.keep_days) {
            return Err((
                "guard.keep_days".into(),
                "must be between 1 and 3650".into(),
            ));
        }
        for (alias, canonical) in &self.domain_aliases {
            for d in [alias, canonical] {
                if d.is_empty() || d.contains('@') || !d.contains('.') {
                    return Err((
                        format!("guard.domain_aliases.{alias}"),
                        format!("{d:?} is not a domain"),
                    ));
                }
            }
        }
        if !(1..=500).contains(&self.max_requests_per_scan) {
            return Err((
                "guard.max_requests_per_scan".into(),
                "must be between 1 and 500".into(),
            ));
        }
        if self.steps.is_empty() {
            return Err((
                "guard.steps".into(),
                "must list at least one step; a revocation without steps removes nothing".into(),
            ));
        }
        for (i, step) in self.steps.iter().enumerate() {
            if self.steps[..i].contains(step) {
                return Err((
                    format!("guard.steps[{i}]"),
                    format!("{} is listed twice", step.as_str()),
                ));
            }
        }
        if self.delete_user {
            let missing: Vec<&str> = RevokeStep::ALL
                .into_iter()
                .filter(|s| *s != RevokeStep::DenyAll && !self.steps.contains(s))
                .map(RevokeStep::as_str)
                .collect();
            if !missing.is_empty() {
                return Err((
                    "guard.delete_user".into(),
                    format!(
                        "IAM deletes a user only once everything is removed; add {} to guard.steps",
                        missing.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_run_every_step_in_order() {
        let c = GuardConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.steps, RevokeStep::ALL.to_vec());
        assert_eq!(c.rule, DepartureRule::All);
    }

    #[test]
    fn mistakes_are_named_by_key() {
        let twice = GuardConfig {
            steps: vec![RevokeStep::Groups, RevokeStep::Mfa, RevokeStep::Groups],
            ..GuardConfig::default()
        };
        assert_eq!(twice.validate().unwrap_err().0, "guard.steps[2]");
        let delete = GuardConfig {
            steps: vec![RevokeStep::AccessKeys],
            delete_user: true,
            ..GuardConfig::default()
        };
        let (key, why) = delete.validate().unwrap_err();
        assert_eq!(key, "guard.delete_user");
        assert!(why.contains("login_profile"), "{why}");
        let alias = GuardConfig {
            domain_aliases: [("corp.io".to_owned(), "corp".to_owned())].into(),
            ..GuardConfig::default()
        };
        assert_eq!(
            alias.validate().unwrap_err().0,
            "guard.domain_aliases.corp.io"
        );
    }

    #[test]
    fn the_grace_period_range_is_enforced_and_documented() {
        let with = |days| GuardConfig {
            grace_period_days: days,
            ..GuardConfig::default()
        };
        for days in [0, 366] {
            assert_eq!(
                with(days).validate().unwrap_err().0,
                "guard.grace_period_days"
            );
        }
        for days in [1, 365] {
            assert_eq!(with(days).validate(), Ok(()));
        }
        let range = format!(
            "{} to {}",
            GRACE_PERIOD_DAYS.start(),
            GRACE_PERIOD_DAYS.end()
        );
        for file in ["README.md", "opsmate.example.toml"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
            let text = std::fs::read_to_string(path).unwrap();
            let line = text
                .lines()
                .find(|l| l.starts_with("grace_period_days ="))
                .unwrap_or_else(|| panic!("{file} documents no grace_period_days"));
            assert!(line.contains(&range), "{file}: {line}");
        }
    }

    #[test]
    fn unknown_steps_are_refused_while_reading() {
        let err = toml::from_str::<GuardConfig>("steps = [\"access_keys\", \"boundary\"]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("boundary"), "{err}");
    }
}
