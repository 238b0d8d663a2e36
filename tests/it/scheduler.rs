//! The scheduler's bookkeeping: catch-up once, never twice, DST-correct, against SQLite.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use opsmate::clock::{ManualClock, SharedClock};
use opsmate::events::JobKind;
use opsmate::scheduler::{CronSchedule, ScheduledJob, Scheduler};
use opsmate::store::Store;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn scheduler(db: &Path, cron: &str, tz: Tz, window_hours: u64, now: DateTime<Utc>) -> Scheduler {
    let store = Store::open(db, Duration::from_secs(5)).unwrap();
    let clock: SharedClock = Arc::new(ManualClock::new(now));
    Scheduler::new(
        vec![ScheduledJob {
            catch_up_window: None,
            kind: JobKind::EXPIRE_APPROVALS,
            schedule: CronSchedule::parse(cron, tz).unwrap(),
        }],
        store,
        clock,
        Duration::from_secs(window_hours * 3600),
    )
}

fn times(runs: &[opsmate::events::JobRun]) -> Vec<DateTime<Utc>> {
    runs.iter().map(|r| r.scheduled_for).collect()
}

#[tokio::test]
async fn a_missed_occurrence_is_caught_up_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    // Running at 05:00: the hourly job fires.
    let mut s = scheduler(&db, "0 * * * *", Tz::UTC, 6, utc("2026-11-21T04:59:00Z"));
    assert_eq!(
        times(&s.tick(utc("2026-11-21T05:00:00Z")).await.unwrap()),
        vec![utc("2026-11-21T05:00:00Z")]
    );
    drop(s);

    // Down from 05:10 to 08:30: 06:00, 07:00 and 08:00 were missed; only 08:00 runs.
    let mut s = scheduler(&db, "0 * * * *", Tz::UTC, 6, utc("2026-11-21T08:30:00Z"));
    let runs = s.catch_up(utc("2026-11-21T08:30:00Z")).await.unwrap();
    assert_eq!(times(&runs), vec![utc("2026-11-21T08:00:00Z")]);
    assert!(runs[0].catch_up);
    assert!(
        s.tick(utc("2026-11-21T08:45:00Z"))
            .await
            .unwrap()
            .is_empty()
    );
    drop(s);

    // Another restart a minute later: nothing is run again.
    let mut s = scheduler(&db, "0 * * * *", Tz::UTC, 6, utc("2026-11-21T08:31:00Z"));
    assert!(
        s.catch_up(utc("2026-11-21T08:31:00Z"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        times(&s.tick(utc("2026-11-21T09:00:00Z")).await.unwrap()),
        vec![utc("2026-11-21T09:00:00Z")]
    );
}

#[tokio::test]
async fn occurrences_older_than_the_window_are_not_caught_up() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    // It ran yesterday at 09:00, then the bot was down until 17:00 today.
    let mut s = scheduler(&db, "0 9 * * *", Tz::UTC, 6, utc("2026-11-20T08:59:00Z"));
    assert_eq!(s.tick(utc("2026-11-20T09:00:00Z")).await.unwrap().len(), 1);
    // Today's 09:00 is 8 hours old: outside a 6-hour window, inside a 9-hour one.
    let mut s = scheduler(&db, "0 9 * * *", Tz::UTC, 6, utc("2026-11-21T17:00:00Z"));
    assert!(
        s.catch_up(utc("2026-11-21T17:00:00Z"))
            .await
            .unwrap()
            .is_empty()
    );
    let mut s = scheduler(&db, "0 9 * * *", Tz::UTC, 9, utc("2026-11-21T17:00:00Z"));
    assert_eq!(
        times(&s.catch_up(utc("2026-11-21T17:00:00Z")).await.unwrap()),
        vec![utc("2026-11-21T09:00:00Z")]
    );
}

#[tokio::test]
async fn a_first_start_catches_nothing_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = scheduler(
        &dir.path().join("s.db"),
        "0 9 * * *",
        Tz::UTC,
        24,
        utc("2026-11-21T10:00:00Z"),
    );
    assert!(
        s.catch_up(utc("2026-11-21T10:00:00Z"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        times(&s.tick(utc("2026-11-22T09:00:00Z")).await.unwrap()),
        vec![utc("2026-11-22T09:00:00Z")]
    );
}

#[tokio::test]
async fn no_double_run_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let mut s = scheduler(&db, "0 20 * * 1-5", Tz::UTC, 6, utc("2026-11-20T19:59:00Z"));
    assert_eq!(s.tick(utc("2026-11-20T20:00:00Z")).await.unwrap().len(), 1);
    // Restart seconds later, and again: the 20:00 run is already claimed.
    for _ in 0..2 {
        let mut s = scheduler(&db, "0 20 * * 1-5", Tz::UTC, 6, utc("2026-11-20T20:00:30Z"));
        assert!(
            s.catch_up(utc("2026-11-20T20:00:30Z"))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            s.tick(utc("2026-11-20T20:05:00Z"))
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn ticking_through_dst_changes_runs_each_local_time_once() {
    for (tz, cron, from, to, expected) in [
        // Berlin spring forward: 02:30 does not exist; it runs at 03:00 CEST.
        (
            chrono_tz::Europe::Berlin,
            "30 2 * * *",
            "2026-03-28T12:00:00Z",
            "2026-03-29T12:00:00Z",
            "2026-03-29T01:00:00Z",
        ),
        // Berlin fall back: 02:30 happens twice; it runs at the first.
        (
            chrono_tz::Europe::Berlin,
            "30 2 * * *",
            "2026-10-24T12:00:00Z",
            "2026-10-25T12:00:00Z",
            "2026-10-25T00:30:00Z",
        ),
        // New York spring forward: 02:30 does not exist; it runs at 03:00 EDT.
        (
            chrono_tz::America::New_York,
            "30 2 * * *",
            "2026-03-07T12:00:00Z",
            "2026-03-08T12:00:00Z",
            "2026-03-08T07:00:00Z",
        ),
        // New York fall back: 01:30 happens twice; it runs at the first (EDT).
        (
            chrono_tz::America::New_York,
            "30 1 * * *",
            "2026-10-31T12:00:00Z",
            "2026-11-01T12:00:00Z",
            "2026-11-01T05:30:00Z",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let start = utc(from);
        let mut s = scheduler(&dir.path().join("s.db"), cron, tz, 6, start);
        s.catch_up(start).await.unwrap();
        let mut fired = Vec::new();
        let mut now = start;
        // Tick every 5 minutes through the day.
        while now < utc(to) {
            now += chrono::Duration::minutes(5);
            fired.extend(times(&s.tick(now).await.unwrap()));
        }
        assert_eq!(fired, vec![utc(expected)], "{tz} {cron} from {from}");
    }
}

#[tokio::test]
async fn a_missed_evening_check_is_caught_up_once_within_the_night() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let night = |now: DateTime<Utc>| {
        let store = Store::open(&db, Duration::from_secs(5)).unwrap();
        let clock: SharedClock = Arc::new(ManualClock::new(now));
        Scheduler::new(
            vec![ScheduledJob {
                kind: JobKind::WATCHMAN_SHUTDOWN,
                schedule: CronSchedule::parse("0 20 * * *", chrono_tz::Europe::Berlin).unwrap(),
                catch_up_window: Some(opsmate::features::watchman::NIGHT_CATCH_UP),
            }],
            store,
            clock,
            Duration::from_secs(6 * 3600),
        )
    };
    // Monday 20:00 Berlin (19:00 UTC) runs normally.
    let mut s = night(utc("2026-11-23T18:59:00Z"));
    assert_eq!(s.tick(utc("2026-11-23T19:00:00Z")).await.unwrap().len(), 1);
    drop(s);
    // Down over Tuesday's 20:00; back at 03:30 Wednesday, 7½ h later: past the
    // general 6 h window, inside the night. It runs once.
    let mut s = night(utc("2026-11-25T02:30:00Z"));
    let runs = s.catch_up(utc("2026-11-25T02:30:00Z")).await.unwrap();
    assert_eq!(times(&runs), vec![utc("2026-11-24T19:00:00Z")]);
    drop(s);
    let mut s = night(utc("2026-11-25T02:40:00Z"));
    assert!(
        s.catch_up(utc("2026-11-25T02:40:00Z"))
            .await
            .unwrap()
            .is_empty(),
        "never twice"
    );
}
