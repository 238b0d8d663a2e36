//! Socket Mode, without a network: the payloads of Socket Mode envelopes, as Slack
//! sends them, go to the callbacks slack-morphism's listener calls. They queue the
//! same events as the HTTP endpoints and return the acknowledgement payload.

use opsmate::chat::slack::intake::Intake;
use opsmate::chat::slack::socket::{on_command, on_interaction, on_push};
use opsmate::chat::slack::web_api;
use opsmate::clock::{SharedClock, SystemClock};
use opsmate::events::{self, Event};
use opsmate::store::Store;
use serde_json::json;
use slack_morphism::prelude::*;
use std::sync::Arc;
use std::time::Duration;

struct Harness {
    _dir: tempfile::TempDir,
    queue: events::EventQueue,
    client: Arc<web_api::Slack>,
    states: SlackClientEventsUserState,
    rx: events::EventReceiver,
}

fn harness() -> Harness {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db"), Duration::from_secs(5)).unwrap();
    let (queue, rx) = events::queue();
    let clock: SharedClock = Arc::new(SystemClock);
    let client =
        web_api::client("http://127.0.0.1:9/api", std::time::Duration::from_secs(5)).unwrap();
    let environment =
        SlackClientEventsListenerEnvironment::new(client.clone()).with_user_state(Intake {
            queue: queue.clone(),
            store,
            clock,
        });
    Harness {
        _dir: dir,
        queue,
        client,
        states: environment.user_state.clone(),
        rx,
    }
}

/// A Socket Mode envelope; the listener hands its `payload` to the callback.
#[derive(serde::Deserialize)]
struct Envelope<T> {
    envelope_id: String,
    #[serde(rename = "type")]
    kind: String,
    payload: T,
}

fn envelope<T: serde::de::DeserializeOwned>(kind: &str, payload: serde_json::Value) -> T {
    let env: Envelope<T> = serde_json::from_value(json!({
        "envelope_id": "57d6a792-4d35-4d0b-b6aa-3361493e1caf",
        "type": kind,
        "accepts_response_payload": kind == "slash_commands",
        "payload": payload
    }))
    .expect("a Socket Mode envelope as Slack sends it");
    assert_eq!((env.envelope_id.len(), env.kind.as_str()), (36, kind));
    env.payload
}

#[tokio::test]
async fn a_slash_command_envelope_is_queued_and_acknowledged_empty() {
    let mut h = harness();
    let command: SlackCommandEvent = envelope(
        "slash_commands",
        json!({
            "token": "x", "team_id": "T0TEAM", "team_domain": "acme", "channel_id": "C0OPS",
            "channel_name": "ops", "user_id": "UALICE", "user_name": "alice", "command": "/opsmate",
            "text": "audit 5", "api_app_id": "A0OPSMATE",
            "response_url": "https://hooks.slack.com/commands/T0TEAM/1/abc",
            "trigger_id": "1.2.3"
        }),
    );
    let ack = on_command(command, h.client.clone(), h.states.clone())
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&ack).unwrap(),
        json!({}),
        "the ack carries no message"
    );
    match h.rx.recv().await.unwrap() {
        Event::Command(req) => {
            assert_eq!(req.from.key(), "slack:UALICE");
            assert_eq!(
                req.parsed,
                Ok(opsmate::chat::command::Command::Audit { rows: 5 })
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn an_interactive_reject_envelope_asks_for_a_reason() {
    let mut h = harness();
    let click: SlackInteractionEvent = envelope(
        "interactive",
        json!({
            "type": "block_actions",
            "team": {"id": "T0TEAM", "domain": "acme"},
            "user": {"id": "UBOB", "username": "bob", "team_id": "T0TEAM"},
            "api_app_id": "A0OPSMATE",
            "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": "C0OPS", "is_ephemeral": false},
            "trigger_id": "1.2.3",
            "channel": {"id": "C0OPS", "name": "ops"},
            "response_url": "https://hooks.slack.com/actions/T0TEAM/1/abc",
            "actions": [{"type": "button", "action_id": "reject:abcdefghij", "block_id": "b", "value": "abcdefghij",
                         "text": {"type": "plain_text", "text": "Keep"}, "action_ts": "1700000001.000001"}]
        }),
    );
    on_interaction(click, h.client.clone(), h.states.clone())
        .await
        .unwrap();
    // A Reject first asks why, with the click's trigger.
    match h.rx.recv().await.unwrap() {
        Event::AskReason(d) => {
            assert_eq!(d.approval.as_str(), "abcdefghij");
            assert_eq!(d.verdict, opsmate::approvals::Verdict::Reject);
            assert_eq!(d.trigger_id, "1.2.3");
            assert_eq!(d.message.unwrap().message_id, "1700000000.000001");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn an_events_api_envelope_is_deduplicated_like_over_http() {
    let mut h = harness();
    let payload = json!({
        "team_id": "T0TEAM", "api_app_id": "A0OPSMATE", "type": "event_callback",
        "event_id": "Ev0SOCKET", "event_time": 1700000000,
        "event": {"type": "team_join", "user": {"id": "UNEW", "name": "new", "deleted": false,
                  "profile": {"email": "new@example.com"}}}
    });
    for _ in 0..2 {
        let callback: SlackPushEventCallback = envelope("events_api", payload.clone());
        on_push(callback, h.client.clone(), h.states.clone())
            .await
            .unwrap();
    }
    match h.rx.recv().await.unwrap() {
        Event::Directory(opsmate::events::DirectoryChange::SlackMember(m)) => {
            assert_eq!(m.user_id.as_str(), "UNEW");
            assert_eq!(m.email.as_deref(), Some("new@example.com"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(100), h.rx.recv())
            .await
            .is_err(),
        "the redelivery was not queued again"
    );
}

#[tokio::test]
async fn a_command_arriving_at_a_full_queue_is_answered_busy_at_once() {
    let h = harness();
    while h
        .queue
        .try_send(Event::Job(opsmate::events::JobRun {
            job: opsmate::events::JobKind::EXPIRE_APPROVALS,
            scheduled_for: chrono::Utc::now(),
            catch_up: false,
        }))
        .is_ok()
    {}
    let command: SlackCommandEvent = envelope(
        "slash_commands",
        json!({
            "team_id": "T0TEAM", "channel_id": "C0OPS", "user_id": "UALICE", "command": "/opsmate",
            "text": "help", "response_url": "https://hooks.slack.com/commands/T0TEAM/1/abc", "trigger_id": "1.2.3"
        }),
    );
    let ack = tokio::time::timeout(
        Duration::from_secs(1),
        on_command(command, h.client.clone(), h.states.clone()),
    )
    .await
    .expect("the ack does not wait for room in the queue")
    .unwrap();
    assert_eq!(
        ack.content.text.as_deref(),
        Some(opsmate::chat::slack::intake::BUSY_TEXT)
    );
}
