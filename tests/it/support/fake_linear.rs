//! A local HTTP server answering Linear's GraphQL `issues` query with scripted
//! urgent issues, recording each request body and its `Authorization` header.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Inner {
    /// `(identifier, title)` of open urgent issues.
    urgent: Vec<(String, String)>,
    /// Every issue by identifier: (title, state type, state name).
    issues: Vec<(String, String, String, String)>,
    calls: Vec<(Option<String>, Value)>,
}

#[derive(Clone)]
pub struct FakeLinear {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeLinear {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/graphql", post(graphql))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/graphql", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, inner }
    }

    pub fn urgent(&self, identifier: &str, title: &str) {
        self.inner
            .lock()
            .unwrap()
            .urgent
            .push((identifier.into(), title.into()));
    }

    /// An issue Sentinel's lookup finds (`state_type`: started, canceled, …).
    pub fn issue(&self, identifier: &str, title: &str, state_type: &str, state_name: &str) {
        self.inner.lock().unwrap().issues.push((
            identifier.into(),
            title.into(),
            state_type.into(),
            state_name.into(),
        ));
    }

    /// Each request's `Authorization` header and JSON body.
    pub fn calls(&self) -> Vec<(Option<String>, Value)> {
        self.inner.lock().unwrap().calls.clone()
    }
}

async fn graphql(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    let mut inner = inner.lock().unwrap();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    inner.calls.push((auth, body.0.clone()));
    if body["query"]
        .as_str()
        .is_some_and(|q| q.contains("SentinelIssues"))
    {
        // `filter.or` holds {team: {key: {eq}}, number: {eq}} pairs.
        let wanted: Vec<String> = body["variables"]["filter"]["or"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|f| {
                format!(
                    "{}-{}",
                    f["team"]["key"]["eq"].as_str().unwrap_or(""),
                    f["number"]["eq"]
                )
            })
            .collect();
        let nodes: Vec<Value> = inner
            .issues
            .iter()
            .filter(|(id, ..)| wanted.contains(id))
            .map(|(id, title, kind, name)| json!({"identifier": id, "title": title, "state": {"type": kind, "name": name}}))
            .collect();
        return axum::Json(json!({"data": {"issues": {"nodes": nodes}}})).into_response();
    }
    let nodes: Vec<Value> = inner
        .urgent
        .iter()
        .map(|(id, title)| json!({"identifier": id, "title": title, "url": format!("https://linear.app/acme/issue/{id}")}))
        .collect();
    axum::Json(json!({"data": {"issues": {"nodes": nodes}}})).into_response()
}
