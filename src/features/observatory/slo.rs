//! The arithmetic of the daily digest and the SLO report: time-weighted uptime,
//! nearest-rank percentiles, incidents and the digest's day. Pure, so every number
//! in the digest can be checked without a database or a clock.

use crate::features::observatory::status::Status;
use crate::scheduler::CronSchedule;
use chrono::{DateTime, Duration, Utc};
use std::borrow::Cow;

/// How far back the digest looks for its previous run before assuming a plain day.
const DIGEST_LOOKBACK: Duration = Duration::days(8);
/// Step of the backwards search for the previous run: a minutely schedule then costs
/// one hour of occurrences, a daily one at most a day of empty steps.
const SEARCH_STEP: Duration = Duration::hours(1);

/// One stored result, as the arithmetic needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub at: DateTime<Utc>,
    pub status: Status,
    pub latency_ms: Option<f64>,
}

/// Time-weighted availability over [start, end).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Uptime {
    pub up: Duration,
    pub down: Duration,
    pub no_data: Duration,
}

impl Uptime {
    /// up / (up + down), or None when there was no data at all: a gap is neither
    /// good nor bad, so it stays out of the ratio and is reported on its own.
    pub fn ratio(&self) -> Option<f64> {
        let known = self.up + self.down;
        (known > Duration::zero()).then(|| self.up.as_seconds_f64() / known.as_seconds_f64())
    }

    /// Share of the window without data, 0..=1, so a quiet check is not mistaken
    /// for a healthy one.
    pub fn no_data_share(&self) -> f64 {
        let total = self.up + self.down + self.no_data;
        if total <= Duration::zero() {
            return 0.0;
        }
        (self.no_data.as_seconds_f64() / total.as_seconds_f64()).clamp(0.0, 1.0)
    }
}

/// The points in time order, copied only when they are not already sorted.
fn by_time(points: &[Point]) -> Cow<'_, [Point]> {
    if points.is_sorted_by_key(|p| p.at) {
        Cow::Borrowed(points)
    } else {
        let mut sorted = points.to_vec();
        sorted.sort_by_key(|p| p.at);
        Cow::Owned(sorted)
    }
}

/// Each point covers from its time until the next point's time, capped at
/// `2 × interval`, so a stopped checker shows as a gap rather than as its last
/// status; time not covered by any point is no data. Unsorted points are sorted.
/// Points before `start` still cover their part inside the window (pass the last
/// one before `start` too); coverage is clipped to [start, end). A span is up when
/// `status.is_up()`, else down.
pub fn uptime(
    points: &[Point],
    interval: Duration,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Uptime {
    if end <= start {
        return Uptime::default();
    }
    let points = by_time(points);
    let cap = interval
        .max(Duration::zero())
        .checked_mul(2)
        .unwrap_or(Duration::MAX);
    let (mut up, mut down) = (Duration::zero(), Duration::zero());
    for (i, p) in points.iter().enumerate() {
        let mut until = p.at.checked_add_signed(cap).unwrap_or(end).min(end);
        if let Some(next) = points.get(i + 1) {
            until = until.min(next.at);
        }
        let from = p.at.max(start);
        if until > from {
            if p.status.is_up() {
                up += until - from;
            } else {
                down += until - from;
            }
        }
    }
    Uptime {
        up,
        down,
        no_data: (end - start) - up - down,
    }
}

/// Nearest-rank percentile (p in 0..=100): the value at rank ceil(p/100 × n) of the
/// sorted values, always a measured value rather than an interpolation. NaN values
/// are ignored. None when fewer than `min_samples` values remain (a p95 of a
/// handful of samples is noise) or p is out of range.
pub fn nearest_rank(values: &[f64], p: f64, min_samples: usize) -> Option<f64> {
    if !(0.0..=100.0).contains(&p) {
        return None;
    }
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    let n = sorted.len();
    if n == 0 || n < min_samples {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    // p × n before dividing keeps whole ranks exact (95 × 20 / 100 = 19, not 19.000…1).
    let rank = (p * n as f64 / 100.0).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

/// An incident: a run of consecutive down points (status not up), from the first
/// down point's time to the time of the first up point after it (None while still
/// down).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Incident {
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    /// The worst status seen during the run.
    pub worst: Status,
}

impl Incident {
    /// How long it lasted, or has lasted so far at `now` while still open.
    pub fn duration(&self, now: DateTime<Utc>) -> Duration {
        (self.end.unwrap_or(now) - self.start).max(Duration::zero())
    }
}

/// Incidents that overlap [start, end), in order, unclipped so the digest shows
/// when each really began (pass the last point before `start` to see one already
/// open at `start`). Unsorted points are sorted.
pub fn incidents(points: &[Point], start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Incident> {
    let points = by_time(points);
    let mut out = Vec::new();
    let mut open: Option<Incident> = None;
    for p in points.iter() {
        if p.status.is_up() {
            if let Some(mut incident) = open.take() {
                incident.end = Some(p.at);
                out.push(incident);
            }
        } else if let Some(incident) = open.as_mut() {
            incident.worst = incident.worst.max(p.status);
        } else {
            open = Some(Incident {
                start: p.at,
                end: None,
                worst: p.status,
            });
        }
    }
    out.extend(open);
    out.retain(|i| i.start < end && i.end.is_none_or(|e| e > start));
    out
}

/// The digest's "day": from the previous run of the digest schedule before `at` up
/// to `at`, so consecutive digests neither overlap nor leave holes (23 h across a
/// spring-forward change, 25 h across fall-back, since Friday on a weekday-only
/// Monday). Without a previous run within 8 days, [at − 24 h, at).
pub fn digest_window(schedule: &CronSchedule, at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let start =
        previous_occurrence(schedule, at, DIGEST_LOOKBACK).unwrap_or(at - Duration::hours(24));
    (start, at)
}

/// The latest occurrence in [at − lookback, at), searched backwards one step at a
/// time: bounded work however dense the schedule, as `CronSchedule` only walks
/// forwards.
fn previous_occurrence(
    schedule: &CronSchedule,
    at: DateTime<Utc>,
    lookback: Duration,
) -> Option<DateTime<Utc>> {
    let one = Duration::nanoseconds(1);
    let floor = at - lookback;
    // `latest_between` takes (after, until]; `at − 1 ns` makes the top "before `at`".
    let mut until = at - one;
    while until >= floor {
        let after = (until - SEARCH_STEP).max(floor - one);
        if let Some(t) = schedule.latest_between(after, until) {
            return Some(t);
        }
        until = after;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::{Europe::Berlin, Tz};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn berlin(s: &str) -> DateTime<Utc> {
        let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        Berlin
            .from_local_datetime(&naive)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn t0() -> DateTime<Utc> {
        utc("2026-11-18T00:00:00Z")
    }

    fn min(n: i64) -> Duration {
        Duration::minutes(n)
    }

    fn point(at: DateTime<Utc>, status: Status) -> Point {
        Point {
            at,
            status,
            latency_ms: None,
        }
    }

    /// One point a minute at minutes `from..to` after `t0`.
    fn run(from: i64, to: i64, status: Status) -> Vec<Point> {
        (from..to).map(|m| point(t0() + min(m), status)).collect()
    }

    #[test]
    fn uptime_with_a_gap_counts_the_gap_as_no_data() {
        // 10 min ok, 10 min silence, 10 min down, one point a minute.
        let mut points = run(0, 10, Status::Ok);
        points.extend(run(20, 30, Status::Critical));
        let u = uptime(&points, Duration::seconds(60), t0(), t0() + min(30));
        // The last ok point (minute 9) covers 2 × interval into the gap; the last
        // down point (minute 29) is cut at the end of the window.
        assert_eq!(
            u,
            Uptime {
                up: min(11),
                down: min(10),
                no_data: min(9)
            }
        );
        assert_eq!(u.ratio(), Some(11.0 / 21.0));
        assert_eq!(u.no_data_share(), 9.0 / 30.0);
        // One more minute of window lets minute 29 cover its full cap: even split.
        let u = uptime(&points, Duration::seconds(60), t0(), t0() + min(31));
        assert_eq!((u.up, u.down, u.no_data), (min(11), min(11), min(9)));
        assert_eq!(u.ratio(), Some(0.5));
    }

    #[test]
    fn a_window_without_points_has_no_ratio_and_is_all_no_data() {
        let u = uptime(&[], Duration::seconds(60), t0(), t0() + min(30));
        assert_eq!(u.ratio(), None);
        assert_eq!(u.no_data, min(30));
        assert_eq!(u.no_data_share(), 1.0);
        assert_eq!(Uptime::default().no_data_share(), 0.0);
        let empty = uptime(&run(0, 5, Status::Ok), min(1), t0(), t0());
        assert_eq!(empty, Uptime::default());
    }

    #[test]
    fn a_point_before_the_window_counts_only_inside_it_and_the_last_is_capped() {
        let interval = min(5);
        let start = t0() + min(10);
        // 3 min before the window: covers until the next point, 4 min in.
        let points = vec![
            point(start - min(3), Status::Critical),
            point(start + min(4), Status::Ok),
        ];
        let u = uptime(&points, interval, start, start + min(60));
        // The last point covers 2 × 5 min and no more.
        assert_eq!((u.down, u.up, u.no_data), (min(4), min(10), min(46)));
        // Before the window and capped before it starts: nothing.
        let old = [point(start - min(11), Status::Ok)];
        assert_eq!(
            uptime(&old, interval, start, start + min(60)).no_data,
            min(60)
        );
        // Before the window, cap reaching into it: only the part inside.
        let early = [point(start - min(7), Status::Ok)];
        assert_eq!(uptime(&early, interval, start, start + min(60)).up, min(3));
        // The last point's cap is cut at `end`.
        let late = [point(start + min(58), Status::Ok)];
        let u = uptime(&late, interval, start, start + min(60));
        assert_eq!((u.up, u.no_data), (min(2), min(58)));
    }

    #[test]
    fn unsorted_points_give_the_same_uptime_and_incidents() {
        let mut points = run(0, 5, Status::Ok);
        points.extend(run(5, 8, Status::Error));
        points.extend(run(8, 10, Status::Ok));
        let mut shuffled = points.clone();
        shuffled.reverse();
        shuffled.swap(1, 7);
        let (s, e) = (t0(), t0() + min(10));
        assert_eq!(
            uptime(&shuffled, min(1), s, e),
            uptime(&points, min(1), s, e)
        );
        assert_eq!(incidents(&shuffled, s, e), incidents(&points, s, e));
    }

    #[test]
    fn warn_counts_as_up_error_and_critical_as_down() {
        let points = vec![
            point(t0(), Status::Ok),
            point(t0() + min(1), Status::Warn),
            point(t0() + min(2), Status::Critical),
            point(t0() + min(3), Status::Error),
        ];
        let u = uptime(&points, min(1), t0(), t0() + min(4));
        assert_eq!((u.up, u.down, u.no_data), (min(2), min(2), min(0)));
        assert_eq!(u.ratio(), Some(0.5));
        let found = incidents(&points, t0(), t0() + min(4));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].start, t0() + min(2));
    }

    #[test]
    fn nearest_rank_picks_a_measured_value() {
        let twenty: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(nearest_rank(&twenty, 95.0, 20), Some(19.0));
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(nearest_rank(&hundred, 95.0, 20), Some(95.0));
        assert_eq!(nearest_rank(&twenty[..19], 95.0, 20), None);
        let mut unsorted = twenty.clone();
        unsorted.reverse();
        unsorted.swap(3, 11);
        assert_eq!(nearest_rank(&unsorted, 95.0, 20), Some(19.0));
        assert_eq!(nearest_rank(&unsorted, 100.0, 20), Some(20.0));
        assert_eq!(nearest_rank(&unsorted, 0.0, 20), Some(1.0));
        assert_eq!(nearest_rank(&unsorted, 50.0, 20), Some(10.0));
    }

    #[test]
    fn nearest_rank_refuses_bad_input() {
        let values = [3.0, 1.0, 2.0];
        assert_eq!(nearest_rank(&values, 100.5, 0), None);
        assert_eq!(nearest_rank(&values, -1.0, 0), None);
        assert_eq!(nearest_rank(&values, f64::NAN, 0), None);
        assert_eq!(nearest_rank(&[], 95.0, 0), None);
        // NaN samples do not count towards the minimum.
        assert_eq!(nearest_rank(&[1.0, f64::NAN], 50.0, 2), None);
        assert_eq!(nearest_rank(&[1.0, f64::NAN, 2.0], 100.0, 2), Some(2.0));
    }

    #[test]
    fn incidents_run_from_the_first_down_point_to_the_first_up_point() {
        let statuses = [
            Status::Ok,
            Status::Ok,
            Status::Critical,
            Status::Error,
            Status::Ok,
            Status::Critical,
        ];
        let points: Vec<Point> = statuses
            .iter()
            .enumerate()
            .map(|(i, s)| point(t0() + min(i as i64), *s))
            .collect();
        let now = t0() + min(10);
        let found = incidents(&points, t0(), now);
        assert_eq!(
            found,
            vec![
                Incident {
                    start: t0() + min(2),
                    end: Some(t0() + min(4)),
                    worst: Status::Error
                },
                Incident {
                    start: t0() + min(5),
                    end: None,
                    worst: Status::Critical
                },
            ]
        );
        assert_eq!(found[0].duration(now), min(2));
        assert_eq!(found[1].duration(now), min(5));
    }

    #[test]
    fn incidents_outside_the_window_are_left_out_and_open_ones_are_kept() {
        // Down 0–2, up 2–5, down from 5 on.
        let mut points = run(0, 2, Status::Error);
        points.extend(run(2, 5, Status::Ok));
        points.extend(run(5, 7, Status::Critical));
        // A window starting when the first incident ended does not include it.
        let found = incidents(&points, t0() + min(2), t0() + min(10));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].start, t0() + min(5));
        // A window ending when the second began does not include it.
        let found = incidents(&points, t0(), t0() + min(5));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].end, Some(t0() + min(2)));
        // An incident that began before the window is kept with its real start.
        let found = incidents(&points, t0() + min(1), t0() + min(3));
        assert_eq!(found[0].start, t0());
    }

    #[test]
    fn digest_window_in_berlin_covers_23_hours_across_spring_forward() {
        let s = CronSchedule::parse("0 9 * * *", Berlin).unwrap();
        let at = berlin("2026-03-29 09:00");
        assert_eq!(at, utc("2026-03-29T07:00:00Z"));
        let (start, end) = digest_window(&s, at);
        assert_eq!(start, berlin("2026-03-28 09:00"));
        assert_eq!(start, utc("2026-03-28T08:00:00Z"));
        assert_eq!(end, at);
        assert_eq!(end - start, Duration::hours(23));
    }

    #[test]
    fn digest_window_in_berlin_covers_25_hours_across_fall_back() {
        let s = CronSchedule::parse("0 9 * * *", Berlin).unwrap();
        let at = berlin("2026-10-25 09:00");
        let (start, end) = digest_window(&s, at);
        assert_eq!(start, utc("2026-10-24T07:00:00Z"));
        assert_eq!(end - start, Duration::hours(25));
    }

    #[test]
    fn digest_window_on_an_ordinary_day_is_24_hours() {
        let s = CronSchedule::parse("0 9 * * *", Berlin).unwrap();
        let at = berlin("2026-11-18 09:00");
        let (start, end) = digest_window(&s, at);
        assert_eq!(start, berlin("2026-11-17 09:00"));
        assert_eq!(end - start, Duration::hours(24));
        // Asked off schedule, the day starts at the last run before.
        let (start, _) = digest_window(&s, berlin("2026-11-18 08:59"));
        assert_eq!(start, berlin("2026-11-17 09:00"));
    }

    #[test]
    fn digest_window_of_a_weekday_schedule_on_monday_covers_since_friday() {
        let s = CronSchedule::parse("0 9 * * 1-5", Berlin).unwrap();
        // 2026-11-23 is a Monday.
        let (start, end) = digest_window(&s, berlin("2026-11-23 09:00"));
        assert_eq!(start, berlin("2026-11-20 09:00"));
        assert_eq!(end - start, Duration::hours(72));
    }

    #[test]
    fn digest_window_falls_back_to_a_day_without_a_recent_run() {
        // 29 February: no run within 8 days of 2026-11-18.
        let s = CronSchedule::parse("0 9 29 2 *", Tz::UTC).unwrap();
        let at = utc("2026-11-18T09:00:00Z");
        assert_eq!(digest_window(&s, at), (at - Duration::hours(24), at));
        // A monthly run exactly 8 days back is still found; 8 days and a minute is not.
        let monthly = CronSchedule::parse("0 9 10 * *", Tz::UTC).unwrap();
        let tenth = utc("2026-11-10T09:00:00Z");
        let at = tenth + Duration::days(8);
        assert_eq!(digest_window(&monthly, at), (tenth, at));
        let at = at + min(1);
        assert_eq!(digest_window(&monthly, at), (at - Duration::hours(24), at));
    }

    #[test]
    fn digest_window_of_a_minutely_schedule_is_quick_and_strictly_before() {
        let s = CronSchedule::parse("* * * * *", Tz::UTC).unwrap();
        let at = utc("2026-11-18T10:00:00Z");
        let began = std::time::Instant::now();
        assert_eq!(digest_window(&s, at).0, utc("2026-11-18T09:59:00Z"));
        assert_eq!(
            digest_window(&s, at + Duration::seconds(30)).0,
            utc("2026-11-18T10:00:00Z")
        );
        assert!(began.elapsed() < std::time::Duration::from_secs(2));
    }
}
