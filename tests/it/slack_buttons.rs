//! Approve and reject buttons through the real router and the gate, with the original
//! message updated at the fake Slack Web API.

use crate::support::slack::{CHANNEL, SlackHarness, all_text};
use opsmate::approvals::ProposalState;

async fn state(h: &SlackHarness, p: &opsmate::approvals::Proposal) -> ProposalState {
    h.app.ctx.gate.get(&p.id).await.unwrap().unwrap().state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_runs_the_action_and_updates_the_message_with_the_decider() {
    let h = SlackHarness::start().await;
    let p = h.posted_proposal("us-east-1/vol-0a1").await;
    let posted = h.wait_calls("chat.postMessage", 1).await;
    let ts = p.posted.as_ref().unwrap().message_id.clone();
    assert!(all_text(&posted[0].body).contains("us-east-1/vol-0a1"));

    let r = h.click("UALICE", "approve", &p, "c1").await;
    assert_eq!(r.status(), 200);
    let updates = h.wait_calls("chat.update", 1).await;
    let update = &updates[0].body;
    assert_eq!(update["channel"], CHANNEL);
    assert_eq!(update["ts"], ts.as_str());
    let text = all_text(update);
    assert!(text.contains("Approved and done"), "{text}");
    assert!(text.contains("<@UALICE>"), "the decider is named: {text}");
    assert!(
        !update["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["type"] == "actions"),
        "buttons removed"
    );
    assert_eq!(h.action.executions(), 1);
    assert_eq!(state(&h, &p).await, ProposalState::Succeeded);
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_asks_why_keeps_the_resource_and_says_who_rejected_and_why() {
    let h = SlackHarness::start().await;
    let p = h.posted_proposal("us-east-1/vol-0a2").await;
    assert_eq!(h.click("UBOB", "reject", &p, "c1").await.status(), 200);
    let opened = h.wait_calls("views.open", 1).await;
    // Nothing is decided until the dialog is submitted.
    assert_eq!(state(&h, &p).await, ProposalState::Pending);
    assert_eq!(
        opened[0].body["trigger_id"],
        "12466734323.1395872398.e9a8b4f0c1c6b0d1"
    );
    let view = opened[0].body["view"].clone();
    assert_eq!(view["type"], "modal");
    assert_eq!(view["title"]["text"], "Keep");
    h.submit_reason("UBOB", &view, "  still used by the nightly export  ")
        .await;

    let updates = h.wait_calls("chat.update", 1).await;
    let text = all_text(&updates[0].body);
    assert!(text.contains("Rejected"), "{text}");
    assert!(text.contains("<@UBOB>"), "{text}");
    assert!(
        text.contains("Reason*\nstill used by the nightly export"),
        "{text}"
    );
    assert_eq!(
        updates[0].body["ts"],
        p.posted.as_ref().unwrap().message_id.as_str()
    );
    assert_eq!(h.action.executions(), 0);
    assert_eq!(state(&h, &p).await, ProposalState::Rejected);
    let stored = h.app.ctx.gate.get(&p.id).await.unwrap().unwrap();
    assert_eq!(
        stored.decision_note.as_deref(),
        Some("still used by the nightly export")
    );
    let rows = crate::support::audit_rows(&h.app, "approval.rejected");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].actor, "slack:UBOB");
    assert_eq!(rows[0].details["note"], "still used by the nightly export");
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_who_may_not_decide_gets_no_dialog_and_nothing_changes() {
    let h = SlackHarness::start().await;
    let p = h.posted_proposal("us-east-1/vol-0a9").await;
    assert_eq!(h.click("UMALLORY", "reject", &p, "m").await.status(), 200);
    let answer = h.wait_calls("response_url:m", 1).await;
    let text = all_text(&answer[0].body);
    assert!(text.contains("not"), "a refusal: {text}");
    h.app.settle().await;
    assert!(h.fake.calls_to("views.open").is_empty());
    assert_eq!(state(&h, &p).await, ProposalState::Pending);
    assert_eq!(
        crate::support::audit_rows(&h.app, "approval.refused").len(),
        1
    );
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialog_submitted_after_someone_else_decided_changes_nothing() {
    let h = SlackHarness::start().await;
    let p = h.posted_proposal("us-east-1/vol-0aa").await;
    h.click("UBOB", "reject", &p, "bob").await;
    let opened = h.wait_calls("views.open", 1).await;
    h.click("UALICE", "approve", &p, "alice").await;
    h.wait_calls("chat.update", 1).await;
    h.submit_reason("UBOB", &opened[0].body["view"], "too late")
        .await;
    let answer = h.wait_calls("response_url:bob", 1).await;
    assert!(all_text(&answer[0].body).contains("already approved by <@UALICE>"));
    h.app.settle().await;
    assert_eq!(h.action.executions(), 1);
    let stored = h.app.ctx.gate.get(&p.id).await.unwrap().unwrap();
    assert_eq!(stored.state, ProposalState::Succeeded);
    assert_eq!(stored.decision_note, None);
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_click_runs_once_and_tells_the_second_clicker_who_decided() {
    let h = SlackHarness::start().await;
    let p = h.posted_proposal("us-east-1/vol-0a3").await;
    let (a, b) = tokio::join!(
        h.click("UALICE", "approve", &p, "first"),
        h.click("UALICE", "approve", &p, "second")
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    h.wait_calls("chat.update", 1).await;
    let late = h.click("UBOB", "approve", &p, "late").await;
    assert_eq!(late.status(), 200);
    let answer = h.wait_calls("response_url:late", 1).await;
    let text = all_text(&answer[0].body);
    assert!(text.contains("already approved by <@UALICE>"), "{text}");
    assert_eq!(
        answer[0].body["replace_original"], false,
        "private answer, message untouched"
    );
    h.app.settle().await;
    assert_eq!(h.action.executions(), 1);
    assert_eq!(h.fake.calls_to("chat.update").len(), 1);
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthorized_click_is_refused_privately_and_audited() {
    let h = SlackHarness::start().await;
    h.fake.set_group("SOPS", &["UCAROL"]);
    let p = h.posted_proposal("us-east-1/vol-0a4").await;
    h.click("UMALLORY", "approve", &p, "mallory").await;
    let answer = h.wait_calls("response_url:mallory", 1).await;
    let text = all_text(&answer[0].body);
    assert!(
        text.contains("You are not allowed to approve “Delete EBS volume” proposals"),
        "{text}"
    );
    assert_eq!(state(&h, &p).await, ProposalState::Pending);
    assert_eq!(h.action.executions(), 0);
    assert!(h.fake.calls_to("chat.update").is_empty());
    let refused = h
        .app
        .ctx
        .store
        .with_conn(|c| opsmate::audit::tail(c, 100))
        .unwrap()
        .into_iter()
        .any(|r| {
            r.event == "approval.refused"
                && r.actor == "slack:UMALLORY"
                && r.subject == p.id.as_str()
        });
    assert!(refused, "the refused click is audited");
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_of_an_approver_group_may_approve() {
    let h = SlackHarness::start().await;
    h.fake.set_group("SOPS", &["UCAROL"]);
    let p = h.posted_proposal("us-east-1/vol-0a5").await;
    h.click("UCAROL", "approve", &p, "carol").await;
    let updates = h.wait_calls("chat.update", 1).await;
    assert!(all_text(&updates[0].body).contains("<@UCAROL>"));
    assert_eq!(h.action.executions(), 1);
    let lookups = h.fake.calls_to("usergroups.users.list");
    assert_eq!(lookups[0].body["usergroup"], "SOPS");
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_button_value_is_refused() {
    let h = SlackHarness::start().await;
    let p = h.posted_proposal("us-east-1/vol-0a6").await;
    let payload = h.click_payload(
        "UALICE",
        &format!("approve:{}", p.id),
        "zzzzzzzzzz",
        "1.2",
        "x",
    );
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    let r = h
        .post_signed(
            "/slack/interactivity",
            "application/x-www-form-urlencoded",
            &body,
            0,
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(state(&h, &p).await, ProposalState::Pending);
    h.app.finish().await;
}
