//! How Zombie Hunter's report is asked for and kept true: the chat commands, expiry,
//! and the metrics a scan leaves behind.

use crate::support::hunter::*;
use crate::support::slack::all_text;
use crate::support::{audit_rows, eventually};
use aws_sdk_ec2::types::VolumeType;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_zombies_command_posts_the_report_where_it_was_asked() {
    let h = HunterHarness::start(|c| {
        c.edit_section(
            |section: &mut opsmate::features::hunter::config::HunterConfig| {
                section.slack_channel = None
            },
        )
    })
    .await;
    let ec2 = h.ec2(REGION).await;
    let vol = volume(&ec2, 10, VolumeType::Gp2, &[]).await;
    assert_eq!(
        h.slack.command("UALICE", "zombies", "r1").await.status(),
        200
    );
    let answer = h.slack.wait_calls("response_url:r1", 1).await;
    let text = all_text(&answer[0].body);
    assert!(
        text.contains("Found 1 idle resource(s) costing $1.00/month"),
        "{text}"
    );
    let posted = h.slack.wait_calls("chat.postMessage", 1).await;
    assert_eq!(posted[0].body["channel"], crate::support::slack::CHANNEL);
    assert!(all_text(&posted[0].body).contains(&vol));
    let scans = audit_rows(&h.slack.app, "hunter.scanned");
    assert_eq!(scans.last().unwrap().actor, "slack:UALICE");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_lines_lose_their_buttons_and_metrics_show_the_waste() {
    let h = HunterHarness::start(|_| {}).await;
    let ec2 = h.ec2(REGION).await;
    volume(&ec2, 100, VolumeType::Gp2, &[]).await;
    h.scheduled_report().await;
    let metrics = reqwest::get(h.slack.app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"opsmate_hunter_findings{kind="volume"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"opsmate_hunter_monthly_usd{kind="volume"} 10.0"#),
        "{metrics}"
    );

    h.clock.advance(chrono::Duration::hours(25));
    h.slack
        .app
        .queue
        .send(opsmate::events::Event::Job(opsmate::events::JobRun {
            job: opsmate::events::JobKind::EXPIRE_APPROVALS,
            scheduled_for: chrono::Utc::now(),
            catch_up: false,
        }))
        .await
        .unwrap();
    let updates = h.slack.wait_calls("chat.update", 1).await;
    let text = all_text(&updates[0].body);
    assert!(text.contains("Expired: not decided in time"), "{text}");
    assert!(
        !updates[0].body["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["type"] == "actions"),
        "no buttons are left"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_telegram_zombies_command_answers_with_the_report() {
    let h = HunterHarness::start(|_| {}).await;
    let vol = volume(&h.ec2(REGION).await, 10, VolumeType::Gp2, &[]).await;
    let update = crate::support::telegram_updates::command_update(TG_CHAT, TG_ALICE, "/zombies");
    let status = reqwest::Client::new()
        .post(h.slack.app.url("/telegram/webhook"))
        .header("x-telegram-bot-api-secret-token", TG_SECRET)
        .json(&update)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let ok = eventually(Duration::from_secs(5), || async {
        h.telegram.delivered("sendMessage").iter().any(|m| {
            m.body["chat_id"] == TG_CHAT
                && m.body["text"].as_str().unwrap_or_default().contains(&vol)
        })
    })
    .await;
    assert!(
        ok,
        "the report reached the chat: {:#?}",
        h.telegram.calls_to("sendMessage")
    );
    h.stop().await;
}
