//! Telegram through the real router and a fake Bot API: the webhook secret, allowed
//! chats, commands, inline-keyboard decisions, escaping, flood control and
//! redelivered updates.

use crate::support::actions::CountingAction;
use crate::support::fake_telegram::FakeTelegram;
use crate::support::telegram_updates::{callback_update, command_update};
use crate::support::{TestApp, config_in, eventually};
use opsmate::app::AppOptions;
use opsmate::approvals::{ActionRegistry, NewProposal, Proposal, ProposalState};
use opsmate::config::{Config, KindPolicy, Secret, Secrets, TelegramMode};
use opsmate::domain::{ActionKind, TelegramUserId};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "webhook-secret-0123456789";
const CHAT: i64 = -1001234567890;
const STRANGER_CHAT: i64 = -1009999999999;
const ALICE: i64 = 42;
const BOB: i64 = 43;
const MALLORY: i64 = 7;

struct Harness {
    _dir: tempfile::TempDir,
    fake: FakeTelegram,
    app: TestApp,
    action: Arc<CountingAction>,
    http: reqwest::Client,
}

fn config(dir: &std::path::Path, fake: &FakeTelegram, mode: TelegramMode) -> Config {
    let mut c = config_in(dir);
    c.telegram.api_url = fake.api_url();
    c.telegram.mode = Some(mode);
    c.telegram.public_url = Some("https://opsmate.example.com".into());
    c.telegram.allowed_chat_ids = vec![CHAT];
    c.telegram.approver_user_ids = vec![TelegramUserId(ALICE), TelegramUserId(BOB)];
    c.approvals.set_policy(
        opsmate::domain::ActionKind::DELETE_VOLUME,
        KindPolicy {
            telegram_users: vec![TelegramUserId(ALICE), TelegramUserId(BOB)],
            ..KindPolicy::default()
        },
    );
    c
}

impl Harness {
    async fn start(mode: TelegramMode) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeTelegram::start().await;
        let action = CountingAction::new();
        let mut registry = ActionRegistry::default();
        registry.register(ActionKind::DELETE_VOLUME, action.clone());
        let secrets = Secrets {
            telegram_bot_token: Some(Secret::new("123456:TEST-token")),
            telegram_webhook_secret: Some(Secret::new(SECRET)),
            ..Secrets::default()
        };
        let app = TestApp::start(
            config(dir.path(), &fake, mode),
            secrets,
            AppOptions {
                actions: registry,
                ..AppOptions::default()
            },
        )
        .await;
        Self {
            _dir: dir,
            fake,
            app,
            action,
            http: reqwest::Client::new(),
        }
    }

    async fn webhook(&self, update: &Value, secret: Option<&str>) -> u16 {
        let mut req = self
            .http
            .post(self.app.url("/telegram/webhook"))
            .json(update);
        if let Some(s) = secret {
            req = req.header("x-telegram-bot-api-secret-token", s);
        }
        req.send().await.unwrap().status().as_u16()
    }

    async fn wait(&self, method: &str, n: usize) -> Vec<crate::support::fake_telegram::Call> {
        let ok = eventually(Duration::from_secs(5), || async {
            self.fake.delivered(method).len() >= n
        })
        .await;
        let calls = self.fake.delivered(method);
        assert!(ok, "expected {n} {method}, got {}", calls.len());
        calls
    }

    async fn posted_proposal(&self, target: &str) -> Proposal {
        let gate = &self.app.ctx.gate;
        let p = gate
            .propose(NewProposal {
                kind: ActionKind::DELETE_VOLUME,
                target: target.into(),
                params: json!({}),
                reason: "Unattached for 9 days".into(),
                proposed_by: "scheduler".into(),
            })
            .await
            .unwrap()
            .proposal()
            .clone();
        opsmate::chat::handle::post_proposal_to_telegram(&self.app.ctx, &p, CHAT)
            .await
            .unwrap();
        let ok = eventually(Duration::from_secs(5), || async {
            gate.get(&p.id).await.unwrap().unwrap().posted.is_some()
        })
        .await;
        assert!(ok, "the proposal was never posted");
        gate.get(&p.id).await.unwrap().unwrap()
    }

    /// Presses a proposal's button (`a` approve, `r` reject) on its message.
    async fn press(&self, user: i64, verb: &str, p: &Proposal, message_id: i64) {
        let update = callback_update(CHAT, user, &format!("{verb}:{}", p.id), message_id);
        assert_eq!(self.webhook(&update, Some(SECRET)).await, 200);
    }

    /// The text of the `n`th delivered callback answer (waiting for it).
    async fn callback_answer(&self, n: usize) -> String {
        let answers = self.wait("answerCallbackQuery", n + 1).await;
        answers[n].body["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn state(&self, p: &Proposal) -> ProposalState {
        self.app.ctx.gate.get(&p.id).await.unwrap().unwrap().state
    }

    fn audit(&self, event: &str) -> Vec<opsmate::audit::AuditRecord> {
        crate::support::audit_rows(&self.app, event)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_needs_the_right_secret() {
    let h = Harness::start(TelegramMode::Webhook).await;
    let update = command_update(CHAT, ALICE, "/help");
    assert_eq!(h.webhook(&update, None).await, 401);
    assert_eq!(h.webhook(&update, Some("wrong")).await, 401);
    assert_eq!(h.webhook(&update, Some(SECRET)).await, 200);
    let sent = h.wait("sendMessage", 1).await;
    assert_eq!(sent[0].body["chat_id"], CHAT);
    assert_eq!(sent[0].body["parse_mode"], "HTML");
    assert!(
        sent[0].body["text"]
            .as_str()
            .unwrap()
            .contains("/keeponline")
    );
    let reasons: Vec<String> = h
        .audit("telegram.request_rejected")
        .iter()
        .map(|r| r.details["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(reasons, vec!["missing_secret", "wrong_secret"]);
    // The webhook was registered with the same secret.
    let set = h.wait("setWebhook", 1).await;
    let form = set[0].body["raw"].as_str().unwrap_or_default();
    assert!(form.contains(SECRET), "{form}");
    assert!(
        form.contains("https://opsmate.example.com/telegram/webhook"),
        "{form}"
    );
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_get_no_answer_and_one_audit_row() {
    let h = Harness::start(TelegramMode::Webhook).await;
    for _ in 0..3 {
        assert_eq!(
            h.webhook(
                &command_update(STRANGER_CHAT, MALLORY, "/approvals"),
                Some(SECRET)
            )
            .await,
            200
        );
    }
    assert_eq!(
        h.webhook(&command_update(CHAT, ALICE, "/zombies"), Some(SECRET))
            .await,
        200
    );
    let sent = h.wait("sendMessage", 1).await;
    h.app.settle().await;
    assert_eq!(
        h.fake.delivered("sendMessage").len(),
        1,
        "nothing is sent to the stranger"
    );
    assert_eq!(sent[0].body["chat_id"], CHAT);
    assert!(
        sent[0].body["text"]
            .as_str()
            .unwrap()
            .contains("Zombie Hunter is off")
    );
    let ignored = h.audit("telegram.chat_ignored");
    assert_eq!(ignored.len(), 1);
    assert_eq!(ignored[0].subject, STRANGER_CHAT.to_string());
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_update_id_is_handled_once() {
    let h = Harness::start(TelegramMode::Webhook).await;
    let update = command_update(CHAT, ALICE, "/audit 2");
    for _ in 0..3 {
        assert_eq!(h.webhook(&update, Some(SECRET)).await, 200);
    }
    h.wait("sendMessage", 1).await;
    h.app.settle().await;
    assert_eq!(h.fake.delivered("sendMessage").len(), 1);
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_edits_the_message_and_always_answers_the_callback() {
    let h = Harness::start(TelegramMode::Webhook).await;
    let p = h.posted_proposal("us-east-1/vol-<b>&_*[").await;
    let posted = h.wait("sendMessage", 1).await;
    let text = posted[0].body["text"].as_str().unwrap();
    assert!(
        text.contains("us-east-1/vol-&lt;b&gt;&amp;_*["),
        "escaped: {text}"
    );
    let keyboard = &posted[0].body["reply_markup"]["inline_keyboard"][0];
    assert_eq!(keyboard[0]["callback_data"], format!("a:{}", p.id));
    assert_eq!(keyboard[1]["callback_data"], format!("r:{}", p.id));
    let message_id = p
        .posted
        .as_ref()
        .unwrap()
        .message_id
        .parse::<i64>()
        .unwrap();

    // A stranger to the approver list: refused, answered, audited.
    h.press(MALLORY, "a", &p, message_id).await;
    let refusal = h.callback_answer(0).await;
    assert!(refusal.contains("not allowed"), "{refusal}");
    assert_eq!(
        h.wait("answerCallbackQuery", 1).await[0].body["show_alert"],
        true
    );
    assert_eq!(h.state(&p).await, ProposalState::Pending);

    // Alice approves.
    h.press(ALICE, "a", &p, message_id).await;
    // The press is answered at once; the message shows the outcome once it ran.
    let done = h.callback_answer(1).await;
    assert!(done.contains("Approved"), "{done}");
    let edits = h.wait("editMessageText", 1).await;
    assert_eq!(edits[0].body["message_id"], message_id);
    let edited = edits[0].body["text"].as_str().unwrap();
    assert!(edited.contains("Approved and done"), "{edited}");
    assert!(
        edited.contains("telegram:42"),
        "the decider is named: {edited}"
    );
    assert_eq!(
        edits[0].body["reply_markup"]["inline_keyboard"],
        json!([]),
        "keyboard removed"
    );
    assert_eq!(h.action.executions(), 1);

    // Bob clicks too late: told who decided; nothing runs again.
    h.press(BOB, "a", &p, message_id).await;
    let late = h.callback_answer(2).await;
    assert!(late.contains("already approved by telegram:42"), "{late}");
    assert_eq!(h.action.executions(), 1);
    assert!(
        h.audit("approval.refused")
            .iter()
            .any(|r| r.actor == "telegram:7")
    );
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_keeps_and_says_so() {
    let h = Harness::start(TelegramMode::Webhook).await;
    let p = h.posted_proposal("us-east-1/vol-keep").await;
    let message_id = p
        .posted
        .as_ref()
        .unwrap()
        .message_id
        .parse::<i64>()
        .unwrap();
    h.press(BOB, "r", &p, message_id).await;
    let edits = h.wait("editMessageText", 1).await;
    assert!(edits[0].body["text"].as_str().unwrap().contains("Rejected"));
    h.wait("answerCallbackQuery", 1).await;
    assert_eq!(h.state(&p).await, ProposalState::Rejected);
    assert_eq!(h.action.executions(), 0);
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_control_retry_after_is_honoured_and_the_message_delivered_once() {
    let h = Harness::start(TelegramMode::Webhook).await;
    h.fake.flood_once("sendMessage", 1);
    h.webhook(&command_update(CHAT, ALICE, "/digest"), Some(SECRET))
        .await;
    let sent = h.wait("sendMessage", 1).await;
    let all = h.fake.calls_to("sendMessage");
    assert_eq!(all.len(), 2, "one 429, one delivery");
    assert!(
        all[1].at - all[0].at >= Duration::from_millis(950),
        "retry_after honoured"
    );
    assert!(
        sent[0].body["text"]
            .as_str()
            .unwrap()
            .contains("Observatory")
    );
    h.app.settle().await;
    assert_eq!(h.fake.delivered("sendMessage").len(), 1);
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_messages_are_split_at_line_boundaries() {
    let h = Harness::start(TelegramMode::Webhook).await;
    let body: String = (0..250)
        .map(|i| format!("check {i:04} ok\n{}\n", "·".repeat(30)))
        .collect();
    let msg = opsmate::chat::message::ChatMessage::text("Digest", body);
    opsmate::chat::telegram::send::post(&h.app.ctx.outbox, CHAT, &msg, None)
        .await
        .unwrap();
    let sent = h.wait("sendMessage", 3).await;
    for s in &sent {
        assert!(s.body["text"].as_str().unwrap().chars().count() <= 4096);
    }
    let joined: String = sent
        .iter()
        .map(|s| s.body["text"].as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(joined.contains("check 0000 ok") && joined.contains("check 0249 ok"));
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polling_answers_and_resumes_after_the_last_update() {
    let h = Harness::start(TelegramMode::Polling).await;
    let update = command_update(CHAT, ALICE, "/approvals");
    let id = update["update_id"].as_i64().unwrap();
    h.fake.push_update(update.clone());
    h.fake.push_update(update);
    let sent = h.wait("sendMessage", 1).await;
    assert!(
        sent[0].body["text"]
            .as_str()
            .unwrap()
            .contains("No proposal is waiting")
    );
    let resumed = eventually(Duration::from_secs(5), || async {
        h.fake
            .calls_to("getUpdates")
            .iter()
            .any(|c| c.body["offset"] == id + 1)
    })
    .await;
    assert!(resumed, "polling continues after the handled update");
    h.app.settle().await;
    assert_eq!(
        h.fake.delivered("sendMessage").len(),
        1,
        "the duplicate was handled once"
    );
    assert!(!h.fake.delivered("deleteWebhook").is_empty());
    h.app.finish().await;
}
