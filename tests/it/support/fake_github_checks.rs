//! GitHub's check runs and team memberships, for Sentinel: check runs are created
//! and updated as GitHub does (an update's annotations are added to the run's), and
//! a team's members are scripted. Requests without a token are refused with 401.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A check run as the fake holds it.
#[derive(Debug, Clone)]
pub struct CheckRun {
    pub id: u64,
    pub repo: String,
    pub name: String,
    pub head_sha: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub title: String,
    pub summary: String,
    /// Every annotation sent, in order.
    pub annotations: Vec<Value>,
    /// How many requests wrote it (create + updates).
    pub writes: usize,
}

#[derive(Default)]
struct Inner {
    runs: Vec<CheckRun>,
    /// `org/slug` → members.
    teams: HashMap<String, Vec<String>>,
}

#[derive(Clone, Default)]
pub struct Checks {
    inner: Arc<Mutex<Inner>>,
}

impl Checks {
    pub fn router(self) -> Router<()> {
        Router::new()
            .route("/repos/{owner}/{repo}/check-runs", post(create))
            .route("/repos/{owner}/{repo}/check-runs/{id}", patch(update))
            .route(
                "/orgs/{org}/teams/{team}/memberships/{user}",
                get(membership),
            )
            .with_state(self.inner)
    }

    /// The check runs of `repo`, oldest first.
    pub fn runs(&self, repo: &str) -> Vec<CheckRun> {
        let inner = self.inner.lock().unwrap();
        inner
            .runs
            .iter()
            .filter(|r| r.repo == repo)
            .cloned()
            .collect()
    }

    /// The newest check run on `sha`.
    pub fn on(&self, repo: &str, sha: &str) -> Option<CheckRun> {
        self.runs(repo)
            .into_iter()
            .rev()
            .find(|r| r.head_sha == sha)
    }

    pub fn set_team(&self, team: &str, members: &[&str]) {
        self.inner.lock().unwrap().teams.insert(
            team.to_owned(),
            members.iter().map(|m| (*m).to_owned()).collect(),
        );
    }
}

type Shared = Arc<Mutex<Inner>>;

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.len() > "Bearer ".len())
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"message": "Requires authentication"})),
    )
        .into_response()
}

fn run_json(r: &CheckRun) -> Value {
    json!({
        "id": r.id,
        "node_id": format!("CR_{}", r.id),
        "details_url": null,
        "head_sha": r.head_sha,
        "url": format!("https://api.github.com/repos/{}/check-runs/{}", r.repo, r.id),
        "html_url": format!("https://github.com/{}/runs/{}", r.repo, r.id),
        "status": r.status,
        "conclusion": r.conclusion,
        "output": {"title": r.title, "summary": r.summary, "text": null,
                   "annotations_count": r.annotations.len(),
                   "annotations_url": format!("https://api.github.com/repos/{}/check-runs/{}/annotations", r.repo, r.id)},
        "started_at": "2026-01-01T00:00:00Z",
        "completed_at": "2026-01-01T00:00:00Z",
        "name": r.name,
        "pull_requests": [],
    })
}

/// Applies a request body's fields to a run; the 422 GitHub answers when an output
/// breaks its rules.
fn apply(r: &mut CheckRun, body: &Value) -> Result<(), Box<Response>> {
    if let Some(s) = body["status"].as_str() {
        r.status = s.to_owned();
    }
    if let Some(c) = body["conclusion"].as_str() {
        r.conclusion = Some(c.to_owned());
        r.status = "completed".into();
    }
    if let Some(out) = body.get("output") {
        let (Some(title), Some(summary)) = (out["title"].as_str(), out["summary"].as_str()) else {
            return Err(Box::new(
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    axum::Json(json!({"message": "output needs a title and a summary"})),
                )
                    .into_response(),
            ));
        };
        let annotations = out["annotations"].as_array().cloned().unwrap_or_default();
        if annotations.len() > 50 {
            return Err(Box::new(
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    axum::Json(json!({"message": "at most 50 annotations per request"})),
                )
                    .into_response(),
            ));
        }
        r.title = title.to_owned();
        r.summary = summary.to_owned();
        r.annotations.extend(annotations);
    }
    r.writes += 1;
    Ok(())
}

async fn create(
    State(inner): State<Shared>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    let (Some(name), Some(head_sha)) = (body["name"].as_str(), body["head_sha"].as_str()) else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({"message": "name and head_sha are required"})),
        )
            .into_response();
    };
    let mut inner = inner.lock().unwrap();
    let mut run = CheckRun {
        id: inner.runs.len() as u64 + 1,
        repo: format!("{owner}/{repo}"),
        name: name.to_owned(),
        head_sha: head_sha.to_owned(),
        status: "queued".into(),
        conclusion: None,
        title: String::new(),
        summary: String::new(),
        annotations: Vec::new(),
        writes: 0,
    };
    if let Err(r) = apply(&mut run, &body) {
        return *r;
    }
    let out = run_json(&run);
    inner.runs.push(run);
    (StatusCode::CREATED, axum::Json(out)).into_response()
}

async fn update(
    State(inner): State<Shared>,
    Path((owner, repo, id)): Path<(String, String, u64)>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    let mut inner = inner.lock().unwrap();
    let full = format!("{owner}/{repo}");
    let Some(run) = inner.runs.iter_mut().find(|r| r.id == id && r.repo == full) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "Not Found"})),
        )
            .into_response();
    };
    if let Err(r) = apply(run, &body) {
        return *r;
    }
    axum::Json(run_json(run)).into_response()
}

async fn membership(
    State(inner): State<Shared>,
    Path((org, team, user)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    let inner = inner.lock().unwrap();
    let member = inner
        .teams
        .get(&format!("{org}/{team}"))
        .is_some_and(|m| m.iter().any(|u| u.eq_ignore_ascii_case(&user)));
    if member {
        axum::Json(json!({"url": "", "role": "member", "state": "active"})).into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "Not Found"})),
        )
            .into_response()
    }
}
