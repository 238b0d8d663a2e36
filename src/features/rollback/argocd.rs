//! Argo CD's REST API, as Rollback Pilot reads it: the applications (health, synced
//! revision, deployment history) in one call per poll, one application again just
//! before a merge, and a degraded application's resource tree for its replicas.

use crate::config::Secret;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::time::Duration;

/// An Argo CD server.
#[derive(Clone)]
pub struct ArgoCd {
    base: String,
    token: Option<Secret>,
    http: reqwest::Client,
}

/// One application as the list and the single read return it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Application {
    pub metadata: Metadata,
    #[serde(default)]
    pub status: AppStatus,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Metadata {
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct AppStatus {
    #[serde(default)]
    pub health: Health,
    #[serde(default)]
    pub sync: Sync,
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Health {
    /// Healthy, Progressing, Degraded, Suspended, Missing or Unknown.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Sync {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub revision: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub id: i64,
    pub revision: String,
    pub deployed_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct ApplicationList {
    #[serde(default)]
    items: Option<Vec<Application>>,
}

#[derive(Deserialize)]
struct ResourceTree {
    #[serde(default)]
    nodes: Vec<ResourceNode>,
}

#[derive(Deserialize)]
struct ResourceNode {
    kind: String,
    #[serde(default)]
    health: Option<Health>,
}

/// Pods of an application: how many are healthy out of how many there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Replicas {
    pub available: u32,
    pub desired: u32,
}

impl Application {
    pub fn is_degraded(&self) -> bool {
        self.status.health.status == "Degraded"
    }

    pub fn is_healthy(&self) -> bool {
        self.status.health.status == "Healthy"
    }
}

impl ArgoCd {
    pub fn new(base: &str, token: Option<Secret>, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(timeout)
                .build()?,
        })
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        let response = request
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("Argo CD could not be reached: {}", without_url(&e)))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
                .unwrap_or_else(|| body.chars().take(200).collect());
            anyhow::bail!("Argo CD answered {}: {message}", status.as_u16());
        }
        response
            .json()
            .await
            .map_err(|e| anyhow::anyhow!("Argo CD's answer to {path} was not understood: {e}"))
    }

    /// Every application, in one call.
    pub async fn applications(&self) -> anyhow::Result<Vec<Application>> {
        let list: ApplicationList = self.get("/api/v1/applications").await?;
        Ok(list.items.unwrap_or_default())
    }

    /// One application, read again.
    pub async fn application(&self, name: &str) -> anyhow::Result<Application> {
        self.get(&format!("/api/v1/applications/{name}")).await
    }

    /// The application's pods: healthy ones out of all of them (a Deployment keeps
    /// as many pods as it wants replicas, crash-looping or not).
    pub async fn replicas(&self, name: &str) -> anyhow::Result<Replicas> {
        let tree: ResourceTree = self
            .get(&format!("/api/v1/applications/{name}/resource-tree"))
            .await?;
        let pods: Vec<&ResourceNode> = tree.nodes.iter().filter(|n| n.kind == "Pod").collect();
        Ok(Replicas {
            available: pods
                .iter()
                .filter(|p| p.health.as_ref().is_some_and(|h| h.status == "Healthy"))
                .count() as u32,
            desired: pods.len() as u32,
        })
    }
}

/// A reqwest error's text without its URL (which may carry a query the operator
/// did not mean to log).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    kind.to_owned()
}
