//! The Git and pull-request parts of the GitHub REST API, for Rollback Pilot: refs,
//! commits, trees, the Contents API, comparisons, pull requests (open, edit, merge,
//! files, reviews, labels), combined status, check runs and branch protection.
//!
//! Repositories are real little commit graphs: every commit has a tree (a map of
//! paths to contents) and parents, so a comparison, a pull request's files and a
//! merge are computed, not scripted. Tests can also inject failures and hold a
//! request after its effect is applied, to cut a pass off half-way.

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

type Files = BTreeMap<String, String>;

struct Commit {
    tree: String,
    parents: Vec<String>,
    message: String,
    /// Creation order, which also gives the commit's date.
    seq: u64,
}

struct PullData {
    number: u64,
    title: String,
    body: String,
    head: String,
    base: String,
    state: String,
    merged: bool,
    merge_commit_sha: Option<String>,
    labels: Vec<String>,
    /// The head's sha when the branch was last seen (kept once it is deleted).
    head_sha: String,
    reviews: Vec<(String, String)>,
    /// Who opened it, and who merged it.
    author: String,
    merged_by: Option<String>,
}

#[derive(Default)]
struct RepoData {
    commits: HashMap<String, Commit>,
    trees: HashMap<String, Files>,
    branches: BTreeMap<String, String>,
    pulls: Vec<PullData>,
    /// Branch → (required contexts, required approving reviews).
    protection: HashMap<String, (Vec<String>, u32)>,
    /// CI of a commit that has none of its own: (status state, check conclusion).
    default_ci: (String, Option<String>),
}

struct HoldSlot {
    path: String,
    method: String,
    reached: Arc<Notify>,
    release: Arc<Notify>,
}

#[derive(Default)]
struct Inner {
    repos: HashMap<String, RepoData>,
    /// CI per commit sha: (status state, check conclusion; `None` = in progress).
    ci: HashMap<String, (String, Option<String>)>,
    calls: Vec<String>,
    failing: Option<u16>,
    holds: Vec<HoldSlot>,
    seq: u64,
}

type Shared = Arc<Mutex<Inner>>;

/// A request held after its effect was applied, until the test releases it.
pub struct Held {
    reached: Arc<Notify>,
    release: Arc<Notify>,
}

impl Held {
    /// Waits until the held request has arrived (and done its work).
    pub async fn reached(&self) {
        self.reached.notified().await;
    }

    /// Lets the held request answer.
    pub fn release(&self) {
        self.release.notify_one();
    }
}

/// A pull request as a test sees it.
#[derive(Debug, Clone)]
pub struct PullView {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
    pub state: String,
    pub merged: bool,
    pub labels: Vec<String>,
}

#[derive(Clone, Default)]
pub struct GitRepos {
    inner: Shared,
}

fn sha_of(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))[..40].to_owned()
}

fn blob_sha(content: &str) -> String {
    sha_of(&format!("blob {content}"))
}

fn tree_sha(files: &Files) -> String {
    sha_of(&format!("tree {}", serde_json::to_string(files).unwrap()))
}

fn date_of(seq: u64) -> String {
    let at = chrono::DateTime::from_timestamp(1_767_225_600 + seq as i64 * 60, 0).unwrap();
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn error(status: u16, message: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": status.to_string(),
        })),
    )
        .into_response()
}

fn not_found() -> Response {
    error(404, "Not Found")
}

impl Inner {
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Writes a commit with `files` on top of `parents`; returns its sha.
    fn write_commit(
        &mut self,
        full: &str,
        files: Files,
        parents: Vec<String>,
        message: &str,
    ) -> String {
        let seq = self.next_seq();
        let repo = self.repos.entry(full.to_owned()).or_default();
        let tree = tree_sha(&files);
        repo.trees.insert(tree.clone(), files);
        commit_on(repo, tree, parents, message, seq)
    }

    /// CI of a commit: its own, else its repository's default.
    fn ci_of(&self, repo: &RepoData, sha: &str) -> (String, Option<String>) {
        self.ci
            .get(sha)
            .cloned()
            .unwrap_or_else(|| repo.default_ci.clone())
    }
}

fn commit_on(
    repo: &mut RepoData,
    tree: String,
    parents: Vec<String>,
    message: &str,
    seq: u64,
) -> String {
    let sha = sha_of(&format!("commit {tree} {parents:?} {message} {seq}"));
    repo.commits.insert(
        sha.clone(),
        Commit {
            tree,
            parents,
            message: message.to_owned(),
            seq,
        },
    );
    sha
}

impl RepoData {
    fn new() -> Self {
        Self {
            default_ci: ("success".into(), Some("success".into())),
            ..Self::default()
        }
    }

    /// A branch name (optionally `heads/…` or `refs/heads/…`) or a commit sha.
    fn resolve(&self, reference: &str) -> Option<String> {
        let branch = reference
            .trim_start_matches("refs/")
            .trim_start_matches("heads/");
        if let Some(sha) = self.branches.get(branch) {
            return Some(sha.clone());
        }
        self.commits
            .contains_key(reference)
            .then(|| reference.to_owned())
    }

    fn files_at(&self, sha: &str) -> Files {
        self.commits
            .get(sha)
            .and_then(|c| self.trees.get(&c.tree))
            .cloned()
            .unwrap_or_default()
    }

    /// Every commit reachable from `sha`, itself included.
    fn ancestors(&self, sha: &str) -> HashSet<String> {
        let mut seen = HashSet::new();
        let mut todo = vec![sha.to_owned()];
        while let Some(s) = todo.pop() {
            if seen.insert(s.clone())
                && let Some(c) = self.commits.get(&s)
            {
                todo.extend(c.parents.iter().cloned());
            }
        }
        seen
    }

    /// The nearest commit reachable from both.
    fn merge_base(&self, a: &str, b: &str) -> Option<String> {
        let of_a = self.ancestors(a);
        let mut queue = VecDeque::from([b.to_owned()]);
        let mut seen = HashSet::new();
        while let Some(s) = queue.pop_front() {
            if of_a.contains(&s) {
                return Some(s);
            }
            if seen.insert(s.clone())
                && let Some(c) = self.commits.get(&s)
            {
                queue.extend(c.parents.iter().cloned());
            }
        }
        None
    }

    /// Paths that differ between two commits.
    fn changed(&self, from: &str, to: &str) -> Vec<(String, &'static str)> {
        let (a, b) = (self.files_at(from), self.files_at(to));
        let mut out = Vec::new();
        for (path, content) in &b {
            match a.get(path) {
                None => out.push((path.clone(), "added")),
                Some(old) if old != content => out.push((path.clone(), "modified")),
                _ => {}
            }
        }
        for path in a.keys().filter(|p| !b.contains_key(*p)) {
            out.push((path.clone(), "removed"));
        }
        out.sort();
        out
    }

    fn commit_json(&self, sha: &str) -> Value {
        let c = &self.commits[sha];
        let person = json!({"name": "Dev", "email": "dev@acme.test", "date": date_of(c.seq)});
        json!({
            "sha": sha,
            "node_id": format!("C_{}", &sha[..8]),
            "tree": {"sha": c.tree},
            "parents": c.parents.iter().map(|p| json!({"sha": p})).collect::<Vec<_>>(),
            "message": c.message,
            "author": person,
            "committer": person,
        })
    }

    fn ref_json(&self, full: &str, branch: &str) -> Value {
        let sha = &self.branches[branch];
        json!({
            "ref": format!("refs/heads/{branch}"),
            "node_id": format!("REF_{branch}"),
            "url": format!("https://api.github.com/repos/{full}/git/refs/heads/{branch}"),
            "object": {"sha": sha, "type": "commit"},
        })
    }

    fn pull_head_sha(&self, p: &PullData) -> String {
        self.branches
            .get(&p.head)
            .cloned()
            .unwrap_or_else(|| p.head_sha.clone())
    }

    /// "blocked" while branch protection on the base is not met, else "clean".
    fn computed_state(
        &self,
        inner_ci: &HashMap<String, (String, Option<String>)>,
        p: &PullData,
    ) -> String {
        let Some((contexts, reviews)) = self.protection.get(&p.base) else {
            return "clean".into();
        };
        let approvals: HashSet<&String> = p
            .reviews
            .iter()
            .filter(|(_, s)| s == "APPROVED")
            .map(|(l, _)| l)
            .collect();
        let head = self.pull_head_sha(p);
        let (status, _) = inner_ci
            .get(&head)
            .cloned()
            .unwrap_or_else(|| self.default_ci.clone());
        let checks_ok = contexts.is_empty() || status == "success";
        if (approvals.len() as u32) < *reviews || !checks_ok {
            "blocked".into()
        } else {
            "clean".into()
        }
    }

    fn pull_json(
        &self,
        ci: &HashMap<String, (String, Option<String>)>,
        full: &str,
        p: &PullData,
    ) -> Value {
        let owner = full.split('/').next().unwrap_or_default();
        let mergeable = p.state == "open";
        let mergeable_state = self.computed_state(ci, p);
        json!({
            "number": p.number,
            "id": p.number + 1000,
            "state": p.state,
            "title": p.title,
            "body": p.body,
            "html_url": format!("https://github.com/{full}/pull/{}", p.number),
            "url": format!("https://api.github.com/repos/{full}/pulls/{}", p.number),
            "user": {"login": p.author, "id": 1},
            "merged_by": p.merged_by.as_ref().map(|m| json!({"login": m})),
            "labels": p.labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
            "head": {"ref": p.head, "sha": self.pull_head_sha(p), "label": format!("{owner}:{}", p.head),
                     "repo": {"full_name": full}},
            "base": {"ref": p.base, "sha": self.branches.get(&p.base).cloned().unwrap_or_default(),
                     "label": format!("{owner}:{}", p.base), "repo": {"full_name": full}},
            "merged": p.merged,
            "merge_commit_sha": p.merge_commit_sha,
            "mergeable": mergeable,
            "mergeable_state": mergeable_state,
        })
    }
}

/// Records the call, answers injected failures and missing credentials, runs the
/// handler, then holds the answer if a test asked to.
async fn gate(State(inner): State<Shared>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    {
        let mut guard = inner.lock().unwrap();
        guard.calls.push(format!("{method} {path}"));
        if let Some(status) = guard.failing {
            return error(status, "Server Error");
        }
        let authorized = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer ") || v.starts_with("token "));
        if !authorized {
            return error(401, "Requires authentication");
        }
    }
    let response = next.run(request).await;
    let hold = {
        let mut guard = inner.lock().unwrap();
        guard
            .holds
            .iter()
            .position(|h| h.method == method && path.contains(h.path.as_str()))
            .map(|i| guard.holds.remove(i))
    };
    if let Some(hold) = hold {
        hold.reached.notify_one();
        hold.release.notified().await;
    }
    response
}

type RepoPath = Path<(String, String)>;
type RepoArg = Path<(String, String, String)>;

/// Runs `f` on the repository, or answers 404 when there is none.
fn with_repo(
    inner: &Shared,
    owner: &str,
    name: &str,
    f: impl FnOnce(&mut Inner, &str) -> Response,
) -> Response {
    let mut guard = inner.lock().unwrap();
    let full = format!("{owner}/{name}");
    if !guard.repos.contains_key(&full) {
        return not_found();
    }
    f(&mut guard, &full)
}

async fn get_ref(State(inner): State<Shared>, Path((owner, name, reference)): RepoArg) -> Response {
    with_repo(&inner, &owner, &name, |i, full| {
        let repo = &i.repos[full];
        let branch = reference.trim_start_matches("heads/");
        if repo.branches.contains_key(branch) {
            axum::Json(repo.ref_json(full, branch)).into_response()
        } else {
            not_found()
        }
    })
}

async fn create_ref(
    State(inner): State<Shared>,
    Path((owner, name)): RepoPath,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    with_repo(&inner, &owner, &name, |i, full| {
        let repo = i.repos.get_mut(full).unwrap();
        let (Some(reference), Some(sha)) = (body["ref"].as_str(), body["sha"].as_str()) else {
            return error(422, "Invalid request: ref and sha are required");
        };
        let Some(branch) = reference.strip_prefix("refs/heads/") else {
            return error(422, "Reference name must start with refs/heads/");
        };
        if repo.branches.contains_key(branch) {
            return error(422, "Reference already exists");
        }
        if !repo.commits.contains_key(sha) {
            return error(422, "Object does not exist");
        }
        repo.branches.insert(branch.to_owned(), sha.to_owned());
        (StatusCode::CREATED, axum::Json(repo.ref_json(full, branch))).into_response()
    })
}

async fn update_ref(
    State(inner): State<Shared>,
    Path((owner, name, reference)): RepoArg,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    with_repo(&inner, &owner, &name, |i, full| {
        let repo = i.repos.get_mut(full).unwrap();
        let branch = reference.trim_start_matches("heads/").to_owned();
        let Some(old) = repo.branches.get(&branch).cloned() else {
            return error(422, "Reference does not exist");
        };
        let Some(sha) = body["sha"].as_str().map(str::to_owned) else {
            return error(422, "Invalid request: sha is required");
        };
        if !repo.commits.contains_key(&sha) {
            return error(422, "Object does not exist");
        }
        let force = body["force"].as_bool().unwrap_or(false);
        if !force && !repo.ancestors(&sha).contains(&old) {
            return error(422, "Update is not a fast forward");
        }
        repo.branches.insert(branch.clone(), sha);
        axum::Json(repo.ref_json(full, &branch)).into_response()
    })
}

async fn delete_ref(
    State(inner): State<Shared>,
    Path((owner, name, reference)): RepoArg,
) -> Response {
    with_repo(&inner, &owner, &name, |i, full| {
        let repo = i.repos.get_mut(full).unwrap();
        let branch = reference.trim_start_matches("heads/");
        if repo.branches.remove(branch).is_none() {
            return error(422, "Reference does not exist");
        }
        StatusCode::NO_CONTENT.into_response()
    })
}

async fn get_commit(State(inner): State<Shared>, Path((owner, name, sha)): RepoArg) -> Response {
    with_repo(&inner, &owner, &name, |i, full| {
        let repo = &i.repos[full];
        if repo.commits.contains_key(&sha) {
            axum::Json(repo.commit_json(&sha)).into_response()
        } else {
            not_found()
        }
    })
}

async fn create_commit(
    State(inner): State<Shared>,
    Path((owner, name)): RepoPath,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    with_repo(&inner, &owner, &name, |i, full| {
        let seq = i.next_seq();
        let repo = i.repos.get_mut(full).unwrap();
        let (Some(message), Some(tree)) = (body["message"].as_str(), body["tree"].as_str()) else {
            return error(422, "Invalid request: message and tree are required");
        };
        if !repo.trees.contains_key(tree) {
            return error(422, "Tree SHA does not exist");
        }
        let parents: Vec<String> = body["parents"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if parents.iter().any(|p| !repo.commits.contains_key(p)) {
            return error(422, "Parent SHA does not exist or is not a commit object");
        }
        let sha = commit_on(repo, tree.to_owned(), parents, message, seq);
        (StatusCode::CREATED, axum::Json(repo.commit_json(&sha))).into_response()
    })
}

async fn get_tree(State(inner): State<Shared>, Path((owner, name, sha)): RepoArg) -> Response {
    with_repo(&inner, &owner, &name, |i, full| {
        let repo = &i.repos[full];
        let tree_id = repo
            .commits
            .get(&sha)
            .map(|c| c.tree.clone())
            .unwrap_or(sha);
        let Some(files) = repo.trees.get(&tree_id) else {
            return not_found();
        };
        let entries: Vec<Value> = files
            .iter()
            .map(|(path, content)| {
                json!({"path": path, "mode": "100644", "type": "blob",
                       "sha": blob_sha(content), "size": content.len()})
            })
            .collect();
        axum::Json(json!({"sha": tree_id, "tree": entries, "truncated": false})).into_response()
    })
}

/// Base64 wrapped at 60 characters, as the Contents API sends it.
fn wrapped_base64(content: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(content);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(60)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    lines.join("\n") + "\n"
}

fn content_json(full: &str, path: &str, content: &str) -> Value {
    json!({
        "type": "file",
        "encoding": "base64",
        "name": path.rsplit('/').next().unwrap_or(path),
        "path": path,
        "size": content.len(),
        "sha": blob_sha(content),
        "url": format!("https://api.github.com/repos/{full}/contents/{path}"),
        "content": wrapped_base64(content),
    })
}

async fn get_contents(
    State(inner): State<Shared>,
    Path((owner, name, path)): RepoArg,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    with_repo(&inner, &owner, &name, |i, full| {
        let repo = &i.repos[full];
        let reference = q.get("ref").map_or("main", String::as_str);
        let Some(sha) = repo.resolve(reference) else {
            return error(404, &format!("No commit found for the ref {reference}"));
        };
        match repo.files_at(&sha).get(&path) {
            Some(content) => axum::Json(content_json(full, &path, content)).into_response(),
            None => not_found(),
        }
    })
}

async fn put_contents(
    State(inner): State<Shared>,
    Path((owner, name, path)): RepoArg,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    with_repo(&inner, &owner, &name, |i, full| {
        let (Some(message), Some(encoded)) = (body["message"].as_str(), body["content"].as_str())
        else {
            return error(422, "Invalid request: message and content are required");
        };
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
            return error(422, "content is not valid Base64");
        };
        let Ok(content) = String::from_utf8(bytes) else {
            return error(422, "content is not text");
        };
        let branch = body["branch"].as_str().unwrap_or("main").to_owned();
        let repo = &i.repos[full];
        let Some(head) = repo.branches.get(&branch).cloned() else {
            return error(404, &format!("Branch {branch} not found"));
        };
        let mut files = repo.files_at(&head);
        let existed = files.contains_key(&path);
        if let Some(current) = files.get(&path) {
            match body["sha"].as_str() {
                None => return error(422, "Invalid request: \"sha\" wasn't supplied."),
                Some(sha) if sha != blob_sha(current) => {
                    return error(409, &format!("{path} does not match {sha}"));
                }
                Some(_) => {}
            }
        }
        files.insert(path.clone(), content.clone());
        let sha = i.write_commit(full, files, vec![head], message);
        let repo = i.repos.get_mut(full).unwrap();
        repo.branches.insert(branch, sha.clone());
        let status = if existed {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        };
        let answer = json!({"content": content_json(full, &path, &content), "commit": repo.commit_json(&sha)});
        (status, axum::Json(answer)).into_response()
    })
}

async fn compare(State(inner): State<Shared>, Path((owner, name, spec)): RepoArg) -> Response {
    with_repo(&inner, &owner, &name, |i, full| {
        let repo = &i.repos[full];
        let Some((base, head)) = spec.split_once("...") else {
            return not_found();
        };
        let (Some(base), Some(head)) = (repo.resolve(base), repo.resolve(head)) else {
            return not_found();
        };
        let behind_base = repo.ancestors(&base);
        let mut ahead: Vec<&String> = repo
            .ancestors(&head)
            .iter()
            .filter(|s| !behind_base.contains(*s))
            .map(|s| repo.commits.get_key_value(s).unwrap().0)
            .collect();
        ahead.sort_by_key(|s| repo.commits[*s].seq);
        let from = repo.merge_base(&base, &head).unwrap_or(base.clone());
        let files: Vec<Value> = repo
            .changed(&from, &head)
            .into_iter()
            .map(|(f, status)| json!({"filename": f, "status": status}))
            .collect();
        let commits: Vec<Value> = ahead
            .iter()
            .map(|s| {
                let c = &repo.commits[*s];
                json!({"sha": s, "commit": {"message": c.message,
                   "author": {"name": "Dev", "email": "dev@acme.test", "date": date_of(c.seq)}}})
            })
            .collect();
        let behind = behind_base
            .iter()
            .filter(|s| !repo.ancestors(&head).contains(*s))
            .count();
        let status = match (ahead.len(), behind) {
            (0, 0) => "identical",
            (_, 0) => "ahead",
            (0, _) => "behind",
            _ => "diverged",
        };
        axum::Json(
            json!({"status": status, "ahead_by": ahead.len(), "behind_by": behind,
                          "total_commits": ahead.len(), "commits": commits, "files": files}),
        )
        .into_response()
    })
}

async fn list_pulls(
    State(inner): State<Shared>,
    Path((owner, name)): RepoPath,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    with_repo(&inner, &owner, &name, |i, full| {
        let repo = &i.repos[full];
        let state = q.get("state").map_or("open", String::as_str);
        let head = q
            .get("head")
            .map(|h| h.split_once(':').map_or(h.as_str(), |(_, b)| b));
        let per_page: usize = q
            .get("per_page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(30)
            .min(100);
        let items: Vec<Value> = repo
            .pulls
            .iter()
            .filter(|p| state == "all" || p.state == state)
            .filter(|p| head.is_none_or(|h| p.head == h))
            .take(per_page)
            .map(|p| repo.pull_json(&i.ci, full, p))
            .collect();
        axum::Json(items).into_response()
    })
}

async fn create_pull(
    State(inner): State<Shared>,
    Path((owner, name)): RepoPath,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    with_repo(&inner, &owner, &name, |i, full| {
        let repo = i.repos.get_mut(full).unwrap();
        let (Some(title), Some(head), Some(base)) = (
            body["title"].as_str(),
            body["head"].as_str(),
            body["base"].as_str(),
        ) else {
            return error(422, "Validation Failed: title, head and base are required");
        };
        let head = head.split_once(':').map_or(head, |(_, b)| b).to_owned();
        let (Some(head_sha), Some(_)) =
            (repo.branches.get(&head).cloned(), repo.branches.get(base))
        else {
            return error(422, "Validation Failed: head or base does not exist");
        };
        if repo
            .pulls
            .iter()
            .any(|p| p.head == head && p.state == "open")
        {
            return error(
                422,
                &format!("Validation Failed: A pull request already exists for {owner}:{head}."),
            );
        }
        let number = repo.pulls.len() as u64 + 1;
        repo.pulls.push(PullData {
            number,
            title: title.to_owned(),
            body: body["body"].as_str().unwrap_or_default().to_owned(),
            head,
            base: base.to_owned(),
            state: "open".into(),
            merged: false,
            merge_commit_sha: None,
            labels: Vec::new(),
            head_sha,
            reviews: Vec::new(),
            author: "opsmate-bot".into(),
            merged_by: None,
        });
        let p = repo.pulls.last().unwrap();
        (
            StatusCode::CREATED,
            axum::Json(repo.pull_json(&i.ci, full, p)),
        )
            .into_response()
    })
}

/// Runs `f` on pull request `n`, or answers 404.
fn with_pull(
    inner: &Shared,
    owner: &str,
    name: &str,
    n: u64,
    f: impl FnOnce(&mut Inner, &str, usize) -> Response,
) -> Response {
    with_repo(inner, owner, name, |i, full| {
        match i.repos[full].pulls.iter().position(|p| p.number == n) {
            Some(index) => f(i, full, index),
            None => not_found(),
        }
    })
}

type PullArg = Path<(String, String, u64)>;

async fn get_pull(State(inner): State<Shared>, Path((owner, name, n)): PullArg) -> Response {
    with_pull(&inner, &owner, &name, n, |i, full, at| {
        let repo = &i.repos[full];
        axum::Json(repo.pull_json(&i.ci, full, &repo.pulls[at])).into_response()
    })
}

async fn update_pull(
    State(inner): State<Shared>,
    Path((owner, name, n)): PullArg,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    with_pull(&inner, &owner, &name, n, |i, full, at| {
        let repo = i.repos.get_mut(full).unwrap();
        let head_sha = repo.pull_head_sha(&repo.pulls[at]);
        let p = &mut repo.pulls[at];
        p.head_sha = head_sha;
        if let Some(title) = body["title"].as_str() {
            p.title = title.to_owned();
        }
        if let Some(text) = body["body"].as_str() {
            p.body = text.to_owned();
        }
        match body["state"].as_str() {
            Some("closed") if !p.merged => p.state = "closed".into(),
            Some("open") if !p.merged => p.state = "open".into(),
            Some(_) | None => {}
        }
        axum::Json(repo.pull_json(&i.ci, full, &repo.pulls[at])).into_response()
    })
}

async fn pull_files(State(inner): State<Shared>, Path((owner, name, n)): PullArg) -> Response {
    with_pull(&inner, &owner, &name, n, |i, full, at| {
        let repo = &i.repos[full];
        let p = &repo.pulls[at];
        let head = repo.pull_head_sha(p);
        let base = repo.branches.get(&p.base).cloned().unwrap_or_default();
        let from = repo.merge_base(&base, &head).unwrap_or(base);
        let (old, new) = (repo.files_at(&from), repo.files_at(&head));
        let files: Vec<Value> = repo
            .changed(&from, &head)
            .into_iter()
            .map(|(f, status)| {
                let (patch, additions, deletions) = unified_patch(
                    old.get(&f).map_or("", String::as_str),
                    new.get(&f).map_or("", String::as_str),
                );
                json!({"filename": f, "status": status, "additions": additions,
                       "deletions": deletions, "changes": additions + deletions, "patch": patch})
            })
            .collect();
        axum::Json(files).into_response()
    })
}

async fn pull_reviews(State(inner): State<Shared>, Path((owner, name, n)): PullArg) -> Response {
    with_pull(&inner, &owner, &name, n, |i, full, at| {
        let repo = &i.repos[full];
        let p = &repo.pulls[at];
        let head = repo.pull_head_sha(p);
        let reviews: Vec<Value> = p
            .reviews
            .iter()
            .enumerate()
            .map(|(k, (login, state))| json!({"id": k + 1, "user": {"login": login}, "state": state, "commit_id": head}))
            .collect();
        axum::Json(reviews).into_response()
    })
}

async fn merge_pull(
    State(inner): State<Shared>,
    Path((owner, name, n)): PullArg,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    with_pull(&inner, &owner, &name, n, |i, full, at| {
        let seq = i.next_seq();
        let repo = i.repos.get_mut(full).unwrap();
        let p = &repo.pulls[at];
        if p.state != "open" || p.merged {
            return error(405, "Pull Request is not mergeable");
        }
        if repo.computed_state(&i.ci, p) == "blocked" {
            return error(
                405,
                "Required status checks or approving reviews are missing",
            );
        }
        let head = repo.pull_head_sha(p);
        if body["sha"].as_str().is_some_and(|sha| sha != head) {
            return error(
                409,
                "Head branch was modified. Review and try the merge again.",
            );
        }
        let Some(base_head) = repo.branches.get(&p.base).cloned() else {
            return error(422, "Base branch does not exist");
        };
        let method = body["merge_method"].as_str().unwrap_or("merge");
        let base = p.base.clone();
        let title = body["commit_title"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("Merge pull request #{n} from {owner}/{}", p.head));
        let parents = if method == "merge" {
            vec![base_head, head.clone()]
        } else {
            vec![base_head]
        };
        let tree = repo.commits[&head].tree.clone();
        let sha = commit_on(repo, tree, parents, &title, seq);
        repo.branches.insert(base, sha.clone());
        let p = &mut repo.pulls[at];
        p.head_sha = head;
        p.state = "closed".into();
        p.merged = true;
        p.merge_commit_sha = Some(sha.clone());
        axum::Json(
            json!({"sha": sha, "merged": true, "message": "Pull Request successfully merged"}),
        )
        .into_response()
    })
}

async fn add_labels(
    State(inner): State<Shared>,
    Path((owner, name, n)): PullArg,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    with_pull(&inner, &owner, &name, n, |i, full, at| {
        let p = &mut i.repos.get_mut(full).unwrap().pulls[at];
        let Some(labels) = body["labels"].as_array() else {
            return error(422, "Invalid request: labels is required");
        };
        for label in labels.iter().filter_map(Value::as_str) {
            if !p.labels.iter().any(|l| l == label) {
                p.labels.push(label.to_owned());
            }
        }
        let all: Vec<Value> = p
            .labels
            .iter()
            .map(|l| json!({"name": l, "color": "ededed"}))
            .collect();
        axum::Json(all).into_response()
    })
}

async fn commit_status(
    State(inner): State<Shared>,
    Path((owner, name, reference)): RepoArg,
) -> Response {
    with_repo(&inner, &owner, &name, |i, full| {
        let repo = &i.repos[full];
        let Some(sha) = repo.resolve(&reference) else {
            return error(422, &format!("No commit found for SHA: {reference}"));
        };
        let (state, _) = i.ci_of(repo, &sha);
        axum::Json(json!({"state": state, "sha": sha, "total_count": 1,
            "statuses": [{"context": "ci/build", "state": state, "description": format!("build {state}")}]}))
        .into_response()
    })
}

async fn check_runs(
    State(inner): State<Shared>,
    Path((owner, name, reference)): RepoArg,
) -> Response {
    with_repo(&inner, &owner, &name, |i, full| {
        let repo = &i.repos[full];
        let Some(sha) = repo.resolve(&reference) else {
            return error(422, &format!("No commit found for SHA: {reference}"));
        };
        let (_, conclusion) = i.ci_of(repo, &sha);
        let status = if conclusion.is_some() {
            "completed"
        } else {
            "in_progress"
        };
        axum::Json(json!({"total_count": 1, "check_runs": [
            {"id": 1, "name": "test", "head_sha": sha, "status": status, "conclusion": conclusion}]}))
        .into_response()
    })
}

async fn protection(State(inner): State<Shared>, Path((owner, name, branch)): RepoArg) -> Response {
    with_repo(&inner, &owner, &name, |i, full| {
        match i.repos[full].protection.get(&branch) {
            None => error(404, "Branch not protected"),
            Some((contexts, reviews)) => axum::Json(json!({
                "url": format!("https://api.github.com/repos/{full}/branches/{branch}/protection"),
                "required_status_checks": {"strict": false, "contexts": contexts},
                "required_pull_request_reviews": {"required_approving_review_count": reviews,
                                                  "dismiss_stale_reviews": false},
                "enforce_admins": {"enabled": false},
            }))
            .into_response(),
        }
    })
}

impl GitRepos {
    /// The routes, to merge into the fake GitHub's router.
    pub fn router(self) -> Router<()> {
        let r = "/repos/{owner}/{repo}";
        Router::new()
            .route(&format!("{r}/git/ref/{{*reference}}"), get(get_ref))
            .route(&format!("{r}/git/refs"), post(create_ref))
            .route(
                &format!("{r}/git/refs/{{*reference}}"),
                axum::routing::patch(update_ref).delete(delete_ref),
            )
            .route(&format!("{r}/git/commits/{{sha}}"), get(get_commit))
            .route(&format!("{r}/git/commits"), post(create_commit))
            .route(&format!("{r}/git/trees/{{sha}}"), get(get_tree))
            .route(
                &format!("{r}/contents/{{*path}}"),
                get(get_contents).put(put_contents),
            )
            .route(&format!("{r}/compare/{{spec}}"), get(compare))
            .route(&format!("{r}/pulls"), get(list_pulls).post(create_pull))
            .route(
                &format!("{r}/pulls/{{number}}"),
                get(get_pull).patch(update_pull),
            )
            .route(&format!("{r}/pulls/{{number}}/files"), get(pull_files))
            .route(&format!("{r}/pulls/{{number}}/reviews"), get(pull_reviews))
            .route(&format!("{r}/pulls/{{number}}/merge"), put(merge_pull))
            .route(&format!("{r}/issues/{{number}}/labels"), post(add_labels))
            .route(
                &format!("{r}/commits/{{reference}}/status"),
                get(commit_status),
            )
            .route(
                &format!("{r}/commits/{{reference}}/check-runs"),
                get(check_runs),
            )
            .route(
                &format!("{r}/branches/{{branch}}/protection"),
                get(protection),
            )
            .layer(middleware::from_fn_with_state(self.inner.clone(), gate))
            .with_state(self.inner)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    /// A new repository whose `branch` has one commit with `files`; returns its sha.
    pub fn seed(&self, full: &str, branch: &str, files: &[(&str, &str)]) -> String {
        let mut inner = self.lock();
        inner.repos.insert(full.to_owned(), RepoData::new());
        let files: Files = files
            .iter()
            .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
            .collect();
        let sha = inner.write_commit(full, files, Vec::new(), "Initial commit");
        inner
            .repos
            .get_mut(full)
            .unwrap()
            .branches
            .insert(branch.to_owned(), sha.clone());
        sha
    }

    /// A commit on `branch` changing `files`; returns its sha.
    pub fn commit(
        &self,
        full: &str,
        branch: &str,
        files: &[(&str, &str)],
        message: &str,
    ) -> String {
        let mut inner = self.lock();
        let repo = &inner.repos[full];
        let head = repo.branches[branch].clone();
        let mut tree = repo.files_at(&head);
        for (p, c) in files {
            tree.insert((*p).to_owned(), (*c).to_owned());
        }
        let sha = inner.write_commit(full, tree, vec![head], message);
        inner
            .repos
            .get_mut(full)
            .unwrap()
            .branches
            .insert(branch.to_owned(), sha.clone());
        sha
    }

    /// A file at a branch or commit.
    pub fn file(&self, full: &str, reference: &str, path: &str) -> Option<String> {
        let inner = self.lock();
        let repo = inner.repos.get(full)?;
        repo.files_at(&repo.resolve(reference)?).get(path).cloned()
    }

    pub fn head(&self, full: &str, branch: &str) -> Option<String> {
        self.lock().repos.get(full)?.branches.get(branch).cloned()
    }

    pub fn branches(&self, full: &str) -> Vec<String> {
        self.lock()
            .repos
            .get(full)
            .map(|r| r.branches.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn pulls(&self, full: &str) -> Vec<PullView> {
        let inner = self.lock();
        let Some(repo) = inner.repos.get(full) else {
            return Vec::new();
        };
        repo.pulls
            .iter()
            .map(|p| PullView {
                number: p.number,
                title: p.title.clone(),
                body: p.body.clone(),
                head: p.head.clone(),
                base: p.base.clone(),
                state: p.state.clone(),
                merged: p.merged,
                labels: p.labels.clone(),
            })
            .collect()
    }

    /// A new branch where `from` is.
    pub fn branch_from(&self, full: &str, new: &str, from: &str) {
        let mut inner = self.lock();
        let repo = inner.repos.get_mut(full).unwrap();
        let sha = repo.branches[from].clone();
        repo.branches.insert(new.to_owned(), sha);
    }

    /// Someone else's pull request; returns its number.
    pub fn open_pull_by(&self, full: &str, head: &str, base: &str, title: &str) -> u64 {
        let mut inner = self.lock();
        let repo = inner.repos.get_mut(full).unwrap();
        let number = repo.pulls.len() as u64 + 1;
        let head_sha = repo.branches[head].clone();
        repo.pulls.push(PullData {
            number,
            title: title.to_owned(),
            body: String::new(),
            head: head.to_owned(),
            base: base.to_owned(),
            state: "open".into(),
            merged: false,
            merge_commit_sha: None,
            labels: Vec::new(),
            head_sha,
            reviews: Vec::new(),
            author: "opsmate-bot".into(),
            merged_by: None,
        });
        number
    }

    /// Changes a pull request as a person would on GitHub: its author, body, labels.
    pub fn edit_pull(
        &self,
        full: &str,
        n: u64,
        author: Option<&str>,
        body: Option<&str>,
        labels: Option<&[&str]>,
    ) {
        let mut inner = self.lock();
        let p = inner
            .repos
            .get_mut(full)
            .unwrap()
            .pulls
            .iter_mut()
            .find(|p| p.number == n)
            .unwrap();
        if let Some(a) = author {
            p.author = a.to_owned();
        }
        if let Some(b) = body {
            p.body = b.to_owned();
        }
        if let Some(l) = labels {
            p.labels = l.iter().map(|l| (*l).to_owned()).collect();
        }
    }

    /// Merges a pull request as someone clicking Merge despite a failing check
    /// (an admin past branch protection): the base gets the head's tree.
    pub fn force_merge(&self, full: &str, n: u64, by: &str) -> String {
        let mut inner = self.lock();
        let (head, base, title) = {
            let repo = &inner.repos[full];
            let p = repo.pulls.iter().find(|p| p.number == n).unwrap();
            (repo.pull_head_sha(p), p.base.clone(), p.title.clone())
        };
        let files = inner.repos[full].files_at(&head);
        let base_head = inner.repos[full].branches[&base].clone();
        let sha = inner.write_commit(full, files, vec![base_head, head.clone()], &title);
        let repo = inner.repos.get_mut(full).unwrap();
        repo.branches.insert(base, sha.clone());
        let p = repo.pulls.iter_mut().find(|p| p.number == n).unwrap();
        p.head_sha = head;
        p.state = "closed".into();
        p.merged = true;
        p.merged_by = Some(by.to_owned());
        p.merge_commit_sha = Some(sha.clone());
        sha
    }

    /// CI of one commit: the combined status and the check run's conclusion
    /// (`None` = still running).
    pub fn set_ci(&self, sha: &str, status: &str, conclusion: Option<&str>) {
        self.lock().ci.insert(
            sha.to_owned(),
            (status.to_owned(), conclusion.map(str::to_owned)),
        );
    }

    /// CI of every commit without its own.
    pub fn set_default_ci(&self, full: &str, status: &str, conclusion: Option<&str>) {
        self.lock().repos.get_mut(full).unwrap().default_ci =
            (status.to_owned(), conclusion.map(str::to_owned));
    }

    pub fn protect(&self, full: &str, branch: &str, contexts: &[&str], reviews: u32) {
        self.lock().repos.get_mut(full).unwrap().protection.insert(
            branch.to_owned(),
            (contexts.iter().map(|c| (*c).to_owned()).collect(), reviews),
        );
    }

    pub fn review(&self, full: &str, n: u64, login: &str, state: &str) {
        let mut inner = self.lock();
        let p = inner
            .repos
            .get_mut(full)
            .unwrap()
            .pulls
            .iter_mut()
            .find(|p| p.number == n)
            .unwrap();
        p.reviews.push((login.to_owned(), state.to_owned()));
    }

    /// "METHOD /path" of every request, in order.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// Answers every request with `status` (or normally again with `None`).
    pub fn fail_with(&self, status: Option<u16>) {
        self.lock().failing = status;
    }

    /// Holds the next `method` request whose path contains `path`, after its effect
    /// is applied and before it answers.
    pub fn hold(&self, path: &str, method: &str) -> Held {
        let (reached, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        self.lock().holds.push(HoldSlot {
            path: path.to_owned(),
            method: method.to_owned(),
            reached: reached.clone(),
            release: release.clone(),
        });
        Held { reached, release }
    }
}

/// A one-hunk unified diff of two texts (the changed middle between their common
/// first and last lines), with its added and removed line counts, as GitHub's
/// `patch` field carries it.
fn unified_patch(old: &str, new: &str) -> (String, usize, usize) {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (gone, came) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut patch = format!(
        "@@ -{},{} +{},{} @@",
        head + 1,
        gone.len(),
        head + 1,
        came.len()
    );
    for l in gone {
        patch.push_str(&format!("\n-{l}"));
    }
    for l in came {
        patch.push_str(&format!("\n+{l}"));
    }
    (patch, came.len(), gone.len())
}
