//! Billing through Lemon Squeezy, driven through the real app: signed webhooks in,
//! the subscriptions table, usage records out to a fake Lemon Squeezy (retried), and
//! destructive actions turned to dry run while the subscription has lapsed.

use crate::support::actions::CountingAction;
use crate::support::billing::{
    BillingHarness, invoice_event, sign, subscription_event, subscription_event_with,
};
use crate::support::{audit_rows, eventually};
use opsmate::approvals::{NewProposal, ProposalState, Verdict};
use opsmate::audit::events;
use opsmate::domain::{ActionKind, Actor, SlackUserId};
use serde_json::json;
use std::time::Duration;

fn alice() -> Actor {
    Actor::Slack {
        user: SlackUserId::parse("UALICE").unwrap(),
        groups: vec![],
    }
}

/// Proposes deleting `target` and has UALICE approve it; returns its id.
async fn approve(h: &BillingHarness, target: &str) -> opsmate::domain::ApprovalId {
    let p = h
        .app
        .ctx
        .gate
        .propose(NewProposal {
            kind: ActionKind::DELETE_VOLUME,
            target: target.into(),
            params: json!({}),
            reason: "unattached for 30 days".into(),
            proposed_by: "scheduler".into(),
        })
        .await
        .unwrap()
        .proposal()
        .clone();
    h.app
        .ctx
        .gate
        .decide(&p.id, &alice(), Verdict::Approve)
        .await
        .unwrap();
    p.id
}

#[tokio::test]
async fn a_signed_webhook_is_taken_and_a_forged_unsigned_or_malformed_one_is_refused() {
    let h = BillingHarness::start(CountingAction::new()).await;
    let body = subscription_event(
        "subscription_created",
        "1",
        "active",
        "2026-11-01T09:00:00.000000Z",
    );

    let (status, _) = h.post(&body, Some(&"0".repeat(64))).await;
    assert_eq!(status, 401, "a forged signature");
    let (status, _) = h.post(&body, None).await;
    assert_eq!(status, 401, "a missing X-Signature");
    let (status, _) = h.post(&body, Some("not hex")).await;
    assert_eq!(status, 401, "a malformed signature");
    let tampered = subscription_event(
        "subscription_created",
        "1",
        "expired",
        "2026-11-01T09:00:00.000000Z",
    );
    let (status, _) = h.post(&tampered, Some(&sign(&body))).await;
    assert_eq!(status, 401, "a body changed after signing");
    assert!(h.row("1").is_none(), "nothing refused reached the table");

    let no_event = br#"{"data":{"type":"subscriptions","id":"1","attributes":{}}}"#;
    let (status, _) = h.post(no_event, Some(&sign(no_event))).await;
    assert_eq!(status, 400, "a body without meta.event_name");

    let order = json!({"meta": {"event_name": "order_created"}, "data": {"type": "orders", "id": "5", "attributes": {}}}).to_string();
    let (status, answer) = h
        .post(order.as_bytes(), Some(&sign(order.as_bytes())))
        .await;
    assert_eq!(status, 200);
    assert!(answer["ignored"].is_string(), "{answer}");

    let (status, _) = h.deliver(&body).await;
    assert_eq!(status, 202);
    assert_eq!(
        h.row("1").map(|r| (r.0, r.1, r.2)),
        Some(("7001".into(), "active".into(), "Team".into()))
    );
    assert!(!audit_rows(&h.app, events::BILLING_REQUEST_REJECTED).is_empty());
    h.app.finish().await;
}

#[tokio::test]
async fn a_redelivered_event_is_handled_once() {
    let h = BillingHarness::start(CountingAction::new()).await;
    let body = subscription_event(
        "subscription_created",
        "2",
        "active",
        "2026-11-01T09:00:00.000000Z",
    );
    let (first, _) = h.deliver(&body).await;
    let (second, answer) = h.deliver(&body).await;
    assert_eq!((first, second), (202, 200));
    assert_eq!(answer["duplicate"], true);
    let changes = audit_rows(&h.app, events::BILLING_SUBSCRIPTION_CHANGED);
    assert_eq!(changes.len(), 1, "handled once, audited once");
    h.app.finish().await;
}

#[tokio::test]
async fn each_subscription_event_moves_the_table() {
    let h = BillingHarness::start(CountingAction::new()).await;
    let status = |h: &BillingHarness| h.row("3").map(|r| r.1).unwrap_or_default();

    h.deliver(&subscription_event(
        "subscription_created",
        "3",
        "on_trial",
        "2026-11-01T09:00:00Z",
    ))
    .await;
    assert_eq!(status(&h), "on_trial");
    let row = h.row("3").unwrap();
    assert_eq!(row.2, "Team");
    assert!(row.3.is_some(), "renews_at is kept");

    h.deliver(&subscription_event(
        "subscription_updated",
        "3",
        "active",
        "2026-11-02T09:00:00Z",
    ))
    .await;
    assert_eq!(status(&h), "active");

    h.deliver(&invoice_event(
        "subscription_payment_failed",
        "801",
        "3",
        "pending",
    ))
    .await;
    assert_eq!(status(&h), "past_due");

    h.deliver(&invoice_event(
        "subscription_payment_success",
        "802",
        "3",
        "paid",
    ))
    .await;
    assert_eq!(status(&h), "active");

    h.deliver(&subscription_event_with(
        "subscription_cancelled",
        "3",
        "cancelled",
        "2026-11-05T09:00:00Z",
        json!("2026-12-01T09:00:00.000000Z"),
    ))
    .await;
    assert_eq!(status(&h), "cancelled");
    assert!(h.row("3").unwrap().4.is_some(), "ends_at is kept");

    h.deliver(&subscription_event(
        "subscription_resumed",
        "3",
        "active",
        "2026-11-06T09:00:00Z",
    ))
    .await;
    assert_eq!(status(&h), "active");
    assert_eq!(h.row("3").unwrap().4, None, "resumed: no end any more");

    h.deliver(&subscription_event_with(
        "subscription_expired",
        "3",
        "expired",
        "2026-11-07T09:00:00Z",
        json!("2026-11-07T09:00:00.000000Z"),
    ))
    .await;
    assert_eq!(status(&h), "expired");

    let changes = audit_rows(&h.app, events::BILLING_SUBSCRIPTION_CHANGED);
    let statuses: Vec<_> = changes
        .iter()
        .map(|r| r.details["status"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        statuses,
        [
            "on_trial",
            "active",
            "past_due",
            "active",
            "cancelled",
            "active",
            "expired"
        ]
    );
    h.app.finish().await;
}

#[tokio::test]
async fn executed_actions_are_sent_as_usage_records_and_retried_when_lemon_squeezy_fails() {
    let action = CountingAction::new();
    let h = BillingHarness::start(action.clone()).await;
    h.deliver(&subscription_event(
        "subscription_created",
        "4",
        "active",
        "2026-11-01T09:00:00Z",
    ))
    .await;
    h.lemon.fail_next(2);

    let first = approve(&h, "us-east-1/vol-1").await;
    let p = h.app.ctx.executor.run_to_end(&first).await.unwrap();
    assert_eq!(p.state, ProposalState::Succeeded);
    // A failed action is not usage.
    action.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let failed = approve(&h, "us-east-1/vol-2").await;
    let p = h.app.ctx.executor.run_to_end(&failed).await.unwrap();
    assert_eq!(p.state, ProposalState::Failed);

    let arrived = eventually(Duration::from_secs(10), || async {
        !h.lemon.records().is_empty()
    })
    .await;
    assert!(arrived, "the usage record arrived after the failures");
    assert_eq!(h.lemon.refused(), 2, "two 500s were retried");
    let records = h.lemon.records();
    assert_eq!(records.len(), 1);
    let d = &records[0]["data"];
    assert_eq!(d["attributes"]["quantity"], 1);
    assert_eq!(d["attributes"]["action"], "increment");
    assert_eq!(
        d["relationships"]["subscription-item"]["data"]["id"],
        "9901"
    );

    let delivered = eventually(Duration::from_secs(5), || async {
        !audit_rows(&h.app, events::BILLING_USAGE_REPORTED).is_empty()
    })
    .await;
    assert!(delivered);
    let billing = h
        .app
        .ctx
        .features
        .get::<opsmate::features::billing::plug::BillingFeature>()
        .unwrap();
    let s = billing.status(&h.app.ctx).await.unwrap();
    assert_eq!(s.usage.len(), 1);
    assert_eq!(
        (
            s.usage[0].kind.as_str(),
            s.usage[0].count,
            s.usage[0].reported
        ),
        ("delete_volume", 1, 1)
    );
    assert_eq!((s.reports.delivered, s.reports.queued), (1, 0));
    h.app.finish().await;
}

#[tokio::test]
async fn an_expired_subscription_turns_actions_to_dry_run_with_the_notice_and_keeps_proposals() {
    let action = CountingAction::new();
    let h = BillingHarness::start(action.clone()).await;
    h.deliver(&subscription_event(
        "subscription_created",
        "5",
        "active",
        "2026-11-01T09:00:00Z",
    ))
    .await;
    assert!(!h.app.ctx.gate.dry_run());

    // Approved while in good standing, run after the lapse: it runs, as a dry run.
    let approved = approve(&h, "us-east-1/vol-9").await;
    let pending = h
        .app
        .ctx
        .gate
        .propose(NewProposal {
            kind: ActionKind::DELETE_VOLUME,
            target: "us-east-1/vol-10".into(),
            params: json!({}),
            reason: "unattached".into(),
            proposed_by: "scheduler".into(),
        })
        .await
        .unwrap()
        .proposal()
        .clone();

    h.deliver(&subscription_event_with(
        "subscription_expired",
        "5",
        "expired",
        "2026-11-20T09:00:00Z",
        json!("2026-11-20T09:00:00.000000Z"),
    ))
    .await;
    assert!(h.app.ctx.gate.dry_run(), "the gate is in dry run");
    assert_eq!(audit_rows(&h.app, events::BILLING_LAPSED).len(), 1);

    let p = h.app.ctx.executor.run_to_end(&approved).await.unwrap();
    assert_eq!(
        p.state,
        ProposalState::Succeeded,
        "nothing approved is dropped"
    );
    assert_eq!(*action.dry_runs.lock().unwrap(), vec![true]);
    let outcome = p.outcome.clone().unwrap();
    assert!(outcome.dry_run);
    let reason = outcome.dry_run_reason.clone().unwrap();
    assert!(reason.contains("expired"), "{reason}");
    let report = opsmate::chat::answers::decided(&p, chrono_tz::UTC);
    let text = format!("{report:?}");
    assert!(
        text.contains("Dry run: the subscription 5 (Team) expired at 2026-11-20 09:00 UTC; nothing was changed."),
        "{text}"
    );

    // The pending proposal stays open.
    let still = h.app.ctx.gate.get(&pending.id).await.unwrap().unwrap();
    assert_eq!(still.state, ProposalState::Pending);

    // The digest says so too.
    let billing = h.app.ctx.features.named("billing").unwrap();
    let now = chrono::Utc::now();
    let digest = billing
        .digest(&h.app.ctx, now - chrono::Duration::days(1), now)
        .await
        .unwrap()
        .unwrap();
    assert!(
        digest.contains("⚠️ Dry run: the subscription 5 (Team) expired"),
        "{digest}"
    );
    // A dry run is not usage.
    assert!(digest.contains("no executed actions"), "{digest}");

    // Paid again: actions change cloud state again.
    h.deliver(&subscription_event(
        "subscription_resumed",
        "5",
        "active",
        "2026-11-21T09:00:00Z",
    ))
    .await;
    assert!(!h.app.ctx.gate.dry_run());
    assert_eq!(audit_rows(&h.app, events::BILLING_RESTORED).len(), 1);
    h.app.finish().await;
}
