//! Access Guard's revocation end to end: a departed user's request approved in Slack,
//! every credential and permission removed in moto step by step, a failure part-way
//! and its resume, refusals, the two-approver rule, the last-moment check and dry run.

use crate::support::audit_rows;
use crate::support::guard::{GuardHarness, TG_ALICE};
use crate::support::slack::{all_text, button};
use opsmate::approvals::ProposalState;
use opsmate::domain::ActionKind;
use std::collections::HashMap;

/// A departed user `user` with every kind of access, and their request posted.
/// Returns the request's message ts.
async fn departed(h: &GuardHarness, user: &str) -> String {
    let slack_id = format!("U0{}", user.to_uppercase());
    h.person(
        user,
        &format!("{user}@corp.com"),
        &format!("{user}-gh"),
        &slack_id,
    )
    .await;
    h.give_access(user).await;
    h.slack.fake.set_deleted(&slack_id, true);
    h.scan().await;
    h.advance_days(7);
    h.scan().await;
    h.slack.wait_calls("chat.postMessage", 1).await;
    crate::support::delivered_copy(&h.slack.app, "guard:", "slack")
        .await
        .message_id
}

/// Delivered requests on Slack (each is on Telegram too).
async fn slack_copies(h: &GuardHarness) -> Vec<opsmate::outbox::TaggedMessage> {
    h.ctx()
        .outbox
        .tagged("guard:")
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.platform == "slack")
        .collect()
}

/// The newest request's state.
async fn latest(h: &GuardHarness, user: &str) -> opsmate::approvals::Proposal {
    h.ctx()
        .gate
        .latest_by_target(ActionKind::REVOKE_ACCESS)
        .await
        .unwrap()
        .remove(&format!("iam-user:{user}"))
        .expect("a request")
}

async fn click(h: &GuardHarness, who: &str, label: &str, ts: &str, reply: &str) {
    let posts = h.slack.fake.calls_to("chat.postMessage");
    let action = button(&posts.last().unwrap().body, label).to_owned();
    assert_eq!(h.slack.click_button(who, &action, ts, reply).await, 200);
}

/// How often each `guard.removed` item and `guard.step_done` step was audited.
fn audited(h: &GuardHarness) -> (HashMap<String, usize>, HashMap<String, usize>) {
    let mut items = HashMap::new();
    for r in audit_rows(&h.slack.app, "guard.removed") {
        *items
            .entry(r.details["item"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let mut steps = HashMap::new();
    for r in audit_rows(&h.slack.app, "guard.step_done") {
        *steps
            .entry(r.details["step"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    (items, steps)
}

async fn wait_state(h: &GuardHarness, user: &str, want: ProposalState) {
    let ok = crate::support::eventually(std::time::Duration::from_secs(20), || async {
        latest(h, user).await.state == want
    })
    .await;
    assert!(
        ok,
        "{user}'s request is {:?}, not {want:?}",
        latest(h, user).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_removes_every_credential_and_permission_and_keeps_the_user() {
    let h = GuardHarness::start(|_| {}).await;
    let ts = departed(&h, "alice").await;
    let before = h.access_of("alice").await;
    assert_eq!(before.access_keys, 2);
    assert!(before.login_profile && before.mfa_devices == 1 && before.ssh_keys == 1);

    click(&h, "UALICE", "✅ Approve revocation", &ts, "a").await;
    wait_state(&h, "alice", ProposalState::Succeeded).await;
    let after = h.access_of("alice").await;
    assert_eq!(after.access_keys, 0);
    assert!(!after.login_profile);
    assert!(after.groups.is_empty(), "{:?}", after.groups);
    assert!(
        after.managed_policies.is_empty(),
        "{:?}",
        after.managed_policies
    );
    assert_eq!(after.inline_policies, vec!["OpsMateDenyAll"]);
    assert_eq!(after.mfa_devices, 0);
    assert_eq!(
        after.virtual_mfa_devices, 0,
        "the virtual device is deleted"
    );
    assert_eq!(after.ssh_keys, 0);
    assert_eq!(after.signing_certificates, 0);
    assert_eq!(after.service_credentials, 0);
    assert!(after.exists, "the IAM user is kept for the trail");

    let updates = h.slack.wait_calls("chat.update", 1).await;
    let text = all_text(&updates.last().unwrap().body);
    assert!(text.contains("Approved and done"), "{text}");
    assert!(text.contains("<@UALICE>"), "{text}");
    assert!(text.contains("access_keys: removed access key"), "{text}");
    assert!(text.contains("group alice-developers"), "{text}");
    assert!(text.contains("deny_all"), "{text}");
    let (items, steps) = audited(&h);
    assert_eq!(steps.len(), 7, "{steps:?}");
    assert!(items.values().all(|n| *n == 1), "{items:?}");
    assert_eq!(audit_rows(&h.slack.app, "guard.revoked").len(), 1);

    // Revoked people are not asked about again.
    h.advance_days(1);
    h.scan().await;
    assert_eq!(latest(&h, "alice").await.state, ProposalState::Succeeded);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_after_step_three_resumes_with_what_is_left_and_repeats_nothing() {
    let h = GuardHarness::start(|_| {}).await;
    let ts = departed(&h, "bob").await;
    h.proxy.fail_action(
        "ListAttachedUserPolicies",
        403,
        "AccessDenied",
        "User: arn:aws:iam::123456789012:user/opsmate is not authorized to perform: iam:ListAttachedUserPolicies",
    );
    click(&h, "UALICE", "✅ Approve revocation", &ts, "a").await;
    wait_state(&h, "bob", ProposalState::Failed).await;
    let first = latest(&h, "bob").await.id;
    let halfway = h.access_of("bob").await;
    assert_eq!(halfway.access_keys, 0);
    assert!(!halfway.login_profile);
    assert!(halfway.groups.is_empty());
    assert_eq!(halfway.managed_policies.len(), 1, "step 4 did not run");
    assert_eq!(halfway.mfa_devices, 1);
    let updates = h.slack.wait_calls("chat.update", 1).await;
    let text = all_text(&updates.last().unwrap().body);
    assert!(text.contains("AccessDenied"), "{text}");
    assert!(
        text.contains("Left to do: mfa, other_credentials, deny_all"),
        "{text}"
    );

    // A request to finish is posted at once; approving it after the fix completes.
    let ok = crate::support::eventually(std::time::Duration::from_secs(5), || async {
        let p = latest(&h, "bob").await;
        p.id != first && p.state == ProposalState::Pending
    })
    .await;
    assert!(ok, "a resume request was made");
    let posts = h.slack.wait_calls("chat.postMessage", 2).await;
    let text = all_text(&posts[1].body);
    assert!(text.contains("finish revoking bob"), "{text}");
    assert!(text.contains("(done earlier, not repeated)"), "{text}");
    let resume = || async {
        slack_copies(&h)
            .await
            .into_iter()
            .find(|m| m.tag != format!("guard:{first}"))
    };
    let posted = crate::support::eventually(std::time::Duration::from_secs(5), || async {
        resume().await.is_some()
    })
    .await;
    assert!(posted, "the resume request was delivered");
    let resume_ts = resume().await.unwrap().message_id;
    h.proxy.clear_fault("ListAttachedUserPolicies");
    click(&h, "UBOB", "✅ Approve revocation", &resume_ts, "b").await;
    wait_state(&h, "bob", ProposalState::Succeeded).await;
    let after = h.access_of("bob").await;
    assert!(after.managed_policies.is_empty());
    assert_eq!(after.inline_policies, vec!["OpsMateDenyAll"]);
    assert_eq!(after.mfa_devices, 0);
    assert_eq!(
        after.ssh_keys + after.signing_certificates + after.service_credentials,
        0
    );

    let (items, steps) = audited(&h);
    assert_eq!(steps.len(), 7, "{steps:?}");
    assert!(steps.values().all(|n| *n == 1), "each step once: {steps:?}");
    assert!(
        items.values().all(|n| *n == 1),
        "each removal once: {items:?}"
    );
    assert_eq!(audit_rows(&h.slack.app, "guard.step_failed").len(), 1);
    let report = latest(&h, "bob").await.outcome.unwrap();
    let report: opsmate::features::guard::revoke::RevokeReport = report.report_as().unwrap();
    let results: Vec<String> = report
        .steps
        .iter()
        .map(|s| {
            serde_json::to_value(s.result)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        results,
        vec![
            "done_earlier",
            "done_earlier",
            "done_earlier",
            "done",
            "done",
            "done",
            "done"
        ]
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_cannot_approve_and_nothing_is_removed() {
    let h = GuardHarness::start(|_| {}).await;
    let ts = departed(&h, "carl").await;
    click(&h, "UMALLORY", "✅ Approve revocation", &ts, "m").await;
    let answer = h.slack.wait_calls("response_url:m", 1).await;
    assert!(all_text(&answer[0].body).contains("not allowed"));
    assert_eq!(latest(&h, "carl").await.state, ProposalState::Pending);
    assert_eq!(h.access_of("carl").await.access_keys, 2);
    assert_eq!(audit_rows(&h.slack.app, "approval.refused").len(), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_approvers_the_second_distinct_approval_runs_it() {
    let h = GuardHarness::start(|c| {
        c.approvals
            .kinds
            .get_mut(&opsmate::domain::ActionKind::REVOKE_ACCESS)
            .unwrap()
            .required_approvals = Some(2);
    })
    .await;
    let ts = departed(&h, "dora").await;
    click(&h, "UALICE", "✅ Approve revocation", &ts, "a1").await;
    let answer = h.slack.wait_calls("response_url:a1", 1).await;
    assert!(
        all_text(&answer[0].body).contains("1 of 2"),
        "{:#}",
        answer[0].body
    );
    click(&h, "UALICE", "✅ Approve revocation", &ts, "a2").await;
    let answer = h.slack.wait_calls("response_url:a2", 1).await;
    assert!(all_text(&answer[0].body).contains("already approved"));
    assert_eq!(
        h.access_of("dora").await.access_keys,
        2,
        "one approver is not enough"
    );
    click(&h, "UBOB", "✅ Approve revocation", &ts, "b").await;
    wait_state(&h, "dora", ProposalState::Succeeded).await;
    assert_eq!(h.access_of("dora").await.access_keys, 0);
    let p = latest(&h, "dora").await;
    assert_eq!(p.decided_by.as_deref(), Some("slack:UALICE,slack:UBOB"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_back_in_slack_before_the_click_is_skipped() {
    let h = GuardHarness::start(|_| {}).await;
    let ts = departed(&h, "eve").await;
    h.slack.fake.set_deleted("U0EVE", false);
    click(&h, "UALICE", "✅ Approve revocation", &ts, "a").await;
    wait_state(&h, "eve", ProposalState::Skipped).await;
    assert_eq!(h.access_of("eve").await.access_keys, 2);
    let updates = h.slack.wait_calls("chat.update", 1).await;
    let text = all_text(&updates.last().unwrap().body);
    assert!(text.contains("eve@corp.com is back"), "{text}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_lists_what_would_go_and_removes_nothing() {
    let h = GuardHarness::start(|c| c.dry_run = true).await;
    let ts = departed(&h, "fay").await;
    click(&h, "UALICE", "✅ Approve revocation", &ts, "a").await;
    wait_state(&h, "fay", ProposalState::Succeeded).await;
    let after = h.access_of("fay").await;
    assert_eq!(after.access_keys, 2);
    assert!(after.login_profile);
    assert!(!after.inline_policies.contains(&"OpsMateDenyAll".to_owned()));
    let updates = h.slack.wait_calls("chat.update", 1).await;
    let text = all_text(&updates.last().unwrap().body);
    assert!(text.contains("Dry run"), "{text}");
    assert!(text.contains("would remove access key"), "{text}");
    assert!(audit_rows(&h.slack.app, "guard.removed").is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_user_removes_the_user_after_every_step() {
    let h = GuardHarness::start(|c| {
        c.edit_section(
            |section: &mut opsmate::features::guard::config::GuardConfig| {
                section.delete_user = true
            },
        )
    })
    .await;
    let ts = departed(&h, "gus").await;
    click(&h, "UALICE", "✅ Approve revocation", &ts, "a").await;
    wait_state(&h, "gus", ProposalState::Succeeded).await;
    assert!(!h.access_of("gus").await.exists);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_reaches_telegram_and_approving_there_revokes() {
    let h = GuardHarness::start(|_| {}).await;
    departed(&h, "hal").await;
    let message_id: i64 = crate::support::delivered_copy(&h.slack.app, "guard:", "telegram")
        .await
        .message_id
        .parse()
        .unwrap();
    let sent = h.telegram.delivered("sendMessage");
    let message = sent.last().unwrap();
    let text = message.body["text"].as_str().unwrap();
    assert!(
        text.contains("hal has left") && text.contains("hal@corp.com"),
        "{text}"
    );
    let approve = message.body["reply_markup"]["inline_keyboard"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap())
        .find(|b| b["text"] == "✅ Approve revocation")
        .expect("an approve button")["callback_data"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        h.slack.press_telegram(TG_ALICE, &approve, message_id).await,
        200
    );
    wait_state(&h, "hal", ProposalState::Succeeded).await;
    assert_eq!(h.access_of("hal").await.access_keys, 0);
    assert_eq!(
        latest(&h, "hal").await.decided_by.as_deref(),
        Some("telegram:42")
    );
    // Both copies are rewritten with the outcome.
    let ok = crate::support::eventually(std::time::Duration::from_secs(10), || async {
        h.clock.advance(chrono::Duration::milliseconds(100));
        !h.telegram.delivered("editMessageText").is_empty()
    })
    .await;
    assert!(ok, "the Telegram copy was rewritten");
    let updates = h.slack.wait_calls("chat.update", 1).await;
    assert!(all_text(&updates.last().unwrap().body).contains("Approved and done"));
    h.stop().await;
}
