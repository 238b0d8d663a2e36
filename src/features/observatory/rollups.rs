//! Hourly rollups per check, so 7- and 30-day numbers read 720 rows a check instead
//! of 43,200 samples, and raw samples can age out after `raw_retention_days`.
//!
//! A sample's span (from it to the next sample, at most two intervals, exactly as
//! [`super::slo::uptime`] counts) is added to the hours it covers when the next
//! sample arrives, in the same transaction. Its latency goes into its own hour's
//! histogram. Readers take the rollups of whole hours and the raw samples of the
//! open hour only.

use super::slo::{self, Point, Uptime};
use super::status::Status;
use crate::clock::{from_millis, to_millis};
use chrono::{DateTime, Duration, DurationRound, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;

const HOUR: Duration = Duration::hours(1);
/// Latency buckets grow by 10%: bucket `i` holds values up to `1.1^i` ms.
const GROWTH: f64 = 1.1;
const MAX_BUCKET: i64 = 250;

/// The start of the hour `t` falls in.
pub fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(HOUR).unwrap_or(t)
}

fn bucket(ms: f64) -> i64 {
    if !ms.is_finite() || ms <= 1.0 {
        return 0;
    }
    ((ms.ln() / GROWTH.ln()).ceil() as i64).clamp(0, MAX_BUCKET)
}

/// The largest value bucket `i` holds.
fn bucket_top(i: i64) -> f64 {
    GROWTH.powi(i as i32)
}

/// A histogram as stored: `bucket:count;…`.
fn parse_hist(text: &str) -> BTreeMap<i64, u64> {
    text.split(';')
        .filter_map(|pair| {
            let (b, n) = pair.split_once(':')?;
            Some((b.parse().ok()?, n.parse().ok()?))
        })
        .collect()
}

fn format_hist(hist: &BTreeMap<i64, u64>) -> String {
    hist.iter()
        .map(|(b, n)| format!("{b}:{n}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// Adds `[from, until)` as up or down time to the hours it covers.
fn add_span(
    c: &Connection,
    check: &str,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    up: bool,
) -> anyhow::Result<()> {
    let mut start = from;
    while start < until {
        let hour = hour_of(start);
        let end = (hour + HOUR).min(until);
        let ms = (end - start).num_milliseconds();
        let (up_ms, down_ms) = if up { (ms, 0) } else { (0, ms) };
        c.execute(
            "INSERT INTO health_rollups (check_name, hour, up_ms, down_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (check_name, hour) DO UPDATE SET
               up_ms = up_ms + excluded.up_ms, down_ms = down_ms + excluded.down_ms",
            params![check, to_millis(hour), up_ms, down_ms],
        )?;
        start = end;
    }
    Ok(())
}

/// Counts a sample (and its latency) in its hour.
fn add_sample(
    c: &Connection,
    check: &str,
    at: DateTime<Utc>,
    latency_ms: Option<f64>,
) -> anyhow::Result<()> {
    let hour = to_millis(hour_of(at));
    let current: Option<String> = c
        .query_row(
            "SELECT latency FROM health_rollups WHERE check_name = ?1 AND hour = ?2",
            params![check, hour],
            |r| r.get(0),
        )
        .optional()?;
    let mut hist = parse_hist(current.as_deref().unwrap_or_default());
    if let Some(ms) = latency_ms {
        *hist.entry(bucket(ms)).or_default() += 1;
    }
    c.execute(
        "INSERT INTO health_rollups (check_name, hour, samples, latency) VALUES (?1, ?2, 1, ?3)
         ON CONFLICT (check_name, hour) DO UPDATE SET
           samples = samples + 1, latency = excluded.latency",
        params![check, hour, format_hist(&hist)],
    )?;
    Ok(())
}

/// The sample before the one being recorded: when, and whether it was up.
fn previous(c: &Connection, check: &str) -> anyhow::Result<Option<(DateTime<Utc>, Status)>> {
    Ok(c.query_row(
        "SELECT at, status FROM health_samples WHERE check_name = ?1 ORDER BY at DESC LIMIT 1",
        [check],
        |r| Ok((from_millis(r.get(0)?), r.get::<_, String>(1)?)),
    )
    .optional()?
    .map(|(at, s)| (at, Status::parse(&s).unwrap_or(Status::Error))))
}

/// Called before a new sample at `at` is stored: closes the previous sample's span
/// and counts the new one. `interval` is the check's (its span cap is twice that).
pub fn on_sample(
    c: &Connection,
    check: &str,
    at: DateTime<Utc>,
    latency_ms: Option<f64>,
    interval: Duration,
) -> anyhow::Result<()> {
    if let Some((prev_at, prev_status)) = previous(c, check)? {
        let until = at.min(prev_at + interval * 2);
        add_span(c, check, prev_at, until, prev_status.is_up())?;
    }
    add_sample(c, check, at, latency_ms)
}

/// Rolls up `check`'s stored samples before its first rollup hour (a database from
/// before rollups existed). Returns how many samples it replayed.
pub fn backfill(c: &Connection, check: &str, interval: Duration) -> anyhow::Result<usize> {
    let first: Option<i64> = c.query_row(
        "SELECT MIN(hour) FROM health_rollups WHERE check_name = ?1",
        [check],
        |r| r.get(0),
    )?;
    let before = first.unwrap_or(i64::MAX);
    let mut stmt = c.prepare(
        "SELECT at, status, value, unit FROM health_samples
         WHERE check_name = ?1 AND at < ?2 ORDER BY at",
    )?;
    let points: Vec<Point> = stmt
        .query_map(params![check, before], |r| {
            let unit: String = r.get(3)?;
            Ok(Point {
                at: from_millis(r.get(0)?),
                status: Status::parse(&r.get::<_, String>(1)?).unwrap_or(Status::Error),
                latency_ms: if unit == "ms" { r.get(2)? } else { None },
            })
        })?
        .collect::<Result<_, _>>()?;
    let cap = interval * 2;
    for (i, p) in points.iter().enumerate() {
        add_sample(c, check, p.at, p.latency_ms)?;
        let next = points.get(i + 1).map(|n| n.at);
        // The last one's span is closed by the first sample already rolled up.
        let limit = next.unwrap_or_else(|| first.map_or(p.at, from_millis));
        let until = limit.min(p.at + cap);
        add_span(c, check, p.at, until, p.status.is_up())?;
    }
    Ok(points.len())
}

/// Uptime over `[start, end)`: rollups for whole hours before the hour `end` falls
/// in, raw samples for that open hour. `start` is rounded down to its hour.
pub fn uptime(
    c: &Connection,
    check: &str,
    interval: Duration,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<Uptime> {
    let (start, open) = (hour_of(start), hour_of(end));
    let (up, down): (i64, i64) = c.query_row(
        "SELECT COALESCE(SUM(up_ms), 0), COALESCE(SUM(down_ms), 0) FROM health_rollups
         WHERE check_name = ?1 AND hour >= ?2 AND hour < ?3",
        params![check, to_millis(start), to_millis(open)],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let raw = super::store::points(c, check, open, end, false)?;
    let tail = slo::uptime(&raw, interval, open, end);
    let up = Duration::milliseconds(up) + tail.up;
    let down = Duration::milliseconds(down) + tail.down;
    Ok(Uptime {
        up,
        down,
        no_data: ((end - start) - up - down).max(Duration::zero()),
    })
}

/// p`pct` latency over the whole hours in `[start, end)`, from the histograms: the
/// top of the bucket holding the nearest-rank sample (at most 10% high).
pub fn percentile(
    c: &Connection,
    check: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    pct: f64,
    min_samples: u64,
) -> anyhow::Result<Option<f64>> {
    let mut stmt = c.prepare_cached(
        "SELECT latency FROM health_rollups WHERE check_name = ?1 AND hour >= ?2 AND hour < ?3",
    )?;
    let mut hist: BTreeMap<i64, u64> = BTreeMap::new();
    for text in stmt.query_map(
        params![check, to_millis(hour_of(start)), to_millis(hour_of(end))],
        |r| r.get::<_, String>(0),
    )? {
        for (b, n) in parse_hist(&text?) {
            *hist.entry(b).or_default() += n;
        }
    }
    let total: u64 = hist.values().sum();
    if total < min_samples || total == 0 || !(0.0..=100.0).contains(&pct) {
        return Ok(None);
    }
    let rank = ((pct / 100.0) * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (b, n) in &hist {
        seen += n;
        if seen >= rank {
            return Ok(Some(bucket_top(*b)));
        }
    }
    Ok(None)
}

/// Deletes up to `batch` rollup rows older than `before`; returns how many.
pub fn prune_batch(c: &Connection, before: DateTime<Utc>, batch: usize) -> anyhow::Result<usize> {
    Ok(c.execute(
        "DELETE FROM health_rollups WHERE (check_name, hour) IN
           (SELECT check_name, hour FROM health_rollups WHERE hour < ?1 LIMIT ?2)",
        params![to_millis(before), batch as i64],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::migrations::apply_all(&mut c).unwrap();
        c
    }

    fn insert(c: &Connection, at: DateTime<Utc>, status: Status, ms: f64, interval: Duration) {
        on_sample(c, "api", at, Some(ms), interval).unwrap();
        let o = crate::features::observatory::status::Outcome::new(status, Some(ms), "ms", "");
        crate::features::observatory::store::insert_sample(c, "api", at, &o).unwrap();
    }

    #[test]
    fn rollups_give_the_same_uptime_as_the_raw_samples() {
        let c = db();
        let t0: DateTime<Utc> = "2026-11-01T00:00:00Z".parse().unwrap();
        let interval = Duration::seconds(60);
        let mut points = Vec::new();
        for i in 0..(3 * 24 * 60) {
            let at = t0 + Duration::seconds(60 * i);
            // Down 40 minutes a day, and a 10-minute gap once.
            let status = if i % 1440 < 40 {
                Status::Critical
            } else {
                Status::Ok
            };
            if (2000..2010).contains(&i) {
                continue;
            }
            insert(&c, at, status, 100.0 + (i % 7) as f64, interval);
            points.push(Point {
                at,
                status,
                latency_ms: None,
            });
        }
        let end = t0 + Duration::days(3) - Duration::minutes(17);
        let from_rollups = uptime(&c, "api", interval, t0, end).unwrap();
        let from_raw = slo::uptime(&points, interval, t0, end);
        assert_eq!(from_rollups.up, from_raw.up);
        assert_eq!(from_rollups.down, from_raw.down);
        assert_eq!(from_rollups.no_data, from_raw.no_data);
        let p95 = percentile(&c, "api", t0, end, 95.0, 20).unwrap().unwrap();
        assert!((106.0..=106.0 * 1.1).contains(&p95), "{p95}");
    }

    #[test]
    fn a_backfill_rolls_up_samples_from_before_rollups_once() {
        let c = db();
        let t0: DateTime<Utc> = "2026-11-01T00:00:00Z".parse().unwrap();
        let interval = Duration::seconds(60);
        let o = crate::features::observatory::status::Outcome::new(Status::Ok, Some(5.0), "ms", "");
        for i in 0..120 {
            let at = t0 + Duration::seconds(60 * i);
            crate::features::observatory::store::insert_sample(&c, "api", at, &o).unwrap();
        }
        assert_eq!(backfill(&c, "api", interval).unwrap(), 120);
        let u = uptime(&c, "api", interval, t0, t0 + Duration::hours(2)).unwrap();
        // The last sample's minute is added once the next sample arrives.
        assert_eq!(u.up, Duration::minutes(119));
        assert_eq!(backfill(&c, "api", interval).unwrap(), 0, "only once");
    }

    #[test]
    fn buckets_are_ten_percent_wide() {
        assert_eq!(bucket(0.5), 0);
        assert!(bucket_top(bucket(92.0)) >= 92.0);
        assert!(bucket_top(bucket(92.0)) < 92.0 * 1.1 + 1e-9);
        assert_eq!(
            parse_hist(&format_hist(&BTreeMap::from([(3, 4), (40, 1)]))).len(),
            2
        );
        assert!(parse_hist("garbage;1:x;:").is_empty());
    }
}
