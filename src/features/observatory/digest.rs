//! The daily digest and the SLO report: health over the digest's day (and 7 and 30
//! days), then what OpsMate did that day, one section per feature that is on.

use super::slo::{self, Incident};
use super::{Observatory, rollups, store};
use crate::audit::heads::{self, Head};
use crate::chat::answers::local;
use crate::chat::message::{ChatMessage, Part};
use crate::dispatch::Context;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// Fewer latency samples than this give no p95.
pub const P95_MIN_SAMPLES: usize = 20;

/// One check's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct CheckSlo {
    pub name: String,
    pub uptime_day: Option<f64>,
    pub uptime_7d: Option<f64>,
    pub uptime_30d: Option<f64>,
    /// Share of the 30 days without data.
    pub no_data_30d: f64,
    pub p95_ms: Option<f64>,
    pub slo_ms: Option<u64>,
    pub samples_day: usize,
    #[serde(skip)]
    pub incidents: Vec<Incident>,
}

/// Health numbers of every configured check for the window ending at `end`.
pub async fn slo_report(
    ctx: &Context,
    o: &Observatory,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<Vec<CheckSlo>> {
    let checks = o.settings.checks.clone();
    ctx.store
        .call(move |c| {
            checks
                .iter()
                .map(|check| {
                    let interval = Duration::from_std(check.interval)?;
                    // The day from raw samples (with the one before it, which covers
                    // its start); 7 and 30 days from the hourly rollups.
                    let day = store::points(c, &check.name, start, end, true)?;
                    let thirty =
                        rollups::uptime(c, &check.name, interval, end - Duration::days(30), end)?;
                    let seven =
                        rollups::uptime(c, &check.name, interval, end - Duration::days(7), end)?;
                    let day_points: Vec<&slo::Point> =
                        day.iter().filter(|p| p.at >= start).collect();
                    let latencies: Vec<f64> =
                        day_points.iter().filter_map(|p| p.latency_ms).collect();
                    Ok(CheckSlo {
                        name: check.name.clone(),
                        uptime_day: slo::uptime(&day, interval, start, end).ratio(),
                        uptime_7d: seven.ratio(),
                        uptime_30d: thirty.ratio(),
                        no_data_30d: thirty.no_data_share(),
                        p95_ms: slo::nearest_rank(&latencies, 95.0, P95_MIN_SAMPLES),
                        slo_ms: check.latency_slo_ms,
                        samples_day: day_points.len(),
                        incidents: slo::incidents(&day, start, end),
                    })
                })
                .collect()
        })
        .await
}

fn percent(r: Option<f64>) -> String {
    r.map(|r| format!("{:.2}%", r * 100.0))
        .unwrap_or_else(|| "no data".into())
}

fn human(d: Duration) -> String {
    let mins = d.num_minutes().max(0);
    if mins < 120 {
        format!("{mins} min")
    } else {
        format!("{} h {} min", mins / 60, mins % 60)
    }
}

/// The SLO line of one check.
pub fn slo_line(s: &CheckSlo) -> String {
    let p95 = match (s.p95_ms, s.slo_ms) {
        (Some(p), Some(slo)) => format!(
            "p95 {p:.0} ms against {slo} ms {}",
            if p <= slo as f64 { "✓" } else { "✗" }
        ),
        (Some(p), None) => format!("p95 {p:.0} ms"),
        (None, _) => format!("p95 n/a ({} samples)", s.samples_day),
    };
    let gaps = if s.no_data_30d > 0.0005 {
        format!(", no data for {:.1}% of 30 d", s.no_data_30d * 100.0)
    } else {
        String::new()
    };
    format!(
        "{}: uptime {} (day), {} (7 d), {} (30 d){gaps}; {p95}",
        s.name,
        percent(s.uptime_day),
        percent(s.uptime_7d),
        percent(s.uptime_30d)
    )
}

/// A built digest and the audit chain's head it shows.
pub struct Digest {
    pub message: ChatMessage,
    pub head: Option<Head>,
}

impl Digest {
    /// Keeps the head the digest showed, once it was posted (`via` says where), so
    /// `opsmate audit verify` checks the chain still reaches it.
    pub async fn posted(&self, ctx: &Context, via: String) -> anyhow::Result<()> {
        let Some(head) = self.head.clone() else {
            return Ok(());
        };
        let now = ctx.clock.now();
        ctx.store
            .call(move |c| {
                crate::store::immediate(c, |tx| {
                    heads::record_posted(tx, &head, now, &via)?;
                    crate::audit::append(
                        tx,
                        now,
                        "system",
                        crate::audit::events::AUDIT_HEAD_POSTED,
                        &head.to_string(),
                        &serde_json::json!({"via": via}),
                    )
                    .map(drop)
                })
            })
            .await
    }
}

/// The digest for the day ending at `end` (see [`slo::digest_window`]). It ends
/// with the audit chain's head, so a copy of it lives outside the database.
pub async fn build(ctx: &Context, o: &Observatory, end: DateTime<Utc>) -> anyhow::Result<Digest> {
    let (start, end) = slo::digest_window(&o.digest_schedule, end);
    let tz = o.tz;
    let mut parts = vec![Part::Text(health_text(ctx, o, start, end).await?)];
    parts.extend(work(ctx, start, end).await?.into_iter().map(Part::Text));
    let head = ctx.store.call(|c| heads::current(c)).await?;
    if let Some(head) = &head {
        parts.push(Part::Text(format!(
            "*Audit trail*\nHead {head}\n`opsmate audit verify --head {head}` checks that the log still reaches this row with this hash."
        )));
    }
    let message = ChatMessage {
        title: format!(
            "📋 OpsMate daily digest, {}",
            end.with_timezone(&tz).format("%Y-%m-%d")
        ),
        parts,
        footer: Some(format!(
            "Covers {} to {} ({} h)",
            local(start, tz),
            local(end, tz),
            (end - start).num_hours()
        )),
    };
    Ok(Digest { message, head })
}

async fn health_text(
    ctx: &Context,
    o: &Observatory,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<String> {
    let tz = o.tz;
    let states = ctx.store.call(|c| store::alert_states(c)).await?;
    let failing: Vec<String> = states
        .iter()
        .filter_map(|(name, s)| {
            s.open.map(|st| {
                format!(
                    "• {name}: {st} since {}",
                    s.open_since.map(|t| local(t, tz)).unwrap_or_default()
                )
            })
        })
        .collect();
    let report = slo_report(ctx, o, start, end).await?;
    let mut lines = vec!["*Health*".to_owned()];
    if failing.is_empty() {
        lines.push("Nothing is failing now.".into());
    } else {
        lines.push(format!("Failing now ({}):", failing.len()));
        lines.extend(failing);
    }
    let incidents: Vec<String> = report
        .iter()
        .flat_map(|s| {
            s.incidents.iter().map(move |i| {
                format!(
                    "• {}: {} from {} for {}{}",
                    s.name,
                    i.worst,
                    local(i.start, tz),
                    human(i.duration(end)),
                    if i.end.is_none() { " (ongoing)" } else { "" }
                )
            })
        })
        .collect();
    if incidents.is_empty() {
        lines.push("No incidents in the last day.".into());
    } else {
        lines.push(format!("Incidents ({}):", incidents.len()));
        lines.extend(incidents);
    }
    if report.is_empty() {
        lines.push("No checks are configured ([[observatory.checks]]).".into());
    }
    lines.extend(report.iter().map(|s| format!("• {}", slo_line(s))));
    Ok(lines.join("\n"))
}

/// What OpsMate did in [start, end): one section per feature that has one, then the
/// approvals still waiting.
async fn work(
    ctx: &Context,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for f in ctx.features.iter() {
        out.extend(f.digest(ctx, start, end).await?);
    }
    let pending = ctx.gate.pending().await?;
    out.push(format!(
        "*Approvals*\n{}",
        if pending.is_empty() {
            "No proposal is waiting.".to_owned()
        } else {
            let mut lines = vec![format!("{} waiting:", pending.len())];
            lines.extend(pending.iter().take(20).map(|p| {
                format!(
                    "• {} {} ({}), waiting {}",
                    crate::chat::answers::kind_label(p.kind),
                    p.target,
                    p.id,
                    human(end - p.created_at)
                )
            }));
            lines.join("\n")
        }
    ));
    Ok(out)
}
