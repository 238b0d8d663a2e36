//! A local HTTP service whose health can be switched: it answers 200 with a JSON
//! body, or 500. It can also heal itself once a file appears (a remediation script
//! "restarting" it writes that file).

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
    heal_file: Arc<Mutex<Option<std::path::PathBuf>>>,
    delay: Arc<Mutex<std::time::Duration>>,
}

impl FakeService {
    pub async fn start() -> Self {
        let mode = Arc::new(Mutex::new(Mode::Healthy));
        let heal_file: Arc<Mutex<Option<std::path::PathBuf>>> = Arc::default();
        let delay: Arc<Mutex<std::time::Duration>> = Arc::default();
        let (state, heal, wait) = (mode.clone(), heal_file.clone(), delay.clone());
        let app = Router::new().route(
            "/health",
            get(move || {
                let healed = heal.lock().unwrap().as_ref().is_some_and(|f| f.exists());
                let mode = if healed {
                    Mode::Healthy
                } else {
                    *state.lock().unwrap()
                };
                let wait = *wait.lock().unwrap();
                async move {
                    // The service's own slowness (what a latency check measures), not a
                    // wait of the test.
                    tokio::time::sleep(wait).await;
                    answer(mode).await
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/health", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url,
            mode,
            heal_file,
            delay,
        }
    }

    /// Answers after `delay` from now on.
    pub fn slow_down(&self, delay: std::time::Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    /// Answers healthy whenever `file` exists, whatever the mode.
    pub fn heal_when_exists(&self, file: &std::path::Path) {
        *self.heal_file.lock().unwrap() = Some(file.to_owned());
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
