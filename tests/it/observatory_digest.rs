//! The daily digest and the health answers: arithmetic over stored samples, the day
//! across a DST change, never twice a day, the commands and the CLI.

use crate::cli::{opsmate, output};
use crate::support::fake_service::{FakeService, Mode};
use crate::support::observatory::HealthHarness;
use chrono::{DateTime, Duration, Utc};
use opsmate::clock::Clock;
use opsmate::features::observatory::status::{Outcome, Status};
use opsmate::features::observatory::{digest, rollups, store};

/// Stores one sample of `check` at `at`, with its hourly rollup, as a recorded
/// result is (the check runs every minute).
async fn sample(h: &HealthHarness, check: &str, at: DateTime<Utc>, status: Status, ms: f64) {
    let (check, o) = (
        check.to_owned(),
        Outcome::new(status, Some(ms), "ms", format!("{status}")),
    );
    h.ctx()
        .store
        .call(move |c| {
            rollups::on_sample(c, &check, at, Some(ms), Duration::minutes(1))?;
            store::insert_sample(c, &check, at, &o)
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_reports_time_weighted_uptime_gaps_p95_and_incidents() {
    let h = HealthHarness::start(|c, _| {
        c.edit_section(
            |o: &mut opsmate::features::observatory::config::ObservatoryConfig| {
                o.checks[0].latency_slo_ms = Some(2000);
            },
        );
    })
    .await;
    // The day ends at the next 09:00 UTC digest.
    let now = h.clock.now();
    let end = (now + Duration::days(1))
        .date_naive()
        .and_hms_opt(9, 0, 0)
        .unwrap()
        .and_utc();
    let start = end - Duration::hours(24);
    // 20 h ok (every tenth at 900 ms), 2 h down, 1 h ok, then 1 h without data.
    for i in 0..(23 * 60) {
        let at = start + Duration::minutes(i);
        let down = (20 * 60..22 * 60).contains(&i);
        let ms = if i % 10 == 0 { 900.0 } else { 100.0 };
        let status = if down { Status::Critical } else { Status::Ok };
        sample(&h, "api", at, status, ms).await;
    }
    h.clock.set(end);
    let o = h.observatory();
    let report = digest::slo_report(h.ctx(), &o, start, end).await.unwrap();
    let api = &report[0];
    // The last sample has no successor: it covers 2 × the interval (2 min), so the
    // last ok hour covers 61 min: 1,261 min up of 1,381 with data.
    let day = api.uptime_day.unwrap();
    let want = 1261.0 / 1381.0;
    assert!((day - want).abs() < 1e-9, "{day} vs {want}");
    assert_eq!(api.p95_ms, Some(900.0));
    assert_eq!(api.samples_day, 23 * 60);
    assert_eq!(api.incidents.len(), 1);
    assert_eq!(api.incidents[0].start, start + Duration::hours(20));
    assert_eq!(api.incidents[0].duration(end), Duration::hours(2));

    let msg = digest::build(h.ctx(), &o, end).await.unwrap().message;
    let text = msg.plain();
    assert!(text.contains("api: uptime 91.31% (day)"), "{text}");
    assert!(text.contains("p95 900 ms against 2000 ms ✓"), "{text}");
    assert!(text.contains("Incidents (1)"), "{text}");
    assert!(text.contains("for 2 h 0 min"), "{text}");
    assert!(text.contains("no data for 96.8% of 30 d"), "{text}");
    assert!(text.contains("Nothing is failing now."), "{text}");
    assert!(text.contains("No proposal is waiting."), "{text}");
    assert!(text.contains("(24 h)"), "{text}");
    // Features that are off have no section.
    assert!(!text.contains("Zombie Hunter"), "{text}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p95_needs_twenty_samples() {
    let h = HealthHarness::start(|_, _| {}).await;
    let end = h.clock.now();
    for i in 0..19 {
        sample(&h, "api", end - Duration::minutes(30 - i), Status::Ok, 50.0).await;
    }
    let o = h.observatory();
    let report = digest::slo_report(h.ctx(), &o, end - Duration::days(1), end)
        .await
        .unwrap();
    assert_eq!(report[0].p95_ms, None);
    assert!(digest::slo_line(&report[0]).contains("p95 n/a (19 samples)"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_day_before_a_spring_forward_digest_has_23_hours() {
    let h = HealthHarness::start(|c, _| {
        c.edit_section(
            |section: &mut opsmate::features::observatory::config::ObservatoryConfig| {
                section.timezone = Some(chrono_tz::Europe::Berlin)
            },
        );
    })
    .await;
    // 2026-03-29 09:00 in Berlin (CEST) is 07:00 UTC.
    let at: DateTime<Utc> = "2026-03-29T07:00:00Z".parse().unwrap();
    let msg = digest::build(h.ctx(), &h.observatory(), at)
        .await
        .unwrap()
        .message;
    assert!(msg.plain().contains("(23 h)"), "{}", msg.plain());
    assert!(msg.title.contains("2026-03-29"), "{}", msg.title);
    h.stop().await;
}

#[tokio::test]
async fn the_digest_job_runs_once_per_day_even_across_a_restart() {
    use opsmate::clock::{ManualClock, SharedClock};
    use opsmate::events::JobKind;
    use opsmate::scheduler::{CronSchedule, ScheduledJob, Scheduler};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db");
    let job = || ScheduledJob {
        kind: JobKind::OBSERVATORY_DIGEST,
        schedule: CronSchedule::parse("0 9 * * *", chrono_tz::Europe::Berlin).unwrap(),
        catch_up_window: None,
    };
    let start = |now: DateTime<Utc>| {
        let store = opsmate::store::Store::open(&db, std::time::Duration::from_secs(5)).unwrap();
        let clock: SharedClock = Arc::new(ManualClock::new(now));
        Scheduler::new(
            vec![job()],
            store,
            clock,
            std::time::Duration::from_secs(6 * 3600),
        )
    };
    let nine: DateTime<Utc> = "2026-11-23T08:00:00Z".parse().unwrap();
    let mut s = start(nine - Duration::minutes(1));
    assert_eq!(s.tick(nine).await.unwrap().len(), 1);
    assert!(
        s.tick(nine + Duration::seconds(30))
            .await
            .unwrap()
            .is_empty()
    );
    drop(s);
    let mut s = start(nine + Duration::minutes(5));
    assert!(
        s.catch_up(nine + Duration::minutes(5))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.tick(nine + Duration::minutes(6))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.tick(nine + Duration::days(1)).await.unwrap().len(),
        1,
        "the next day's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_digest_answer_in_slack() {
    let h = HealthHarness::start(|_, _| {}).await;
    h.service.set(Mode::Failing);
    h.check_after(60, "api").await;
    let r = h.slack.command("UALICE", "health", "health").await;
    assert_eq!(r.status(), 200);
    let answer = h.slack.wait_calls("response_url:health", 1).await;
    let text = crate::support::slack::all_text(&answer[0].body);
    assert!(text.contains("1 of 1 checks not ok"), "{text}");
    assert!(text.contains("api: critical"), "{text}");
    h.slack.command("UALICE", "digest", "digest").await;
    let answer = h.slack.wait_calls("response_url:digest", 1).await;
    let text = crate::support::slack::all_text(&answer[0].body);
    assert!(text.contains("OpsMate daily digest"), "{text}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_check_exits_by_status_and_history_and_slo_print() {
    let service = FakeService::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[observatory]\n[observatory.self_checks]\nenabled = false\n[[observatory.checks]]\nname = \"api\"\nkind = \"http\"\nurl = \"{}\"\ntimeout = \"1s\"\n[[observatory.checks]]\nname = \"db\"\nkind = \"sqlite\"\n",
        service.url
    );
    std::fs::write(dir.path().join("opsmate.toml"), config).unwrap();
    let run = |args: &[&str]| {
        let mut cmd = opsmate(dir.path());
        cmd.args(args);
        cmd
    };
    let out = output(run(&["health", "check"])).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("api") && stdout.contains("ok"), "{stdout}");
    service.set(Mode::Failing);
    let out = output(run(&["health", "check"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("critical"));
    let out = output(run(&["health", "history", "3"])).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    let out = output(run(&["health", "slo"])).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.contains("api: uptime"), "{stdout}");
    let out = output(run(&["digest"])).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("OpsMate daily digest"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_reports_access_guard_work_and_waiting_approvals() {
    use crate::support::guard::GuardHarness;
    let h = GuardHarness::start(|c| {
        c.sections
            .set(&opsmate::features::observatory::config::ObservatoryConfig::default());
    })
    .await;
    h.iam_user("ci-deployer", &[]).await;
    for (user, slack) in [("ann", "U0ANN"), ("bo", "U0BO")] {
        h.person(
            user,
            &format!("{user}@corp.com"),
            &format!("{user}-gh"),
            slack,
        )
        .await;
        h.slack.fake.set_deleted(slack, true);
    }
    h.give_access("ann").await;
    h.scan().await;
    h.advance_days(7);
    h.scan().await;
    let requests = h
        .ctx()
        .gate
        .latest_by_target(opsmate::domain::ActionKind::REVOKE_ACCESS)
        .await
        .unwrap();
    let ann = requests["iam-user:ann"].clone();
    let voter = opsmate::domain::Actor::Slack {
        user: opsmate::domain::SlackUserId::parse("UALICE").unwrap(),
        groups: vec![],
    };
    h.ctx()
        .gate
        .decide(&ann.id, &voter, opsmate::approvals::Verdict::Approve)
        .await
        .unwrap();
    h.ctx().executor.run_to_end(&ann.id).await.unwrap();
    let o = h
        .ctx()
        .features
        .get::<opsmate::features::observatory::Observatory>()
        .unwrap();
    let text = digest::build(h.ctx(), &o, h.now() + Duration::minutes(1))
        .await
        .unwrap()
        .message
        .plain();
    assert!(text.contains("Revoked the AWS access of ann."), "{text}");
    assert!(
        text.contains("Unmapped IAM users (1): ci-deployer"),
        "{text}"
    );
    assert!(text.contains("1 waiting:"), "{text}");
    assert!(text.contains("Revoke AWS access iam-user:bo"), "{text}");
    assert!(!text.contains("Night Watchman"), "{text}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_carries_the_audit_head_and_verify_names_a_trimmed_chain() {
    use crate::support::slack::SlackHarness;
    use opsmate::audit::Head;

    let h = HealthHarness::start(|_, _| {}).await;
    h.slack.command("UALICE", "digest", "digest").await;
    let answer = h.slack.wait_calls("response_url:digest", 1).await;
    let text = crate::support::slack::all_text(&answer[0].body);
    let shown = text
        .split("Head ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_else(|| panic!("no head in the digest: {text}"));
    let head: Head = shown.parse().unwrap();
    assert!(
        text.contains(&format!("opsmate audit verify --head {head}")),
        "{text}"
    );
    // /readyz shows the head now: past the posted one, whose posting is audited.
    let ready: serde_json::Value = reqwest::get(h.slack.app.url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let now: Head = ready["audit_head"].as_str().unwrap().parse().unwrap();
    assert!(now.seq > head.seq, "{now} after {head}");
    let HealthHarness { slack, .. } = h;
    let SlackHarness { dir, app, .. } = slack;
    app.finish().await;

    let verify = |heads: Vec<String>| {
        let mut cmd = opsmate(dir.path());
        cmd.args(["audit", "verify"]);
        for h in heads {
            cmd.args(["--head", &h]);
        }
        output(cmd)
    };
    let out = verify(vec![head.to_string()]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("2 posted or given head(s) found in the chain"),
        "{stdout}"
    );

    // The tail is cut off behind the triggers' back, the posted head's row with it.
    let db = rusqlite::Connection::open(dir.path().join("opsmate.db")).unwrap();
    db.execute_batch("DROP TRIGGER audit_log_no_delete;")
        .unwrap();
    db.execute("DELETE FROM audit_log WHERE seq >= ?1", [head.seq])
        .unwrap();
    drop(db);
    let out = verify(Vec::new()).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for expected in [
        format!("audit log broken at row {}:", head.seq),
        format!("but head {head}"),
        format!("rows {} to {} are missing", head.seq, head.seq),
    ] {
        assert!(stdout.contains(&expected), "{expected}: {stdout}");
    }
    assert!(
        stdout.contains("digest asked for by slack:UALICE"),
        "{stdout}"
    );
}
