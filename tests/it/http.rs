//! The HTTP server's own routes.

use crate::support::{TestApp, plain_app};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_readyz_answer() {
    let (_dir, app) = plain_app().await;
    let http = reqwest::Client::new();
    let r = http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ok");

    let r = http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    // The audit chain's head: the start-up row.
    let head = app
        .ctx
        .store
        .with_conn(|c| opsmate::audit::heads::current(c))
        .unwrap()
        .unwrap();
    assert_eq!(head.seq, 1);
    assert_eq!(body["audit_head"], head.to_string());
    assert_eq!(
        body["schema_version"],
        opsmate::store::migrations::latest_version()
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_fails_when_migrations_are_missing() {
    let (_dir, app) = plain_app().await;
    app.ctx
        .store
        .with_conn(|c| Ok(c.pragma_update(None, "user_version", 1)?))
        .unwrap();
    let r = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.json::<Value>().await.unwrap()["status"],
        "migrations pending"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_use_the_prometheus_text_format() {
    let (_dir, app) = plain_app().await;
    let http = reqwest::Client::new();
    http.get(app.url("/healthz")).send().await.unwrap();
    http.get(app.url("/nope")).send().await.unwrap();
    let r = http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("openmetrics-text")
    );
    let text = r.text().await.unwrap();
    for line in [
        "# TYPE opsmate_http_requests counter",
        "opsmate_http_requests_total{route=\"/healthz\",status=\"200\"} 1",
        "opsmate_http_requests_total{route=\"unmatched\",status=\"404\"} 1",
        "# TYPE opsmate_approvals gauge",
        "opsmate_approvals{state=\"pending\"} 0",
        "opsmate_approvals{state=\"interrupted\"} 0",
        "# TYPE opsmate_actions counter",
        "opsmate_actions_total{kind=\"delete_volume\",outcome=\"succeeded\"} 0",
        "opsmate_job_runs_total{job=\"expire_approvals\",outcome=\"ok\"}",
        "opsmate_outbox_depth 0",
        "# TYPE opsmate_job_runs counter",
        "# TYPE opsmate_job_duration_seconds histogram",
        "# EOF",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    app.finish().await;
}

/// Sends only the request head announcing a body one byte over the limit, and reads
/// the answer: the server refuses before reading the body.
async fn status_for_oversized_post(app: &TestApp, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        opsmate::http::BODY_LIMIT_BYTES + 1
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = s.read(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413() {
    let (_dir, app) = plain_app().await;
    for path in ["/healthz", "/anything"] {
        assert_eq!(
            status_for_oversized_post(&app, path).await,
            "HTTP/1.1 413 Payload Too Large",
            "{path}"
        );
    }
    app.finish().await;
}
