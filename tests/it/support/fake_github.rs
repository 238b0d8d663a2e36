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
    /// Organisation → member logins.
    members: HashMap<String, Vec<String>>,
    /// This server's base URL, for `Link` headers.
    url: String,
}

#[derive(Clone)]
pub struct FakeGithub {
    pub url: String,
    /// Repositories' Git data and pull requests, served on the same address.
    pub git: super::fake_github_git::GitRepos,
    /// Check runs and team memberships, served on the same address.
    pub checks: super::fake_github_checks::Checks,
    inner: Arc<Mutex<Inner>>,
}

impl FakeGithub {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Mutex::new(Inner {
            url: url.clone(),
            ..Inner::default()
        }));
        let git = super::fake_github_git::GitRepos::default();
        let checks = super::fake_github_checks::Checks::default();
        let app = Router::new()
            .route("/orgs/{org}/repos", get(org_repos))
            .route("/orgs/{org}/members", get(org_members))
            .route("/repos/{owner}/{repo}", get(repo))
            .with_state(inner.clone())
            .merge(git.clone().router())
            .merge(checks.clone().router());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url,
            git,
            checks,
            inner,
        }
    }

    /// Adds (or moves) a repository with its last push.
    pub fn pushed(&self, full_name: &str, at: DateTime<Utc>) {
        let mut inner = self.inner.lock().unwrap();
        inner.repos.retain(|(n, _)| n != full_name);
        inner.repos.push((full_name.to_owned(), at));
    }

    /// Clears the failure set by [`FakeGithub::fail_with`].
    pub fn recover(&self) {
        self.inner.lock().unwrap().failing = None;
    }

    /// Sets an organisation's members.
    pub fn set_members(&self, org: &str, logins: &[&str]) {
        self.inner.lock().unwrap().members.insert(
            org.to_owned(),
            logins.iter().map(|l| (*l).to_owned()).collect(),
        );
    }

    /// An organisation's members.
    pub fn members(&self, org: &str) -> Vec<String> {
        self.inner
            .lock()
            .unwrap()
            .members
            .get(org)
            .cloned()
            .unwrap_or_default()
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

/// `GET /orgs/{org}/members`, paged like GitHub: `per_page` (at most 100) and `page`,
/// with a `Link: <…>; rel="next"` header while more remain.
async fn org_members(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(org): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut inner = inner.lock().unwrap();
    inner.calls.push(format!("/orgs/{org}/members"));
    if let Some(status) = inner.failing {
        return failure(status);
    }
    let Some(members) = inner.members.get(&org) else {
        return failure(404);
    };
    let per_page: usize = q
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page: usize = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let items: Vec<Value> = members
        .iter()
        .enumerate()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|(i, login)| {
            json!({"login": login, "id": i + 1, "node_id": format!("U_{i}"), "type": "User",
                   "site_admin": false, "url": format!("https://api.github.com/users/{login}")})
        })
        .collect();
    let mut response = axum::Json(items).into_response();
    if page * per_page < members.len() {
        let next = format!(
            "<{}/orgs/{org}/members?per_page={per_page}&page={}>; rel=\"next\"",
            inner.url,
            page + 1
        );
        response
            .headers_mut()
            .insert("link", axum::http::HeaderValue::from_str(&next).unwrap());
    }
    response
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
