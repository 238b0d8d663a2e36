//! `[observatory]`: health checks, alerting and the daily digest. The section being
//! present turns Observatory on.

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Default digest time: every day at 09:00.
pub const DEFAULT_DIGEST_SCHEDULE: &str = "0 9 * * *";

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ObservatoryConfig {
    /// Hourly rollups older than this are pruned.
    pub retention_days: u32,
    /// Raw samples older than this are pruned (their rollups stay).
    pub raw_retention_days: u32,
    /// Five-field cron of the daily digest.
    pub digest_schedule: String,
    /// Time zone of the digest schedule and its day; unset means `timezone`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Tz>,
    /// Alert changes within this time go out as one message.
    #[serde(with = "humantime_serde")]
    pub group_wait: Duration,
    /// While a check stays failing, a reminder this often.
    #[serde(with = "humantime_serde")]
    pub reminder_interval: Duration,
    /// Built-in self-checks (outbox, scheduled jobs).
    pub self_checks: SelfChecks,
    pub checks: Vec<CheckConfig>,
    pub maintenance: Vec<MaintenanceWindow>,
    /// Log files followed across rotation, with rules that open incidents.
    pub logs: Vec<LogWatch>,
    /// Slack channel for alerts; unset means `slack.alert_channel`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack_channel: Option<String>,
    /// Telegram chat for alerts; unset means `telegram.alert_chat_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub telegram_chat_id: Option<i64>,
}

impl Default for ObservatoryConfig {
    fn default() -> Self {
        Self {
            retention_days: 30,
            raw_retention_days: 7,
            digest_schedule: DEFAULT_DIGEST_SCHEDULE.into(),
            timezone: None,
            group_wait: Duration::from_secs(30),
            reminder_interval: Duration::from_secs(4 * 3600),
            self_checks: SelfChecks::default(),
            checks: Vec::new(),
            maintenance: Vec::new(),
            logs: Vec::new(),
            slack_channel: None,
            telegram_chat_id: None,
        }
    }
}

/// What a check looks at.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    Http,
    Tcp,
    Disk,
    Memory,
    Cpu,
    Sqlite,
}

impl CheckKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Http => "http",
            CheckKind::Tcp => "tcp",
            CheckKind::Disk => "disk",
            CheckKind::Memory => "memory",
            CheckKind::Cpu => "cpu",
            CheckKind::Sqlite => "sqlite",
        }
    }
}

/// One check. Fields that a kind does not use are refused by name.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    pub name: String,
    pub kind: CheckKind,
    /// How often it runs.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// Consecutive bad results before an alert.
    #[serde(default = "default_threshold")]
    pub failure_threshold: u32,
    /// Consecutive good results before a recovery.
    #[serde(default = "default_threshold")]
    pub success_threshold: u32,
    /// http: the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// http: the method (default GET).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// http: the expected status (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<u16>,
    /// http: a substring the body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// http: a JSON field (dotted path, e.g. `status` or `db.ok`) that must exist; with
    /// `json_equals`, it must have that value (compared as text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_equals: Option<String>,
    /// http and tcp: how long before the attempt counts as an error (default 10 s).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde"
    )]
    pub timeout: Option<Duration>,
    /// http: a response slower than this is `warn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_slo_ms: Option<u64>,
    /// http (https URLs): a certificate expiring within this many days is `warn`
    /// (default 14).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_warn_days: Option<u32>,
    /// http: a PEM file of extra CA certificates to trust, e.g. an internal CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// tcp: `host:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// disk: a path on the filesystem to watch (default `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// disk, memory, cpu: percent used at which the check warns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_percent: Option<f64>,
    /// disk, memory, cpu: percent used at which the check is critical.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical_percent: Option<f64>,
    /// Checks this one needs: while one of them is down, this check's failure joins
    /// that check's incident instead of opening its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// The remediations (`[[incidents.remediations]]`, by name) its alert offers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remediations: Vec<String>,
    /// A reading far from this check's usual is `warn`, with its evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anomaly: Option<AnomalyConfig>,
}

/// `anomaly = { method = "ewma", window = "1h", sensitivity = 3.0 }` on a check.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalyConfig {
    /// `ewma`, `zscore` or `mad`.
    pub method: String,
    /// How far back "the usual" reaches.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// How many spreads from the usual a reading must be.
    pub sensitivity: f64,
    /// Readings needed in the window before anything is judged.
    pub min_samples: usize,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        Self {
            method: "ewma".into(),
            window: Duration::from_secs(3600),
            sensitivity: 3.0,
            min_samples: 30,
        }
    }
}

impl AnomalyConfig {
    /// The detector's settings, once validated.
    pub fn settings(&self) -> Option<super::detect::anomaly::Settings> {
        Some(super::detect::anomaly::Settings {
            method: super::detect::anomaly::Method::parse(&self.method)?,
            window: self.window,
            sensitivity: self.sensitivity,
            min_samples: self.min_samples,
        })
    }

    fn validate(&self, key: &str) -> Result<(), (String, String)> {
        let bad = |field: &str, why: &str| Err((format!("{key}.anomaly.{field}"), why.to_owned()));
        if super::detect::anomaly::Method::parse(&self.method).is_none() {
            return bad("method", "use \"ewma\", \"zscore\" or \"mad\"");
        }
        if self.window < Duration::from_secs(60) || self.window > Duration::from_secs(7 * 86_400) {
            return bad("window", "must be between 1m and 7 days");
        }
        if !self.sensitivity.is_finite() || self.sensitivity <= 0.0 || self.sensitivity > 100.0 {
            return bad("sensitivity", "must be a number above 0 and at most 100");
        }
        if !(5..=100_000).contains(&self.min_samples) {
            return bad("min_samples", "must be between 5 and 100000");
        }
        Ok(())
    }
}

fn default_interval() -> Duration {
    Duration::from_secs(60)
}

fn default_threshold() -> u32 {
    2
}

/// Default request and connect timeout of http and tcp checks.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default certificate warning: under 14 days left.
pub const DEFAULT_TLS_WARN_DAYS: u32 = 14;

impl CheckConfig {
    /// A check of `kind` with every optional field unset.
    pub fn new(name: &str, kind: CheckKind) -> Self {
        Self {
            name: name.into(),
            kind,
            interval: default_interval(),
            failure_threshold: default_threshold(),
            success_threshold: default_threshold(),
            url: None,
            method: None,
            expect_status: None,
            body_contains: None,
            json_field: None,
            json_equals: None,
            timeout: None,
            latency_slo_ms: None,
            tls_warn_days: None,
            ca_file: None,
            address: None,
            path: None,
            warn_percent: None,
            critical_percent: None,
            depends_on: Vec::new(),
            remediations: Vec::new(),
            anomaly: None,
        }
    }

    /// `(warn, critical)` percent for disk, memory and cpu, with the kind's defaults.
    pub fn percent_thresholds(&self) -> (f64, f64) {
        let (warn, critical) = match self.kind {
            CheckKind::Cpu => (80.0, 95.0),
            _ => (80.0, 90.0),
        };
        (
            self.warn_percent.unwrap_or(warn),
            self.critical_percent.unwrap_or(critical),
        )
    }

    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }

    /// Which optional keys the kind uses.
    fn allowed(&self) -> &'static [&'static str] {
        match self.kind {
            CheckKind::Http => &[
                "url",
                "method",
                "expect_status",
                "body_contains",
                "json_field",
                "json_equals",
                "timeout",
                "latency_slo_ms",
                "tls_warn_days",
                "ca_file",
            ],
            CheckKind::Tcp => &["address", "timeout"],
            CheckKind::Disk => &["path", "warn_percent", "critical_percent"],
            CheckKind::Memory | CheckKind::Cpu => &["warn_percent", "critical_percent"],
            CheckKind::Sqlite => &[],
        }
    }

    /// The optional keys that are set.
    fn set_keys(&self) -> Vec<&'static str> {
        [
            ("url", self.url.is_some()),
            ("method", self.method.is_some()),
            ("expect_status", self.expect_status.is_some()),
            ("body_contains", self.body_contains.is_some()),
            ("json_field", self.json_field.is_some()),
            ("json_equals", self.json_equals.is_some()),
            ("timeout", self.timeout.is_some()),
            ("latency_slo_ms", self.latency_slo_ms.is_some()),
            ("tls_warn_days", self.tls_warn_days.is_some()),
            ("ca_file", self.ca_file.is_some()),
            ("address", self.address.is_some()),
            ("path", self.path.is_some()),
            ("warn_percent", self.warn_percent.is_some()),
            ("critical_percent", self.critical_percent.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect()
    }

    /// Checks that types alone cannot express; `key` is `observatory.checks[i]`.
    pub fn validate(&self, key: &str) -> Result<(), (String, String)> {
        let bad = |field: &str, why: String| Err((format!("{key}.{field}"), why));
        if self.name.trim().is_empty() || self.name.len() > 64 {
            return bad("name", "must be 1 to 64 characters".into());
        }
        for field in self.set_keys() {
            if !self.allowed().contains(&field) {
                return bad(
                    field,
                    format!("is not used by {} checks", self.kind.as_str()),
                );
            }
        }
        if self.interval < Duration::from_secs(1) || self.interval > Duration::from_secs(86_400) {
            return bad("interval", "must be between 1s and 24h".into());
        }
        for (field, n) in [
            ("failure_threshold", self.failure_threshold),
            ("success_threshold", self.success_threshold),
        ] {
            if !(1..=100).contains(&n) {
                return bad(field, "must be between 1 and 100".into());
            }
        }
        match self.kind {
            CheckKind::Http => match &self.url {
                None => return bad("url", "http checks need a url".into()),
                Some(u) => match reqwest::Url::parse(u) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                    _ => return bad("url", format!("{u:?} is not an http(s) URL")),
                },
            },
            CheckKind::Tcp => match &self.address {
                Some(a)
                    if a.rsplit_once(':').is_some_and(|(h, p)| {
                        !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0)
                    }) => {}
                _ => return bad("address", "tcp checks need host:port".into()),
            },
            _ => {}
        }
        if let Some(m) = &self.method
            && reqwest::Method::from_bytes(m.as_bytes()).is_err()
        {
            return bad("method", format!("{m:?} is not an HTTP method"));
        }
        if let Some(a) = &self.anomaly {
            a.validate(key)?;
        }
        if self.json_equals.is_some() && self.json_field.is_none() {
            return bad("json_equals", "needs json_field".into());
        }
        let (warn, critical) = self.percent_thresholds();
        if !(0.0..=100.0).contains(&warn) || !(0.0..=100.0).contains(&critical) || warn > critical {
            return bad(
                "warn_percent",
                "warn and critical must be percentages with warn ≤ critical".into(),
            );
        }
        Ok(())
    }
}

/// One log file and its rules.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogWatch {
    pub path: PathBuf,
    pub rules: Vec<LogRule>,
}

/// "At least `at_least` lines matching `pattern` within `within`": a finding with
/// `severity`, at most once per `cooldown`. Its results appear as the check
/// `log:<name>`, so it alerts, opens incidents and recovers like any check.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogRule {
    pub name: String,
    /// A regular expression (Rust `regex` syntax).
    pub pattern: String,
    /// `warn` or `critical`.
    #[serde(default = "default_log_severity")]
    pub severity: String,
    #[serde(default = "default_at_least")]
    pub at_least: u32,
    #[serde(default = "default_within", with = "humantime_serde")]
    pub within: Duration,
    #[serde(default = "default_cooldown", with = "humantime_serde")]
    pub cooldown: Duration,
}

fn default_log_severity() -> String {
    "critical".into()
}
fn default_at_least() -> u32 {
    1
}
fn default_within() -> Duration {
    Duration::from_secs(60)
}
fn default_cooldown() -> Duration {
    Duration::from_secs(600)
}

impl LogRule {
    /// The check name its results are recorded under.
    pub fn check_name(&self) -> String {
        format!("log:{}", self.name)
    }

    pub fn status(&self) -> super::status::Status {
        if self.severity == "warn" {
            super::status::Status::Warn
        } else {
            super::status::Status::Critical
        }
    }

    fn validate(&self, key: &str) -> Result<(), (String, String)> {
        let bad = |field: &str, why: String| Err((format!("{key}.{field}"), why));
        if self.name.is_empty()
            || self.name.len() > 60
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            return bad("name", "use 1 to 60 letters, digits, '-' and '_'".into());
        }
        if let Err(e) = regex::Regex::new(&self.pattern) {
            return bad("pattern", format!("is not a regular expression: {e}"));
        }
        if !matches!(self.severity.as_str(), "warn" | "critical") {
            return bad("severity", "use \"warn\" or \"critical\"".into());
        }
        if !(1..=100_000).contains(&self.at_least) {
            return bad("at_least", "must be between 1 and 100000".into());
        }
        if self.within.is_zero() || self.within > Duration::from_secs(86_400) {
            return bad("within", "must be between 1s and 24h".into());
        }
        if self.cooldown > Duration::from_secs(86_400) {
            return bad("cooldown", "must be at most 24h".into());
        }
        Ok(())
    }
}

/// Built-in checks of OpsMate itself.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SelfChecks {
    pub enabled: bool,
    /// Unsent outbox messages at which the outbox check warns.
    pub outbox_depth_warn: u64,
    /// Age of the oldest unsent message at which the outbox check is critical.
    #[serde(with = "humantime_serde")]
    pub outbox_age_critical: Duration,
}

impl Default for SelfChecks {
    fn default() -> Self {
        Self {
            enabled: true,
            outbox_depth_warn: 100,
            outbox_age_critical: Duration::from_secs(900),
        }
    }
}

/// A recurring time when alerts are held back, e.g. Sundays 02:00 for 2 h.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceWindow {
    /// Local start time, `HH:MM`.
    pub start: String,
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// Unset means the top-level `timezone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Tz>,
    /// Days it starts on (`mon` … `sun`); empty means every day.
    #[serde(default)]
    pub weekdays: Vec<String>,
    /// Checks it covers; empty means all.
    #[serde(default)]
    pub checks: Vec<String>,
}

impl MaintenanceWindow {
    /// The start as (hour, minute), if it reads.
    pub fn start_time(&self) -> Option<(u32, u32)> {
        let (h, m) = self.start.split_once(':')?;
        let (h, m) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some((h, m))
    }

    /// The weekdays it starts on.
    pub fn days(&self) -> Option<Vec<chrono::Weekday>> {
        self.weekdays
            .iter()
            .map(|d| d.parse::<chrono::Weekday>().ok())
            .collect()
    }
}

impl crate::config::Section for ObservatoryConfig {
    const NAME: &'static str = "observatory";

    fn validate(&self) -> Result<(), (String, String)> {
        crate::config::check_cron("observatory.digest_schedule", &self.digest_schedule)?;
        ObservatoryConfig::validate(self)
    }
}

impl ObservatoryConfig {
    /// When the digest is sent: `digest_schedule` in `timezone`, else in `default_tz`.
    pub fn digest_schedule(
        &self,
        default_tz: chrono_tz::Tz,
    ) -> Result<crate::scheduler::CronSchedule, crate::scheduler::CronError> {
        crate::scheduler::CronSchedule::parse(
            &self.digest_schedule,
            self.timezone.unwrap_or(default_tz),
        )
    }

    /// Checks that types alone cannot express. Returns `(key, problem)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if !(1..=self.retention_days.max(1)).contains(&self.raw_retention_days) {
            return Err((
                "observatory.raw_retention_days".into(),
                "must be between 1 and retention_days".into(),
            ));
        }
        if !(1..=400).contains(&self.retention_days) {
            return Err((
                "observatory.retention_days".into(),
                "must be between 1 and 400".into(),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, c) in self.checks.iter().enumerate() {
            let key = format!("observatory.checks[{i}]");
            c.validate(&key)?;
            if !names.insert(c.name.as_str()) {
                return Err((
                    format!("{key}.name"),
                    format!("{:?} is used by another check", c.name),
                ));
            }
        }
        for (i, c) in self.checks.iter().enumerate() {
            for dep in &c.depends_on {
                if dep == &c.name || !names.contains(dep.as_str()) {
                    return Err((
                        format!("observatory.checks[{i}].depends_on"),
                        format!("{dep:?} is not another check"),
                    ));
                }
            }
        }
        let mut rule_names = std::collections::HashSet::new();
        for (i, log) in self.logs.iter().enumerate() {
            for (j, rule) in log.rules.iter().enumerate() {
                let key = format!("observatory.logs[{i}].rules[{j}]");
                rule.validate(&key)?;
                let name = rule.check_name();
                if names.contains(name.as_str()) || !rule_names.insert(name) {
                    return Err((
                        format!("{key}.name"),
                        format!("{:?} is used by another rule or check", rule.name),
                    ));
                }
            }
            if log.rules.is_empty() {
                return Err((
                    format!("observatory.logs[{i}].rules"),
                    "add at least one rule".into(),
                ));
            }
        }
        for (i, w) in self.maintenance.iter().enumerate() {
            let key = format!("observatory.maintenance[{i}]");
            if w.start_time().is_none() {
                return Err((
                    format!("{key}.start"),
                    format!("{:?} is not HH:MM", w.start),
                ));
            }
            if w.days().is_none() {
                return Err((
                    format!("{key}.weekdays"),
                    "use day names such as \"mon\" or \"sat\"".into(),
                ));
            }
            if w.duration.is_zero() || w.duration > Duration::from_secs(7 * 86_400) {
                return Err((
                    format!("{key}.duration"),
                    "must be between 1s and 7 days".into(),
                ));
            }
            if let Some(unknown) = w.checks.iter().find(|n| !names.contains(n.as_str())) {
                return Err((
                    format!("{key}.checks"),
                    format!("no check is named {unknown:?}"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ObservatoryConfig, String> {
        let c: ObservatoryConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        c.validate().map_err(|(k, why)| format!("{k}: {why}"))?;
        Ok(c)
    }

    #[test]
    fn the_issue_example_reads_with_defaults() {
        let c = parse(
            r#"
retention_days = 30
digest_schedule = "0 9 * * *"

[[checks]]
name = "api"
kind = "http"
url = "https://api.example.com/health"
interval = "60s"
latency_slo_ms = 2000

[[checks]]
name = "db"
kind = "tcp"
address = "db.internal:5432"
"#,
        )
        .unwrap();
        assert_eq!(c.checks.len(), 2);
        assert_eq!(c.checks[1].interval, Duration::from_secs(60));
        assert_eq!(c.checks[1].failure_threshold, 2);
        assert_eq!(c.group_wait, Duration::from_secs(30));
        assert_eq!(c.reminder_interval, Duration::from_secs(4 * 3600));
    }

    #[test]
    fn keys_a_kind_does_not_use_are_named() {
        let err = parse("[[checks]]\nname = \"db\"\nkind = \"tcp\"\naddress = \"db:5432\"\nurl = \"http://x\"\n").unwrap_err();
        assert!(
            err.starts_with("observatory.checks[0].url: is not used by tcp checks"),
            "{err}"
        );
        let err =
            parse("[[checks]]\nname = \"x\"\nkind = \"http\"\nurll = \"http://x\"\n").unwrap_err();
        assert!(err.contains("urll"), "{err}");
        let err =
            parse("[[checks]]\nname = \"db\"\nkind = \"tcp\"\naddress = \"db\"\n").unwrap_err();
        assert!(err.contains("checks[0].address"), "{err}");
    }

    #[test]
    fn windows_and_duplicates_are_checked() {
        let err = parse("[[checks]]\nname = \"a\"\nkind = \"cpu\"\n[[checks]]\nname = \"a\"\nkind = \"memory\"\n").unwrap_err();
        assert!(err.contains("checks[1].name"), "{err}");
        let err = parse("[[maintenance]]\nstart = \"25:00\"\nduration = \"1h\"\n").unwrap_err();
        assert!(err.contains("maintenance[0].start"), "{err}");
        let ok =
            parse("[[maintenance]]\nstart = \"02:00\"\nduration = \"2h\"\nweekdays = [\"sun\"]\n")
                .unwrap();
        assert_eq!(ok.maintenance[0].days(), Some(vec![chrono::Weekday::Sun]));
    }

    #[test]
    fn percent_defaults_depend_on_the_kind() {
        assert_eq!(
            CheckConfig::new("c", CheckKind::Cpu).percent_thresholds(),
            (80.0, 95.0)
        );
        assert_eq!(
            CheckConfig::new("d", CheckKind::Disk).percent_thresholds(),
            (80.0, 90.0)
        );
    }
}
