//! Observatory's alerts end to end: a local service that fails and recovers, the
//! thresholds, reminders, grouping, maintenance windows, restarts, and the messages
//! that reach the fake Slack and Telegram.

use crate::support::fake_service::Mode;
use crate::support::observatory::{HealthHarness, http_check};
use opsmate::features::observatory::config::MaintenanceWindow;
use opsmate::features::observatory::status::Status;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flapping_below_the_thresholds_sends_nothing() {
    let h = HealthHarness::start(|_, _| {}).await;
    for mode in [
        Mode::Healthy,
        Mode::Failing,
        Mode::Healthy,
        Mode::Failing,
        Mode::Healthy,
    ] {
        h.service.set(mode);
        h.check_after(60, "api").await;
    }
    h.clock.advance(chrono::Duration::minutes(5));
    assert_eq!(h.flush().await, 0);
    assert!(h.posted().is_empty(), "{:?}", h.posted());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_failures_alert_after_group_wait_and_two_successes_recover() {
    let h = HealthHarness::start(|_, _| {}).await;
    h.service.set(Mode::Failing);
    let first = h.check_after(60, "api").await;
    assert_eq!(first.status, Status::Critical);
    assert!(first.message.contains("500"), "{}", first.message);
    h.check_after(60, "api").await;
    assert_eq!(h.flush().await, 0, "group_wait has not passed");
    h.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(h.flush().await, 1);
    let posts = h.slack.wait_calls("chat.postMessage", 1).await;
    let text = crate::support::slack::all_text(&posts[0].body);
    assert!(text.contains("api is critical"), "{text}");
    assert!(text.contains("500"), "{text}");

    // Still failing: nothing new.
    assert_eq!(h.round(60, "api").await, 0);

    h.service.set(Mode::Healthy);
    assert_eq!(h.round(60, "api").await, 0, "one success is not a recovery");
    assert_eq!(h.round(60, "api").await, 1);
    let posts = h.slack.wait_calls("chat.postMessage", 2).await;
    let text = crate::support::slack::all_text(&posts[1].body);
    assert!(text.contains("api recovered after"), "{text}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_follows_while_still_failing() {
    let h = HealthHarness::start(|_, _| {}).await;
    h.service.set(Mode::Failing);
    h.check_after(60, "api").await;
    assert_eq!(h.round(60, "api").await, 1);
    assert_eq!(
        h.round(3 * 3600, "api").await,
        0,
        "three hours is before the reminder"
    );
    assert_eq!(h.round(3600, "api").await, 1);
    let posts = h.slack.wait_calls("chat.postMessage", 2).await;
    let text = crate::support::slack::all_text(&posts[1].body);
    assert!(text.contains("api is still critical since"), "{text}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_neither_realerts_nor_misses_a_recovery() {
    let h = HealthHarness::start(|_, _| {}).await;
    h.service.set(Mode::Failing);
    h.check_after(60, "api").await;
    assert_eq!(h.round(60, "api").await, 1);

    let h = h.restart().await;
    assert_eq!(
        h.round(60, "api").await,
        0,
        "the open alert is not sent again"
    );

    // It recovers while OpsMate is down; the next start reports the recovery.
    h.service.set(Mode::Healthy);
    let h = h.restart().await;
    h.check_after(600, "api").await;
    assert_eq!(h.round(60, "api").await, 1);
    let posts = h.slack.wait_calls("chat.postMessage", 2).await;
    assert!(crate::support::slack::all_text(&posts[1].body).contains("api recovered"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_within_group_wait_go_out_as_one_message() {
    let h = HealthHarness::start(|c, s| {
        c.edit_section(
            |o: &mut opsmate::features::observatory::config::ObservatoryConfig| {
                o.checks.push(http_check("web", &s.url));
                o.checks.push(http_check("docs", &s.url));
            },
        );
    })
    .await;
    h.service.set(Mode::Failing);
    for _ in 0..2 {
        h.clock.advance(chrono::Duration::seconds(60));
        for name in ["api", "web", "docs"] {
            h.check(name).await;
        }
    }
    h.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(h.flush().await, 3);
    let posts = h.slack.wait_calls("chat.postMessage", 1).await;
    assert_eq!(
        h.slack.fake.calls_to("chat.postMessage").len(),
        1,
        "one message"
    );
    let text = crate::support::slack::all_text(&posts[0].body);
    assert!(text.contains("Health: 3 changes"), "{text}");
    for name in ["api", "web", "docs"] {
        assert!(text.contains(&format!("{name} is critical")), "{text}");
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintenance_window_holds_alerts_and_reports_only_a_changed_state() {
    let h = HealthHarness::start(|c, _| {
        c.edit_section(
            |section: &mut opsmate::features::observatory::config::ObservatoryConfig| {
                section.maintenance = vec![MaintenanceWindow {
                    start: "00:00".into(),
                    duration: std::time::Duration::from_secs(2 * 3600),
                    timezone: None,
                    weekdays: Vec::new(),
                    checks: vec!["api".into()],
                }]
            },
        );
    })
    .await;
    // Move to 00:10 UTC of the next day: inside today's window.
    let now = opsmate::clock::Clock::now(&h.clock);
    let next_midnight = (now + chrono::Duration::days(1))
        .date_naive()
        .and_hms_opt(0, 10, 0)
        .unwrap()
        .and_utc();
    h.clock.set(next_midnight);
    h.service.set(Mode::Failing);
    for _ in 0..4 {
        h.check_after(60, "api").await;
    }
    h.clock.advance(chrono::Duration::minutes(5));
    assert_eq!(h.flush().await, 0, "nothing during the window");
    // After the window (00:00 to 02:00), still failing: one message saying so.
    h.clock.set(next_midnight + chrono::Duration::hours(3));
    h.check_after(0, "api").await;
    h.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(h.flush().await, 1);
    let posts = h.slack.wait_calls("chat.postMessage", 1).await;
    let text = crate::support::slack::all_text(&posts[0].body);
    assert!(text.contains("api is critical after maintenance"), "{text}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_gets_the_alert_with_the_check_name_escaped() {
    let h = HealthHarness::start(|c, s| {
        c.edit_section(
            |section: &mut opsmate::features::observatory::config::ObservatoryConfig| {
                section.checks = vec![http_check("<db_main & co>", &s.url)]
            },
        );
    })
    .await;
    h.service.set(Mode::Failing);
    h.check_after(60, "<db_main & co>").await;
    assert_eq!(h.round(60, "<db_main & co>").await, 1);
    let ok = crate::support::eventually(std::time::Duration::from_secs(10), || async {
        h.clock.advance(chrono::Duration::milliseconds(100));
        !h.telegram.delivered("sendMessage").is_empty()
    })
    .await;
    assert!(ok, "the alert reached Telegram");
    let sent = h.telegram.delivered("sendMessage");
    let text = sent[0].body["text"].as_str().unwrap();
    assert!(
        text.contains("&lt;db_main &amp; co&gt; is critical"),
        "{text}"
    );
    assert!(!text.contains("<db_main"), "{text}");
    assert_eq!(sent[0].body["parse_mode"], "HTML");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timers_run_checks_and_send_alerts_by_themselves() {
    let h = HealthHarness::start_live(|c, _| {
        c.edit_section(
            |o: &mut opsmate::features::observatory::config::ObservatoryConfig| {
                o.checks[0].interval = std::time::Duration::from_secs(1);
                o.group_wait = std::time::Duration::ZERO;
            },
        );
    })
    .await;
    h.service.set(Mode::Failing);
    let posts = h.slack.wait_calls("chat.postMessage", 1).await;
    let text = crate::support::slack::all_text(&posts[0].body);
    assert!(text.contains("api is critical"), "{text}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_checks_watch_the_outbox_and_scheduled_jobs() {
    use opsmate::events::JobKind;
    use opsmate::features::observatory::Observatory;
    use opsmate::scheduler::CronSchedule;
    let h = HealthHarness::start(|_, _| {}).await;
    // A daily job this app does not schedule, so only the test records its runs.
    let daily = CronSchedule::parse("0 9 * * *", chrono_tz::Tz::UTC).unwrap();
    let t0 = opsmate::clock::Clock::now(&h.clock);
    let o = Observatory::new(
        &h.slack.config,
        h.ctx().store.clone(),
        vec![(JobKind::GUARD_SCAN, daily.clone())],
        t0,
    )
    .unwrap();
    let find = |results: &[(String, opsmate::features::observatory::status::Outcome)]| {
        results
            .iter()
            .find(|(n, _)| n == "job:guard_scan")
            .expect("a job check")
            .1
            .clone()
    };
    let results = o.self_outcomes(h.ctx()).await.unwrap();
    let outbox = &results.iter().find(|(n, _)| n == "outbox").unwrap().1;
    assert_eq!(outbox.status, Status::Ok, "{}", outbox.message);
    assert_eq!(
        find(&results).status,
        Status::Ok,
        "nothing due since the start"
    );
    // A day later the 09:00 run is 15 minutes overdue and never succeeded.
    let due = daily.next_after(t0).unwrap();
    h.clock.set(due + chrono::Duration::minutes(16));
    let job = find(&o.self_outcomes(h.ctx()).await.unwrap());
    assert_eq!(job.status, Status::Critical, "{}", job.message);
    assert!(job.message.contains("did not succeed"), "{}", job.message);
    let at = due.timestamp_millis();
    h.ctx()
        .store
        .call(move |c| {
            c.execute(
                "INSERT INTO job_runs (job, scheduled_for, started_at, finished_at, outcome)
                 VALUES ('guard_scan', ?1, ?1, ?1, 'ok')",
                [at],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let job = find(&o.self_outcomes(h.ctx()).await.unwrap());
    assert_eq!(job.status, Status::Ok, "{}", job.message);
    h.stop().await;
}
