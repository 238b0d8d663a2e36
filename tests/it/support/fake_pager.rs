//! Local stand-ins for where escalations go: PagerDuty's Events API v2 (records each
//! enqueue call, answers 202 as PagerDuty does, fails on demand) and a webhook
//! receiver that checks each body's HMAC-SHA256 signature.

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// The variables and values the health harness's environment holds for them.
pub const ROUTING_KEY_ENV: &str = "PAGERDUTY_ROUTING_KEY";
pub const ROUTING_KEY: &str = "R0UT1NGKEY0000000000000000000000";
pub const WEBHOOK_SECRET_ENV: &str = "OPSMATE_WEBHOOK_SECRET";
pub const WEBHOOK_SECRET: &str = "whsec-test-secret";
pub const SMTP_USERNAME_ENV: &str = "SMTP_USERNAME";
pub const SMTP_USERNAME: &str = "opsmate";
pub const SMTP_PASSWORD_ENV: &str = "SMTP_PASSWORD";
pub const SMTP_PASSWORD: &str = "smtp-test-password";

#[derive(Default)]
struct Pager {
    events: Vec<Value>,
    /// The next this many calls answer 500.
    failing: usize,
    refused: usize,
}

/// PagerDuty's Events API v2 at `url`.
#[derive(Clone)]
pub struct FakePagerDuty {
    pub url: String,
    inner: Arc<Mutex<Pager>>,
}

impl FakePagerDuty {
    pub async fn start() -> Self {
        let inner: Arc<Mutex<Pager>> = Arc::default();
        let state = inner.clone();
        let app = Router::new().route(
            "/v2/enqueue",
            post(move |body: Bytes| {
                let state = state.clone();
                async move {
                    let mut s = state.lock().unwrap();
                    if s.failing > 0 {
                        s.failing -= 1;
                        s.refused += 1;
                        return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"status": "error"})));
                    }
                    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
                        return (StatusCode::BAD_REQUEST, axum::Json(json!({"status": "invalid event", "message": "Event object is invalid"})));
                    };
                    let valid = event["routing_key"].is_string()
                        && matches!(event["event_action"].as_str(), Some("trigger" | "acknowledge" | "resolve"))
                        && (event["event_action"] != "trigger"
                            || (event["payload"]["summary"].is_string()
                                && event["payload"]["source"].is_string()
                                && event["payload"]["severity"].is_string()));
                    if !valid {
                        return (StatusCode::BAD_REQUEST, axum::Json(json!({"status": "invalid event", "message": "Event object is invalid"})));
                    }
                    let key = event["dedup_key"].clone();
                    s.events.push(event);
                    (StatusCode::ACCEPTED, axum::Json(json!({"status": "success", "message": "Event processed", "dedup_key": key})))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v2/enqueue", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, inner }
    }

    /// The events it accepted, in order.
    pub fn events(&self) -> Vec<Value> {
        self.inner.lock().unwrap().events.clone()
    }

    /// `(event_action, dedup_key)` of each accepted event.
    pub fn actions(&self) -> Vec<(String, String)> {
        self.events()
            .iter()
            .map(|e| {
                (
                    e["event_action"].as_str().unwrap_or_default().to_owned(),
                    e["dedup_key"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// The next `n` calls fail with 500.
    pub fn fail_next(&self, n: usize) {
        self.inner.lock().unwrap().failing = n;
    }

    /// Calls answered 500 so far.
    pub fn refused(&self) -> usize {
        self.inner.lock().unwrap().refused
    }
}

#[derive(Default)]
struct Hooks {
    /// Bodies whose signature matched.
    verified: Vec<Value>,
    /// Requests whose signature did not.
    forged: usize,
}

/// A webhook receiver that accepts only bodies signed with `secret`.
#[derive(Clone)]
pub struct FakeWebhook {
    pub url: String,
    inner: Arc<Mutex<Hooks>>,
}

impl FakeWebhook {
    pub async fn start(secret: &str) -> Self {
        let inner: Arc<Mutex<Hooks>> = Arc::default();
        let (state, secret) = (inner.clone(), secret.to_owned());
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let (state, secret) = (state.clone(), secret.clone());
                async move {
                    let given = headers
                        .get("x-opsmate-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let mut s = state.lock().unwrap();
                    if !signature_matches(&secret, &body, &given) {
                        s.forged += 1;
                        return StatusCode::UNAUTHORIZED;
                    }
                    s.verified
                        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, inner }
    }

    pub fn verified(&self) -> Vec<Value> {
        self.inner.lock().unwrap().verified.clone()
    }

    pub fn forged(&self) -> usize {
        self.inner.lock().unwrap().forged
    }
}

/// Checks `sha256=<hex>` against the body in constant time, as a receiver should.
fn signature_matches(secret: &str, body: &[u8], given: &str) -> bool {
    use hmac::{Hmac, Mac};
    let Some(hex_sig) = given.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}
