//! A local stand-in for Lemon Squeezy's usage-records API: checks the bearer key and
//! the JSON:API headers as Lemon Squeezy does, records each accepted usage record,
//! answers 201 with the created record, and fails the next N calls with 500 on demand.

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

pub const API_KEY_ENV: &str = "LEMONSQUEEZY_API_KEY";
pub const API_KEY: &str = "ls-test-api-key";
pub const SIGNING_SECRET_ENV: &str = "LEMONSQUEEZY_SIGNING_SECRET";
pub const SIGNING_SECRET: &str = "ls-test-signing-secret";

#[derive(Default)]
struct State {
    records: Vec<Value>,
    failing: usize,
    refused: usize,
}

#[derive(Clone)]
pub struct FakeLemonSqueezy {
    /// The API's base URL (`[billing] api_url`).
    pub url: String,
    inner: Arc<Mutex<State>>,
}

const JSON_API: &str = "application/vnd.api+json";

impl FakeLemonSqueezy {
    pub async fn start() -> Self {
        let inner: Arc<Mutex<State>> = Arc::default();
        let state = inner.clone();
        let app = Router::new().route(
            "/v1/usage-records",
            post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move {
                    let mut s = state.lock().unwrap();
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    if header("authorization") != format!("Bearer {API_KEY}") {
                        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"errors": [{"status": "401", "title": "Unauthenticated"}]})));
                    }
                    if header("accept") != JSON_API || header("content-type") != JSON_API {
                        return (StatusCode::NOT_ACCEPTABLE, axum::Json(json!({"errors": [{"status": "406", "title": "Not Acceptable"}]})));
                    }
                    if s.failing > 0 {
                        s.failing -= 1;
                        s.refused += 1;
                        return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"errors": [{"status": "500"}]})));
                    }
                    let Ok(record) = serde_json::from_slice::<Value>(&body) else {
                        return (StatusCode::BAD_REQUEST, axum::Json(json!({"errors": [{"status": "400"}]})));
                    };
                    let d = &record["data"];
                    let valid = d["type"] == "usage-records"
                        && d["attributes"]["quantity"].as_i64().is_some_and(|q| q > 0)
                        && d["attributes"]["action"] == "increment"
                        && d["relationships"]["subscription-item"]["data"]["type"] == "subscription-items"
                        && d["relationships"]["subscription-item"]["data"]["id"].is_string();
                    if !valid {
                        return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({"errors": [{"status": "422"}]})));
                    }
                    s.records.push(record.clone());
                    let id = s.records.len().to_string();
                    (StatusCode::CREATED, axum::Json(json!({"data": {"type": "usage-records", "id": id, "attributes": d["attributes"]}})))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, inner }
    }

    /// The usage records it accepted, in order.
    pub fn records(&self) -> Vec<Value> {
        self.inner.lock().unwrap().records.clone()
    }

    /// The next `n` calls answer 500.
    pub fn fail_next(&self, n: usize) {
        self.inner.lock().unwrap().failing = n;
    }

    /// Calls answered 500 so far.
    pub fn refused(&self) -> usize {
        self.inner.lock().unwrap().refused
    }
}
