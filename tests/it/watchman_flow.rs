//! Night Watchman end to end: the evening check against moto and the fake GitHub and
//! Linear APIs, the notice in Slack, the deadline, Keep online, holds, approve mode,
//! Auto Scaling instances and the morning start.

use crate::support::slack::{all_text, button};
use crate::support::watchman::*;
use chrono::Duration;
use opsmate::approvals::ProposalState;
use opsmate::features::watchman::config::WatchmanMode;

const STAGING: &[(&str, &str)] = &[("env", "staging"), ("Name", "web-1")];

/// No stop was proposed and the instance still runs.
async fn nothing_proposed_and_running(h: &WatchmanHarness, ec2: &aws_sdk_ec2::Client, id: &str) {
    assert!(
        h.ctx().gate.pending().await.unwrap().is_empty(),
        "nothing proposed"
    );
    assert_eq!(state(ec2, id).await.0, "running");
}

/// Quiet signals: the last push three hours ago, no urgent issues.
fn quiet(h: &WatchmanHarness) {
    h.github.pushed("acme/api", h.now() - Duration::hours(3));
    h.github.pushed("acme/web", h.now() - Duration::hours(5));
}

async fn posted_notice(h: &WatchmanHarness) -> (serde_json::Value, String) {
    let posts = h.slack.wait_calls("chat.postMessage", 1).await;
    let tagged = h.ctx().outbox.tagged("watchman:").await.unwrap();
    let ok = crate::support::eventually(std::time::Duration::from_secs(5), || async {
        !h.ctx().outbox.tagged("watchman:").await.unwrap().is_empty()
    })
    .await;
    assert!(ok || !tagged.is_empty(), "the notice was delivered");
    let ts = h.ctx().outbox.tagged("watchman:").await.unwrap()[0]
        .message_id
        .clone();
    (posts.last().unwrap().body.clone(), ts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_evening_gives_notice_then_stops_at_the_deadline() {
    let h = WatchmanHarness::start(|_| {}).await;
    let ec2 = h.ec2().await;
    let a = instance(&ec2, STAGING).await;
    let b = instance(&ec2, &[("env", "staging")]).await;
    let prod = instance(&ec2, &[("env", "production")]).await;
    quiet(&h);

    h.evening().await;
    let (notice, _) = posted_notice(&h).await;
    let text = all_text(&notice);
    assert!(text.contains("stopping 2 staging instance(s) at"), "{text}");
    assert!(text.contains("last push to acme/api 180 min ago"), "{text}");
    assert!(text.contains("no open urgent issues in OPS"), "{text}");
    assert!(
        text.contains(&a) && text.contains(&b) && !text.contains(&prod),
        "{text}"
    );
    assert!(text.contains("saves about $"), "{text}");
    button(&notice, "Stop now");
    button(&notice, "Keep online");
    assert_eq!(
        h.github.calls(),
        vec!["/orgs/acme/repos".to_owned()],
        "one GitHub call"
    );
    let (auth, _) = &h.linear.calls()[0];
    assert_eq!(auth.as_deref(), Some("lin_api_test_key"));

    // Not yet: the deadline is 15 minutes out.
    h.clock.advance(Duration::minutes(10));
    h.deadlines().await;
    assert_eq!(state(&ec2, &a).await.0, "running");

    h.clock.advance(Duration::minutes(6));
    h.deadlines().await;
    for id in [&a, &b] {
        let (st, tags) = state(&ec2, id).await;
        assert!(st == "stopping" || st == "stopped", "{id} is {st}");
        assert!(
            tags.iter().any(|(k, _)| k == "opsmate:stopped-at"),
            "{tags:?}"
        );
    }
    assert_eq!(state(&ec2, &prod).await.0, "running");
    // The notice shows the stop in progress, then its outcome.
    let done = crate::support::eventually(std::time::Duration::from_secs(5), || async {
        h.slack
            .fake
            .calls_to("chat.update")
            .iter()
            .any(|u| all_text(&u.body).contains("Approved and done"))
    })
    .await;
    let updates = h.slack.fake.calls_to("chat.update");
    let text = all_text(&updates.last().unwrap().body);
    assert!(done, "{updates:#?}");
    assert!(text.contains("Approved and done"), "{text}");
    assert!(text.contains("night_watchman:notice-deadline"), "{text}");
    assert!(text.contains(&format!("{a} (us-east-1) stopped")), "{text}");
    assert_eq!(
        crate::support::audit_rows(&h.slack.app, "watchman.stopped").len(),
        2
    );

    // A later run of the deadline job does nothing more.
    h.clock.advance(Duration::minutes(5));
    h.deadlines().await;
    assert_eq!(
        crate::support::audit_rows(&h.slack.app, "watchman.stopped").len(),
        2
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recent_push_keeps_staging_up_and_names_the_repository() {
    let h = WatchmanHarness::start(|_| {}).await;
    let ec2 = h.ec2().await;
    let a = instance(&ec2, STAGING).await;
    quiet(&h);
    h.github
        .pushed("acme/billing", h.now() - Duration::minutes(10));
    h.evening().await;
    let posts = h.slack.wait_calls("chat.postMessage", 1).await;
    let text = all_text(&posts[0].body);
    assert!(text.contains("staging stays up tonight"), "{text}");
    assert!(text.contains("push to acme/billing 10 min ago"), "{text}");
    nothing_proposed_and_running(&h, &ec2, &a).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_urgent_linear_issue_keeps_staging_up() {
    let h = WatchmanHarness::start(|_| {}).await;
    instance(&h.ec2().await, STAGING).await;
    quiet(&h);
    h.linear.urgent("OPS-12", "Checkout fails on staging");
    h.evening().await;
    let posts = h.slack.wait_calls("chat.postMessage", 1).await;
    let text = all_text(&posts[0].body);
    assert!(text.contains("staging stays up tonight"), "{text}");
    assert!(text.contains("OPS-12 Checkout fails on staging"), "{text}");
    let query = &h.linear.calls()[0].1;
    assert_eq!(query["variables"]["teams"], serde_json::json!(["OPS"]));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_down_keeps_staging_up_and_says_so() {
    let h = WatchmanHarness::start(|_| {}).await;
    instance(&h.ec2().await, STAGING).await;
    h.github.fail_with(500);
    h.evening().await;
    let posts = h.slack.wait_calls("chat.postMessage", 1).await;
    let text = all_text(&posts[0].body);
    assert!(text.contains("staging stays up tonight"), "{text}");
    assert!(text.contains("GitHub: could not be read"), "{text}");
    assert!(text.contains("500"), "{text}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_online_cancels_tonight_and_a_hold_lapses_at_its_time() {
    let h = WatchmanHarness::start(|_| {}).await;
    let ec2 = h.ec2().await;
    let a = instance(&ec2, STAGING).await;
    quiet(&h);
    h.evening().await;
    let (notice, ts) = posted_notice(&h).await;
    let keep = button(&notice, "Keep online").to_owned();
    assert_eq!(h.slack.click_button("UBOB", &keep, &ts, "k").await, 200);
    let opened = h.slack.wait_calls("views.open", 1).await;
    h.slack
        .submit_reason("UBOB", &opened[0].body["view"], "load test tonight")
        .await;
    let updates = h.slack.wait_calls("chat.update", 1).await;
    let text = all_text(&updates[0].body);
    assert!(
        text.contains("Rejected") && text.contains("<@UBOB>"),
        "{text}"
    );
    assert!(text.contains("load test tonight"), "{text}");
    h.clock.advance(Duration::minutes(20));
    h.deadlines().await;
    assert_eq!(state(&ec2, &a).await.0, "running", "kept online");

    // A hold for two hours: tomorrow evening's check keeps, the one after stops.
    h.slack
        .command("UALICE", "watchman keep-online 2h release testing", "hold")
        .await;
    let answer = h.slack.wait_calls("response_url:hold", 1).await;
    assert!(
        all_text(&answer[0].body).contains("Staging stays online"),
        "{:?}",
        answer[0].body
    );
    h.clock.advance(Duration::hours(1));
    quiet(&h);
    h.evening().await;
    let posts = h.slack.wait_calls("chat.postMessage", 2).await;
    let text = all_text(&posts[1].body);
    assert!(text.contains("staging stays up tonight"), "{text}");
    assert!(
        text.contains("kept online by slack:UALICE until")
            || text.contains("kept online by <@UALICE> until"),
        "{text}"
    );
    assert!(text.contains("release testing"), "{text}");

    h.clock.advance(Duration::hours(2));
    quiet(&h);
    h.evening().await;
    let posts = h.slack.wait_calls("chat.postMessage", 3).await;
    assert!(
        all_text(&posts[2].body).contains("stopping 1 staging instance(s)"),
        "the hold lapsed"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_morning_start_restarts_only_what_opsmate_stopped() {
    let h = WatchmanHarness::start(|_| {}).await;
    let ec2 = h.ec2().await;
    let ours = instance(&ec2, STAGING).await;
    let by_hand = instance(&ec2, &[("env", "staging")]).await;
    ec2.stop_instances()
        .instance_ids(&by_hand)
        .send()
        .await
        .unwrap();
    quiet(&h);
    h.evening().await;
    posted_notice(&h).await;
    h.clock.advance(Duration::minutes(16));
    h.deadlines().await;
    assert_ne!(state(&ec2, &ours).await.0, "running");

    h.clock.advance(Duration::hours(11));
    h.morning().await;
    let (st, tags) = state(&ec2, &ours).await;
    assert!(st == "pending" || st == "running", "{st}");
    assert!(
        !tags.iter().any(|(k, _)| k == "opsmate:stopped-at"),
        "the mark is removed"
    );
    assert_eq!(
        state(&ec2, &by_hand).await.0,
        "stopped",
        "a human's stop stays"
    );
    let posts = h.slack.wait_calls("chat.postMessage", 2).await;
    let text = all_text(&posts.last().unwrap().body);
    assert!(
        text.contains("started 1 instance(s)") && text.contains(&ours),
        "{text}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_mode_waits_for_an_authorized_click() {
    let h = WatchmanHarness::start(|c| {
        c.edit_section(
            |section: &mut opsmate::features::watchman::config::WatchmanConfig| {
                section.mode = WatchmanMode::Approve
            },
        )
    })
    .await;
    let ec2 = h.ec2().await;
    let a = instance(&ec2, STAGING).await;
    quiet(&h);
    h.evening().await;
    let (notice, ts) = posted_notice(&h).await;
    assert!(all_text(&notice).contains("stop 1 staging instance(s)?"));
    h.clock.advance(Duration::hours(1));
    h.deadlines().await;
    assert_eq!(
        state(&ec2, &a).await.0,
        "running",
        "no deadline in approve mode"
    );

    let stop = button(&notice, "Stop now").to_owned();
    let id = stop.split(':').nth(1).unwrap().to_owned();
    for (user, reply) in [("UMALLORY", "m"), ("UALICE", "a")] {
        assert_eq!(h.slack.click_button(user, &stop, &ts, reply).await, 200);
        if user == "UMALLORY" {
            let refused = h.slack.wait_calls("response_url:m", 1).await;
            assert!(all_text(&refused[0].body).contains("not allowed"));
            assert_eq!(state(&ec2, &a).await.0, "running");
        }
    }
    // The click is handled, and the stop run, beside the click's answer: wait
    // until the proposal has ended.
    let approval = opsmate::domain::ApprovalId::parse(&id).unwrap();
    let gate = h.ctx().gate.clone();
    let ended = crate::support::eventually(std::time::Duration::from_secs(20), || {
        let (gate, approval) = (gate.clone(), approval.clone());
        async move {
            let p = gate.get(&approval).await.unwrap().unwrap();
            !matches!(
                p.state,
                ProposalState::Pending | ProposalState::Approved | ProposalState::Executing
            )
        }
    })
    .await;
    assert!(ended, "the stop did not end within 20 s");
    let p = gate.get(&approval).await.unwrap().unwrap();
    h.slack.wait_calls("chat.update", 1).await;
    assert_eq!(p.state, ProposalState::Succeeded, "{p:?}");
    assert_ne!(state(&ec2, &a).await.0, "running");
    assert_eq!(p.decided_by.as_deref(), Some("slack:UALICE"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_scaling_and_excluded_instances_are_skipped_and_listed() {
    let h = WatchmanHarness::start(|_| {}).await;
    let ec2 = h.ec2().await;
    let plain = instance(&ec2, STAGING).await;
    let asg = instance(
        &ec2,
        &[("env", "staging"), ("aws:autoscaling:groupName", "web-asg")],
    )
    .await;
    let kept = instance(&ec2, &[("env", "staging"), ("opsmate:keep", "true")]).await;
    quiet(&h);
    h.evening().await;
    let (notice, _) = posted_notice(&h).await;
    let text = all_text(&notice);
    assert!(text.contains("stopping 1 staging instance(s)"), "{text}");
    assert!(
        text.contains(&format!(
            "{asg} (us-east-1) t3.medium: skipped, in Auto Scaling group web-asg"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{kept} (us-east-1) t3.medium: skipped, tagged opsmate:keep=true"
        )),
        "{text}"
    );
    h.clock.advance(Duration::minutes(16));
    h.deadlines().await;
    assert_ne!(state(&ec2, &plain).await.0, "running");
    assert_eq!(state(&ec2, &asg).await.0, "running");
    assert_eq!(state(&ec2, &kept).await.0, "running");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caught_up_check_runs_only_while_it_is_still_night() {
    let h = WatchmanHarness::start(|_| {}).await;
    instance(&h.ec2().await, STAGING).await;
    // Friday 21:00 UTC; the morning start is weekdays 08:00.
    h.clock.set("2026-11-27T21:00:00Z".parse().unwrap());
    quiet(&h);
    // The check for an evening whose morning start has already passed does nothing.
    let long_ago = opsmate::events::JobRun {
        job: opsmate::events::JobKind::WATCHMAN_SHUTDOWN,
        scheduled_for: h.now() - Duration::days(3),
        catch_up: true,
    };
    opsmate::features::watchman::run::evening(h.ctx(), &long_ago)
        .await
        .unwrap();
    h.slack.app.settle().await;
    assert!(h.slack.fake.calls_to("chat.postMessage").is_empty());
    // One missed an hour ago still runs.
    let recent = opsmate::events::JobRun {
        scheduled_for: h.now() - Duration::hours(1),
        ..long_ago
    };
    opsmate::features::watchman::run::evening(h.ctx(), &recent)
        .await
        .unwrap();
    h.slack.wait_calls("chat.postMessage", 1).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchman_status_says_what_the_check_would_do_without_acting() {
    let h = WatchmanHarness::start(|_| {}).await;
    let ec2 = h.ec2().await;
    let a = instance(&ec2, STAGING).await;
    quiet(&h);
    h.slack.command("UBOB", "watchman status", "s").await;
    let answer = h.slack.wait_calls("response_url:s", 1).await;
    let text = all_text(&answer[0].body);
    assert!(
        text.contains("if the check ran now, it would stop 1 instance(s)"),
        "{text}"
    );
    assert!(text.contains(&a), "{text}");
    nothing_proposed_and_running(&h, &ec2, &a).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_approved_after_the_morning_start_is_skipped() {
    let h = WatchmanHarness::start(|c| {
        c.edit_section(
            |section: &mut opsmate::features::watchman::config::WatchmanConfig| {
                section.mode = WatchmanMode::Approve
            },
        )
    })
    .await;
    let ec2 = h.ec2().await;
    let a = instance(&ec2, STAGING).await;
    // Monday 20:00 UTC; the morning start is Tuesday 08:00.
    h.clock.set("2026-11-30T20:00:00Z".parse().unwrap());
    quiet(&h);
    h.evening().await;
    let (notice, ts) = posted_notice(&h).await;
    h.clock.set("2026-12-01T09:00:00Z".parse().unwrap());
    quiet(&h);
    let stop = button(&notice, "Stop now").to_owned();
    assert_eq!(
        h.slack.click_button("UALICE", &stop, &ts, "late").await,
        200
    );
    let updates = h.slack.wait_calls("chat.update", 1).await;
    let text = all_text(&updates[0].body);
    assert!(text.contains("the night is over"), "{text}");
    assert_eq!(state(&ec2, &a).await.0, "running");
    h.stop().await;
}
