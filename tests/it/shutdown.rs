//! A stop while events wait: what the drain time does not cover is kept in the
//! database and handled after the next start, so nothing acknowledged is dropped.

use crate::support::eventually;
use crate::support::hunter::*;
use crate::support::slack::all_text;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_still_waiting_when_the_drain_ends_is_answered_after_the_restart() {
    let h = HunterHarness::start(|c| c.shutdown.drain = Duration::from_millis(300)).await;
    // The first scan hangs on AWS; the second waits behind it (one scan at a time).
    h.proxy.hold("DescribeVolumes");
    assert_eq!(
        h.slack.command("UALICE", "zombies", "first").await.status(),
        200
    );
    let hanging = eventually(Duration::from_secs(10), || async {
        h.proxy.arrived("DescribeVolumes") > 0
    })
    .await;
    assert!(hanging, "the first scan never reached AWS");
    assert_eq!(
        h.slack
            .command("UALICE", "zombies", "second")
            .await
            .status(),
        200
    );
    // Help has no lane: it is answered during the drain.
    assert_eq!(
        h.slack.command("UALICE", "help", "help").await.status(),
        200
    );
    h.slack.wait_calls("response_url:help", 1).await;

    let h = h
        .stop_and_restart(|config| {
            let db = rusqlite::Connection::open(&config.storage.path).unwrap();
            let kept: Vec<String> = db
                .prepare("SELECT event FROM parked_events")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(kept.len(), 1, "{kept:?}");
            assert!(
                kept[0].contains("second"),
                "the waiting command was kept: {kept:?}"
            );
        })
        .await;
    assert!(
        h.slack.fake.calls_to("response_url:second").is_empty(),
        "answered before the restart"
    );
    let kept = || {
        h.slack
            .app
            .ctx
            .store
            .with_conn(|c| {
                Ok(c.query_row("SELECT COUNT(*) FROM parked_events", [], |r| {
                    r.get::<_, i64>(0)
                })?)
            })
            .unwrap()
    };
    let taken = eventually(Duration::from_secs(10), || async { kept() == 0 }).await;
    assert!(taken, "the kept event was never taken after the start");

    h.proxy.release("DescribeVolumes");
    let answers = h.slack.wait_calls("response_url:second", 1).await;
    let text = all_text(&answers[0].body);
    assert!(text.contains("Zombie"), "{text}");
    h.slack.app.finish().await;
    assert_eq!(
        h.slack.fake.calls_to("response_url:second").len(),
        1,
        "answered once"
    );
}
