//! `[rollback]`: which Argo CD applications Rollback Pilot watches, and how each one's
//! version is pinned in its GitOps repository. The section being present turns it on;
//! the Argo CD token is read from `ARGOCD_TOKEN`.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The variable holding the Argo CD API token.
pub const TOKEN_VAR: &str = "ARGOCD_TOKEN";

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RollbackConfig {
    /// Argo CD's base URL, e.g. `https://argocd.example.com`.
    pub argocd_url: String,
    /// How often the applications are read (one `GET /api/v1/applications`).
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Consecutive Degraded polls before an application counts as degraded.
    pub degraded_checks: u32,
    /// A candidate revision must have been healthy at least this share of the polls
    /// it was deployed for, in percent.
    pub min_uptime_percent: f64,
    /// ... and OpsMate must have seen it deployed for at least this many polls; fewer
    /// is unknown uptime, never assumed stable.
    pub min_uptime_polls: u32,
    /// How long to wait for CI on the pull request before deciding without it (I6
    /// false).
    #[serde(with = "humantime_serde")]
    pub ci_timeout: Duration,
    /// After the merge, how long Argo CD has to sync and turn Healthy before the
    /// rollback is reported as still degraded.
    #[serde(with = "humantime_serde")]
    pub verify_timeout: Duration,
    /// `merge`, `squash` or `rebase`.
    pub merge_method: MergeMethod,
    /// Where its messages go (else the alert channel and chat).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack_channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub telegram_chat_id: Option<i64>,
    pub apps: Vec<AppConfig>,
}

impl Default for RollbackConfig {
    fn default() -> Self {
        Self {
            argocd_url: String::new(),
            poll_interval: Duration::from_secs(10),
            degraded_checks: 3,
            min_uptime_percent: 99.0,
            min_uptime_polls: 30,
            ci_timeout: Duration::from_secs(15 * 60),
            verify_timeout: Duration::from_secs(10 * 60),
            merge_method: MergeMethod::Merge,
            slack_channel: None,
            telegram_chat_id: None,
            apps: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MergeMethod {
    Merge,
    Squash,
    Rebase,
}

impl MergeMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            MergeMethod::Merge => "merge",
            MergeMethod::Squash => "squash",
            MergeMethod::Rebase => "rebase",
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Staging,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Staging => "staging",
            Environment::Production => "production",
        }
    }
}

/// How an application's version is pinned in its repository.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum PinMode {
    /// `path` + `yaml_key`: the value at the key is set back to the candidate's.
    #[default]
    Pin,
    /// The commits made since the candidate are reverted (the branch gets the
    /// candidate's tree in one commit).
    Revert,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// The Argo CD application's name.
    pub name: String,
    pub environment: Environment,
    /// `owner/name` of the GitOps repository.
    pub repo: String,
    #[serde(default = "main_branch")]
    pub base_branch: String,
    #[serde(default)]
    pub mode: PinMode,
    /// The file holding the pinned version (for `mode = "pin"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The dotted key of the version in that YAML file, e.g. `image.tag`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yaml_key: Option<String>,
}

fn main_branch() -> String {
    "main".into()
}

impl AppConfig {
    pub fn owner_and_name(&self) -> (&str, &str) {
        self.repo.split_once('/').unwrap_or((&self.repo, ""))
    }
}

impl crate::config::Section for RollbackConfig {
    const NAME: &'static str = "rollback";

    fn validate(&self) -> Result<(), (String, String)> {
        let url = self.argocd_url.trim();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err((
                "rollback.argocd_url".into(),
                "set Argo CD's base URL, e.g. \"https://argocd.example.com\"".into(),
            ));
        }
        if self.poll_interval < Duration::from_secs(1) {
            return Err((
                "rollback.poll_interval".into(),
                "must be at least 1s".into(),
            ));
        }
        if !(1..=100).contains(&self.degraded_checks) {
            return Err((
                "rollback.degraded_checks".into(),
                "must be between 1 and 100".into(),
            ));
        }
        if !(50.0..=100.0).contains(&self.min_uptime_percent) {
            return Err((
                "rollback.min_uptime_percent".into(),
                "must be between 50 and 100".into(),
            ));
        }
        if self.min_uptime_polls == 0 {
            return Err((
                "rollback.min_uptime_polls".into(),
                "must be at least 1: a revision never seen has unknown uptime".into(),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, app) in self.apps.iter().enumerate() {
            let key = format!("rollback.apps[{i}]");
            if !is_app_name(&app.name) || !names.insert(app.name.as_str()) {
                return Err((
                    format!("{key}.name"),
                    "use the Argo CD application's name (lowercase letters, digits, '-' and '.'), once".into(),
                ));
            }
            match app.repo.split_once('/') {
                Some((o, n)) if is_repo_part(o) && is_repo_part(n) => {}
                _ => {
                    return Err((
                        format!("{key}.repo"),
                        "write the GitOps repository as \"owner/name\"".into(),
                    ));
                }
            }
            if app.base_branch.trim().is_empty() {
                return Err((format!("{key}.base_branch"), "must not be empty".into()));
            }
            match (app.mode, &app.path, &app.yaml_key) {
                (PinMode::Pin, Some(path), Some(k)) if !path.is_empty() && is_yaml_key(k) => {}
                (PinMode::Pin, _, _) => {
                    return Err((
                        format!("{key}.yaml_key"),
                        "set path and yaml_key (e.g. path = \"apps/web/values.yaml\", yaml_key = \"image.tag\"), or mode = \"revert\"".into(),
                    ));
                }
                (PinMode::Revert, _, Some(_)) => {
                    return Err((
                        format!("{key}.yaml_key"),
                        "mode = \"revert\" reverts whole commits: leave yaml_key out".into(),
                    ));
                }
                (PinMode::Revert, _, None) => {}
            }
        }
        Ok(())
    }
}

fn is_app_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

fn is_repo_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn is_yaml_key(k: &str) -> bool {
    !k.is_empty() && k.split('.').all(|part| !part.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Section;

    fn app() -> AppConfig {
        AppConfig {
            name: "web".into(),
            environment: Environment::Staging,
            repo: "acme/gitops".into(),
            base_branch: "main".into(),
            mode: PinMode::Pin,
            path: Some("apps/web/values.yaml".into()),
            yaml_key: Some("image.tag".into()),
        }
    }

    fn config(apps: Vec<AppConfig>) -> RollbackConfig {
        RollbackConfig {
            argocd_url: "https://argocd.example.com".into(),
            apps,
            ..RollbackConfig::default()
        }
    }

    #[test]
    fn a_pinned_app_needs_its_path_and_key_and_a_revert_app_needs_neither() {
        assert_eq!(config(vec![app()]).validate(), Ok(()));
        let mut no_key = app();
        no_key.yaml_key = None;
        assert_eq!(
            config(vec![no_key]).validate().unwrap_err().0,
            "rollback.apps[0].yaml_key"
        );
        let mut revert = app();
        revert.mode = PinMode::Revert;
        revert.path = None;
        revert.yaml_key = None;
        assert_eq!(config(vec![revert]).validate(), Ok(()));
    }

    #[test]
    fn names_repos_and_the_url_are_checked() {
        assert_eq!(
            config(vec![app(), app()]).validate().unwrap_err().0,
            "rollback.apps[1].name"
        );
        let mut bad_repo = app();
        bad_repo.repo = "gitops".into();
        assert_eq!(
            config(vec![bad_repo]).validate().unwrap_err().0,
            "rollback.apps[0].repo"
        );
        let mut c = config(vec![app()]);
        c.argocd_url = "argocd".into();
        assert_eq!(c.validate().unwrap_err().0, "rollback.argocd_url");
    }

    #[test]
    fn an_unknown_key_in_an_app_is_refused_by_name() {
        let text = r#"
argocd_url = "https://argocd.example.com"
[[apps]]
name = "web"
environment = "staging"
repo = "acme/gitops"
path = "values.yaml"
yaml_kye = "image.tag"
"#;
        let err = toml::from_str::<RollbackConfig>(text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("yaml_kye"), "{err}");
    }
}
