//! Slack's requests to OpsMate as Slack sends them: a slash command and a button
//! click (unsigned; the caller signs the body).
//!
//! Usable from tests (`support::slack_requests`) and from benchmarks via `#[path]`, so
//! it only uses the crate's normal dependencies.

use serde_json::{Value, json};

/// The form body of `/opsmate <text>` typed by `user` in `channel`; the answer goes to
/// `response_url`.
pub fn command_body(user: &str, channel: &str, text: &str, response_url: &str) -> String {
    serde_urlencoded::to_string([
        ("token", "deprecated"),
        ("team_id", "T0TEAM"),
        ("team_domain", "acme"),
        ("channel_id", channel),
        ("channel_name", "ops"),
        ("user_id", user),
        ("user_name", "someone"),
        ("command", "/opsmate"),
        ("text", text),
        ("response_url", response_url),
        ("trigger_id", "13345224609.738474920.8088930838d88f008e0"),
        ("api_app_id", "A0OPSMATE"),
    ])
    .expect("a slash command encodes as a form")
}

/// One button click.
pub struct Click<'a> {
    pub user: &'a str,
    pub channel: &'a str,
    /// `approve:<id>` or `reject:<id>`.
    pub action_id: &'a str,
    pub value: &'a str,
    /// The ts of the message the button is on.
    pub ts: &'a str,
    /// The message is one only the clicker sees (an answer through a `response_url`,
    /// such as `/opsmate approvals`), which Slack cannot address by channel and ts.
    pub ephemeral: bool,
    pub response_url: &'a str,
}

/// The `block_actions` payload of a click.
pub fn click_payload(click: &Click) -> Value {
    json!({
        "type": "block_actions",
        "team": {"id": "T0TEAM", "domain": "acme"},
        "user": {"id": click.user, "username": "someone", "name": "someone", "team_id": "T0TEAM"},
        "api_app_id": "A0OPSMATE",
        "token": "deprecated",
        "container": {
            "type": "message",
            "message_ts": click.ts,
            "channel_id": click.channel,
            "is_ephemeral": click.ephemeral
        },
        "trigger_id": "12466734323.1395872398.e9a8b4f0c1c6b0d1",
        "channel": {"id": click.channel, "name": "ops"},
        "message": {"type": "message", "ts": click.ts, "text": "proposal", "bot_id": "B0OPSMATE"},
        "response_url": click.response_url,
        "actions": [{
            "type": "button",
            "action_id": click.action_id,
            "block_id": "b1",
            "text": {"type": "plain_text", "text": "Delete volume", "emoji": true},
            "value": click.value,
            "style": "danger",
            "action_ts": "1700000100.000100"
        }]
    })
}

/// The form body Slack posts an interactivity payload in.
pub fn interactivity_body(payload: &Value) -> String {
    serde_urlencoded::to_string([("payload", payload.to_string())])
        .expect("a payload encodes as a form")
}
