//! Slack's requests about views, as Slack sends them: the reason dialog submitted,
//! a click on the Home tab, and the Home tab opened (unsigned; the caller signs).

use serde_json::{Value, json};

/// The `view_submission` payload of `user` submitting `view` (as OpsMate opened it
/// with `views.open`) with `typed` in its input `block_id`/`action_id`.
pub fn view_submission_payload(
    user: &str,
    view: &Value,
    block_id: &str,
    action_id: &str,
    typed: &str,
) -> Value {
    let mut view = view.clone();
    view["id"] = json!("V0DIALOG1");
    view["team_id"] = json!("T0TEAM");
    view["hash"] = json!("1700000200.abcdef");
    view["state"] =
        json!({"values": {block_id: {action_id: {"type": "plain_text_input", "value": typed}}}});
    json!({
        "type": "view_submission",
        "team": {"id": "T0TEAM", "domain": "acme"},
        "user": {"id": user, "username": "someone", "name": "someone", "team_id": "T0TEAM"},
        "api_app_id": "A0OPSMATE",
        "token": "deprecated",
        "trigger_id": "12466734323.1395872398.f00d",
        "view": view
    })
}

/// A click on a button of `user`'s Home tab: a `block_actions` payload whose
/// container is the view, with no channel, message or `response_url`.
pub fn home_click_payload(user: &str, action_id: &str, value: &str) -> Value {
    json!({
        "type": "block_actions",
        "team": {"id": "T0TEAM", "domain": "acme"},
        "user": {"id": user, "username": "someone", "name": "someone", "team_id": "T0TEAM"},
        "api_app_id": "A0OPSMATE",
        "token": "deprecated",
        "container": {"type": "view", "view_id": "V0HOME01"},
        "trigger_id": "12466734323.1395872398.h0me",
        "view": {"type": "home", "id": "V0HOME01", "team_id": "T0TEAM", "hash": "1.h", "blocks": []},
        "actions": [{
            "type": "button",
            "action_id": action_id,
            "block_id": "b1",
            "text": {"type": "plain_text", "text": "button", "emoji": true},
            "value": value,
            "action_ts": "1700000100.000100"
        }]
    })
}

/// The Events API body of `user` opening the app's Home tab.
pub fn app_home_opened_body(user: &str, event_id: &str) -> String {
    json!({
        "token": "deprecated", "team_id": "T0TEAM", "api_app_id": "A0OPSMATE",
        "type": "event_callback", "event_id": event_id, "event_time": 1700000000,
        "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME01",
                  "tab": "home", "event_ts": "1700000000.000100"}
    })
    .to_string()
}
