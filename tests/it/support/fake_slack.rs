//! A local HTTP server speaking the Slack Web API's JSON, with scripted failures.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A canned answer.
#[derive(Clone, Debug)]
pub enum Reply {
    Status(u16),
    RateLimited { retry_after_secs: u64 },
    SlackError(&'static str),
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub authorization: Option<String>,
    pub body: Value,
    pub at: Instant,
    /// What the fake answered: true for `ok: true`.
    pub succeeded: bool,
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Reply>,
    calls: Vec<Call>,
    next_ts: u64,
}

#[derive(Clone)]
pub struct FakeSlack {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl FakeSlack {
    pub async fn start(script: Vec<Reply>) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            script: script.into(),
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/api/{method}", post(handle))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, inner }
    }

    /// Base URL to put in `slack.api_url`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut inner = inner.lock().unwrap();
    let reply = inner.script.pop_front();
    let mut call = Call {
        method,
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.clone(),
        at: Instant::now(),
        succeeded: false,
    };
    let response = match reply {
        Some(Reply::Status(code)) => {
            (StatusCode::from_u16(code).unwrap(), "upstream trouble").into_response()
        }
        Some(Reply::RateLimited { retry_after_secs }) => {
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(json!({"ok": false, "error": "ratelimited"})),
            )
                .into_response();
            r.headers_mut().insert(
                "retry-after",
                HeaderValue::from_str(&retry_after_secs.to_string()).unwrap(),
            );
            r
        }
        Some(Reply::SlackError(code)) => {
            axum::Json(json!({"ok": false, "error": code})).into_response()
        }
        None => {
            inner.next_ts += 1;
            call.succeeded = true;
            let ts = format!("1700000000.{:06}", inner.next_ts);
            axum::Json(json!({"ok": true, "channel": body["channel"], "ts": ts})).into_response()
        }
    };
    inner.calls.push(call);
    response
}
