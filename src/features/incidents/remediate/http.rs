//! An `http` remediation: one request. Header values named by environment variable
//! are read when it is sent and never written anywhere.

use super::super::config::Remediation;
use crate::features::observatory::probes::http::describe;
use std::time::{Duration, Instant};

/// How the request went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRun {
    pub status: u16,
    pub ok: bool,
    pub body: String,
    pub took: Duration,
}

/// The most of a response body kept.
const BODY_CAP: usize = 64 * 1024;

pub async fn run(
    client: &reqwest::Client,
    r: &Remediation,
    secrets: &crate::config::Secrets,
) -> anyhow::Result<HttpRun> {
    let method = reqwest::Method::from_bytes(r.method.as_deref().unwrap_or("POST").as_bytes())?;
    let url = r
        .url
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("{} has no url", r.name))?;
    let mut req = client.request(method, url).timeout(r.timeout());
    for (name, value) in &r.headers {
        req = req.header(name, value);
    }
    for (name, var) in &r.secret_headers {
        let value = secrets
            .named(var)
            .ok_or_else(|| anyhow::anyhow!("{var} is not set (the {name} header of {})", r.name))?;
        let mut value = reqwest::header::HeaderValue::from_str(value.expose())
            .map_err(|_| anyhow::anyhow!("{var} is not a valid header value"))?;
        value.set_sensitive(true);
        req = req.header(name, value);
    }
    if let Some(body) = &r.body {
        req = req.body(body.clone());
    }
    let started = Instant::now();
    let resp = req
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{url}: {}", describe(&e, r.timeout())))?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap_or_default();
    let body = String::from_utf8_lossy(&bytes[..bytes.len().min(BODY_CAP)]).into_owned();
    let ok = match r.expect_status {
        Some(want) => status == want,
        None => (200..300).contains(&status),
    };
    Ok(HttpRun {
        status,
        ok,
        body,
        took: started.elapsed(),
    })
}
