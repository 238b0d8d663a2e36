//! The GitHub calls of a rollback, through octocrab's REST client: refs, contents,
//! commits, pull requests, labels, combined status, check runs, branch protection,
//! reviews and the merge. Each returns what the flow needs, typed, and an error that
//! says in words which call failed and what GitHub answered.

use base64::Engine;
use octocrab::Octocrab;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One GitOps repository.
#[derive(Clone)]
pub struct Repo {
    client: Octocrab,
    /// `owner/name`.
    pub full: String,
    /// Counts every call made.
    calls: Arc<AtomicU64>,
}

/// A GitHub call that failed: the call, and GitHub's answer.
#[derive(Debug, thiserror::Error)]
#[error("GitHub: {call}: {why}")]
pub struct CallFailed {
    pub call: String,
    pub why: String,
    /// The HTTP status, when GitHub answered.
    pub status: Option<u16>,
}

fn failed(call: impl Into<String>, e: octocrab::Error) -> CallFailed {
    let status = match &e {
        octocrab::Error::GitHub { source, .. } => Some(source.status_code.as_u16()),
        _ => None,
    };
    CallFailed {
        call: call.into(),
        why: crate::github::error_text(&e),
        status,
    }
}

pub type Result<T> = std::result::Result<T, CallFailed>;

#[derive(Debug, Clone, Deserialize)]
struct RefObject {
    object: ShaOnly,
}

#[derive(Debug, Clone, Deserialize)]
struct ShaOnly {
    sha: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Contents {
    sha: String,
    #[serde(default)]
    content: String,
}

#[derive(Debug, Clone, Deserialize)]
struct GitCommit {
    tree: ShaOnly,
}

#[derive(Debug, Clone, Deserialize)]
struct Written {
    commit: ShaOnly,
}

/// A file as read on a branch or at a commit.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub text: String,
    /// The blob sha, which a rewrite must name.
    pub sha: String,
}

/// One commit of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitLine {
    pub sha: String,
    /// The first line of its message.
    pub title: String,
    pub author: String,
}

#[derive(Deserialize)]
struct Compare {
    #[serde(default)]
    commits: Vec<CompareCommit>,
    #[serde(default)]
    files: Vec<PullFile>,
}

/// What a comparison of two commits found.
#[derive(Debug, Clone, PartialEq)]
pub struct Compared {
    pub commits: Vec<CommitLine>,
    pub files: Vec<String>,
}

#[derive(Deserialize)]
struct CompareCommit {
    sha: String,
    commit: CompareDetail,
}

#[derive(Deserialize)]
struct CompareDetail {
    #[serde(default)]
    message: String,
    #[serde(default)]
    author: Option<Person>,
}

#[derive(Deserialize)]
struct Person {
    #[serde(default)]
    name: String,
}

/// A pull request as the flow reads it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Pull {
    pub number: u64,
    pub state: String,
    #[serde(default)]
    pub html_url: String,
    pub head: PullRef,
    #[serde(default)]
    pub merged: bool,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    #[serde(default)]
    pub mergeable: Option<bool>,
    #[serde(default)]
    pub mergeable_state: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct PullRef {
    #[serde(rename = "ref")]
    pub branch: String,
    pub sha: String,
}

#[derive(Deserialize)]
struct PullFile {
    filename: String,
}

#[derive(Deserialize)]
struct CombinedStatus {
    state: String,
    #[serde(default)]
    total_count: u64,
    #[serde(default)]
    statuses: Vec<StatusLine>,
}

#[derive(Deserialize)]
struct StatusLine {
    context: String,
    state: String,
}

#[derive(Deserialize)]
struct CheckRuns {
    #[serde(default)]
    check_runs: Vec<CheckRun>,
}

#[derive(Deserialize)]
struct CheckRun {
    name: String,
    status: String,
    #[serde(default)]
    conclusion: Option<String>,
}

/// What CI says of a commit: its combined status and its check runs together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ci {
    Success {
        passed: u32,
    },
    Pending {
        waiting: Vec<String>,
    },
    Failure {
        failed: Vec<String>,
    },
    /// Nothing reported at all: not evidence of success.
    Nothing,
}

impl Ci {
    pub fn text(&self) -> String {
        match self {
            Ci::Success { passed } => format!("CI succeeded ({passed} check(s))"),
            Ci::Pending { waiting } => format!("CI still running ({})", waiting.join(", ")),
            Ci::Failure { failed } => format!("CI failed ({})", failed.join(", ")),
            Ci::Nothing => "no CI reported for it".into(),
        }
    }
}

#[derive(Deserialize)]
struct Protection {
    #[serde(default)]
    required_status_checks: Option<RequiredChecks>,
    #[serde(default)]
    required_pull_request_reviews: Option<RequiredReviews>,
}

#[derive(Deserialize)]
struct RequiredChecks {
    #[serde(default)]
    contexts: Vec<String>,
}

#[derive(Deserialize)]
struct RequiredReviews {
    #[serde(default)]
    required_approving_review_count: u32,
}

#[derive(Deserialize)]
struct Review {
    user: Option<Login>,
    state: String,
}

#[derive(Deserialize)]
struct Login {
    login: String,
}

/// What branch protection asks of a pull request, and what it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectionFacts {
    /// GitHub's `mergeable` and `mergeable_state` for the pull request.
    pub mergeable: Option<bool>,
    pub mergeable_state: String,
    pub required_reviews: u32,
    pub approvals: u32,
    pub required_checks: Vec<String>,
    pub protected: bool,
}

#[derive(Deserialize)]
struct Merged {
    sha: String,
}

impl Repo {
    pub fn new(client: Octocrab, full: &str, calls: Arc<AtomicU64>) -> Self {
        Self {
            client,
            full: full.to_owned(),
            calls,
        }
    }

    /// The client, counting the call about to be made.
    fn gh(&self) -> &Octocrab {
        self.calls.fetch_add(1, Ordering::Relaxed);
        &self.client
    }

    fn route(&self, rest: &str) -> String {
        format!("/repos/{}/{rest}", self.full)
    }

    /// The sha a branch points at, or `None` when there is no such branch.
    pub async fn branch_head(&self, branch: &str) -> Result<Option<String>> {
        let call = format!("reading branch {branch} of {}", self.full);
        match self
            .gh()
            .get::<RefObject, _, ()>(self.route(&format!("git/ref/heads/{branch}")), None)
            .await
        {
            Ok(r) => Ok(Some(r.object.sha)),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(failed(call, e)),
        }
    }

    pub async fn create_branch(&self, branch: &str, sha: &str) -> Result<()> {
        self.gh()
            .post::<_, serde_json::Value>(
                self.route("git/refs"),
                Some(&json!({"ref": format!("refs/heads/{branch}"), "sha": sha})),
            )
            .await
            .map_err(|e| failed(format!("creating branch {branch} in {}", self.full), e))?;
        Ok(())
    }

    /// Points a branch at `sha` (a commit whose parent is the branch's head).
    pub async fn move_branch(&self, branch: &str, sha: &str) -> Result<()> {
        self.gh()
            .patch::<serde_json::Value, _, _>(
                self.route(&format!("git/refs/heads/{branch}")),
                Some(&json!({"sha": sha, "force": false})),
            )
            .await
            .map_err(|e| failed(format!("moving branch {branch} of {}", self.full), e))?;
        Ok(())
    }

    /// Deletes a branch; one already gone is fine.
    pub async fn delete_branch(&self, branch: &str) -> Result<()> {
        match self
            .gh()
            .delete::<serde_json::Value, _, ()>(
                self.route(&format!("git/refs/heads/{branch}")),
                None,
            )
            .await
        {
            // 204 has no body to read.
            Ok(_) | Err(octocrab::Error::Json { .. }) | Err(octocrab::Error::Serde { .. }) => {
                Ok(())
            }
            Err(e) if status_of(&e) == Some(404) || status_of(&e) == Some(422) => Ok(()),
            Err(e) => Err(failed(
                format!("deleting branch {branch} of {}", self.full),
                e,
            )),
        }
    }

    /// A file at a branch or commit, or `None` when it is not there.
    pub async fn file(&self, path: &str, at: &str) -> Result<Option<File>> {
        let call = format!("reading {path} at {} in {}", short(at), self.full);
        let got = self
            .gh()
            .get::<Contents, _, _>(
                self.route(&format!("contents/{path}")),
                Some(&[("ref", at)]),
            )
            .await;
        let c = match got {
            Ok(c) => c,
            Err(e) if status_of(&e) == Some(404) => return Ok(None),
            Err(e) => return Err(failed(call, e)),
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(c.content.replace(['\n', '\r'], ""))
            .map_err(|e| CallFailed {
                call: call.clone(),
                why: format!("the content was not base64: {e}"),
                status: None,
            })?;
        let text = String::from_utf8(bytes).map_err(|_| CallFailed {
            call,
            why: "the file is not UTF-8 text".into(),
            status: None,
        })?;
        Ok(Some(File { text, sha: c.sha }))
    }

    /// Writes a file on a branch through the Contents API; returns the new commit.
    pub async fn write_file(
        &self,
        path: &str,
        branch: &str,
        text: &str,
        replacing: &str,
        message: &str,
    ) -> Result<String> {
        let written: Written = self
            .gh()
            .put(
                self.route(&format!("contents/{path}")),
                Some(&json!({
                    "message": message,
                    "content": base64::engine::general_purpose::STANDARD.encode(text),
                    "sha": replacing,
                    "branch": branch,
                })),
            )
            .await
            .map_err(|e| failed(format!("writing {path} on {branch} in {}", self.full), e))?;
        Ok(written.commit.sha)
    }

    /// The tree a commit has.
    pub async fn tree_of(&self, commit: &str) -> Result<String> {
        let c: GitCommit = self
            .gh()
            .get::<_, _, ()>(self.route(&format!("git/commits/{commit}")), None)
            .await
            .map_err(|e| {
                failed(
                    format!("reading commit {} in {}", short(commit), self.full),
                    e,
                )
            })?;
        Ok(c.tree.sha)
    }

    /// A new commit with `tree` on top of `parent`; returns its sha.
    pub async fn commit_tree(&self, tree: &str, parent: &str, message: &str) -> Result<String> {
        let c: ShaOnly = self
            .gh()
            .post(
                self.route("git/commits"),
                Some(&json!({"message": message, "tree": tree, "parents": [parent]})),
            )
            .await
            .map_err(|e| failed(format!("writing the revert commit in {}", self.full), e))?;
        Ok(c.sha)
    }

    /// The commits in `head` that `base` does not have, oldest first, and the files
    /// that differ.
    pub async fn compare(&self, base: &str, head: &str) -> Result<Compared> {
        let c: Compare = self
            .gh()
            .get::<_, _, ()>(self.route(&format!("compare/{base}...{head}")), None)
            .await
            .map_err(|e| {
                failed(
                    format!(
                        "comparing {}...{} in {}",
                        short(base),
                        short(head),
                        self.full
                    ),
                    e,
                )
            })?;
        Ok(Compared {
            commits: c
                .commits
                .into_iter()
                .map(|c| CommitLine {
                    sha: c.sha,
                    title: c.commit.message.lines().next().unwrap_or("").to_owned(),
                    author: c.commit.author.map(|a| a.name).unwrap_or_default(),
                })
                .collect(),
            files: c.files.into_iter().map(|f| f.filename).collect(),
        })
    }

    /// The open pull request from `branch`, if there is one.
    pub async fn open_pull_from(&self, branch: &str) -> Result<Option<Pull>> {
        let owner = self.full.split('/').next().unwrap_or_default();
        let head = format!("{owner}:{branch}");
        let pulls: Vec<Pull> = self
            .gh()
            .get(
                self.route("pulls"),
                Some(&[
                    ("state", "open"),
                    ("head", head.as_str()),
                    ("per_page", "100"),
                ]),
            )
            .await
            .map_err(|e| failed(format!("listing pull requests of {}", self.full), e))?;
        Ok(pulls.into_iter().find(|p| p.head.branch == branch))
    }

    pub async fn open_pull(
        &self,
        branch: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<Pull> {
        self.gh()
            .post(
                self.route("pulls"),
                Some(&json!({"title": title, "head": branch, "base": base, "body": body})),
            )
            .await
            .map_err(|e| failed(format!("opening the pull request in {}", self.full), e))
    }

    pub async fn pull(&self, number: u64) -> Result<Pull> {
        self.gh()
            .get::<_, _, ()>(self.route(&format!("pulls/{number}")), None)
            .await
            .map_err(|e| {
                failed(
                    format!("reading pull request #{number} of {}", self.full),
                    e,
                )
            })
    }

    pub async fn set_body(&self, number: u64, body: &str) -> Result<()> {
        self.gh()
            .patch::<serde_json::Value, _, _>(
                self.route(&format!("pulls/{number}")),
                Some(&json!({"body": body})),
            )
            .await
            .map_err(|e| failed(format!("updating pull request #{number}"), e))?;
        Ok(())
    }

    pub async fn close_pull(&self, number: u64) -> Result<()> {
        self.gh()
            .patch::<serde_json::Value, _, _>(
                self.route(&format!("pulls/{number}")),
                Some(&json!({"state": "closed"})),
            )
            .await
            .map_err(|e| {
                failed(
                    format!("closing pull request #{number} of {}", self.full),
                    e,
                )
            })?;
        Ok(())
    }

    pub async fn add_labels(&self, number: u64, labels: &[&str]) -> Result<()> {
        self.gh()
            .post::<_, serde_json::Value>(
                self.route(&format!("issues/{number}/labels")),
                Some(&json!({ "labels": labels })),
            )
            .await
            .map_err(|e| failed(format!("labelling pull request #{number}"), e))?;
        Ok(())
    }

    /// Open pull requests other than `except` that change any of `paths`, as
    /// (number, branch).
    pub async fn others_touching(
        &self,
        paths: &[String],
        except: u64,
    ) -> Result<Vec<(u64, String)>> {
        let pulls: Vec<Pull> = self
            .gh()
            .get(
                self.route("pulls"),
                Some(&[("state", "open"), ("per_page", "100")]),
            )
            .await
            .map_err(|e| failed(format!("listing pull requests of {}", self.full), e))?;
        let mut touching = Vec::new();
        for p in pulls.into_iter().filter(|p| p.number != except) {
            let files: Vec<PullFile> = self
                .gh()
                .get(
                    self.route(&format!("pulls/{}/files", p.number)),
                    Some(&[("per_page", "100")]),
                )
                .await
                .map_err(|e| {
                    failed(
                        format!("listing the files of pull request #{}", p.number),
                        e,
                    )
                })?;
            if files.iter().any(|f| paths.contains(&f.filename)) {
                touching.push((p.number, p.head.branch));
            }
        }
        Ok(touching)
    }

    /// What CI says of a commit: the combined status and the check runs together.
    pub async fn ci(&self, sha: &str) -> Result<Ci> {
        let status: CombinedStatus = self
            .gh()
            .get::<_, _, ()>(self.route(&format!("commits/{sha}/status")), None)
            .await
            .map_err(|e| failed(format!("reading the status of {}", short(sha)), e))?;
        let runs: CheckRuns = self
            .gh()
            .get(
                self.route(&format!("commits/{sha}/check-runs")),
                Some(&[("per_page", "100")]),
            )
            .await
            .map_err(|e| failed(format!("reading the check runs of {}", short(sha)), e))?;
        let mut failed_names = Vec::new();
        let mut waiting = Vec::new();
        let mut passed = 0;
        if status.total_count > 0 {
            for s in &status.statuses {
                match s.state.as_str() {
                    "success" => passed += 1,
                    "pending" => waiting.push(s.context.clone()),
                    _ => failed_names.push(s.context.clone()),
                }
            }
            if status.statuses.is_empty() && status.state != "success" {
                waiting.push("combined status".into());
            }
        }
        for r in &runs.check_runs {
            match (r.status.as_str(), r.conclusion.as_deref()) {
                ("completed", Some("success" | "neutral" | "skipped")) => passed += 1,
                ("completed", _) => failed_names.push(r.name.clone()),
                _ => waiting.push(r.name.clone()),
            }
        }
        Ok(if !failed_names.is_empty() {
            Ci::Failure {
                failed: failed_names,
            }
        } else if !waiting.is_empty() {
            Ci::Pending { waiting }
        } else if passed == 0 {
            Ci::Nothing
        } else {
            Ci::Success { passed }
        })
    }

    /// What branch protection on `base` asks of pull request `number`, and what it has.
    pub async fn protection(&self, base: &str, number: u64) -> Result<ProtectionFacts> {
        let pull = self.pull(number).await?;
        let rules = match self
            .gh()
            .get::<Protection, _, ()>(self.route(&format!("branches/{base}/protection")), None)
            .await
        {
            Ok(p) => Some(p),
            Err(e) if status_of(&e) == Some(404) => None,
            Err(e) => return Err(failed(format!("reading the protection of {base}"), e)),
        };
        let required_reviews = rules
            .as_ref()
            .and_then(|r| r.required_pull_request_reviews.as_ref())
            .map_or(0, |r| r.required_approving_review_count);
        let approvals = if required_reviews > 0 {
            let reviews: Vec<Review> = self
                .gh()
                .get(
                    self.route(&format!("pulls/{number}/reviews")),
                    Some(&[("per_page", "100")]),
                )
                .await
                .map_err(|e| failed(format!("reading the reviews of #{number}"), e))?;
            let mut approvers: Vec<String> = reviews
                .into_iter()
                .filter(|r| r.state == "APPROVED")
                .filter_map(|r| r.user.map(|u| u.login))
                .collect();
            approvers.sort();
            approvers.dedup();
            approvers.len() as u32
        } else {
            0
        };
        Ok(ProtectionFacts {
            mergeable: pull.mergeable,
            mergeable_state: pull.mergeable_state.unwrap_or_else(|| "unknown".into()),
            required_reviews,
            approvals,
            required_checks: rules
                .as_ref()
                .and_then(|r| r.required_status_checks.as_ref())
                .map(|c| c.contexts.clone())
                .unwrap_or_default(),
            protected: rules.is_some(),
        })
    }

    /// Merges the pull request if its head is still `head`; returns the merge commit.
    pub async fn merge(
        &self,
        number: u64,
        head: &str,
        method: &str,
        title: &str,
    ) -> Result<String> {
        let merged: Merged = self
            .gh()
            .put(
                self.route(&format!("pulls/{number}/merge")),
                Some(&json!({"merge_method": method, "sha": head, "commit_title": title})),
            )
            .await
            .map_err(|e| {
                failed(
                    format!("merging pull request #{number} of {}", self.full),
                    e,
                )
            })?;
        Ok(merged.sha)
    }
}

fn status_of(e: &octocrab::Error) -> Option<u16> {
    match e {
        octocrab::Error::GitHub { source, .. } => Some(source.status_code.as_u16()),
        _ => None,
    }
}

/// The first 7 characters of a sha, as people write it.
pub fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}
