//! Observatory's detectors end to end: a latency step on a real local service is a
//! warning with its evidence (and opens an incident like any alert); a log rule
//! fires at its count within its window and not before, across a rotation, and
//! recovers once quiet.

use crate::support::fake_service::Mode;
use crate::support::observatory::HealthHarness;
use crate::support::slack::all_text;
use opsmate::features::observatory::config::{AnomalyConfig, LogRule, LogWatch, ObservatoryConfig};
use opsmate::features::observatory::status::Status;
use std::io::Write;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latency_step_is_a_warning_with_its_evidence_and_ordinary_readings_are_not() {
    let h = HealthHarness::start(|c, _| {
        c.edit_section(|o: &mut ObservatoryConfig| {
            o.checks[0].anomaly = Some(AnomalyConfig {
                method: "mad".into(),
                min_samples: 20,
                ..AnomalyConfig::default()
            });
        });
    })
    .await;
    h.service.set(Mode::Healthy);
    h.service.slow_down(Duration::from_millis(20));
    for _ in 0..30 {
        let o = h.check_after(10, "api").await;
        assert_eq!(
            o.status,
            Status::Ok,
            "an ordinary reading was flagged: {}",
            o.message
        );
    }
    // Five times the usual and more: the loopback answers in about 20 ms, now 200.
    h.service.slow_down(Duration::from_millis(200));
    let o = h.check_after(10, "api").await;
    assert_eq!(o.status, Status::Warn, "{}", o.message);
    assert!(o.message.starts_with("latency "), "{}", o.message);
    assert!(o.message.contains("× the usual"), "{}", o.message);
    assert!(o.message.contains("mad over 1h"), "{}", o.message);
    assert_eq!(h.check_after(10, "api").await.status, Status::Warn);
    h.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(h.flush().await, 1, "two warnings in a row alert");
    h.slack.wait_calls("chat.postMessage", 1).await;
    let posted = h.posted();
    assert!(posted[0].contains("api is warn"), "{posted:#?}");
    assert!(posted[0].contains("× the usual"), "{posted:#?}");
    h.stop().await;
}

fn append(path: &std::path::Path, lines: &[&str]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_rule_fires_at_its_count_within_the_window_across_a_rotation_and_recovers() {
    let logs = tempfile::tempdir().unwrap();
    let path = logs.path().join("app.log");
    append(&path, &["ERROR before OpsMate started: history, not news"]);
    let watched = path.clone();
    let h = HealthHarness::start(move |c, _| {
        c.edit_section(|o: &mut ObservatoryConfig| {
            o.checks.clear();
            o.logs = vec![LogWatch {
                path: watched,
                rules: vec![LogRule {
                    name: "app-errors".into(),
                    pattern: r"\bERROR\b".into(),
                    severity: "critical".into(),
                    at_least: 3,
                    within: Duration::from_secs(60),
                    cooldown: Duration::from_secs(120),
                }],
            }];
        });
    })
    .await;
    let o = h.observatory();
    let poll = |secs: i64| {
        h.clock.advance(chrono::Duration::seconds(secs));
        o.poll_logs(h.ctx())
    };
    assert_eq!(poll(1).await.unwrap(), 0);
    append(&path, &["INFO fine", "ERROR one", "ERROR two"]);
    assert_eq!(poll(1).await.unwrap(), 0, "two matches are not three");
    // Rotated by rename: the old file gets a last line, the new one the third error.
    append(&path, &["WARN still writing"]);
    std::fs::rename(&path, logs.path().join("app.log.1")).unwrap();
    append(&path, &["ERROR three, in the new file"]);
    assert_eq!(
        poll(1).await.unwrap(),
        1,
        "the third match within a minute fires"
    );
    h.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(h.flush().await, 1);
    h.slack.wait_calls("chat.postMessage", 1).await;
    let posted = h.posted();
    assert!(
        posted[0].contains("log:app-errors is critical"),
        "{posted:#?}"
    );
    assert!(
        posted[0].contains("3 matching lines within 1m"),
        "{posted:#?}"
    );
    assert!(
        posted[0].contains("ERROR three, in the new file"),
        "{posted:#?}"
    );

    // Old matches age out: one more error much later is not three in a minute.
    assert_eq!(poll(100).await.unwrap(), 0);
    assert_eq!(
        poll(100).await.unwrap(),
        1,
        "quiet for window + cooldown: recovered"
    );
    h.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(h.flush().await, 1);
    let text = all_text(&h.slack.wait_calls("chat.postMessage", 2).await[1].body);
    assert!(text.contains("log:app-errors recovered"), "{text}");
    append(&path, &["ERROR a lone one"]);
    assert_eq!(poll(1).await.unwrap(), 0);
    h.stop().await;
}
