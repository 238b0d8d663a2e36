//! `[incidents]`: what an alert offers and who owns it. The section being present
//! turns Incidents on; its remediations are named by checks
//! (`[[observatory.checks]] remediations = ["restart-api"]`).

use crate::config::KindPolicy;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentsConfig {
    /// After a remediation runs, its check runs again this much later, and the
    /// incident says whether it recovered.
    #[serde(with = "humantime_serde")]
    pub verify_after: Duration,
    /// How long Mute silences an incident's reminders and changes.
    #[serde(with = "humantime_serde")]
    pub mute_for: Duration,
    /// The `systemctl` that `systemd_restart` runs.
    pub systemctl: PathBuf,
    pub remediations: Vec<Remediation>,
    /// Remediations run in order under one approval.
    pub runbooks: Vec<Runbook>,
    /// Levels an incident nobody acked goes through, by `after`.
    pub escalation: Vec<EscalationLevel>,
    /// PagerDuty Events API v2, for levels with `pagerduty = true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pagerduty: Option<PagerDutyConfig>,
    /// Signed webhooks, by name, for levels that list them.
    pub webhooks: Vec<WebhookConfig>,
    /// SMTP, for levels that list email addresses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailConfig>,
}

/// One escalation level: where an incident goes once it has been open and unacked
/// (and not muted) for `after`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EscalationLevel {
    #[serde(with = "humantime_serde")]
    pub after: Duration,
    #[serde(default)]
    pub pagerduty: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PagerDutyConfig {
    /// The Events API v2 endpoint.
    pub events_url: String,
    /// The environment variable holding the integration's routing key.
    pub routing_key_env: String,
}

impl Default for PagerDutyConfig {
    fn default() -> Self {
        Self {
            events_url: "https://events.pagerduty.com/v2/enqueue".into(),
            routing_key_env: "PAGERDUTY_ROUTING_KEY".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub name: String,
    pub url: String,
    /// The environment variable holding the HMAC-SHA256 key that signs each body.
    pub secret_env: String,
}

/// How mail is sent: SMTP submission with STARTTLS.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub smtp_host: String,
    #[serde(default = "default_smtp_port")]
    pub smtp_port: u16,
    /// `required` (default), `opportunistic`, or `off` for a local relay.
    #[serde(default)]
    pub starttls: StartTls,
    pub from: String,
    /// Environment variables holding the SMTP credentials (both or neither set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// A PEM file of extra CA certificates to trust (an internal relay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

fn default_smtp_port() -> u16 {
    587
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum StartTls {
    #[default]
    Required,
    Opportunistic,
    Off,
}

impl Default for IncidentsConfig {
    fn default() -> Self {
        Self {
            verify_after: Duration::from_secs(60),
            mute_for: Duration::from_secs(3600),
            systemctl: PathBuf::from("systemctl"),
            remediations: Vec::new(),
            runbooks: Vec::new(),
            escalation: Vec::new(),
            pagerduty: None,
            webhooks: Vec::new(),
            email: None,
        }
    }
}

/// Remediations run one after the other under one approval; a step that fails stops
/// the rest.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Runbook {
    pub name: String,
    /// Remediation names, in order.
    pub steps: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Who may run it, instead of `[approvals.remediate]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvers: Option<KindPolicy>,
    /// Overrides `incidents.verify_after`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde"
    )]
    pub verify_after: Option<Duration>,
    /// Runs it with no click once an incident is `auto_after` old, at most
    /// `max_auto_per_hour` times an hour, and never after a run of it failed.
    #[serde(default)]
    pub auto: bool,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde"
    )]
    pub auto_after: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_auto_per_hour: Option<u32>,
}

/// When a plan runs on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoRule {
    pub after: Duration,
    pub max_per_hour: u32,
}

/// Defaults of an auto rule: after 5 minutes, once an hour.
pub const DEFAULT_AUTO_AFTER: Duration = Duration::from_secs(300);
pub const DEFAULT_MAX_AUTO_PER_HOUR: u32 = 1;

fn auto_rule(auto: bool, after: Option<Duration>, max: Option<u32>) -> Option<AutoRule> {
    auto.then(|| AutoRule {
        after: after.unwrap_or(DEFAULT_AUTO_AFTER),
        max_per_hour: max.unwrap_or(DEFAULT_MAX_AUTO_PER_HOUR),
    })
}

/// What a button offers: one remediation, or a runbook of several.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan<'a> {
    pub name: &'a str,
    pub label: String,
    pub steps: Vec<&'a Remediation>,
    pub approvers: Option<&'a KindPolicy>,
    pub verify_after: Duration,
    pub is_runbook: bool,
    /// Runs on its own, by this rule.
    pub auto: Option<AutoRule>,
}

/// What a remediation does.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RemediationKind {
    /// Runs a program (argv, no shell).
    Command,
    /// Sends one HTTP request.
    Http,
    /// `systemctl restart UNIT`.
    SystemdRestart,
    /// Reboots EC2 instances, by id or by tags.
    Ec2Reboot,
}

impl RemediationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RemediationKind::Command => "command",
            RemediationKind::Http => "http",
            RemediationKind::SystemdRestart => "systemd_restart",
            RemediationKind::Ec2Reboot => "ec2_reboot",
        }
    }
}

/// One remediation. Fields that its kind does not use are refused by name.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Remediation {
    /// Lowercase letters, digits and `-`; the button says it.
    pub name: String,
    pub kind: RemediationKind,
    /// The button's text; unset means the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// How long it may run (command, systemd_restart, http); a command past it is
    /// killed with its whole process group. Default 60 s.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde"
    )]
    pub timeout: Option<Duration>,
    /// Overrides `incidents.verify_after`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde"
    )]
    pub verify_after: Option<Duration>,
    /// Who may run it, instead of `[approvals.remediate]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvers: Option<KindPolicy>,
    /// Runs it with no click once an incident is `auto_after` old, at most
    /// `max_auto_per_hour` times an hour, and never after a run of it failed.
    #[serde(default)]
    pub auto: bool,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde"
    )]
    pub auto_after: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_auto_per_hour: Option<u32>,
    /// command: the program and its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<String>,
    /// command: the working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<PathBuf>,
    /// command: names of OpsMate's environment variables passed on; nothing else is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// http: the method (default POST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// http: the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// http: headers sent as written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// http: headers whose value is read from the named environment variable when
    /// sent (secrets stay out of the file and the logs).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secret_headers: BTreeMap<String, String>,
    /// http: the request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// http: the status that means it worked (default any 2xx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<u16>,
    /// systemd_restart: the unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// ec2_reboot: instances by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instance_ids: Vec<String>,
    /// ec2_reboot: or the running instances with all of these tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// ec2_reboot: the region (default the first of `aws.regions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// Default time limit of a remediation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

impl Remediation {
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }

    pub fn label(&self) -> String {
        self.label.clone().unwrap_or_else(|| self.name.clone())
    }

    /// Which optional keys the kind uses.
    fn allowed(&self) -> &'static [&'static str] {
        match self.kind {
            RemediationKind::Command => &["argv", "working_dir", "env"],
            RemediationKind::Http => &[
                "method",
                "url",
                "headers",
                "secret_headers",
                "body",
                "expect_status",
            ],
            RemediationKind::SystemdRestart => &["unit"],
            RemediationKind::Ec2Reboot => &["instance_ids", "tags", "region"],
        }
    }

    fn set_keys(&self) -> Vec<&'static str> {
        [
            ("argv", !self.argv.is_empty()),
            ("working_dir", self.working_dir.is_some()),
            ("env", !self.env.is_empty()),
            ("method", self.method.is_some()),
            ("url", self.url.is_some()),
            ("headers", !self.headers.is_empty()),
            ("secret_headers", !self.secret_headers.is_empty()),
            ("body", self.body.is_some()),
            ("expect_status", self.expect_status.is_some()),
            ("unit", self.unit.is_some()),
            ("instance_ids", !self.instance_ids.is_empty()),
            ("tags", !self.tags.is_empty()),
            ("region", self.region.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect()
    }

    /// Checks that types alone cannot express; `key` is `incidents.remediations[i]`.
    pub fn validate(&self, key: &str) -> Result<(), (String, String)> {
        let bad = |field: &str, why: String| Err((format!("{key}.{field}"), why));
        if !is_name(&self.name) {
            return bad(
                "name",
                "use 1 to 32 lowercase letters, digits and '-'".into(),
            );
        }
        for field in self.set_keys() {
            if !self.allowed().contains(&field) {
                return bad(
                    field,
                    format!("is not used by {} remediations", self.kind.as_str()),
                );
            }
        }
        validate_auto(key, self.auto, self.auto_after, self.max_auto_per_hour)?;
        if self.timeout().is_zero() || self.timeout() > Duration::from_secs(3600) {
            return bad("timeout", "must be between 1s and 1h".into());
        }
        match self.kind {
            RemediationKind::Command if self.argv.first().is_none_or(|p| p.is_empty()) => {
                return bad("argv", "command remediations need a program".into());
            }
            RemediationKind::Http => match self.url.as_deref().map(reqwest::Url::parse) {
                Some(Ok(u)) if matches!(u.scheme(), "http" | "https") => {}
                _ => return bad("url", "http remediations need an http(s) URL".into()),
            },
            RemediationKind::SystemdRestart if !self.unit.as_deref().is_some_and(is_unit) => {
                return bad(
                    "unit",
                    "systemd_restart needs a unit name such as \"api.service\"".into(),
                );
            }
            RemediationKind::Ec2Reboot if self.instance_ids.is_empty() == self.tags.is_empty() => {
                return bad(
                    "instance_ids",
                    "ec2_reboot needs either instance_ids or tags".into(),
                );
            }
            _ => {}
        }
        if let Some(m) = &self.method
            && reqwest::Method::from_bytes(m.as_bytes()).is_err()
        {
            return bad("method", format!("{m:?} is not an HTTP method"));
        }
        for name in self.env.iter().chain(self.secret_headers.values()) {
            if name.is_empty() || name.contains('=') {
                return bad(
                    "env",
                    format!("{name:?} is not an environment variable name"),
                );
            }
        }
        if let Some(bad_id) = self
            .instance_ids
            .iter()
            .find(|id| crate::cloud::ids::InstanceId::parse(id).is_err())
        {
            return bad("instance_ids", format!("{bad_id:?} is not an instance id"));
        }
        Ok(())
    }
}

/// An auto rule's keys make sense only with `auto = true`, and within bounds.
fn validate_auto(
    key: &str,
    auto: bool,
    after: Option<Duration>,
    max: Option<u32>,
) -> Result<(), (String, String)> {
    if !auto && (after.is_some() || max.is_some()) {
        let field = if after.is_some() {
            "auto_after"
        } else {
            "max_auto_per_hour"
        };
        return Err((format!("{key}.{field}"), "needs auto = true".into()));
    }
    if after.is_some_and(|a| a > Duration::from_secs(7 * 86_400)) {
        return Err((format!("{key}.auto_after"), "must be at most 7 days".into()));
    }
    if max.is_some_and(|m| !(1..=60).contains(&m)) {
        return Err((
            format!("{key}.max_auto_per_hour"),
            "must be between 1 and 60".into(),
        ));
    }
    Ok(())
}

/// A remediation's name: it travels in button data, so it stays short and plain.
fn is_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A systemd unit name: no option-looking or path-looking names reach `systemctl`.
fn is_unit(unit: &str) -> bool {
    !unit.is_empty()
        && unit.len() <= 255
        && !unit.starts_with('-')
        && unit
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@:\\".contains(&b))
}

impl crate::config::Section for IncidentsConfig {
    const NAME: &'static str = "incidents";

    fn validate(&self) -> Result<(), (String, String)> {
        if self.verify_after > Duration::from_secs(3600) {
            return Err(("incidents.verify_after".into(), "must be at most 1h".into()));
        }
        if self.mute_for.is_zero() || self.mute_for > Duration::from_secs(7 * 86_400) {
            return Err((
                "incidents.mute_for".into(),
                "must be between 1s and 7 days".into(),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, r) in self.remediations.iter().enumerate() {
            let key = format!("incidents.remediations[{i}]");
            r.validate(&key)?;
            if !names.insert(r.name.as_str()) {
                return Err((
                    format!("{key}.name"),
                    format!("{:?} is used by another remediation", r.name),
                ));
            }
        }
        for (i, b) in self.runbooks.iter().enumerate() {
            let key = format!("incidents.runbooks[{i}]");
            if !is_name(&b.name) || names.contains(b.name.as_str()) {
                return Err((
                    format!("{key}.name"),
                    "use a name of 1 to 32 lowercase letters, digits and '-' that no remediation or other runbook has".into(),
                ));
            }
            validate_auto(&key, b.auto, b.auto_after, b.max_auto_per_hour)?;
            if b.steps.is_empty() || b.steps.len() > 20 {
                return Err((format!("{key}.steps"), "list 1 to 20 remediations".into()));
            }
            if let Some(missing) = b.steps.iter().find(|s| self.remediation(s).is_none()) {
                return Err((
                    format!("{key}.steps"),
                    format!("no [[incidents.remediations]] is named {missing:?}"),
                ));
            }
            names.insert(b.name.as_str());
        }
        self.validate_escalation()
    }
}

impl IncidentsConfig {
    /// Levels in order of `after`, each naming only targets that are configured.
    fn validate_escalation(&self) -> Result<(), (String, String)> {
        let mut hooks = std::collections::HashSet::new();
        for (i, w) in self.webhooks.iter().enumerate() {
            let key = format!("incidents.webhooks[{i}]");
            if !is_name(&w.name) || !hooks.insert(w.name.as_str()) {
                return Err((
                    format!("{key}.name"),
                    "use a unique name of lowercase letters, digits and '-'".into(),
                ));
            }
            if !reqwest::Url::parse(&w.url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
                return Err((
                    format!("{key}.url"),
                    format!("{:?} is not an http(s) URL", w.url),
                ));
            }
        }
        if let Some(pd) = &self.pagerduty
            && reqwest::Url::parse(&pd.events_url).is_err()
        {
            return Err((
                "incidents.pagerduty.events_url".into(),
                format!("{:?} is not a URL", pd.events_url),
            ));
        }
        if let Some(e) = &self.email
            && e.username_env.is_some() != e.password_env.is_some()
        {
            return Err((
                "incidents.email.password_env".into(),
                "set both username_env and password_env, or neither".into(),
            ));
        }
        let mut last = None;
        for (i, level) in self.escalation.iter().enumerate() {
            let key = format!("incidents.escalation[{i}]");
            if last.is_some_and(|after| level.after <= after) {
                return Err((
                    format!("{key}.after"),
                    "each level must come later than the one before".into(),
                ));
            }
            last = Some(level.after);
            if level.pagerduty && self.pagerduty.is_none() {
                return Err((
                    format!("{key}.pagerduty"),
                    "needs an [incidents.pagerduty] section".into(),
                ));
            }
            if let Some(unknown) = level.webhooks.iter().find(|w| !hooks.contains(w.as_str())) {
                return Err((
                    format!("{key}.webhooks"),
                    format!("no [[incidents.webhooks]] is named {unknown:?}"),
                ));
            }
            if !level.email.is_empty() && self.email.is_none() {
                return Err((
                    format!("{key}.email"),
                    "needs an [incidents.email] section".into(),
                ));
            }
            if let Some(bad) = level.email.iter().find(|a| !a.contains('@')) {
                return Err((
                    format!("{key}.email"),
                    format!("{bad:?} is not an email address"),
                ));
            }
            if !level.pagerduty && level.webhooks.is_empty() && level.email.is_empty() {
                return Err((key, "names no target (pagerduty, webhooks or email)".into()));
            }
        }
        Ok(())
    }

    /// The remediation or runbook called `name`, as a plan of steps.
    pub fn plan(&self, name: &str) -> Option<Plan<'_>> {
        if let Some(r) = self.remediation(name) {
            return Some(Plan {
                name: &r.name,
                label: format!("🔧 {}", r.label()),
                steps: vec![r],
                approvers: r.approvers.as_ref(),
                verify_after: r.verify_after.unwrap_or(self.verify_after),
                is_runbook: false,
                auto: auto_rule(r.auto, r.auto_after, r.max_auto_per_hour),
            });
        }
        let b = self.runbooks.iter().find(|b| b.name == name)?;
        Some(Plan {
            name: &b.name,
            label: format!("📒 {}", b.label.clone().unwrap_or_else(|| b.name.clone())),
            steps: b.steps.iter().filter_map(|s| self.remediation(s)).collect(),
            approvers: b.approvers.as_ref(),
            verify_after: b.verify_after.unwrap_or(self.verify_after),
            is_runbook: true,
            auto: auto_rule(b.auto, b.auto_after, b.max_auto_per_hour),
        })
    }

    pub fn webhook(&self, name: &str) -> Option<&WebhookConfig> {
        self.webhooks.iter().find(|w| w.name == name)
    }

    pub fn remediation(&self, name: &str) -> Option<&Remediation> {
        self.remediations.iter().find(|r| r.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Section;

    fn parse(text: &str) -> Result<IncidentsConfig, String> {
        let c: IncidentsConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        c.validate().map_err(|(k, why)| format!("{k}: {why}"))?;
        Ok(c)
    }

    #[test]
    fn each_kind_reads_and_keys_it_does_not_use_are_named() {
        let c = parse(
            r#"
[[remediations]]
name = "restart-api"
kind = "command"
argv = ["/usr/local/bin/restart-api", "--graceful"]
env = ["PATH"]
timeout = "30s"

[[remediations]]
name = "flush-cache"
kind = "http"
url = "https://cache.internal/flush"
secret_headers = { Authorization = "CACHE_TOKEN" }
expect_status = 202

[[remediations]]
name = "restart-nginx"
kind = "systemd_restart"
unit = "nginx.service"

[[remediations]]
name = "reboot-api"
kind = "ec2_reboot"
tags = { Role = "api" }
"#,
        )
        .unwrap();
        assert_eq!(c.remediations.len(), 4);
        assert_eq!(c.verify_after, Duration::from_secs(60));
        let err = parse("[[remediations]]\nname = \"x\"\nkind = \"systemd_restart\"\nunit = \"a.service\"\nargv = [\"ls\"]\n").unwrap_err();
        assert!(
            err.starts_with("incidents.remediations[0].argv: is not used by systemd_restart"),
            "{err}"
        );
        let err = parse(
            "[[remediations]]\nname = \"x\"\nkind = \"systemd_restart\"\nunit = \"--force\"\n",
        )
        .unwrap_err();
        assert!(err.contains("remediations[0].unit"), "{err}");
        let err =
            parse("[[remediations]]\nname = \"Restart API\"\nkind = \"command\"\nargv = [\"x\"]\n")
                .unwrap_err();
        assert!(err.contains("remediations[0].name"), "{err}");
        let err = parse("[[remediations]]\nname = \"x\"\nkind = \"ec2_reboot\"\n").unwrap_err();
        assert!(err.contains("instance_ids"), "{err}");
    }
}
