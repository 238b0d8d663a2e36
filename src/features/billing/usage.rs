//! Usage: every executed action (a proposal that succeeded and was not a dry run)
//! is counted once, by kind and by calendar month in the configured time zone.
//!
//! Counting reads the proposals table rather than the proposals it is told about, so
//! no path is missed: a decision's and a finished action's refresh start a pass, the
//! feature's timer starts one every few seconds besides (members of a "Delete all"
//! set finish inside their set's action), and each proposal is counted at most once
//! (its id is the key). A set is not counted itself: its members are.

use super::Billing;
use super::lapse::in_good_standing;
use super::store;
use crate::approvals::kinds;
use crate::dispatch::Context;
use chrono::{DateTime, Utc};

/// The period an action finished in: `2026-11`, in the time zone.
pub fn period(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m").to_string()
}

/// True for a kind counted as usage (not a set of others).
fn counted(kind: &str) -> bool {
    kinds::spec_named(kind).is_none_or(|s| s.set_of.is_none())
}

impl Billing {
    /// Counts every executed action not counted yet and, with `report_usage`, queues
    /// them as one usage report. Returns how many it counted.
    pub async fn count_usage(&self, ctx: &Context) -> anyhow::Result<usize> {
        let _one_at_a_time = self.counting.lock().await;
        let (since, tz, now) = (self.counting_since, self.tz, ctx.clock.now());
        let report = self.settings.report_usage;
        let (n, queued) = ctx
            .store
            .call(move |c| {
                crate::store::immediate(c, |tx| {
                    let mut n = 0;
                    for f in store::uncounted(tx, since)? {
                        if counted(&f.kind)
                            && store::count(tx, &f, &period(f.finished_at, tz), now)?
                        {
                            n += 1;
                        }
                    }
                    let queued = match (report, item_to_report(tx, now)?) {
                        (true, Some(item)) => store::queue_report(tx, &item, now)?,
                        _ => None,
                    };
                    Ok((n, queued))
                })
            })
            .await?;
        if n > 0 {
            tracing::info!(actions = n, "executed actions counted as usage");
        }
        if queued.is_some() {
            self.wake.notify_one();
        }
        Ok(n)
    }
}

/// The subscription item usage goes to: the most recently changed subscription in
/// good standing that has one, else the most recently changed one that has one.
fn item_to_report(c: &rusqlite::Connection, now: DateTime<Utc>) -> anyhow::Result<Option<String>> {
    let subs = store::subscriptions(c)?;
    let good = subs
        .iter()
        .filter(|s| in_good_standing(s, now))
        .find_map(|s| s.item_id.clone());
    Ok(good.or_else(|| subs.iter().find_map(|s| s.item_id.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_period_is_the_calendar_month_in_the_time_zone() {
        let t = Utc.with_ymd_and_hms(2026, 11, 30, 23, 30, 0).unwrap();
        assert_eq!(period(t, chrono_tz::UTC), "2026-11");
        assert_eq!(period(t, chrono_tz::Europe::Berlin), "2026-12");
    }

    #[test]
    fn a_set_is_not_counted_but_its_members_are() {
        assert!(!counted("delete_zombies"));
        assert!(counted("delete_volume"));
        assert!(counted("stop_instances"));
    }
}
