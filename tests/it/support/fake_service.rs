//! A local HTTP service whose health can be switched: it answers 200 with a JSON
//! body, or 500.

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Healthy,
    Failing,
}

#[derive(Clone)]
pub struct FakeService {
    pub url: String,
    mode: Arc<Mutex<Mode>>,
}

impl FakeService {
    pub async fn start() -> Self {
        let mode = Arc::new(Mutex::new(Mode::Healthy));
        let state = mode.clone();
        let app = Router::new().route(
            "/health",
            get(move || {
                let mode = *state.lock().unwrap();
                async move { answer(mode).await }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/health", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, mode }
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

async fn answer(mode: Mode) -> Response {
    match mode {
        Mode::Healthy => axum::Json(serde_json::json!({"status": "ok"})).into_response(),
        Mode::Failing => (StatusCode::INTERNAL_SERVER_ERROR, "database down").into_response(),
    }
}
