//! `[sentinel]`: which repositories Sentinel checks, with which rules, and where a
//! broken rule is announced. The section being present turns it on; GitHub's
//! deliveries are verified with `GITHUB_WEBHOOK_SECRET`.
//!
//! `[sentinel.rules]` are the rules of every repository; a repository's own
//! `rules` table (under `[[sentinel.repos]]`) changes only the keys it names.

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The variable with the secret GitHub signs its deliveries with.
pub const WEBHOOK_SECRET_VAR: &str = "GITHUB_WEBHOOK_SECRET";

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SentinelConfig {
    /// Where broken rules and bypasses are announced (else the alert channel and chat).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack_channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub telegram_chat_id: Option<i64>,
    /// GitHub login → Slack user id, so the author of a pull request cannot waive
    /// its rules (and chat names them).
    pub people: BTreeMap<String, String>,
    /// The rules of every repository.
    pub rules: Rules,
    /// The repositories checked; a delivery from any other is ignored.
    pub repos: Vec<RepoConfig>,
}

/// One repository, with the rule keys it changes.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    /// `owner/name`.
    pub name: String,
    #[serde(default)]
    pub rules: RulesOverride,
}

/// The rules, each on or off.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// The title or branch names a Linear issue (`OPS-123`) that exists and is not
    /// cancelled.
    pub linear_issue: bool,
    /// The description is not empty and has every one of `template_sections`.
    pub description: bool,
    /// Headings (or any lines) the description must contain, e.g. `## Testing`.
    pub template_sections: Vec<String>,
    /// Labels every pull request must carry (none: the rule is off).
    pub required_labels: Vec<String>,
    /// Most changed lines (additions + deletions); 0 turns the rule off.
    pub max_changed_lines: u64,
    /// The label that allows a larger change.
    pub large_change_label: String,
    /// Paths that need an approving review from listed people or teams.
    pub protected_paths: Vec<ProtectedPaths>,
    /// No AWS keys, private keys, Slack or GitHub tokens in the added lines.
    pub secrets: bool,
    /// Changes under `migration_paths` need `migration_label`.
    pub migrations: bool,
    pub migration_paths: Vec<String>,
    pub migration_label: String,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            linear_issue: true,
            description: true,
            template_sections: Vec::new(),
            required_labels: Vec::new(),
            max_changed_lines: 1000,
            large_change_label: "large-change".into(),
            protected_paths: Vec::new(),
            secrets: true,
            migrations: true,
            migration_paths: vec!["migrations/**".into()],
            migration_label: "db-reviewed".into(),
        }
    }
}

/// Paths and who must approve a change to them.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProtectedPaths {
    /// Globs, e.g. `infra/**` or `.github/workflows/*.yml`.
    pub paths: Vec<String>,
    /// GitHub logins, any one of whom may approve.
    #[serde(default)]
    pub reviewers: Vec<String>,
    /// Teams as `org/team-slug`; an approving member of any one is enough.
    #[serde(default)]
    pub teams: Vec<String>,
}

/// A repository's changes to the rules: every key is optional.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RulesOverride {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linear_issue: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_sections: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_labels: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_changed_lines: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub large_change_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protected_paths: Option<Vec<ProtectedPaths>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migrations: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration_paths: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration_label: Option<String>,
}

impl Rules {
    /// These rules with a repository's changes.
    pub fn with(&self, o: &RulesOverride) -> Rules {
        let pick = |own: &Option<bool>, all: bool| own.unwrap_or(all);
        Rules {
            linear_issue: pick(&o.linear_issue, self.linear_issue),
            description: pick(&o.description, self.description),
            template_sections: o
                .template_sections
                .clone()
                .unwrap_or_else(|| self.template_sections.clone()),
            required_labels: o
                .required_labels
                .clone()
                .unwrap_or_else(|| self.required_labels.clone()),
            max_changed_lines: o.max_changed_lines.unwrap_or(self.max_changed_lines),
            large_change_label: o
                .large_change_label
                .clone()
                .unwrap_or_else(|| self.large_change_label.clone()),
            protected_paths: o
                .protected_paths
                .clone()
                .unwrap_or_else(|| self.protected_paths.clone()),
            secrets: pick(&o.secrets, self.secrets),
            migrations: pick(&o.migrations, self.migrations),
            migration_paths: o
                .migration_paths
                .clone()
                .unwrap_or_else(|| self.migration_paths.clone()),
            migration_label: o
                .migration_label
                .clone()
                .unwrap_or_else(|| self.migration_label.clone()),
        }
    }
}

impl SentinelConfig {
    /// The rules of `repo` (`owner/name`, compared without case), if it is checked.
    pub fn rules_for(&self, repo: &str) -> Option<Rules> {
        self.repos
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(repo))
            .map(|r| self.rules.with(&r.rules))
    }

    /// The configured spelling of `repo`, if it is checked.
    pub fn repo_named(&self, repo: &str) -> Option<&str> {
        self.repos
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(repo))
            .map(|r| r.name.as_str())
    }

    /// The Slack user of a GitHub login, if `people` names one.
    pub fn slack_of(&self, login: &str) -> Option<&str> {
        self.people
            .iter()
            .find(|(l, _)| l.eq_ignore_ascii_case(login))
            .map(|(_, u)| u.as_str())
    }
}

/// Compiles globs; the error names the bad one.
pub fn glob_set(globs: &[String]) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        b.add(Glob::new(g).map_err(|e| format!("{g:?} is not a glob: {e}"))?);
    }
    b.build().map_err(|e| e.to_string())
}

impl crate::config::Section for SentinelConfig {
    const NAME: &'static str = "sentinel";

    fn validate(&self) -> Result<(), (String, String)> {
        if self.repos.is_empty() {
            return Err((
                "sentinel.repos".into(),
                "list the repositories to check, e.g. [[sentinel.repos]] name = \"acme/api\""
                    .into(),
            ));
        }
        check_rules(&self.rules, "sentinel.rules")?;
        for (i, r) in self.repos.iter().enumerate() {
            let parts: Vec<&str> = r.name.split('/').collect();
            if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
                return Err((
                    format!("sentinel.repos[{i}].name"),
                    format!("{:?} is not owner/name", r.name),
                ));
            }
            check_rules(
                &self.rules.with(&r.rules),
                &format!("sentinel.repos[{i}].rules"),
            )?;
        }
        check_rules(&self.rules, "sentinel.rules")?;
        for (login, user) in &self.people {
            if crate::domain::SlackUserId::parse(user).is_err() {
                return Err((
                    format!("sentinel.people.{login}"),
                    format!("{user:?} is not a Slack user id (U…)"),
                ));
            }
        }
        Ok(())
    }
}

fn check_rules(r: &Rules, key: &str) -> Result<(), (String, String)> {
    glob_set(&r.migration_paths).map_err(|e| (format!("{key}.migration_paths"), e))?;
    for (i, p) in r.protected_paths.iter().enumerate() {
        let at = format!("{key}.protected_paths[{i}]");
        if p.paths.is_empty() {
            return Err((format!("{at}.paths"), "list at least one glob".into()));
        }
        glob_set(&p.paths).map_err(|e| (format!("{at}.paths"), e))?;
        if p.reviewers.is_empty() && p.teams.is_empty() {
            return Err((
                at,
                "name the reviewers or teams who may approve these paths".into(),
            ));
        }
        if let Some(t) = p.teams.iter().find(|t| t.split('/').count() != 2) {
            return Err((format!("{at}.teams"), format!("{t:?} is not org/team-slug")));
        }
    }
    if r.migrations && r.migration_label.trim().is_empty() {
        return Err((format!("{key}.migration_label"), "must not be empty".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Section;

    fn parse(text: &str) -> SentinelConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_repository_changes_only_the_rules_it_names() {
        let c = parse(
            "[rules]\nrequired_labels = [\"team\"]\nmax_changed_lines = 500\n\
             [[repos]]\nname = \"acme/api\"\n\
             [[repos]]\nname = \"acme/web\"\nrules = { max_changed_lines = 0, linear_issue = false }\n",
        );
        c.validate().unwrap();
        let api = c.rules_for("ACME/api").unwrap();
        assert_eq!(api.max_changed_lines, 500);
        assert!(api.linear_issue);
        let web = c.rules_for("acme/web").unwrap();
        assert_eq!(web.max_changed_lines, 0);
        assert!(!web.linear_issue);
        assert_eq!(web.required_labels, vec!["team".to_owned()]);
        assert!(c.rules_for("acme/other").is_none());
    }

    #[test]
    fn mistakes_name_their_key() {
        let err = toml::from_str::<SentinelConfig>("[rules]\nlinear = true\n").unwrap_err();
        assert!(err.to_string().contains("linear"), "{err}");
        let c = parse("[[repos]]\nname = \"api\"\n");
        assert_eq!(c.validate().unwrap_err().0, "sentinel.repos[0].name");
        let c =
            parse("[[repos]]\nname = \"a/b\"\n[[rules.protected_paths]]\npaths = [\"infra/**\"]\n");
        assert_eq!(
            c.validate().unwrap_err().0,
            "sentinel.rules.protected_paths[0]"
        );
        let c = parse("[[repos]]\nname = \"a/b\"\nrules = { migration_paths = [\"a/[\"] }\n");
        assert_eq!(
            c.validate().unwrap_err().0,
            "sentinel.repos[0].rules.migration_paths"
        );
        assert!(parse("").validate().is_err());
    }
}
