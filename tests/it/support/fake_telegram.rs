//! A local HTTP server speaking the Telegram Bot API's JSON, recording every call,
//! with scripted 429s and a queue of updates for `getUpdates`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub body: Value,
    pub at: Instant,
    pub succeeded: bool,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    /// Methods to answer with `429 retry_after` once each, in order.
    flood: VecDeque<(String, u64)>,
    updates: VecDeque<Value>,
    next_message_id: i64,
}

#[derive(Clone)]
pub struct FakeTelegram {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl FakeTelegram {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            next_message_id: 100,
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/{bot}/{method}", post(api))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, inner }
    }

    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next call of `method` gets `429` with `retry_after`.
    pub fn flood_once(&self, method: &str, retry_after: u64) {
        self.inner
            .lock()
            .unwrap()
            .flood
            .push_back((method.into(), retry_after));
    }

    /// An update for the next `getUpdates`.
    pub fn push_update(&self, update: Value) {
        self.inner.lock().unwrap().updates.push_back(update);
    }

    pub fn calls_to(&self, method: &str) -> Vec<Call> {
        self.inner
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// Successful calls of `method`.
    pub fn delivered(&self, method: &str) -> Vec<Call> {
        self.calls_to(method)
            .into_iter()
            .filter(|c| c.succeeded)
            .collect()
    }
}

fn chat(id: i64) -> Value {
    if id < 0 {
        json!({"id": id, "type": "supergroup", "title": "ops"})
    } else {
        json!({"id": id, "type": "private", "first_name": "Ops"})
    }
}

fn message(id: i64, chat_id: i64, text: &Value) -> Value {
    json!({
        "message_id": id,
        "date": 1700000000,
        "chat": chat(chat_id),
        "from": {"id": 777000, "is_bot": true, "first_name": "OpsMate", "username": "OpsMateBot"},
        "text": text
    })
}

async fn api(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((_bot, method)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    // JSON for most methods; multipart (kept as raw text) for setWebhook.
    let body: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| json!({"raw": String::from_utf8_lossy(&body)}));
    // Bot API method names are case-insensitive; teloxide sends `SendMessage`.
    let mut chars = method.chars();
    let method: String = chars
        .next()
        .map(|c| c.to_ascii_lowercase())
        .into_iter()
        .chain(chars)
        .collect();
    if method == "getUpdates" {
        let updates: Vec<Value> = {
            let mut inner = inner.lock().unwrap();
            inner.updates.drain(..).collect()
        };
        if updates.is_empty() {
            // Long polling: hold the call a little when there is nothing new.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut inner = inner.lock().unwrap();
        inner.calls.push(Call {
            method,
            body,
            at: Instant::now(),
            succeeded: true,
        });
        return axum::Json(json!({"ok": true, "result": updates})).into_response();
    }
    let mut inner = inner.lock().unwrap();
    let flooded = inner.flood.front().is_some_and(|(m, _)| *m == method);
    let response = if flooded {
        let (_, retry_after) = inner.flood.pop_front().unwrap();
        (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(json!({"ok": false, "error_code": 429,
                "description": format!("Too Many Requests: retry after {retry_after}"),
                "parameters": {"retry_after": retry_after}})),
        )
            .into_response()
    } else {
        let result = match method.as_str() {
            "sendMessage" => {
                inner.next_message_id += 1;
                message(
                    inner.next_message_id,
                    body["chat_id"].as_i64().unwrap_or_default(),
                    &body["text"],
                )
            }
            "editMessageText" => message(
                body["message_id"].as_i64().unwrap_or_default(),
                body["chat_id"].as_i64().unwrap_or_default(),
                &body["text"],
            ),
            "getMe" => {
                json!({"id": 777000, "is_bot": true, "first_name": "OpsMate", "username": "OpsMateBot"})
            }
            _ => json!(true),
        };
        axum::Json(json!({"ok": true, "result": result})).into_response()
    };
    inner.calls.push(Call {
        method,
        body,
        at: Instant::now(),
        succeeded: !flooded,
    });
    response
}
