//! When a check's results become an alert, a recovery, a reminder or a change
//! (pure). Thresholds keep a single blip quiet; maintenance windows hold notices back
//! and, when they end, only a state different from before the window is announced.

use super::status::Status;
use chrono::{DateTime, Duration, Utc};

/// Consecutive results needed to open and to close an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub failure: u32,
    pub success: u32,
}

/// What was announced when a maintenance window began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub since: DateTime<Utc>,
    pub open: Option<Status>,
}

/// One check's alert state, stored between results (and restarts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AlertState {
    pub last_status: Option<Status>,
    pub bad_streak: u32,
    pub good_streak: u32,
    /// The status announced by the open alert; `None` while no alert is open.
    pub open: Option<Status>,
    pub open_since: Option<DateTime<Utc>>,
    pub last_notified: Option<DateTime<Utc>>,
    pub held: Option<Held>,
}

/// What to tell people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// Bad for `failure` results in a row.
    Alert,
    /// Good again for `success` results in a row.
    Recovery,
    /// Still failing, `reminder_interval` after the last notice.
    Reminder,
    /// Still failing, but now worse or better (warn ↔ critical/error).
    Change,
    /// A maintenance window ended with a state other than before it.
    AfterMaintenance,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Alert => "alert",
            NoticeKind::Recovery => "recovery",
            NoticeKind::Reminder => "reminder",
            NoticeKind::Change => "change",
            NoticeKind::AfterMaintenance => "after_maintenance",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notice {
    pub kind: NoticeKind,
    /// The status now.
    pub status: Status,
    /// Since when the alert was open (for recoveries and reminders).
    pub since: Option<DateTime<Utc>>,
    /// Whether an alert is open after this notice.
    pub open: bool,
}

/// Degraded (warn) and down (critical, error) are announced as different states.
fn severity(s: Option<Status>) -> u8 {
    match s {
        None | Some(Status::Ok) => 0,
        Some(Status::Warn) => 1,
        Some(Status::Critical | Status::Error) => 2,
    }
}

/// Applies one result at `now` and says what to announce, if anything.
pub fn observe(
    state: &mut AlertState,
    status: Status,
    now: DateTime<Utc>,
    t: Thresholds,
    reminder: Duration,
    in_maintenance: bool,
) -> Option<Notice> {
    if in_maintenance && state.held.is_none() {
        state.held = Some(Held {
            since: now,
            open: state.open,
        });
    }
    state.last_status = Some(status);
    if status.is_bad() {
        state.bad_streak += 1;
        state.good_streak = 0;
    } else {
        state.good_streak += 1;
        state.bad_streak = 0;
    }
    let since = state.open_since;
    let notice = match state.open {
        None if state.bad_streak >= t.failure => {
            state.open = Some(status);
            state.open_since = Some(now);
            Some((NoticeKind::Alert, state.open_since))
        }
        Some(_) if state.good_streak >= t.success => {
            state.open = None;
            state.open_since = None;
            Some((NoticeKind::Recovery, since))
        }
        Some(open) if status.is_bad() && severity(Some(open)) != severity(Some(status)) => {
            state.open = Some(status);
            Some((NoticeKind::Change, since))
        }
        Some(_) if status.is_bad() && state.last_notified.is_none_or(|at| now - at >= reminder) => {
            Some((NoticeKind::Reminder, since))
        }
        _ => None,
    };
    if in_maintenance {
        return None;
    }
    let notice = match state.held.take() {
        // The window just ended: only a different state is news.
        Some(held) if severity(held.open) != severity(state.open) => {
            Some((NoticeKind::AfterMaintenance, state.open_since))
        }
        Some(_) => None,
        None => notice,
    };
    notice.map(|(kind, since)| {
        state.last_notified = Some(now);
        Notice {
            kind,
            status,
            since,
            open: state.open.is_some(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        failure: 2,
        success: 2,
    };

    fn run(statuses: &[Status], maintenance: &[bool]) -> Vec<Option<NoticeKind>> {
        let mut state = AlertState::default();
        let start: DateTime<Utc> = "2026-11-22T10:00:00Z".parse().unwrap();
        statuses
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let now = start + Duration::minutes(i as i64);
                let m = maintenance.get(i).copied().unwrap_or(false);
                observe(&mut state, *s, now, T, Duration::hours(4), m).map(|n| n.kind)
            })
            .collect()
    }

    use NoticeKind::*;
    use Status::{Critical as C, Error as E, Ok as O, Warn as W};

    #[test]
    fn flapping_below_the_thresholds_sends_nothing() {
        assert_eq!(run(&[O, C, O, C, O, C, O], &[]), vec![None; 7]);
    }

    #[test]
    fn two_bad_results_alert_and_two_good_ones_recover() {
        assert_eq!(
            run(&[O, C, C, C, O, C, O, O], &[]),
            vec![
                None,
                None,
                Some(Alert),
                None,
                None,
                None,
                None,
                Some(Recovery)
            ]
        );
    }

    #[test]
    fn degrading_further_is_a_change_but_critical_to_error_is_not() {
        assert_eq!(
            run(&[W, W, C, E, C], &[]),
            vec![None, Some(Alert), Some(Change), None, None]
        );
    }

    #[test]
    fn a_reminder_comes_after_the_interval_while_still_failing() {
        let mut state = AlertState::default();
        let t0: DateTime<Utc> = "2026-11-22T10:00:00Z".parse().unwrap();
        let mut kinds = Vec::new();
        for minutes in [0, 1, 60, 120, 240, 241, 480] {
            let now = t0 + Duration::minutes(minutes);
            kinds.push(observe(&mut state, C, now, T, Duration::hours(4), false).map(|n| n.kind));
        }
        assert_eq!(
            kinds,
            vec![None, Some(Alert), None, None, None, Some(Reminder), None]
        );
        let n = observe(
            &mut state,
            C,
            t0 + Duration::minutes(481),
            T,
            Duration::hours(4),
            false,
        );
        assert_eq!(n.map(|n| n.kind), Some(Reminder));
        assert_eq!(n.unwrap().since, Some(t0 + Duration::minutes(1)));
    }

    #[test]
    fn a_window_holds_notices_and_only_a_different_state_is_told_after() {
        // Down and back up inside the window: nothing at all.
        assert_eq!(
            run(
                &[O, C, C, C, O, O, O],
                &[false, true, true, true, true, true, false]
            ),
            vec![None; 7]
        );
        // Went down inside the window and still down after it: one notice.
        assert_eq!(
            run(&[O, C, C, C, C], &[false, true, true, true, false]),
            vec![None, None, None, None, Some(AfterMaintenance)]
        );
        // Already alerting before, recovered during: told once it ends.
        assert_eq!(
            run(
                &[C, C, C, O, O, O],
                &[false, false, true, true, true, false]
            ),
            vec![None, Some(Alert), None, None, None, Some(AfterMaintenance)]
        );
    }
}
