//! The opsmate process under test, and Slack's signed requests to it.

use super::{CHANNEL, REQUEST_TIMEOUT, SIGNING_SECRET, USER};
use crate::common;
use crate::slack_requests::{self, Click};
use anyhow::Context;
use opsmate::chat::slack::verify::SlackVerifier;
use opsmate::config::Secret;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// A running `opsmate serve`, killed if still running when dropped.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
}

impl Server {
    pub fn launch(dir: &Path, env: &[(&str, String)]) -> anyhow::Result<Self> {
        let log = dir.join("opsmate.log");
        let (child, port) = common::launch_opsmate(dir, env, Some(log.as_path()))?;
        Ok(Self {
            child: Some(child),
            port,
        })
    }

    /// `kill -9`: no shutdown of any kind.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A graceful stop (SIGTERM), or `kill -9` when that takes over 30 s.
    pub fn stop(&mut self) {
        let Some(child) = &mut self.child else {
            return;
        };
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                self.child = None;
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill9();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Signed requests to one opsmate's Slack endpoints.
#[derive(Clone)]
pub struct SlackClient {
    http: reqwest::Client,
    base: String,
    signer: SlackVerifier,
}

/// OpsMate's HTTP answer to a request.
pub struct Ack {
    pub status: u16,
    pub body: String,
    pub at: Instant,
}

impl SlackClient {
    pub fn new(port: u16) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(REQUEST_TIMEOUT)
                .build()
                .context("building the HTTP client")?,
            base: format!("http://127.0.0.1:{port}"),
            signer: SlackVerifier::new(Secret::new(SIGNING_SECRET)),
        })
    }

    /// POSTs a form body signed the way Slack signs it, now.
    async fn post(&self, path: &str, body: String) -> anyhow::Result<Ack> {
        let ts = chrono::Utc::now().timestamp().to_string();
        let signature = self.signer.sign(&ts, body.as_bytes());
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", signature)
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        Ok(Ack {
            status,
            body,
            at: Instant::now(),
        })
    }

    pub async fn command(&self, text: &str, response_url: &str) -> anyhow::Result<Ack> {
        let body = slack_requests::command_body(USER, CHANNEL, text, response_url);
        self.post("/slack/commands", body).await
    }

    pub async fn click(&self, click: &Click<'_>) -> anyhow::Result<Ack> {
        let payload = slack_requests::click_payload(click);
        self.post(
            "/slack/interactivity",
            slack_requests::interactivity_body(&payload),
        )
        .await
    }
}
