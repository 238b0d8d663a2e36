//! Signed requests to the Slack endpoints of a running app, against a fake Web API.

use super::actions::CountingAction;
use super::fake_slack::FakeSlack;
use super::slack_requests::{self, Click};
use super::{TestApp, config_in};
use opsmate::app::AppOptions;
use opsmate::approvals::{ActionRegistry, NewProposal, Proposal};
use opsmate::chat::slack::verify::SlackVerifier;
use opsmate::config::{Config, KindPolicy, Secret, Secrets};
use opsmate::domain::{ActionKind, SlackGroupId, SlackUserId};
use serde_json::{Value, json};
use std::sync::Arc;

pub const SIGNING_SECRET: &str = "test-signing-secret-0123456789abcdef";
pub const BOT_TOKEN: &str = "xoxb-test-bot-token";
pub const CHANNEL: &str = "C0OPS";

pub struct SlackHarness {
    pub dir: tempfile::TempDir,
    pub fake: FakeSlack,
    pub app: TestApp,
    pub action: Arc<CountingAction>,
    pub config: Config,
    http: reqwest::Client,
    signer: SlackVerifier,
    /// The app's clock when it is a manual one: requests are signed at its "now", as
    /// Slack's would be.
    pub clock: Option<opsmate::clock::ManualClock>,
}

pub fn secrets() -> Secrets {
    Secrets {
        slack_bot_token: Some(Secret::new(BOT_TOKEN)),
        slack_signing_secret: Some(Secret::new(SIGNING_SECRET)),
        slack_client_id: Some(Secret::new(super::fake_slack::CLIENT_ID)),
        slack_client_secret: Some(Secret::new(super::fake_slack::CLIENT_SECRET)),
        ..Secrets::default()
    }
}

/// Approvers: UALICE and UBOB by id, members of SOPS by group.
pub fn policy() -> KindPolicy {
    KindPolicy {
        slack_users: vec![
            SlackUserId::parse("UALICE").unwrap(),
            SlackUserId::parse("UBOB").unwrap(),
        ],
        slack_groups: vec![SlackGroupId::parse("SOPS").unwrap()],
        ..KindPolicy::default()
    }
}

impl SlackHarness {
    pub async fn start() -> Self {
        Self::start_tweaked(|_| {}).await
    }

    /// [`Self::start`] with only `users` allowed into the web console
    /// (`web.allowed_users`).
    pub async fn with_web_users(users: &[&str]) -> Self {
        Self::start_tweaked(|config| {
            config.web.allowed_users = users
                .iter()
                .map(|u| SlackUserId::parse(u).unwrap())
                .collect();
        })
        .await
    }

    /// The fake Slack and the app with deletions approvable by [`policy`], after
    /// `tweak` adjusts the config.
    async fn start_tweaked(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeSlack::start(vec![]).await;
        let mut config = config_in(dir.path());
        config.slack.api_url = fake.api_url();
        config
            .approvals
            .set_policy(ActionKind::DELETE_VOLUME, policy());
        tweak(&mut config);
        Self::start_with(dir, fake, config).await
    }

    pub async fn start_with(dir: tempfile::TempDir, fake: FakeSlack, config: Config) -> Self {
        let action = CountingAction::new();
        let mut registry = ActionRegistry::default();
        registry.register(ActionKind::DELETE_VOLUME, action.clone());
        registry.register(ActionKind::REVOKE_ACCESS, action.clone());
        let options = AppOptions {
            actions: registry,
            ..AppOptions::default()
        };
        Self::start_custom(dir, fake, config, secrets(), options, action).await
    }

    /// The app with the given secrets and options (e.g. real action handlers);
    /// `action` is only counted if `options` registered it.
    pub async fn start_custom(
        dir: tempfile::TempDir,
        fake: FakeSlack,
        config: Config,
        secrets: Secrets,
        options: AppOptions,
        action: Arc<CountingAction>,
    ) -> Self {
        let app = TestApp::start(config.clone(), secrets, options).await;
        Self {
            dir,
            fake,
            app,
            action,
            config,
            http: reqwest::Client::new(),
            signer: SlackVerifier::new(Secret::new(SIGNING_SECRET)),
            clock: None,
        }
    }

    /// The app with real feature handlers, AWS through `config.aws` with static
    /// credentials (moto), on a manual clock that also dates the signed requests.
    pub async fn start_on_clock(
        dir: tempfile::TempDir,
        fake: FakeSlack,
        config: Config,
        secrets: Secrets,
        clock: &opsmate::clock::ManualClock,
    ) -> Self {
        let aws =
            opsmate::cloud::Aws::with_static_credentials(&config.aws, "testing", "testing").await;
        let options = AppOptions {
            clock: Arc::new(clock.clone()),
            aws: Some(aws),
            ..AppOptions::default()
        };
        let mut h =
            Self::start_custom(dir, fake, config, secrets, options, CountingAction::new()).await;
        h.clock = Some(clock.clone());
        h
    }

    /// Clicks a button (by its action id, `approve:<id>`) on the message `ts`; returns
    /// the HTTP status of the interactivity request.
    pub async fn click_button(&self, user: &str, action_id: &str, ts: &str, reply: &str) -> u16 {
        let value = action_id.split(':').nth(1).unwrap_or_default();
        let payload = self.click_payload(user, action_id, value, ts, reply);
        let body = slack_requests::interactivity_body(&payload);
        self.post_signed(
            "/slack/interactivity",
            "application/x-www-form-urlencoded",
            &body,
            0,
        )
        .await
        .status()
        .as_u16()
    }

    /// Stops the app and starts a new one on the same database and fake.
    pub async fn restart(self) -> Self {
        let Self {
            dir,
            fake,
            app,
            config,
            ..
        } = self;
        app.stop().await;
        Self::start_with(dir, fake, config).await
    }

    /// POSTs a body signed the way Slack signs it, `age_secs` seconds ago.
    pub async fn post_signed(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
        age_secs: i64,
    ) -> reqwest::Response {
        self.post_signed_with(path, content_type, body, age_secs, &[])
            .await
    }

    /// [`Self::post_signed`] with extra headers (e.g. `X-Slack-Retry-Num`).
    pub async fn post_signed_with(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
        age_secs: i64,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let now = match &self.clock {
            Some(clock) => opsmate::clock::Clock::now(clock),
            None => chrono::Utc::now(),
        };
        let ts = (now.timestamp() - age_secs).to_string();
        let signature = self.signer.sign(&ts, body.as_bytes());
        let mut req = self
            .http
            .post(self.app.url(path))
            .header("content-type", content_type)
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", signature)
            .body(body.to_owned());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap()
    }

    /// `/opsmate <text>` typed by `user`; the answer goes to `response_url:<reply>`.
    pub async fn command(&self, user: &str, text: &str, reply: &str) -> reqwest::Response {
        let body =
            slack_requests::command_body(user, CHANNEL, text, &self.fake.response_url(reply));
        self.post_signed(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            &body,
            0,
        )
        .await
    }

    /// A `block_actions` click on the message `ts` in the ops channel.
    pub fn click_payload(
        &self,
        user: &str,
        action_id: &str,
        value: &str,
        ts: &str,
        reply: &str,
    ) -> Value {
        slack_requests::click_payload(&Click {
            user,
            channel: CHANNEL,
            action_id,
            value,
            ts,
            ephemeral: false,
            response_url: &self.fake.response_url(reply),
        })
    }

    pub async fn click(
        &self,
        user: &str,
        verb: &str,
        p: &Proposal,
        reply: &str,
    ) -> reqwest::Response {
        let ts = p
            .posted
            .as_ref()
            .map(|at| at.message_id.clone())
            .unwrap_or_else(|| "1700000000.000001".into());
        let payload =
            self.click_payload(user, &format!("{verb}:{}", p.id), p.id.as_str(), &ts, reply);
        let body = slack_requests::interactivity_body(&payload);
        self.post_signed(
            "/slack/interactivity",
            "application/x-www-form-urlencoded",
            &body,
            0,
        )
        .await
    }

    /// Proposes deleting a volume and posts it to the channel; waits until Slack has
    /// answered with the message ts.
    pub async fn posted_proposal(&self, target: &str) -> Proposal {
        let gate = &self.app.ctx.gate;
        let p = gate
            .propose(NewProposal {
                kind: ActionKind::DELETE_VOLUME,
                target: target.into(),
                params: json!({"region": "us-east-1"}),
                reason: "Unattached for 9 days; $8.00/month".into(),
                proposed_by: "scheduler".into(),
            })
            .await
            .unwrap()
            .proposal()
            .clone();
        opsmate::chat::handle::post_proposal_to_slack(&self.app.ctx, &p, CHANNEL)
            .await
            .unwrap();
        let posted = super::eventually(std::time::Duration::from_secs(5), || async {
            gate.get(&p.id).await.unwrap().unwrap().posted.is_some()
        })
        .await;
        assert!(
            posted,
            "the proposal was never posted; Slack saw: {:#?}",
            self.fake.calls()
        );
        gate.get(&p.id).await.unwrap().unwrap()
    }

    /// Posts an interactivity payload, signed.
    pub async fn interact(&self, payload: &Value) -> reqwest::Response {
        let body = slack_requests::interactivity_body(payload);
        self.post_signed(
            "/slack/interactivity",
            "application/x-www-form-urlencoded",
            &body,
            0,
        )
        .await
    }

    /// Presses Reject on `p` as `user`, waits for the reason dialog OpsMate opens,
    /// and submits it with `reason`. Returns the dialog as opened.
    pub async fn reject_with_reason(
        &self,
        user: &str,
        p: &Proposal,
        reply: &str,
        reason: &str,
    ) -> Value {
        let before = self.fake.calls_to("views.open").len();
        assert_eq!(self.click(user, "reject", p, reply).await.status(), 200);
        let opened = self.wait_calls("views.open", before + 1).await;
        let view = opened[before].body["view"].clone();
        self.submit_reason(user, &view, reason).await;
        view
    }

    /// Submits the reason dialog `view` as `user` with `reason` typed in.
    pub async fn submit_reason(&self, user: &str, view: &Value, reason: &str) {
        use opsmate::chat::slack::reason::{ACTION_ID, BLOCK_ID};
        let payload = super::slack_view_requests::view_submission_payload(
            user, view, BLOCK_ID, ACTION_ID, reason,
        );
        let answer = self.interact(&payload).await;
        assert_eq!(answer.status(), 200, "a submission closes the dialog");
        assert_eq!(
            answer.text().await.unwrap(),
            "",
            "an empty answer closes it"
        );
    }

    /// Waits until the fake has received `n` calls of `method`, and returns them. The
    /// bound is generous: posts pass the client's one-a-second throttle, and a loaded
    /// CI machine is slow; a passing test returns as soon as the calls are there.
    pub async fn wait_calls(&self, method: &str, n: usize) -> Vec<super::fake_slack::Call> {
        let ok = super::eventually(std::time::Duration::from_secs(20), || async {
            self.fake.calls_to(method).len() >= n
        })
        .await;
        let calls = self.fake.calls_to(method);
        assert!(
            ok,
            "expected {n} calls to {method}, got {}: {:#?}",
            calls.len(),
            self.fake.calls()
        );
        calls
    }
}

/// The action id of the button labelled `label` in a Slack message payload.
pub fn button<'a>(body: &'a Value, label: &str) -> &'a str {
    body["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().unwrap())
        .find(|e| e["text"]["text"] == label)
        .unwrap_or_else(|| panic!("no {label} button in {body:#}"))["action_id"]
        .as_str()
        .unwrap()
}

/// All the text of a Slack message payload (fallback text and every block), for
/// assertions that do not depend on the layout.
pub fn all_text(body: &Value) -> String {
    let mut out = String::new();
    fn walk(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => {
                out.push_str(s);
                out.push('\n');
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(&body["text"], &mut out);
    walk(&body["blocks"], &mut out);
    out
}
