//! One evaluation: read what the rules need from GitHub and Linear (the files and
//! the issue lookup side by side; reviews and team memberships only when a
//! protected path is changed), then run the rules.

use super::Sentinel;
use super::config::{Rules, glob_set};
use super::github::{Pull, Repo};
use super::linear;
use super::rules::{self, Facts, FileFacts, RuleResult};
use std::collections::BTreeMap;

/// A pull request and the rules' results on its head.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub repo: String,
    pub pull: Pull,
    pub results: Vec<RuleResult>,
}

impl Evaluation {
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| r.passed)
    }

    pub fn failing(&self) -> Vec<&RuleResult> {
        self.results.iter().filter(|r| !r.passed).collect()
    }
}

impl Sentinel {
    /// Evaluates `repo#number` as it is on GitHub now.
    pub async fn evaluate(&self, repo: &str, number: u64) -> anyhow::Result<Evaluation> {
        let rules = self
            .settings
            .rules_for(repo)
            .ok_or_else(|| anyhow::anyhow!("{repo} is not in [[sentinel.repos]]"))?;
        let gh = Repo::new(&self.github, repo)?;
        let pull = gh.pull(number).await?;
        let asked = if rules.linear_issue {
            linear::identifiers(&pull.title, &pull.head.branch)
        } else {
            Vec::new()
        };
        let (files, lookup) = tokio::join!(
            gh.files(number),
            linear::look_up(
                &self.http,
                &self.linear_url,
                self.linear_key.as_ref(),
                asked
            )
        );
        let files: Vec<FileFacts> = files?
            .into_iter()
            .map(|f| FileFacts {
                path: f.filename,
                additions: f.additions,
                deletions: f.deletions,
                patch: f.patch,
            })
            .collect();
        let teams = touched_teams(&rules, &files);
        let (approvers, team_approvers) = if protected_touched(&rules, &files) {
            let approvers = gh.approvers(number).await?;
            let mut members = BTreeMap::new();
            for team in &teams {
                let mut in_it = Vec::new();
                for login in &approvers {
                    if super::github::in_team(&self.github, team, login).await? {
                        in_it.push(login.clone());
                    }
                }
                members.insert(team.clone(), in_it);
            }
            (approvers, members)
        } else {
            (Vec::new(), BTreeMap::new())
        };
        let facts = Facts {
            title: pull.title.clone(),
            body: pull.body.clone().unwrap_or_default(),
            branch: pull.head.branch.clone(),
            labels: pull.labels.iter().map(|l| l.name.clone()).collect(),
            files,
            approvers,
            team_approvers,
            linear: lookup,
        };
        Ok(Evaluation {
            repo: repo.to_owned(),
            results: rules::evaluate(&rules, &facts),
            pull,
        })
    }
}

/// Whether any protected path is among the changed files.
fn protected_touched(rules: &Rules, files: &[FileFacts]) -> bool {
    rules
        .protected_paths
        .iter()
        .any(|p| glob_set(&p.paths).is_ok_and(|set| files.iter().any(|f| set.is_match(&f.path))))
}

/// The teams of the protected paths that are changed.
fn touched_teams(rules: &Rules, files: &[FileFacts]) -> Vec<String> {
    let mut teams: Vec<String> = Vec::new();
    for p in &rules.protected_paths {
        let hit = glob_set(&p.paths).is_ok_and(|set| files.iter().any(|f| set.is_match(&f.path)));
        if hit {
            for t in &p.teams {
                if !teams.contains(t) {
                    teams.push(t.clone());
                }
            }
        }
    }
    teams
}
