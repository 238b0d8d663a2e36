//! Zombie Hunter's deletions end to end: the report posted to the fake Slack and
//! Telegram, a click, and the result in moto and in the rewritten report.

use crate::support::hunter::*;
use crate::support::slack::all_text;
use crate::support::{audit_rows, eventually};
use aws_sdk_ec2::types::{Filter, VolumeType};
use opsmate::approvals::ProposalState;
use std::time::Duration;

/// The Slack ts of the report's first message, as recorded when it was delivered.
async fn report_ts(h: &HunterHarness) -> String {
    let tagged = h.ctx().outbox.tagged("hunter:").await.unwrap();
    tagged
        .iter()
        .find(|m| m.platform == "slack")
        .expect("a Slack report message")
        .message_id
        .clone()
}

async fn final_snapshots(h: &HunterHarness, volume_id: &str) -> Vec<aws_sdk_ec2::types::Snapshot> {
    h.ec2(REGION)
        .await
        .describe_snapshots()
        .filters(
            Filter::builder()
                .name("tag:opsmate:final-snapshot-of")
                .values(volume_id)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .snapshots()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_in_slack_deletes_the_volume_after_a_final_snapshot() {
    let h = HunterHarness::start(|_| {}).await;
    let ec2 = h.ec2(REGION).await;
    let vol = volume(
        &ec2,
        100,
        VolumeType::Gp3,
        &[("Name", "web-data"), ("Owner", "ana")],
    )
    .await;

    let report = h.scheduled_report().await;
    let text = all_text(&report);
    assert!(
        text.contains(&vol) && text.contains("Name web-data"),
        "{text}"
    );
    assert!(text.contains("1 idle resource(s), $8.00/month"), "{text}");
    let delete = slack_button(&report, &vol, &format!("Delete {vol} ($8.00/mo)"));
    let ts = report_ts(&h).await;

    assert_eq!(
        h.slack.click_button("UALICE", &delete, &ts, "c1").await,
        200
    );
    let updates = h.slack.wait_calls("chat.update", 1).await;
    assert_eq!(updates[0].body["ts"], ts.as_str());
    let updated = all_text(&updates[0].body);
    assert!(
        updated.contains("Deleted, approved by <@UALICE>"),
        "{updated}"
    );
    assert!(
        !volume_exists(&ec2, &vol).await,
        "the volume is gone in moto"
    );

    let finals = final_snapshots(&h, &vol).await;
    assert_eq!(finals.len(), 1, "one final snapshot");
    let tags: Vec<(String, String)> = finals[0]
        .tags()
        .iter()
        .map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned()))
        .collect();
    assert!(
        tags.contains(&("Name".into(), "web-data".into())),
        "{tags:?}"
    );
    assert!(tags.contains(&("Owner".into(), "ana".into())), "{tags:?}");
    assert!(
        updated.contains(finals[0].snapshot_id().unwrap()),
        "{updated}"
    );
    let deleted = audit_rows(&h.slack.app, "hunter.deleted");
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].subject, format!("{REGION}/{vol}"));
    assert_eq!(audit_rows(&h.slack.app, "hunter.final_snapshot").len(), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_attached_after_the_scan_is_skipped_not_deleted() {
    let h = HunterHarness::start(|_| {}).await;
    let ec2 = h.ec2(REGION).await;
    let vol = volume(&ec2, 10, VolumeType::Gp3, &[]).await;
    let report = h.scheduled_report().await;
    let instance_id = instance(&ec2).await;
    attach(&ec2, &vol, &instance_id).await;

    let delete = slack_button(&report, &vol, &format!("Delete {vol} ("));
    h.slack
        .click_button("UALICE", &delete, &report_ts(&h).await, "c1")
        .await;
    let updates = h.slack.wait_calls("chat.update", 1).await;
    let updated = all_text(&updates[0].body);
    assert!(updated.contains("Skipped"), "{updated}");
    assert!(
        updated.contains(&format!("attached to {instance_id}")),
        "{updated}"
    );
    assert!(volume_exists(&ec2, &vol).await);
    assert!(
        final_snapshots(&h, &vol).await.is_empty(),
        "no snapshot either"
    );
    let approval = delete.split(':').nth(1).unwrap();
    let p = h
        .ctx()
        .gate
        .get(&opsmate::domain::ApprovalId::parse(approval).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.state, ProposalState::Skipped);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_click_is_refused_and_a_double_click_deletes_once() {
    let h = HunterHarness::start(|_| {}).await;
    let ec2 = h.ec2(REGION).await;
    let vol = volume(&ec2, 10, VolumeType::Gp3, &[]).await;
    let report = h.scheduled_report().await;
    let delete = slack_button(&report, &vol, &format!("Delete {vol} ("));
    let ts = report_ts(&h).await;

    h.slack
        .click_button("UMALLORY", &delete, &ts, "stranger")
        .await;
    let refused = h.slack.wait_calls("response_url:stranger", 1).await;
    assert!(
        all_text(&refused[0].body).contains("not allowed"),
        "{:?}",
        refused[0].body
    );
    assert!(volume_exists(&ec2, &vol).await);

    let (a, b) = tokio::join!(
        h.slack.click_button("UALICE", &delete, &ts, "first"),
        h.slack.click_button("UBOB", &delete, &ts, "second")
    );
    assert_eq!((a, b), (200, 200));
    h.slack.wait_calls("chat.update", 1).await;
    let late = eventually(Duration::from_secs(5), || async {
        !h.slack.fake.calls_to("response_url:first").is_empty()
            || !h.slack.fake.calls_to("response_url:second").is_empty()
    })
    .await;
    assert!(late, "the second clicker is told it was already done");
    assert!(!volume_exists(&ec2, &vol).await);
    assert_eq!(audit_rows(&h.slack.app, "hunter.deleted").len(), 1);
    assert_eq!(
        final_snapshots(&h, &vol).await.len(),
        1,
        "deleted once, snapshotted once"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_all_reports_each_resource_and_skips_what_changed() {
    let h = HunterHarness::start(|_| {}).await;
    let ec2 = h.ec2(REGION).await;
    let gone = volume(&ec2, 10, VolumeType::Gp3, &[]).await;
    let kept = volume(&ec2, 20, VolumeType::Gp3, &[]).await;
    let ip = address(&ec2).await;
    let report = h.scheduled_report().await;
    assert!(all_text(&report).contains("Delete all 3"), "{report:#}");
    // Someone tags one volume for keeping after the report went out.
    ec2.create_tags()
        .resources(&kept)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("opsmate:keep")
                .value("true")
                .build(),
        )
        .send()
        .await
        .unwrap();

    let all = slack_button(&report, "", "Delete all 3");
    h.slack
        .click_button("UBOB", &all, &report_ts(&h).await, "c1")
        .await;
    let updates = h.slack.wait_calls("chat.update", 1).await;
    let updated = all_text(&updates[0].body);
    assert!(!volume_exists(&ec2, &gone).await);
    assert!(volume_exists(&ec2, &kept).await);
    let ips = ec2.describe_addresses().send().await.unwrap();
    assert!(
        ips.addresses()
            .iter()
            .all(|a| a.allocation_id() != Some(ip.as_str())),
        "released"
    );
    assert!(
        updated.contains("Skipped, approved by <@UBOB>"),
        "{updated}"
    );
    assert!(updated.contains("tagged opsmate:keep=true"), "{updated}");
    assert_eq!(
        updated.matches("Deleted, approved by <@UBOB>").count(),
        2,
        "{updated}"
    );
    assert_eq!(audit_rows(&h.slack.app, "hunter.deleted").len(), 2);
    assert_eq!(audit_rows(&h.slack.app, "hunter.skipped").len(), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_in_telegram_deletes_and_rewrites_both_copies() {
    let h = HunterHarness::start(|c| {
        c.edit_section(
            |section: &mut opsmate::features::hunter::config::HunterConfig| {
                section.telegram_chat_id = Some(TG_CHAT)
            },
        )
    })
    .await;
    let ec2 = h.ec2(REGION).await;
    let vol = volume(&ec2, 10, VolumeType::Gp3, &[]).await;
    h.scheduled_report().await;
    let message_id: i64 = crate::support::delivered_copy(&h.slack.app, "hunter:", "telegram")
        .await
        .message_id
        .parse()
        .unwrap();
    let sent = h.telegram.delivered("sendMessage");
    let message = sent.last().unwrap();
    assert!(message.body["text"].as_str().unwrap().contains(&vol));
    let keyboard = message.body["reply_markup"]["inline_keyboard"]
        .as_array()
        .unwrap();
    let button = keyboard
        .iter()
        .flat_map(|row| row.as_array().unwrap())
        .find(|b| {
            b["text"]
                .as_str()
                .unwrap()
                .starts_with(&format!("Delete {vol} ("))
        })
        .expect("a Delete button");

    assert_eq!(
        h.slack
            .press_telegram(
                TG_ALICE,
                button["callback_data"].as_str().unwrap(),
                message_id
            )
            .await,
        200
    );
    // The edit waits for Telegram's one-message-a-second spacing, in outbox time.
    let ok = eventually(Duration::from_secs(10), || async {
        h.clock.advance(chrono::Duration::milliseconds(100));
        !h.telegram.delivered("editMessageText").is_empty()
    })
    .await;
    assert!(ok, "the Telegram report was rewritten");
    let edited = h.telegram.delivered("editMessageText");
    assert_eq!(edited[0].body["message_id"], message_id);
    assert!(
        edited[0].body["text"]
            .as_str()
            .unwrap()
            .contains("Deleted, approved by telegram:42"),
        "{:?}",
        edited[0].body
    );
    assert!(!volume_exists(&ec2, &vol).await);
    let slack = h.slack.wait_calls("chat.update", 1).await;
    assert!(
        all_text(&slack[0].body).contains("Deleted"),
        "the Slack copy follows"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_deletes_nothing_and_says_what_it_would_do() {
    let h = HunterHarness::start(|c| c.dry_run = true).await;
    let ec2 = h.ec2(REGION).await;
    let vol = volume(&ec2, 10, VolumeType::Gp3, &[]).await;
    let report = h.scheduled_report().await;
    let delete = slack_button(&report, &vol, &format!("Delete {vol} ("));
    h.slack
        .click_button("UALICE", &delete, &report_ts(&h).await, "c1")
        .await;
    let updates = h.slack.wait_calls("chat.update", 1).await;
    assert!(all_text(&updates[0].body).contains("Dry run: would delete"));
    assert!(volume_exists(&ec2, &vol).await);
    assert!(final_snapshots(&h, &vol).await.is_empty());
    assert_eq!(audit_rows(&h.slack.app, "hunter.would_delete").len(), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aws_error_is_reported_as_a_failure_never_as_a_deletion() {
    let h = HunterHarness::start(|_| {}).await;
    let ec2 = h.ec2(REGION).await;
    let vol = volume(&ec2, 10, VolumeType::Gp3, &[]).await;
    let report = h.scheduled_report().await;
    h.proxy.fail_region(REGION);
    let delete = slack_button(&report, &vol, &format!("Delete {vol} ("));
    h.slack
        .click_button("UALICE", &delete, &report_ts(&h).await, "c1")
        .await;
    let updates = h.slack.wait_calls("chat.update", 1).await;
    let text = all_text(&updates[0].body);
    assert!(text.contains("⚠️ Failed"), "{text}");
    assert!(
        text.contains("Unavailable"),
        "the AWS error is shown: {text}"
    );
    assert!(!text.contains("Deleted"), "{text}");
    assert!(volume_exists(&ec2, &vol).await);
    assert_eq!(audit_rows(&h.slack.app, "action.failed").len(), 1);
    h.stop().await;
}
