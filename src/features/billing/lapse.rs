//! When the subscription has lapsed, destructive actions turn to dry run: this
//! decides whether it has, from the stored rows, and says why in one sentence.
//!
//! Lapsed: no subscription in good standing, and at least one is `past_due`,
//! `unpaid`, `expired`, or `cancelled` past its `ends_at`. In good standing:
//! `on_trial`, `active`, `paused` (collection paused by the seller), or `cancelled`
//! before `ends_at` (the paid period runs out first). With no subscription stored
//! yet nothing is known, and nothing is turned to dry run.

use super::store::Subscription;
use crate::chat::answers::local;
use chrono::{DateTime, Utc};

/// Why destructive actions are dry runs now, or `None` when they are not.
pub fn reason(subs: &[Subscription], now: DateTime<Utc>, tz: chrono_tz::Tz) -> Option<String> {
    if subs.is_empty() || subs.iter().any(|s| in_good_standing(s, now)) {
        return None;
    }
    // The most recently changed one is the one people know about.
    let s = subs.iter().max_by_key(|s| s.updated_at)?;
    let plan = if s.plan.is_empty() {
        String::new()
    } else {
        format!(" ({})", s.plan)
    };
    let since = local(s.status_since, tz);
    Some(match s.status.as_str() {
        "expired" => format!(
            "the subscription {}{plan} expired at {}",
            s.id,
            local(s.ends_at.unwrap_or(s.status_since), tz)
        ),
        "cancelled" => match s.ends_at {
            Some(end) => format!(
                "the subscription {}{plan} was cancelled and ended at {}",
                s.id,
                local(end, tz)
            ),
            None => format!("the subscription {}{plan} is cancelled since {since}", s.id),
        },
        status => format!("the subscription {}{plan} is {status} since {since}", s.id),
    })
}

/// True while the subscription pays for OpsMate's actions.
pub fn in_good_standing(s: &Subscription, now: DateTime<Utc>) -> bool {
    match s.status.as_str() {
        "on_trial" | "active" | "paused" => true,
        "cancelled" => s.ends_at.is_some_and(|end| end > now),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sub(status: &str, ends_at: Option<DateTime<Utc>>) -> Subscription {
        let t = Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap();
        Subscription {
            id: "1".into(),
            customer: "7".into(),
            status: status.into(),
            plan: "Team".into(),
            renews_at: None,
            ends_at,
            item_id: None,
            status_since: t,
            source_updated_at: None,
            last_event: "subscription_updated".into(),
            updated_at: t,
        }
    }

    #[test]
    fn past_due_expired_and_cancelled_past_its_end_lapse_and_the_rest_do_not() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap();
        let tz = chrono_tz::UTC;
        assert_eq!(reason(&[], now, tz), None);
        assert_eq!(reason(&[sub("active", None)], now, tz), None);
        assert_eq!(reason(&[sub("on_trial", None)], now, tz), None);
        assert_eq!(
            reason(&[sub("past_due", None)], now, tz).as_deref(),
            Some("the subscription 1 (Team) is past_due since 2026-11-01 09:00 UTC")
        );
        assert!(
            reason(&[sub("expired", None)], now, tz)
                .unwrap()
                .contains("expired")
        );
        let later = now + chrono::Duration::days(3);
        assert_eq!(reason(&[sub("cancelled", Some(later))], now, tz), None);
        let earlier = now - chrono::Duration::days(3);
        assert!(
            reason(&[sub("cancelled", Some(earlier))], now, tz)
                .unwrap()
                .contains("was cancelled and ended at 2026-11-18")
        );
        // One in good standing is enough.
        assert_eq!(
            reason(&[sub("expired", None), sub("active", None)], now, tz),
            None
        );
    }
}
