//! Cron expressions evaluated in a time zone, with daylight-saving rules made explicit.
//!
//! Expressions are standard five-field cron (`minute hour day-of-month month
//! day-of-week`, day-of-week 0–7 with 0 and 7 = Sunday, or names). The `cron` crate
//! evaluates them on local wall-clock time; this module maps each wall-clock time to
//! one instant:
//! - a local time that does not exist (spring forward) runs at the first valid instant
//!   after the gap;
//! - a local time that happens twice (fall back) runs once, at its first occurrence;
//! - several wall-clock times that map to the same instant run once.

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::str::FromStr;

/// Largest daylight-saving shift handled when scanning back for candidates.
const MAX_DST_SHIFT: Duration = Duration::hours(3);
/// Upper bound on candidates examined per query, so a pathological expression cannot spin.
const MAX_CANDIDATES: usize = 200_000;

/// A parsed schedule bound to a time zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    expression: String,
    schedule: cron::Schedule,
    tz: Tz,
}

/// Why an expression was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid cron expression {expression:?}: {reason}")]
pub struct CronError {
    pub expression: String,
    pub reason: String,
}

impl CronSchedule {
    pub fn parse(expression: &str, tz: Tz) -> Result<Self, CronError> {
        let err = |reason: String| CronError {
            expression: expression.to_owned(),
            reason,
        };
        let fields: Vec<&str> = expression.split_whitespace().collect();
        let [minute, hour, dom, month, dow] = fields[..] else {
            return Err(err(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            )));
        };
        let dow = translate_day_of_week(dow).map_err(err)?;
        let full = format!("0 {minute} {hour} {dom} {month} {dow}");
        let schedule = cron::Schedule::from_str(&full).map_err(|e| err(e.to_string()))?;
        Ok(Self {
            expression: expression.to_owned(),
            schedule,
            tz,
        })
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The first occurrence strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = t.with_timezone(&self.tz).naive_local() - MAX_DST_SHIFT;
        self.schedule
            .after(&Utc.from_utc_datetime(&start))
            .take(MAX_CANDIDATES)
            .map(|wall| resolve(self.tz, wall.naive_utc()))
            .find(|instant| *instant > t)
    }

    /// The latest occurrence in `(after, until]`, if any.
    pub fn latest_between(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let mut cursor = after;
        let mut latest = None;
        for _ in 0..MAX_CANDIDATES {
            match self.next_after(cursor) {
                Some(next) if next <= until => {
                    latest = Some(next);
                    cursor = next;
                }
                _ => break,
            }
        }
        latest
    }
}

/// Maps a local wall-clock time to the instant it runs at (see the module notes).
fn resolve(tz: Tz, wall: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // Inside a gap: walk forward to the first wall-clock minute that exists,
            // which is the instant the clocks jumped.
            let mut probe = wall;
            for _ in 0..(24 * 60) {
                probe += Duration::minutes(1);
                if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                    return t.with_timezone(&Utc);
                }
            }
            Utc.from_utc_datetime(&wall)
        }
    }
}

/// Standard cron numbers days 0–7 from Sunday; the `cron` crate numbers them 1–7 from
/// Sunday. Names pass through unchanged.
fn translate_day_of_week(field: &str) -> Result<String, String> {
    let number = |s: &str| -> Result<Option<u32>, String> {
        if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() {
            let n: u32 = s.parse().map_err(|_| format!("bad day-of-week {s:?}"))?;
            if n > 7 {
                return Err(format!("day-of-week {n} is out of range 0-7"));
            }
            Ok(Some(n % 7 + 1))
        } else {
            Ok(None)
        }
    };
    let mut out = Vec::new();
    for item in field.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((b, s)) => (b, Some(s)),
            None => (item, None),
        };
        let translated = if let Some((lo, hi)) = base.split_once('-') {
            match (number(lo)?, number(hi)?) {
                (Some(a), Some(b)) if a <= b => format!("{a}-{b}"),
                // 5-7 (Fri–Sun) wraps past Saturday in the crate's numbering.
                (Some(a), Some(b)) if step.is_none() => format!("{a}-7,1-{b}"),
                (Some(_), Some(_)) => {
                    return Err(format!("unsupported day-of-week range {item:?}"));
                }
                _ => base.to_owned(),
            }
        } else {
            match number(base)? {
                Some(n) => n.to_string(),
                None => base.to_owned(),
            }
        };
        out.push(match step {
            Some(s) => format!("{translated}/{s}"),
            None => translated,
        });
    }
    Ok(out.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America::New_York, Europe::Berlin};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn all_between(s: &CronSchedule, from: &str, to: &str) -> Vec<DateTime<Utc>> {
        let (mut t, end) = (utc(from), utc(to));
        let mut out = Vec::new();
        while let Some(n) = s.next_after(t) {
            if n > end {
                break;
            }
            out.push(n);
            t = n;
        }
        out
    }

    #[test]
    fn weekdays_use_standard_numbering() {
        let s = CronSchedule::parse("0 9 * * 1-5", Tz::UTC).unwrap();
        // 2026-11-21 is a Saturday: next run is Monday 23rd.
        assert_eq!(
            s.next_after(utc("2026-11-21T10:00:00Z")),
            Some(utc("2026-11-23T09:00:00Z"))
        );
        let sunday = CronSchedule::parse("0 9 * * 0", Tz::UTC).unwrap();
        assert_eq!(
            sunday.next_after(utc("2026-11-21T10:00:00Z")),
            Some(utc("2026-11-22T09:00:00Z"))
        );
        let weekend = CronSchedule::parse("0 9 * * 6-7", Tz::UTC).unwrap();
        assert_eq!(
            all_between(&weekend, "2026-11-20T00:00:00Z", "2026-11-24T00:00:00Z"),
            vec![utc("2026-11-21T09:00:00Z"), utc("2026-11-22T09:00:00Z")]
        );
        let named = CronSchedule::parse("0 20 * * MON-FRI", Tz::UTC).unwrap();
        assert_eq!(
            named.next_after(utc("2026-11-21T10:00:00Z")),
            Some(utc("2026-11-23T20:00:00Z"))
        );
    }

    #[test]
    fn bad_expressions_are_refused() {
        assert!(CronSchedule::parse("0 0 9 * * *", Tz::UTC).is_err());
        assert!(CronSchedule::parse("0 25 * * *", Tz::UTC).is_err());
        assert!(CronSchedule::parse("0 9 * * 8", Tz::UTC).is_err());
        assert!(CronSchedule::parse("", Tz::UTC).is_err());
    }

    #[test]
    fn berlin_spring_forward_runs_the_missing_time_at_the_next_valid_instant() {
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
        let s = CronSchedule::parse("30 2 * * *", Berlin).unwrap();
        assert_eq!(
            all_between(&s, "2026-03-28T00:00:00Z", "2026-03-30T23:00:00Z"),
            vec![
                utc("2026-03-28T01:30:00Z"),
                utc("2026-03-29T01:00:00Z"),
                utc("2026-03-30T00:30:00Z")
            ]
        );
    }

    #[test]
    fn berlin_gap_collapses_to_one_run() {
        // Every 15 minutes: 02:00–02:45 do not exist and 03:00 is the same instant. One run.
        let s = CronSchedule::parse("*/15 * * * *", Berlin).unwrap();
        let runs = all_between(&s, "2026-03-29T00:40:00Z", "2026-03-29T01:20:00Z");
        assert_eq!(
            runs,
            vec![
                utc("2026-03-29T00:45:00Z"),
                utc("2026-03-29T01:00:00Z"),
                utc("2026-03-29T01:15:00Z")
            ]
        );
    }

    #[test]
    fn berlin_fall_back_runs_the_repeated_time_once() {
        // 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
        let s = CronSchedule::parse("30 2 * * *", Berlin).unwrap();
        assert_eq!(
            all_between(&s, "2026-10-24T12:00:00Z", "2026-10-26T12:00:00Z"),
            vec![utc("2026-10-25T00:30:00Z"), utc("2026-10-26T01:30:00Z")]
        );
        // Asking from inside the second 02:30 does not run it again.
        assert_eq!(
            s.next_after(utc("2026-10-25T01:30:00Z")),
            Some(utc("2026-10-26T01:30:00Z"))
        );
    }

    #[test]
    fn new_york_spring_forward_and_fall_back() {
        // 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
        let s = CronSchedule::parse("30 2 * * *", New_York).unwrap();
        assert_eq!(
            all_between(&s, "2026-03-07T12:00:00Z", "2026-03-09T12:00:00Z"),
            vec![utc("2026-03-08T07:00:00Z"), utc("2026-03-09T06:30:00Z")]
        );
        // 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
        let s = CronSchedule::parse("30 1 * * *", New_York).unwrap();
        assert_eq!(
            all_between(&s, "2026-10-31T12:00:00Z", "2026-11-02T12:00:00Z"),
            vec![utc("2026-11-01T05:30:00Z"), utc("2026-11-02T06:30:00Z")]
        );
    }

    #[test]
    fn evening_shutdown_keeps_local_time_across_the_change() {
        let s = CronSchedule::parse("0 20 * * 1-5", Berlin).unwrap();
        // Friday before the change is CEST (18:00 UTC); Monday after is CET (19:00 UTC).
        assert_eq!(
            s.next_after(utc("2026-10-23T12:00:00Z")),
            Some(utc("2026-10-23T18:00:00Z"))
        );
        assert_eq!(
            s.next_after(utc("2026-10-24T12:00:00Z")),
            Some(utc("2026-10-26T19:00:00Z"))
        );
    }

    #[test]
    fn latest_between_finds_the_most_recent_missed_run() {
        let s = CronSchedule::parse("0 * * * *", Tz::UTC).unwrap();
        assert_eq!(
            s.latest_between(utc("2026-11-21T05:10:00Z"), utc("2026-11-21T08:30:00Z")),
            Some(utc("2026-11-21T08:00:00Z"))
        );
        assert_eq!(
            s.latest_between(utc("2026-11-21T08:00:00Z"), utc("2026-11-21T08:30:00Z")),
            None
        );
    }
}
