//! What Sentinel reads from and writes to GitHub, through octocrab: a pull request,
//! its files (each with its patch), its reviews, team memberships, and the
//! `OpsMate Sentinel` check run. Lists are read 100 at a time, the API's largest page.

use anyhow::Context as _;
use octocrab::Octocrab;
use octocrab::models::CheckRunId;
use octocrab::params::checks::{
    CheckRunConclusion, CheckRunOutput, CheckRunOutputAnnotation, CheckRunStatus,
};
use serde::Deserialize;

/// GitHub's largest page.
const PAGE: usize = 100;
/// GitHub lists at most 3,000 files of a pull request.
const MAX_FILE_PAGES: usize = 30;
/// GitHub takes at most 50 annotations per request.
pub const ANNOTATIONS_PER_CALL: usize = 50;

/// The check run's name, as branch protection names it.
pub const CHECK_NAME: &str = "OpsMate Sentinel";

#[derive(Debug, Clone, Deserialize)]
pub struct Pull {
    pub number: u64,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub state: String,
    #[serde(default)]
    pub draft: bool,
    #[serde(default)]
    pub merged: bool,
    #[serde(default)]
    pub html_url: String,
    pub user: Login,
    #[serde(default)]
    pub merged_by: Option<Login>,
    pub head: Head,
    #[serde(default)]
    pub labels: Vec<Label>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Login {
    pub login: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Head {
    #[serde(rename = "ref")]
    pub branch: String,
    pub sha: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Label {
    pub name: String,
}

/// One changed file. `patch` is absent for binary files and very large diffs.
#[derive(Debug, Clone, Deserialize)]
pub struct File {
    pub filename: String,
    #[serde(default)]
    pub additions: u64,
    #[serde(default)]
    pub deletions: u64,
    #[serde(default)]
    pub patch: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Review {
    pub user: Option<Login>,
    pub state: String,
}

#[derive(Deserialize)]
struct Membership {
    state: String,
}

/// One repository's side of the API.
pub struct Repo<'a> {
    pub client: &'a Octocrab,
    pub owner: String,
    pub name: String,
}

impl<'a> Repo<'a> {
    /// `full` is `owner/name`.
    pub fn new(client: &'a Octocrab, full: &str) -> anyhow::Result<Self> {
        let (owner, name) = full
            .split_once('/')
            .with_context(|| format!("{full:?} is not owner/name"))?;
        Ok(Self {
            client,
            owner: owner.to_owned(),
            name: name.to_owned(),
        })
    }

    fn route(&self, rest: &str) -> String {
        format!("/repos/{}/{}/{rest}", self.owner, self.name)
    }

    fn full(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    pub async fn pull(&self, number: u64) -> anyhow::Result<Pull> {
        self.client
            .get::<Pull, _, ()>(self.route(&format!("pulls/{number}")), None)
            .await
            .map_err(|e| gh_error(e, format!("reading {}#{number}", self.full())))
    }

    /// Every changed file, with its patch.
    pub async fn files(&self, number: u64) -> anyhow::Result<Vec<File>> {
        let mut all = Vec::new();
        for page in 1..=MAX_FILE_PAGES {
            let batch: Vec<File> = self
                .client
                .get(
                    self.route(&format!("pulls/{number}/files")),
                    Some(&[("per_page", PAGE), ("page", page)]),
                )
                .await
                .map_err(|e| {
                    gh_error(e, format!("reading the files of {}#{number}", self.full()))
                })?;
            let last = batch.len() < PAGE;
            all.extend(batch);
            if last {
                break;
            }
        }
        Ok(all)
    }

    /// The logins whose latest review (comments aside) approves.
    pub async fn approvers(&self, number: u64) -> anyhow::Result<Vec<String>> {
        let mut latest: Vec<(String, String)> = Vec::new();
        for page in 1.. {
            let batch: Vec<Review> = self
                .client
                .get(
                    self.route(&format!("pulls/{number}/reviews")),
                    Some(&[("per_page", PAGE), ("page", page)]),
                )
                .await
                .map_err(|e| {
                    gh_error(
                        e,
                        format!("reading the reviews of {}#{number}", self.full()),
                    )
                })?;
            let last = batch.len() < PAGE;
            for r in batch {
                let Some(user) = r.user else { continue };
                if r.state == "COMMENTED" || r.state == "PENDING" {
                    continue;
                }
                latest.retain(|(l, _)| !l.eq_ignore_ascii_case(&user.login));
                latest.push((user.login, r.state));
            }
            if last {
                break;
            }
        }
        Ok(latest
            .into_iter()
            .filter(|(_, s)| s == "APPROVED")
            .map(|(l, _)| l)
            .collect())
    }

    /// Creates the check run on `head_sha` with the first annotations, then adds the
    /// rest 50 at a time. Returns its id.
    pub async fn create_check(&self, head_sha: &str, report: CheckReport) -> anyhow::Result<u64> {
        let CheckReport {
            conclusion,
            title,
            summary,
            text,
            mut annotations,
        } = report;
        let rest = split_annotations(&mut annotations);
        let run = self
            .client
            .checks(&self.owner, &self.name)
            .create_check_run(CHECK_NAME, head_sha)
            .status(CheckRunStatus::Completed)
            .conclusion(conclusion)
            .completed_at(chrono::Utc::now())
            .output(output(&title, &summary, &text, annotations))
            .send()
            .await
            .map_err(|e| gh_error(e, format!("creating the check run on {}", self.full())))?;
        let id = run.id.0;
        self.add_annotations(id, &title, &summary, &text, rest)
            .await?;
        Ok(id)
    }

    /// Rewrites the check run `id` (a waiver, an edited description).
    pub async fn update_check(&self, id: u64, report: CheckReport) -> anyhow::Result<()> {
        let CheckReport {
            conclusion,
            title,
            summary,
            text,
            mut annotations,
        } = report;
        let rest = split_annotations(&mut annotations);
        self.client
            .checks(&self.owner, &self.name)
            .update_check_run(CheckRunId(id))
            .status(CheckRunStatus::Completed)
            .conclusion(conclusion)
            .completed_at(chrono::Utc::now())
            .output(output(&title, &summary, &text, annotations))
            .send()
            .await
            .map_err(|e| gh_error(e, format!("updating the check run on {}", self.full())))?;
        self.add_annotations(id, &title, &summary, &text, rest)
            .await
    }

    async fn add_annotations(
        &self,
        id: u64,
        title: &str,
        summary: &str,
        text: &Option<String>,
        mut rest: Vec<CheckRunOutputAnnotation>,
    ) -> anyhow::Result<()> {
        while !rest.is_empty() {
            let more = rest.split_off(rest.len().min(ANNOTATIONS_PER_CALL));
            self.client
                .checks(&self.owner, &self.name)
                .update_check_run(CheckRunId(id))
                .output(output(title, summary, text, rest))
                .send()
                .await
                .map_err(|e| gh_error(e, format!("annotating the check run on {}", self.full())))?;
            rest = more;
        }
        Ok(())
    }
}

/// A check run's output (every write repeats the title and summary).
fn output(
    title: &str,
    summary: &str,
    text: &Option<String>,
    annotations: Vec<CheckRunOutputAnnotation>,
) -> CheckRunOutput {
    CheckRunOutput {
        title: title.to_owned(),
        summary: summary.to_owned(),
        text: text.clone(),
        annotations,
        images: Vec::new(),
    }
}

/// Keeps the first 50 annotations in `first`, returning the others.
fn split_annotations(first: &mut Vec<CheckRunOutputAnnotation>) -> Vec<CheckRunOutputAnnotation> {
    first.split_off(first.len().min(ANNOTATIONS_PER_CALL))
}

/// Whether `login` is an active member of `org/team-slug`.
pub async fn in_team(client: &Octocrab, team: &str, login: &str) -> anyhow::Result<bool> {
    let (org, slug) = team
        .split_once('/')
        .with_context(|| format!("{team:?} is not org/team-slug"))?;
    match client
        .get::<Membership, _, ()>(
            format!("/orgs/{org}/teams/{slug}/memberships/{login}"),
            None,
        )
        .await
    {
        Ok(m) => Ok(m.state == "active"),
        Err(octocrab::Error::GitHub { source, .. }) if source.status_code.as_u16() == 404 => {
            Ok(false)
        }
        Err(e) => Err(gh_error(
            e,
            format!("reading {login}'s membership of {team}"),
        )),
    }
}

/// What the check run says.
pub struct CheckReport {
    pub conclusion: CheckRunConclusion,
    pub title: String,
    pub summary: String,
    pub text: Option<String>,
    pub annotations: Vec<CheckRunOutputAnnotation>,
}

fn gh_error(e: octocrab::Error, doing: String) -> anyhow::Error {
    anyhow::anyhow!("{doing}: {}", crate::github::error_text(&e))
}

/// The first 7 characters of a sha, as people write it.
pub fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}
