//! A local HTTP server speaking the parts of the GitHub REST API Night Watchman reads:
//! an organisation's repositories (sorted, paged) and single repositories.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Inner {
    /// `owner/name` → last push.
    repos: Vec<(String, DateTime<Utc>)>,
    /// Answer every request with this status instead.
    failing: Option<u16>,
    /// Paths requested, in order.
    calls: Vec<String>,
}

#[derive(Clone)]
pub struct FakeGithub {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeGithub {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/orgs/{org}/repos", get(org_repos))
            .route("/repos/{owner}/{repo}", get(repo))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, inner }
    }

    /// Adds (or moves) a repository with its last push.
    pub fn pushed(&self, full_name: &str, at: DateTime<Utc>) {
        let mut inner = self.inner.lock().unwrap();
        inner.repos.retain(|(n, _)| n != full_name);
        inner.repos.push((full_name.to_owned(), at));
    }

    pub fn fail_with(&self, status: u16) {
        self.inner.lock().unwrap().failing = Some(status);
    }

    pub fn calls(&self) -> Vec<String> {
        self.inner.lock().unwrap().calls.clone()
    }
}

fn repository(id: usize, full_name: &str, pushed_at: DateTime<Utc>) -> Value {
    let name = full_name.split('/').nth(1).unwrap_or(full_name);
    json!({
        "id": id + 1,
        "node_id": format!("R_{id}"),
        "name": name,
        "full_name": full_name,
        "private": false,
        "url": format!("https://api.github.com/repos/{full_name}"),
        "html_url": format!("https://github.com/{full_name}"),
        "pushed_at": pushed_at.to_rfc3339(),
        "updated_at": pushed_at.to_rfc3339(),
    })
}

fn failure(status: u16) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(
            json!({"message": "Server Error", "documentation_url": "https://docs.github.com"}),
        ),
    )
        .into_response()
}

async fn org_repos(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(org): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut inner = inner.lock().unwrap();
    inner.calls.push(format!("/orgs/{org}/repos"));
    if let Some(status) = inner.failing {
        return failure(status);
    }
    let mut repos: Vec<(usize, &(String, DateTime<Utc>))> = inner
        .repos
        .iter()
        .enumerate()
        .filter(|(_, (n, _))| n.starts_with(&format!("{org}/")))
        .collect();
    if q.get("sort").map(String::as_str) == Some("pushed") {
        repos.sort_by_key(|(_, (_, at))| *at);
        if q.get("direction").map(String::as_str) != Some("asc") {
            repos.reverse();
        }
    }
    let per_page: usize = q.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(30);
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let items: Vec<Value> = repos
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|(id, (n, at))| repository(*id, n, *at))
        .collect();
    axum::Json(items).into_response()
}

async fn repo(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((owner, name)): Path<(String, String)>,
) -> Response {
    let mut inner = inner.lock().unwrap();
    let full = format!("{owner}/{name}");
    inner.calls.push(format!("/repos/{full}"));
    if let Some(status) = inner.failing {
        return failure(status);
    }
    match inner
        .repos
        .iter()
        .enumerate()
        .find(|(_, (n, _))| *n == full)
    {
        Some((id, (n, at))) => axum::Json(repository(id, n, *at)).into_response(),
        None => failure(404),
    }
}
