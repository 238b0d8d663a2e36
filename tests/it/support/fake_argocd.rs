//! A local HTTP server speaking the parts of Argo CD's REST API Rollback Pilot reads:
//! the application list, one application, and an application's resource tree. It
//! checks the bearer token like Argo CD does and answers in Argo CD's JSON shapes.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// One application's state as Argo CD reports it.
struct App {
    name: String,
    health: String,
    revision: String,
    /// (id, revision, deployed at).
    history: Vec<(i64, String, DateTime<Utc>)>,
    available: u32,
    desired: u32,
}

#[derive(Default)]
struct Inner {
    token: String,
    apps: Vec<App>,
    failing: Option<u16>,
    calls: Vec<String>,
}

type Shared = Arc<Mutex<Inner>>;

#[derive(Clone)]
pub struct FakeArgo {
    pub url: String,
    inner: Shared,
}

impl FakeArgo {
    /// Serves on a free loopback port, accepting only `Authorization: Bearer <token>`.
    pub async fn start(token: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Mutex::new(Inner {
            token: token.to_owned(),
            ..Inner::default()
        }));
        let router = Router::new()
            .route("/api/v1/applications", get(list))
            .route("/api/v1/applications/{name}", get(one))
            .route("/api/v1/applications/{name}/resource-tree", get(tree))
            .with_state(inner.clone());
        tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self { url, inner }
    }

    /// A new application: Healthy, one of one pods, nothing deployed yet.
    pub fn add_app(&self, name: &str) {
        self.inner.lock().unwrap().apps.push(App {
            name: name.to_owned(),
            health: "Healthy".into(),
            revision: String::new(),
            history: Vec::new(),
            available: 1,
            desired: 1,
        });
    }

    fn with_app<T>(&self, name: &str, f: impl FnOnce(&mut App) -> T) -> T {
        let mut inner = self.inner.lock().unwrap();
        let app = inner
            .apps
            .iter_mut()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("no application {name}"));
        f(app)
    }

    /// Argo CD syncs `revision`: a new history entry, and the synced revision moves.
    pub fn deploy(&self, name: &str, revision: &str, at: DateTime<Utc>) {
        self.with_app(name, |app| {
            let id = app.history.last().map_or(0, |h| h.0) + 1;
            app.history.push((id, revision.to_owned(), at));
            app.revision = revision.to_owned();
        });
    }

    pub fn set_health(&self, name: &str, status: &str) {
        self.with_app(name, |app| app.health = status.to_owned());
    }

    /// `available` of `desired` pods are Healthy; the rest are Degraded.
    pub fn set_pods(&self, name: &str, available: u32, desired: u32) {
        self.with_app(name, |app| {
            app.available = available;
            app.desired = desired;
        });
    }

    /// Answers every request with `status` (or normally again with `None`).
    pub fn fail_with(&self, status: Option<u16>) {
        self.inner.lock().unwrap().failing = status;
    }

    /// Paths requested, in order.
    pub fn calls(&self) -> Vec<String> {
        self.inner.lock().unwrap().calls.clone()
    }

    pub fn clear_calls(&self) {
        self.inner.lock().unwrap().calls.clear();
    }
}

fn error(status: u16, message: &str) -> Response {
    let code = match status {
        401 => 16,
        404 => 5,
        _ => 13,
    };
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({"error": message, "code": code, "message": message})),
    )
        .into_response()
}

/// Records the call, then checks the injected failure and the token; the
/// rejection to send back, if any.
fn admit(inner: &mut Inner, path: String, headers: &HeaderMap) -> Option<Response> {
    inner.calls.push(path);
    if let Some(status) = inner.failing {
        return Some(error(status, "injected failure"));
    }
    let expected = format!("Bearer {}", inner.token);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return Some(error(401, "no session information"));
    }
    None
}

fn application(app: &App) -> Value {
    let source = json!({
        "repoURL": "https://github.com/acme/gitops",
        "path": format!("apps/{}", app.name),
        "targetRevision": "main",
    });
    let history: Vec<Value> = app
        .history
        .iter()
        .map(|(id, revision, at)| {
            json!({
                "id": id,
                "revision": revision,
                "deployedAt": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "deployStartedAt": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "source": source,
            })
        })
        .collect();
    let message = match app.health.as_str() {
        "Degraded" => Some("Deployment \"web\" exceeded its progress deadline"),
        "Progressing" => Some("Waiting for rollout to finish"),
        _ => None,
    };
    json!({
        "metadata": {"name": app.name, "namespace": "argocd", "uid": format!("uid-{}", app.name)},
        "spec": {"source": source, "destination": {"server": "https://kubernetes.default.svc", "namespace": app.name}, "project": "default"},
        "status": {
            "health": {"status": app.health, "message": message},
            "sync": {"status": "Synced", "revision": app.revision},
            "history": history,
        },
    })
}

async fn list(State(inner): State<Shared>, headers: HeaderMap) -> Response {
    let mut inner = inner.lock().unwrap();
    if let Some(r) = admit(&mut inner, "/api/v1/applications".into(), &headers) {
        return r;
    }
    let items: Vec<Value> = inner.apps.iter().map(application).collect();
    axum::Json(json!({"metadata": {"resourceVersion": "1"}, "items": items})).into_response()
}

async fn one(
    State(inner): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut inner = inner.lock().unwrap();
    if let Some(r) = admit(&mut inner, format!("/api/v1/applications/{name}"), &headers) {
        return r;
    }
    match inner.apps.iter().find(|a| a.name == name) {
        Some(app) => axum::Json(application(app)).into_response(),
        None => error(
            404,
            &format!("applications.argoproj.io \"{name}\" not found"),
        ),
    }
}

async fn tree(
    State(inner): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut inner = inner.lock().unwrap();
    let path = format!("/api/v1/applications/{name}/resource-tree");
    if let Some(r) = admit(&mut inner, path, &headers) {
        return r;
    }
    let Some(app) = inner.apps.iter().find(|a| a.name == name) else {
        return error(
            404,
            &format!("applications.argoproj.io \"{name}\" not found"),
        );
    };
    let mut nodes = vec![
        json!({"group": "apps", "version": "v1", "kind": "Deployment", "namespace": name,
               "name": name, "uid": "d1", "health": {"status": app.health}}),
        json!({"group": "apps", "version": "v1", "kind": "ReplicaSet", "namespace": name,
               "name": format!("{name}-5d4f"), "uid": "rs1", "health": {"status": app.health},
               "parentRefs": [{"group": "apps", "kind": "Deployment", "name": name, "uid": "d1"}]}),
    ];
    for i in 0..app.desired {
        let health = if i < app.available {
            json!({"status": "Healthy"})
        } else {
            json!({"status": "Degraded", "message": "back-off restarting failed container"})
        };
        nodes.push(json!({"version": "v1", "kind": "Pod", "namespace": name,
            "name": format!("{name}-5d4f-{i}"), "uid": format!("pod{i}"), "health": health,
            "parentRefs": [{"group": "apps", "kind": "ReplicaSet", "name": format!("{name}-5d4f"), "uid": "rs1"}]}));
    }
    axum::Json(json!({"nodes": nodes})).into_response()
}
