//! Slack's App Home tab: drawn for the person who opens it, with their pending
//! approvals and the same buttons as in the channel; clicks made on it decide
//! through the gate and redraw it.

use crate::support::slack::{SlackHarness, all_text};
use crate::support::slack_view_requests::{app_home_opened_body, home_click_payload};
use opsmate::approvals::ProposalState;
use serde_json::Value;

async fn open_home(h: &SlackHarness, user: &str, event_id: &str) {
    let r = h
        .post_signed(
            "/slack/events",
            "application/json",
            &app_home_opened_body(user, event_id),
            0,
        )
        .await;
    assert_eq!(r.status(), 200);
}

/// The last Home tab published for `user`.
async fn home_of(h: &SlackHarness, user: &str, nth: usize) -> Value {
    let ok = crate::support::eventually(std::time::Duration::from_secs(20), || async {
        h.fake
            .calls_to("views.publish")
            .iter()
            .filter(|c| c.body["user_id"] == user)
            .count()
            >= nth
    })
    .await;
    assert!(ok, "no Home tab for {user}: {:#?}", h.fake.calls());
    let calls: Vec<_> = h
        .fake
        .calls_to("views.publish")
        .into_iter()
        .filter(|c| c.body["user_id"] == user)
        .collect();
    assert_eq!(
        calls[nth - 1].authorization.as_deref(),
        Some("Bearer xoxb-test-bot-token")
    );
    calls[nth - 1].body["view"].clone()
}

fn action_ids(view: &Value) -> Vec<String> {
    view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().unwrap())
        .map(|e| e["action_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_home_tab_shows_an_approver_their_pending_approvals_with_buttons() {
    let h = SlackHarness::start().await;
    let p = h.posted_proposal("us-east-1/vol-0h1").await;

    open_home(&h, "UALICE", "Ev0HOME1").await;
    let view = home_of(&h, "UALICE", 1).await;
    assert_eq!(view["type"], "home");
    let text = all_text(&view);
    assert!(
        text.contains("1 proposal(s) wait for your decision"),
        "{text}"
    );
    assert!(text.contains("us-east-1/vol-0h1"), "{text}");
    let ids = action_ids(&view);
    assert!(ids.contains(&format!("approve:{}", p.id)), "{ids:?}");
    assert!(ids.contains(&format!("reject:{}", p.id)), "{ids:?}");
    // Slack's own types accept it.
    let _: slack_morphism::prelude::SlackView = serde_json::from_value(view).unwrap();

    // Someone who may not decide sees it waiting for others, without buttons.
    open_home(&h, "UMALLORY", "Ev0HOME2").await;
    let view = home_of(&h, "UMALLORY", 1).await;
    let text = all_text(&view);
    assert!(
        text.contains("Nothing is waiting for your decision"),
        "{text}"
    );
    assert!(text.contains("Waiting for others"), "{text}");
    assert!(text.contains("us-east-1/vol-0h1"), "{text}");
    assert!(action_ids(&view).is_empty());

    // A redelivered event draws nothing twice.
    open_home(&h, "UALICE", "Ev0HOME1").await;
    h.app.settle().await;
    let alice = h
        .fake
        .calls_to("views.publish")
        .into_iter()
        .filter(|c| c.body["user_id"] == "UALICE")
        .count();
    assert_eq!(alice, 1);
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_on_the_home_tab_runs_the_action_and_redraws_the_tab() {
    let h = SlackHarness::start().await;
    let p = h.posted_proposal("us-east-1/vol-0h2").await;
    let click = home_click_payload("UALICE", &format!("approve:{}", p.id), p.id.as_str());
    assert_eq!(h.interact(&click).await.status(), 200);

    let view = home_of(&h, "UALICE", 1).await;
    let text = all_text(&view);
    assert!(text.contains("Approved: it runs now"), "{text}");
    assert!(!action_ids(&view).contains(&format!("approve:{}", p.id)));
    h.app.settle().await;
    assert_eq!(h.action.executions(), 1);
    let stored = h.app.ctx.gate.get(&p.id).await.unwrap().unwrap();
    assert_eq!(stored.state, ProposalState::Succeeded);
    assert_eq!(stored.decided_by.as_deref(), Some("slack:UALICE"));
    // The channel's message says so too.
    let updates = h.wait_calls("chat.update", 1).await;
    assert!(all_text(&updates[0].body).contains("<@UALICE>"));
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejecting_on_the_home_tab_asks_why_and_records_it() {
    let h = SlackHarness::start().await;
    let p = h.posted_proposal("us-east-1/vol-0h3").await;
    let click = home_click_payload("UBOB", &format!("reject:{}", p.id), p.id.as_str());
    assert_eq!(h.interact(&click).await.status(), 200);
    let opened = h.wait_calls("views.open", 1).await;
    assert_eq!(opened[0].body["trigger_id"], "12466734323.1395872398.h0me");
    h.submit_reason("UBOB", &opened[0].body["view"], "kept for the audit")
        .await;

    let view = home_of(&h, "UBOB", 1).await;
    assert!(all_text(&view).contains("Rejected"), "{view:#}");
    let stored = h.app.ctx.gate.get(&p.id).await.unwrap().unwrap();
    assert_eq!(stored.state, ProposalState::Rejected);
    assert_eq!(stored.decision_note.as_deref(), Some("kept for the audit"));
    h.app.settle().await;
    assert_eq!(h.action.executions(), 0);
    h.app.finish().await;
}
