//! The outbox delivers through a real HTTP fake of Slack's Web API.

use crate::support::fake_slack::{FakeSlack, Reply};
use crate::support::{TestApp, config_in, eventually, plain_app};
use opsmate::app::AppOptions;
use opsmate::config::{Secret, Secrets};
use opsmate::outbox::{Destination, Operation, Platform};
use serde_json::json;
use std::time::Duration;

fn slack_secrets() -> Secrets {
    Secrets {
        slack_bot_token: Some(Secret::new("xoxb-test-token")),
        ..Secrets::default()
    }
}

fn alerts() -> Destination {
    Destination {
        platform: Platform::Slack,
        channel: "C0ALERTS".into(),
    }
}

async fn wait_sent(app: &TestApp, id: i64, limit: Duration) -> bool {
    eventually(limit, || async {
        app.ctx
            .outbox
            .get(id)
            .await
            .unwrap()
            .is_some_and(|m| m.state == "sent")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_failures_then_success_delivers_exactly_once() {
    let fake = FakeSlack::start(vec![
        Reply::Status(500),
        Reply::RateLimited {
            retry_after_secs: 1,
        },
        Reply::SlackError("internal_error"),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.slack.api_url = fake.api_url();
    let app = TestApp::start(config, slack_secrets(), AppOptions::default()).await;

    let id = app
        .ctx
        .outbox
        .enqueue(
            alerts(),
            Operation::Post,
            json!({"text": "disk full on db-1"}),
        )
        .await
        .unwrap();
    assert!(
        wait_sent(&app, id, Duration::from_secs(10)).await,
        "message was not delivered"
    );

    let calls = fake.calls();
    assert_eq!(calls.len(), 4, "three failures and one success: {calls:#?}");
    assert_eq!(calls.iter().filter(|c| c.succeeded).count(), 1);
    assert!(calls.iter().all(|c| c.method == "chat.postMessage"));
    assert!(
        calls
            .iter()
            .all(|c| c.authorization.as_deref() == Some("Bearer xoxb-test-token"))
    );
    assert_eq!(calls[3].body["channel"], "C0ALERTS");
    assert_eq!(calls[3].body["text"], "disk full on db-1");
    // Retry-After: 1 was honoured between the 429 and the next attempt.
    assert!(
        calls[2].at - calls[1].at >= Duration::from_millis(950),
        "Retry-After ignored"
    );

    let msg = app.ctx.outbox.get(id).await.unwrap().unwrap();
    assert_eq!(msg.attempts, 4);
    assert_eq!(msg.remote_id.as_deref(), Some("1700000000.000001"));
    // Nothing more is sent later.
    app.settle().await;
    assert_eq!(fake.calls().len(), 4);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_survive_a_restart_during_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    // First run: Slack is unreachable (nothing listens on this port).
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/api", dead.local_addr().unwrap());
    drop(dead);
    let mut config = config_in(dir.path());
    config.slack.api_url = dead_url;
    let app = TestApp::start(config.clone(), slack_secrets(), AppOptions::default()).await;
    let first = app
        .ctx
        .outbox
        .enqueue(alerts(), Operation::Post, json!({"text": "one"}))
        .await
        .unwrap();
    let second = app
        .ctx
        .outbox
        .enqueue(alerts(), Operation::Post, json!({"text": "two"}))
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(5), || async {
            app.ctx.outbox.get(first).await.unwrap().unwrap().attempts >= 1
        })
        .await
    );
    // Plain stop: messages wait for the outage on purpose.
    app.stop().await;

    // Second run: Slack is back.
    let fake = FakeSlack::start(vec![]).await;
    config.slack.api_url = fake.api_url();
    let app = TestApp::start(config, slack_secrets(), AppOptions::default()).await;
    assert!(wait_sent(&app, second, Duration::from_secs(10)).await);
    assert!(wait_sent(&app, first, Duration::from_secs(1)).await);
    let texts: Vec<String> = fake
        .calls()
        .iter()
        .map(|c| c.body["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, vec!["one", "two"], "each once, in order");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_message_is_kept_as_failed_and_does_not_block_the_queue() {
    let fake = FakeSlack::start(vec![Reply::SlackError("channel_not_found")]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.slack.api_url = fake.api_url();
    let app = TestApp::start(config, slack_secrets(), AppOptions::default()).await;
    let bad = app
        .ctx
        .outbox
        .enqueue(alerts(), Operation::Post, json!({"text": "lost channel"}))
        .await
        .unwrap();
    let good = app
        .ctx
        .outbox
        .enqueue(alerts(), Operation::Post, json!({"text": "next"}))
        .await
        .unwrap();
    assert!(wait_sent(&app, good, Duration::from_secs(5)).await);
    let bad = app.ctx.outbox.get(bad).await.unwrap().unwrap();
    assert_eq!(bad.state, "failed");
    assert!(bad.last_error.unwrap().contains("channel_not_found"));
    let rows = app
        .ctx
        .store
        .with_conn(|c| opsmate::audit::tail(c, 50))
        .unwrap();
    assert!(rows.iter().any(|r| r.event == "outbox.failed"));
    // Plain stop: a message fails for good on purpose.
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_slack_off_messages_wait_in_the_queue() {
    let (_dir, app) = plain_app().await;
    let id = app
        .ctx
        .outbox
        .enqueue(alerts(), Operation::Post, json!({"text": "later"}))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let msg = app.ctx.outbox.get(id).await.unwrap().unwrap();
    assert_eq!((msg.state.as_str(), msg.attempts), ("queued", 0));
    assert_eq!(app.ctx.outbox.depth().await.unwrap().0, 1);
    // Plain stop: messages wait for Slack on purpose.
    app.stop().await;
}

/// An answer through a Slack `response_url`, queued as the chat code queues one.
async fn respond(app: &TestApp, fake: &FakeSlack, name: &str) -> i64 {
    app.ctx
        .outbox
        .enqueue(
            Destination {
                platform: Platform::Slack,
                channel: format!("response:{name}"),
            },
            Operation::Respond,
            json!({"text": format!("answer {name}"), "response_url": fake.response_url(name)}),
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_that_never_answers_holds_back_only_its_own_queue() {
    let fake = FakeSlack::start(vec![]).await;
    fake.hang("stuck");
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.slack.api_url = fake.api_url();
    config.outbox.delivery_timeout = Duration::from_millis(500);
    config.outbox.initial_backoff = Duration::from_millis(200);
    let app = TestApp::start(config, slack_secrets(), AppOptions::default()).await;

    let stuck = respond(&app, &fake, "stuck").await;
    let reached = eventually(Duration::from_secs(5), || async {
        !fake.calls_to("response_url:stuck").is_empty()
    })
    .await;
    assert!(reached, "the stuck answer never went out");
    // Queued while the stuck one hangs: other answers and a channel post.
    let other = respond(&app, &fake, "other").await;
    let post = app
        .ctx
        .outbox
        .enqueue(alerts(), Operation::Post, json!({"text": "db-1 is back"}))
        .await
        .unwrap();
    assert!(wait_sent(&app, other, Duration::from_secs(5)).await);
    assert!(wait_sent(&app, post, Duration::from_secs(5)).await);

    // The stuck delivery timed out, counted as a retry, and is tried again.
    let retried = eventually(Duration::from_secs(10), || async {
        app.ctx.outbox.get(stuck).await.unwrap().is_some_and(|m| {
            m.attempts >= 1
                && m.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("no answer from Slack"))
        })
    })
    .await;
    assert!(retried, "{:?}", app.ctx.outbox.get(stuck).await.unwrap());
    let metrics = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("state=\"retry\"") && !l.ends_with(" 0")),
        "{metrics}"
    );
    fake.unhang("stuck");
    assert!(wait_sent(&app, stuck, Duration::from_secs(10)).await);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_messages_past_the_retention_are_pruned_and_the_rest_kept() {
    use chrono::TimeZone;
    let fake = FakeSlack::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.slack.api_url = fake.api_url();
    let app = TestApp::start(config, slack_secrets(), AppOptions::default()).await;
    let mut sent = Vec::new();
    for i in 0..3 {
        let id = app
            .ctx
            .outbox
            .enqueue(
                alerts(),
                Operation::Post,
                json!({"text": format!("old {i}")}),
            )
            .await
            .unwrap();
        assert!(wait_sent(&app, id, Duration::from_secs(10)).await);
        sent.push(id);
    }
    // Two were delivered long ago, one just now.
    let long_ago = chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    app.ctx
        .store
        .with_conn(|c| {
            c.execute(
                "UPDATE outbox SET sent_at = ?1 WHERE id IN (?2, ?3)",
                rusqlite::params![long_ago.timestamp_millis(), sent[0], sent[1]],
            )?;
            Ok(())
        })
        .unwrap();
    let before = app.ctx.clock.now() - chrono::Duration::days(7);
    assert_eq!(
        app.ctx.outbox.prune_delivered(before, 1).await.unwrap(),
        1,
        "batched"
    );
    assert_eq!(
        app.ctx.outbox.prune_delivered(before, 100).await.unwrap(),
        1
    );
    assert_eq!(
        app.ctx.outbox.prune_delivered(before, 100).await.unwrap(),
        0
    );
    assert!(app.ctx.outbox.get(sent[0]).await.unwrap().is_none());
    assert!(
        app.ctx.outbox.get(sent[2]).await.unwrap().is_some(),
        "recent one kept"
    );
    app.finish().await;
}
