//! SVG charts drawn on the server (no script, no CDN): a check's latency over a
//! window, and its uptime as one bar per day. Values are numbers formatted by this
//! module and labels are escaped, so nothing a check's data holds can inject markup.

use chrono::{DateTime, Utc};
use std::fmt::Write;

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 120.0;
const PAD: f64 = 4.0;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Latency (ms) over `[start, end)` as a line. A failed sample (no latency) or a
/// silence longer than three of the usual intervals breaks the line. Points are
/// thinned to one per pixel column (its highest value), so a month of samples
/// stays a small drawing.
pub fn latency(
    points: &[(DateTime<Utc>, Option<f64>)],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    label: &str,
) -> String {
    let span = (end - start).num_milliseconds().max(1) as f64;
    let inside: Vec<&(DateTime<Utc>, Option<f64>)> = points
        .iter()
        .filter(|(at, _)| *at >= start && *at < end)
        .collect();
    let mut steps: Vec<i64> = inside
        .windows(2)
        .map(|w| (w[1].0 - w[0].0).num_milliseconds())
        .collect();
    steps.sort_unstable();
    let usual = steps.get(steps.len() / 2).copied().unwrap_or(0) as f64;
    let gap = (usual * 3.0).max(span / WIDTH * 2.0);
    let top = inside
        .iter()
        .filter_map(|(_, ms)| *ms)
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let y = |ms: f64| HEIGHT - PAD - (ms / top) * (HEIGHT - 2.0 * PAD);
    // Runs of (column, highest latency in it).
    let mut runs: Vec<Vec<(usize, f64)>> = Vec::new();
    let mut current: Vec<(usize, f64)> = Vec::new();
    let mut last: Option<DateTime<Utc>> = None;
    for (at, ms) in inside {
        let broken = last.is_some_and(|t| (*at - t).num_milliseconds() as f64 > gap);
        if (ms.is_none() || broken) && !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
        last = Some(*at);
        let Some(ms) = ms else { continue };
        let x = (((*at - start).num_milliseconds() as f64 / span) * WIDTH) as usize;
        let x = x.min(WIDTH as usize - 1);
        match current.last_mut() {
            Some((cx, v)) if *cx == x => *v = v.max(*ms),
            _ => current.push((x, *ms)),
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    let mut paths = String::new();
    for run in runs {
        let pts: Vec<String> = run
            .iter()
            .map(|(x, ms)| format!("{x},{:.1}", y(*ms)))
            .collect();
        let _ = write!(paths, r#"<polyline points="{}"/>"#, pts.join(" "));
    }
    format!(
        r#"<svg class="chart latency" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}"><title>{label}</title><rect class="frame" x="0" y="0" width="{WIDTH}" height="{HEIGHT}"/><g class="line">{paths}</g><text class="axis" x="{x}" y="12">{top:.0} ms</text></svg>"#,
        label = escape(label),
        x = PAD,
    )
}

/// One bar per day, oldest first: green at or above `good`, amber below it, red
/// below 95%, grey without data. Each bar's title says the day's uptime.
pub fn uptime_days(days: &[(String, Option<f64>)], good: f64, label: &str) -> String {
    let n = days.len().max(1) as f64;
    let w = WIDTH / n;
    let mut bars = String::new();
    for (i, (day, ratio)) in days.iter().enumerate() {
        let (class, text) = match ratio {
            None => ("none", "no data".to_owned()),
            Some(r) if *r >= good => ("good", format!("{:.2}%", r * 100.0)),
            Some(r) if *r >= 0.95 => ("fair", format!("{:.2}%", r * 100.0)),
            Some(r) => ("bad", format!("{:.2}%", r * 100.0)),
        };
        let _ = write!(
            bars,
            r#"<rect class="{class}" x="{:.1}" y="0" width="{:.1}" height="24"><title>{}: {text}</title></rect>"#,
            i as f64 * w + 1.0,
            (w - 2.0).max(1.0),
            escape(day),
        );
    }
    format!(
        r#"<svg class="chart uptime" viewBox="0 0 {WIDTH} 24" role="img" aria-label="{label}"><title>{label}</title>{bars}</svg>"#,
        label = escape(label)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn a_gap_breaks_the_latency_line_and_labels_are_escaped() {
        let t0 = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let pts: Vec<_> = (0..100)
            .map(|i| {
                (
                    t0 + Duration::minutes(i),
                    (!(40..60).contains(&i)).then_some(i as f64),
                )
            })
            .collect();
        let svg = latency(&pts, t0, t0 + Duration::minutes(100), "api <p95>");
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
        assert!(svg.contains("api &lt;p95&gt;"));
        assert!(svg.contains("99 ms"));
    }

    #[test]
    fn each_day_is_a_bar_coloured_by_its_uptime() {
        let days = vec![
            ("12-01".to_owned(), Some(1.0)),
            ("12-02".to_owned(), Some(0.97)),
            ("12-03".to_owned(), Some(0.5)),
            ("12-04".to_owned(), None),
        ];
        let svg = uptime_days(&days, 0.999, "api");
        for class in ["good", "fair", "bad", "none"] {
            assert!(
                svg.contains(&format!(r#"class="{class}""#)),
                "{class}: {svg}"
            );
        }
        assert!(svg.contains("12-03: 50.00%"));
    }
}
