//! Slack's Events API endpoint through the real router: verification, rejections,
//! retries and the member directory.

use crate::support::slack::SlackHarness;
use serde_json::{Value, json};

const JSON: &str = "application/json";

fn audit_rows(h: &SlackHarness, event: &str) -> Vec<opsmate::audit::AuditRecord> {
    crate::support::audit_rows(&h.app, event)
}

/// The `reason` of every audited rejection, oldest first.
fn rejection_reasons(h: &SlackHarness) -> Vec<String> {
    audit_rows(h, "slack.request_rejected")
        .iter()
        .map(|r| r.details["reason"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn user_event(kind: &str, event_id: &str, deleted: bool) -> String {
    json!({
        "token": "deprecated",
        "team_id": "T0TEAM",
        "api_app_id": "A0OPSMATE",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000000,
        "event": {
            "type": kind,
            "user": {
                "id": "UDAVE",
                "team_id": "T0TEAM",
                "name": "dave",
                "deleted": deleted,
                "real_name": "Dave Null",
                "is_bot": false,
                "profile": {"real_name": "Dave Null", "display_name": "dave", "email": "dave@example.com"}
            },
            "event_ts": "1700000000.000100",
            "cache_ts": 1700000000
        }
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_verification_echoes_the_challenge() {
    let h = SlackHarness::start().await;
    let body = json!({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"});
    let r = h
        .post_signed("/slack/events", JSON, &body.to_string(), 0)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["challenge"],
        body["challenge"]
    );
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_stale_and_missing_signatures_get_401_and_an_audit_row() {
    let h = SlackHarness::start().await;
    let body = json!({"token": "x", "challenge": "c", "type": "url_verification"}).to_string();
    let http = reqwest::Client::new();

    // Missing headers.
    let r = http
        .post(h.app.url("/slack/events"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Forged: signed with another secret.
    let ts = chrono::Utc::now().timestamp().to_string();
    let forged =
        opsmate::chat::slack::verify::SlackVerifier::new(opsmate::config::Secret::new("wrong"))
            .sign(&ts, body.as_bytes());
    let r = http
        .post(h.app.url("/slack/commands"))
        .header("x-slack-request-timestamp", &ts)
        .header("x-slack-signature", forged)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Stale: correctly signed, six minutes ago; and from the future.
    assert_eq!(
        h.post_signed("/slack/events", JSON, &body, 360)
            .await
            .status(),
        401
    );
    assert_eq!(
        h.post_signed("/slack/interactivity", JSON, &body, -360)
            .await
            .status(),
        401
    );
    // Within the window it passes.
    assert_eq!(
        h.post_signed("/slack/events", JSON, &body, 240)
            .await
            .status(),
        200
    );

    // One row per source and reason as it comes; the second stale request is
    // counted, and the count is written when the window closes (here: at the stop).
    let reasons = rejection_reasons(&h);
    assert_eq!(
        reasons,
        vec!["missing_signature", "forged_signature", "stale_timestamp"]
    );
    let store = h.app.ctx.store.clone();
    h.app.finish().await;
    let rows = crate::support::audit_rows_in(&store, "slack.request_rejected");
    let last = rows.last().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(last.details["reason"], "stale_timestamp");
    assert_eq!(last.details["count"], 2);
    assert_eq!(last.actor, "http:127.0.0.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_flood_leaves_a_bounded_trail_with_its_count() {
    const FLOOD: usize = 2_000;
    let h = SlackHarness::start().await;
    let body = "command=%2Fopsmate&text=help";
    let ts = chrono::Utc::now().timestamp().to_string();
    let forged =
        opsmate::chat::slack::verify::SlackVerifier::new(opsmate::config::Secret::new("wrong"))
            .sign(&ts, body.as_bytes());
    let http = reqwest::Client::new();
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (http, url, ts, forged) = (
            http.clone(),
            h.app.url("/slack/commands"),
            ts.clone(),
            forged.clone(),
        );
        senders.spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..FLOOD / 4 {
                let r = http
                    .post(&url)
                    .header("x-slack-request-timestamp", &ts)
                    .header("x-slack-signature", &forged)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                statuses.push(r.status().as_u16());
            }
            statuses
        });
    }
    let statuses: Vec<u16> = senders.join_all().await.into_iter().flatten().collect();
    assert_eq!(statuses.len(), FLOOD);
    assert!(
        statuses.iter().all(|s| *s == 401),
        "every forged request is refused"
    );
    // Evidence at once, without a row per request.
    assert_eq!(rejection_reasons(&h), vec!["forged_signature"]);
    let metrics = reqwest::get(h.app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let counted = format!(
        "opsmate_http_rejected_requests_total{{door=\"slack.request_rejected\",reason=\"forged_signature\"}} {FLOOD}"
    );
    assert!(metrics.contains(&counted), "{metrics}");
    let store = h.app.ctx.store.clone();
    h.app.finish().await;
    let rows = crate::support::audit_rows_in(&store, "slack.request_rejected");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1].details["count"], FLOOD);
    assert_eq!(rows[1].details["first_row"], rows[0].seq);
    assert_eq!(
        rows[1].details["summary"],
        format!("{FLOOD} forged_signature requests from 127.0.0.1 in the last 1m")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_payloads_get_400_and_oversized_bodies_413() {
    let h = SlackHarness::start().await;
    assert_eq!(
        h.post_signed("/slack/events", JSON, "{not json", 0)
            .await
            .status(),
        400
    );
    assert_eq!(
        h.post_signed("/slack/events", JSON, "{\"type\": \"nonsense\"}", 0)
            .await
            .status(),
        400
    );
    assert_eq!(
        h.post_signed(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            "text=hi",
            0
        )
        .await
        .status(),
        400
    );
    assert_eq!(
        h.post_signed(
            "/slack/interactivity",
            "application/x-www-form-urlencoded",
            "payload=%7B%22type%22%3A1%7D",
            0
        )
        .await
        .status(),
        400
    );
    let big = "x".repeat(opsmate::http::BODY_LIMIT_BYTES + 10);
    assert_eq!(
        h.post_signed("/slack/events", JSON, &big, 0).await.status(),
        413
    );

    let reasons = rejection_reasons(&h);
    assert_eq!(reasons, vec!["malformed_payload", "body_too_large"]);
    let store = h.app.ctx.store.clone();
    h.app.finish().await;
    let rows = crate::support::audit_rows_in(&store, "slack.request_rejected");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2].details["reason"], "malformed_payload");
    assert_eq!(rows[2].details["count"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_event_is_handled_once_even_across_a_restart() {
    let h = SlackHarness::start().await;
    let body = user_event("team_join", "Ev0JOIN1", false);
    // The first delivery, then Slack's retries 1 and 2.
    for retry in ["", "1", "2"] {
        let headers: &[(&str, &str)] = if retry.is_empty() {
            &[]
        } else {
            &[
                ("x-slack-retry-num", retry),
                ("x-slack-retry-reason", "http_timeout"),
            ]
        };
        let r = h
            .post_signed_with("/slack/events", JSON, &body, 0, headers)
            .await;
        assert_eq!(r.status(), 200);
    }
    let joined = crate::support::eventually(std::time::Duration::from_secs(5), || async {
        !audit_rows(&h, "directory.joined").is_empty()
    })
    .await;
    assert!(joined);

    let h = h.restart().await;
    assert_eq!(
        h.post_signed("/slack/events", JSON, &body, 0)
            .await
            .status(),
        200
    );
    h.app.settle().await;
    assert_eq!(
        audit_rows(&h, "directory.joined").len(),
        1,
        "handled exactly once"
    );
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivation_is_stored_and_audited() {
    let h = SlackHarness::start().await;
    assert_eq!(
        h.post_signed(
            "/slack/events",
            JSON,
            &user_event("team_join", "Ev1", false),
            0
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        h.post_signed(
            "/slack/events",
            JSON,
            &user_event("user_change", "Ev2", true),
            0
        )
        .await
        .status(),
        200
    );
    let store = h.app.ctx.store.clone();
    let stored = crate::support::eventually(std::time::Duration::from_secs(5), || {
        let store = store.clone();
        async move {
            store
                .with_conn(|c| opsmate::chat::slack::members::get(c, "UDAVE"))
                .unwrap()
                == Some((Some("dave@example.com".into()), true))
        }
    })
    .await;
    assert!(stored, "the deactivation was not stored");
    let rows = audit_rows(&h, "directory.deactivated");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].subject, "UDAVE");
    assert_eq!(rows[0].details["email"], "dave@example.com");
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_but_signed_payloads_get_400_never_a_crash() {
    let h = SlackHarness::start().await;
    let form = "application/x-www-form-urlencoded";
    for (path, content_type, body) in [
        ("/slack/events", JSON, "[]"),
        ("/slack/events", JSON, "null"),
        ("/slack/events", JSON, "{\"type\": \"event_callback\"}"),
        ("/slack/events", JSON, "\u{0}\u{1}binary"),
        ("/slack/commands", form, "user_id=%ZZ&&&=="),
        (
            "/slack/commands",
            form,
            "team_id=T1&channel_id=C1&user_id=not-a-user&command=%2Fopsmate&response_url=https%3A%2F%2Fx&trigger_id=1",
        ),
        ("/slack/interactivity", form, "payload=not-json"),
        (
            "/slack/interactivity",
            form,
            "payload=%7B%22type%22%3A%22block_actions%22%7D",
        ),
        ("/slack/interactivity", form, "nothing=here"),
    ] {
        let r = h.post_signed(path, content_type, body, 0).await;
        assert_eq!(r.status(), 400, "{path} {body}");
    }
    // Slack's certificate check on the commands URL is answered 200.
    let r = h
        .post_signed("/slack/commands", form, "ssl_check=1&token=x", 0)
        .await;
    assert_eq!(r.status(), 200);
    // The server is still fine.
    assert_eq!(
        reqwest::get(h.app.url("/healthz")).await.unwrap().status(),
        200
    );
    h.app.finish().await;
}
