//! The rules, as pure functions of what was read about a pull request. Each rule that
//! is on gives one [`RuleResult`]: passed or not, and a line saying why.

use super::config::{Rules, glob_set};
use super::linear::Lookup;
use super::secrets_scan::{self, Finding};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything the rules look at, read once per evaluation.
#[derive(Debug, Clone)]
pub struct Facts {
    pub title: String,
    pub body: String,
    pub branch: String,
    pub labels: Vec<String>,
    pub files: Vec<FileFacts>,
    /// Logins whose latest review approves.
    pub approvers: Vec<String>,
    /// Team (`org/slug`) → the approvers who are active members of it.
    pub team_approvers: BTreeMap<String, Vec<String>>,
    pub linear: Lookup,
}

#[derive(Debug, Clone)]
pub struct FileFacts {
    pub path: String,
    pub additions: u64,
    pub deletions: u64,
    /// Absent for binary files and diffs too large for GitHub to show.
    pub patch: Option<String>,
}

impl Facts {
    pub fn changed_lines(&self) -> u64 {
        self.files.iter().map(|f| f.additions + f.deletions).sum()
    }

    fn has_label(&self, label: &str) -> bool {
        self.labels.iter().any(|l| l.eq_ignore_ascii_case(label))
    }
}

/// One rule's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleResult {
    /// The rule's key in `[sentinel.rules]`.
    pub rule: String,
    pub passed: bool,
    /// Why, in one line.
    pub text: String,
    /// Lines to annotate (secrets), as (path, line, what).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<(String, u32, String)>,
}

impl RuleResult {
    fn new(rule: &str, passed: bool, text: impl Into<String>) -> Self {
        Self {
            rule: rule.into(),
            passed,
            text: text.into(),
            lines: Vec::new(),
        }
    }
}

/// The human name of a rule key.
pub fn rule_name(rule: &str) -> &str {
    match rule {
        "linear_issue" => "Linear issue",
        "description" => "Description",
        "required_labels" => "Required labels",
        "size" => "Size",
        "protected_paths" => "Protected paths",
        "secrets" => "No secrets",
        "migrations" => "Migrations reviewed",
        other => other,
    }
}

/// Every rule that is on, in a fixed order.
pub fn evaluate(rules: &Rules, facts: &Facts) -> Vec<RuleResult> {
    let mut out = Vec::new();
    if rules.linear_issue {
        out.push(linear_issue(&facts.linear));
    }
    if rules.description {
        out.push(description(&facts.body, &rules.template_sections));
    }
    if !rules.required_labels.is_empty() {
        let missing: Vec<&str> = rules
            .required_labels
            .iter()
            .filter(|l| !facts.has_label(l))
            .map(String::as_str)
            .collect();
        out.push(if missing.is_empty() {
            RuleResult::new("required_labels", true, "every required label is present")
        } else {
            RuleResult::new(
                "required_labels",
                false,
                format!("missing label(s): {}", missing.join(", ")),
            )
        });
    }
    if rules.max_changed_lines > 0 {
        out.push(size(rules, facts));
    }
    if !rules.protected_paths.is_empty() {
        out.push(protected_paths(rules, facts));
    }
    if rules.secrets {
        out.push(secrets(facts));
    }
    if rules.migrations {
        out.push(migrations(rules, facts));
    }
    out
}

fn linear_issue(lookup: &Lookup) -> RuleResult {
    const R: &str = "linear_issue";
    match lookup {
        Lookup::Unnamed => RuleResult::new(
            R,
            false,
            "neither the title nor the branch names a Linear issue (like OPS-123)",
        ),
        Lookup::Unreadable(why) => {
            RuleResult::new(R, false, format!("could not check Linear: {why}"))
        }
        Lookup::Answered { asked, found } => {
            if let Some(ok) = found.iter().find(|i| i.state_type != "canceled") {
                return RuleResult::new(
                    R,
                    true,
                    format!("{} ({}): {}", ok.identifier, ok.state_name, ok.title),
                );
            }
            match found.first() {
                Some(cancelled) => RuleResult::new(
                    R,
                    false,
                    format!(
                        "{} is cancelled ({})",
                        cancelled.identifier, cancelled.state_name
                    ),
                ),
                None => RuleResult::new(
                    R,
                    false,
                    format!("no such issue in Linear: {}", asked.join(", ")),
                ),
            }
        }
    }
}

fn description(body: &str, sections: &[String]) -> RuleResult {
    const R: &str = "description";
    if body.trim().is_empty() {
        return RuleResult::new(R, false, "the description is empty");
    }
    let lower = body.to_lowercase();
    let missing: Vec<&str> = sections
        .iter()
        .filter(|s| !lower.contains(&s.trim().to_lowercase()))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        RuleResult::new(R, true, "the description has every template section")
    } else {
        RuleResult::new(
            R,
            false,
            format!("the description lacks: {}", missing.join(", ")),
        )
    }
}

fn size(rules: &Rules, facts: &Facts) -> RuleResult {
    const R: &str = "size";
    let n = facts.changed_lines();
    let max = rules.max_changed_lines;
    if n <= max {
        RuleResult::new(R, true, format!("{n} changed lines (limit {max})"))
    } else if facts.has_label(&rules.large_change_label) {
        RuleResult::new(
            R,
            true,
            format!(
                "{n} changed lines, over the limit of {max}, allowed by the {} label",
                rules.large_change_label
            ),
        )
    } else {
        RuleResult::new(
            R,
            false,
            format!(
                "{n} changed lines, over the limit of {max} (add the {} label if it must be one change)",
                rules.large_change_label
            ),
        )
    }
}

fn protected_paths(rules: &Rules, facts: &Facts) -> RuleResult {
    const R: &str = "protected_paths";
    let mut unapproved = Vec::new();
    let mut touched = 0;
    for p in &rules.protected_paths {
        // Checked at config load; a bad glob here protects nothing rather than panic.
        let Ok(set) = glob_set(&p.paths) else {
            continue;
        };
        let hit: Vec<&str> = facts
            .files
            .iter()
            .filter(|f| set.is_match(&f.path))
            .map(|f| f.path.as_str())
            .collect();
        if hit.is_empty() {
            continue;
        }
        touched += 1;
        let by_person = facts
            .approvers
            .iter()
            .any(|a| p.reviewers.iter().any(|r| r.eq_ignore_ascii_case(a)));
        let by_team = p.teams.iter().any(|t| {
            facts
                .team_approvers
                .get(t)
                .is_some_and(|members| !members.is_empty())
        });
        if !(by_person || by_team) {
            let who: Vec<String> = p
                .reviewers
                .iter()
                .cloned()
                .chain(p.teams.iter().map(|t| format!("@{t}")))
                .collect();
            unapproved.push(format!(
                "{} needs an approving review from {}",
                hit.join(", "),
                who.join(" or ")
            ));
        }
    }
    match (touched, unapproved.is_empty()) {
        (0, _) => RuleResult::new(R, true, "no protected path is changed"),
        (_, true) => RuleResult::new(R, true, "every protected path changed has its approval"),
        (_, false) => RuleResult::new(R, false, unapproved.join("; ")),
    }
}

fn secrets(facts: &Facts) -> RuleResult {
    const R: &str = "secrets";
    let found: Vec<Finding> = facts
        .files
        .iter()
        .filter_map(|f| {
            f.patch
                .as_deref()
                .map(|p| secrets_scan::scan_patch(&f.path, p))
        })
        .flatten()
        .collect();
    if found.is_empty() {
        return RuleResult::new(R, true, "no secret in the added lines");
    }
    let mut r = RuleResult::new(
        R,
        false,
        format!(
            "{} secret(s) in the added lines: {}",
            found.len(),
            found
                .iter()
                .take(5)
                .map(|f| format!("{} in {}:{}", f.kind, f.path, f.line))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    r.lines = found
        .into_iter()
        .map(|f| (f.path, f.line, f.kind.to_owned()))
        .collect();
    r
}

fn migrations(rules: &Rules, facts: &Facts) -> RuleResult {
    const R: &str = "migrations";
    let Ok(set) = glob_set(&rules.migration_paths) else {
        return RuleResult::new(R, true, "no migration path configured");
    };
    let changed: Vec<&str> = facts
        .files
        .iter()
        .filter(|f| set.is_match(&f.path))
        .map(|f| f.path.as_str())
        .collect();
    if changed.is_empty() {
        RuleResult::new(R, true, "no migration is changed")
    } else if facts.has_label(&rules.migration_label) {
        RuleResult::new(
            R,
            true,
            format!(
                "{} migration file(s), labelled {}",
                changed.len(),
                rules.migration_label
            ),
        )
    } else {
        RuleResult::new(
            R,
            false,
            format!(
                "{} changes migrations and needs the {} label",
                changed.join(", "),
                rules.migration_label
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::sentinel::config::ProtectedPaths;
    use crate::features::sentinel::linear::Issue;

    fn facts() -> Facts {
        Facts {
            title: "OPS-1: fix".into(),
            body: "## Summary\nx\n## Testing\ny".into(),
            branch: "ops-1".into(),
            labels: vec![],
            files: vec![FileFacts {
                path: "src/lib.rs".into(),
                additions: 3,
                deletions: 1,
                patch: Some("@@ -1 +1,3 @@\n+a\n+b\n+c\n-d".into()),
            }],
            approvers: vec![],
            team_approvers: BTreeMap::new(),
            linear: Lookup::Answered {
                asked: vec!["OPS-1".into()],
                found: vec![Issue {
                    identifier: "OPS-1".into(),
                    title: "Fix".into(),
                    state_type: "started".into(),
                    state_name: "In Progress".into(),
                }],
            },
        }
    }

    fn verdict(rules: &Rules, f: &Facts, rule: &str) -> RuleResult {
        evaluate(rules, f)
            .into_iter()
            .find(|r| r.rule == rule)
            .unwrap()
    }

    #[test]
    fn a_tidy_pull_request_passes_every_rule() {
        let rules = Rules {
            template_sections: vec!["## Summary".into(), "## Testing".into()],
            ..Rules::default()
        };
        let results = evaluate(&rules, &facts());
        assert!(results.iter().all(|r| r.passed), "{results:?}");
        assert_eq!(
            results.len(),
            5,
            "linear, description, size, secrets, migrations"
        );
    }

    #[test]
    fn each_rule_fails_for_its_own_reason() {
        let rules = Rules {
            template_sections: vec!["## Rollout".into()],
            required_labels: vec!["team-api".into()],
            max_changed_lines: 3,
            protected_paths: vec![ProtectedPaths {
                paths: vec!["src/**".into()],
                reviewers: vec!["alice".into()],
                teams: vec!["acme/sre".into()],
            }],
            migration_paths: vec!["src/**".into()],
            ..Rules::default()
        };
        let mut f = facts();
        f.linear = Lookup::Answered {
            asked: vec!["OPS-1".into()],
            found: vec![Issue {
                identifier: "OPS-1".into(),
                title: "Fix".into(),
                state_type: "canceled".into(),
                state_name: "Canceled".into(),
            }],
        };
        let results = evaluate(&rules, &f);
        let failed: Vec<&str> = results
            .iter()
            .filter(|r| !r.passed)
            .map(|r| r.rule.as_str())
            .collect();
        assert_eq!(
            failed,
            vec![
                "linear_issue",
                "description",
                "required_labels",
                "size",
                "protected_paths",
                "migrations"
            ]
        );
        assert!(
            verdict(&rules, &f, "linear_issue")
                .text
                .contains("cancelled")
        );
        assert!(
            verdict(&rules, &f, "description")
                .text
                .contains("## Rollout")
        );

        // The labels, a reviewer and a team member each mend their rule.
        f.labels = vec![
            "team-api".into(),
            "large-change".into(),
            "db-reviewed".into(),
        ];
        assert!(verdict(&rules, &f, "required_labels").passed);
        assert!(verdict(&rules, &f, "size").passed);
        assert!(verdict(&rules, &f, "migrations").passed);
        f.approvers = vec!["ALICE".into()];
        assert!(verdict(&rules, &f, "protected_paths").passed);
        f.approvers = vec!["bob".into()];
        assert!(!verdict(&rules, &f, "protected_paths").passed);
        f.team_approvers
            .insert("acme/sre".into(), vec!["bob".into()]);
        assert!(verdict(&rules, &f, "protected_paths").passed);
    }

    #[test]
    fn an_empty_description_unnamed_issue_and_a_secret_fail() {
        let rules = Rules::default();
        let mut f = facts();
        f.body = "  \n".into();
        f.linear = Lookup::Unnamed;
        f.files[0].patch = Some(format!(
            "@@ -0,0 +1 @@\n+key = {}{}",
            "AKIA", "ABCDEFGHIJKLMNOP"
        ));
        assert!(verdict(&rules, &f, "description").text.contains("empty"));
        assert!(!verdict(&rules, &f, "linear_issue").passed);
        let s = verdict(&rules, &f, "secrets");
        assert!(!s.passed);
        assert_eq!(
            s.lines,
            vec![("src/lib.rs".into(), 1, "AWS access key id".into())]
        );
        assert!(
            !s.text.contains("ABCDEFGHIJKLMNOP"),
            "the secret is never repeated"
        );
        f.linear = Lookup::Unreadable("Linear answered 500".into());
        assert!(
            verdict(&rules, &f, "linear_issue")
                .text
                .contains("could not check")
        );
    }
}
