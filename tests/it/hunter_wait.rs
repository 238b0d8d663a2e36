//! Zombie Hunter's deletions when final snapshots take time, as they do on AWS: the
//! wait holds up nothing, a set waits once for all its snapshots, a restart resumes
//! the wait without a second snapshot, and each line of the report keeps its own
//! decision.

use crate::support::audit_rows;
use crate::support::eventually;
use crate::support::hunter::*;
use crate::support::slack::all_text;
use aws_sdk_ec2::types::VolumeType;
use std::collections::HashMap;
use std::time::Duration;

/// Final snapshots stay pending this long behind the proxy.
const SNAPSHOT_TIME: Duration = Duration::from_secs(3);

async fn harness() -> HunterHarness {
    let h = HunterHarness::start(|c| {
        c.edit_section(
            |section: &mut opsmate::features::hunter::config::HunterConfig| {
                section.final_snapshot_poll = Duration::from_millis(100)
            },
        );
    })
    .await;
    h.proxy.pend_new_snapshots(SNAPSHOT_TIME);
    h
}

async fn report_ts(h: &HunterHarness) -> String {
    crate::support::delivered_copy(&h.slack.app, "hunter:", "slack")
        .await
        .message_id
}

/// How many final snapshots each volume got through the proxy.
fn snapshots_per_volume(h: &HunterHarness) -> HashMap<String, usize> {
    let mut n = HashMap::new();
    for (volume, _) in h.proxy.snapshots_created() {
        *n.entry(volume).or_default() += 1;
    }
    n
}

/// The newest report text Slack received (post or update).
fn latest_report(h: &HunterHarness) -> String {
    let calls = h.slack.fake.calls();
    calls
        .iter()
        .rev()
        .find(|c| c.method == "chat.update" || c.method == "chat.postMessage")
        .map(|c| all_text(&c.body))
        .unwrap_or_default()
}

async fn wait_for_report(h: &HunterHarness, what: &str) -> String {
    let ok = eventually(Duration::from_secs(20), || async {
        latest_report(h).contains(what)
    })
    .await;
    let text = latest_report(h);
    assert!(ok, "the report never said {what:?}; last: {text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_all_requests_every_final_snapshot_first_and_answers_while_it_waits() {
    let h = harness().await;
    let ec2 = h.ec2(REGION).await;
    let mut volumes = Vec::new();
    for size in [10, 20, 30] {
        volumes.push(volume(&ec2, size, VolumeType::Gp3, &[]).await);
    }
    let ip = address(&ec2).await;
    let report = h.scheduled_report().await;
    let all = slack_button(&report, "", "Delete all 4");
    h.slack
        .click_button("UBOB", &all, &report_ts(&h).await, "all")
        .await;

    // Every volume's snapshot is requested before any completes.
    let h_ref = &h;
    assert!(
        eventually(Duration::from_secs(10), || async move {
            h_ref.proxy.snapshots_created().len() == 3
        })
        .await,
        "three final snapshots requested: {:?}",
        h.proxy.snapshots_created()
    );
    let during = wait_for_report(&h, "Deleting…").await;
    for v in &volumes {
        assert!(volume_exists(&ec2, v).await, "{v} waits for its snapshot");
    }
    assert!(
        during.contains("Delete all (approved by <@UBOB>)"),
        "{during}"
    );

    // The bot answers meanwhile.
    h.slack.command("UALICE", "help", "help").await;
    h.slack.wait_calls("response_url:help", 1).await;
    assert!(
        volume_exists(&ec2, &volumes[0]).await,
        "answered while the snapshots were still pending"
    );

    let done = wait_for_report(&h, "Delete all (approved by <@UBOB>): done for 4").await;
    for v in &volumes {
        assert!(!volume_exists(&ec2, v).await, "{v} is deleted");
    }
    let ips = ec2.describe_addresses().send().await.unwrap();
    assert!(
        ips.addresses()
            .iter()
            .all(|a| a.allocation_id() != Some(ip.as_str()))
    );
    assert_eq!(
        done.matches("Deleted, approved by <@UBOB>; final snapshot snap-")
            .count(),
        3,
        "{done}"
    );
    assert!(snapshots_per_volume(&h).values().all(|n| *n == 1));
    assert_eq!(audit_rows(&h.slack.app, "hunter.final_snapshot").len(), 3);
    assert_eq!(audit_rows(&h.slack.app, "hunter.deleted").len(), 4);
    h.slack.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_during_the_final_snapshot_wait_resumes_without_a_second_snapshot() {
    let h = harness().await;
    let ec2 = h.ec2(REGION).await;
    let a = volume(&ec2, 10, VolumeType::Gp3, &[]).await;
    let b = volume(&ec2, 20, VolumeType::Gp3, &[]).await;
    let report = h.scheduled_report().await;
    let all = slack_button(&report, "", "Delete all 2");
    h.slack
        .click_button("UALICE", &all, &report_ts(&h).await, "all")
        .await;
    let h_ref = &h;
    assert!(
        eventually(Duration::from_secs(10), || async move {
            h_ref.proxy.snapshots_created().len() == 2
        })
        .await
    );
    let h = h.crash_and_restart().await;

    let ctx = h.ctx().clone();
    let (ec2_ref, a_ref, b_ref) = (&ec2, &a, &b);
    let gone = eventually(Duration::from_secs(20), || async move {
        !volume_exists(ec2_ref, a_ref).await && !volume_exists(ec2_ref, b_ref).await
    })
    .await;
    assert!(gone, "the resumed deletion finished");
    ctx.executor.idle().await;
    let per_volume = snapshots_per_volume(&h);
    assert_eq!(per_volume.len(), 2);
    assert!(
        per_volume.values().all(|n| *n == 1),
        "no second snapshot: {:?}",
        h.proxy.snapshots_created()
    );
    assert_eq!(audit_rows(&h.slack.app, "action.resumed").len(), 1);
    assert!(audit_rows(&h.slack.app, "action.interrupted").is_empty());
    let text = wait_for_report(&h, "done for 2").await;
    assert_eq!(
        text.matches("Deleted, approved by <@UALICE>; final snapshot snap-")
            .count(),
        2,
        "{text}"
    );
    h.slack.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_all_covers_only_open_lines_and_never_rewrites_a_decided_one() {
    let h = HunterHarness::start(|_| {}).await;
    let ec2 = h.ec2(REGION).await;
    let first = volume(&ec2, 10, VolumeType::Gp3, &[]).await;
    let second = volume(&ec2, 20, VolumeType::Gp3, &[]).await;
    let third = volume(&ec2, 30, VolumeType::Gp3, &[]).await;
    let report = h.scheduled_report().await;
    let ts = report_ts(&h).await;

    // One line deleted on its own; one skipped on its own (attached since the scan).
    let delete = slack_button(&report, &first, &format!("Delete {first} ("));
    h.slack.click_button("UALICE", &delete, &ts, "one").await;
    let text = wait_for_report(&h, "Deleted, approved by <@UALICE>").await;
    let own = text
        .lines()
        .find(|l| l.contains("Deleted, approved by <@UALICE>; final snapshot"))
        .unwrap_or_else(|| panic!("{text}"))
        .to_owned();
    assert!(text.contains("Delete all 2"), "{text}");
    let instance_id = instance(&ec2).await;
    attach(&ec2, &second, &instance_id).await;
    let skip = slack_button(&report, &second, &format!("Delete {second} ("));
    h.slack.click_button("UBOB", &skip, &ts, "two").await;
    let text = wait_for_report(&h, "Skipped").await;
    assert!(text.contains("Delete all 1"), "only the open line: {text}");

    // Delete all now covers the one open line only.
    let all = slack_button(&report, "", "Delete all 3");
    h.slack.click_button("UBOB", &all, &ts, "all").await;
    let text = wait_for_report(&h, "done for 1").await;
    assert!(
        text.contains(&own),
        "the first line's own outcome stands: {text}"
    );
    assert!(!text.contains("Already gone"), "{text}");
    assert!(
        text.contains(&format!("attached to {instance_id}")),
        "the skipped line still says why: {text}"
    );
    assert!(
        volume_exists(&ec2, &second).await,
        "the attached volume is kept"
    );
    assert!(!volume_exists(&ec2, &third).await);
    assert!(
        !text.contains("[Delete all"),
        "no bulk button is left: {text}"
    );
    h.slack.app.finish().await;
}
