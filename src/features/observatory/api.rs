//! Observatory in the REST API: `GET /api/v1/health`, each configured check's
//! latest result, uptime over 24 hours, 7 and 30 days, p95 latency over 24 hours,
//! and the outages of the last 24 hours.

use super::{Observatory, digest, store};
use crate::approvals::BoxFuture;
use crate::dispatch::Context;
use crate::plugin::ApiResource;
use serde_json::{Value, json};

pub const API: &[ApiResource] = &[ApiResource {
    name: "health",
    summary: "Each configured check: its latest result, uptime over 24 h, 7 d and 30 d (a share, 0 to 1; null without data), p95 latency over 24 h, and the outages of the last 24 h.",
    schema,
    read,
}];

pub(super) fn read(ctx: &Context) -> BoxFuture<'_, anyhow::Result<Value>> {
    Box::pin(async move {
        let Some(o) = ctx.features.get::<Observatory>() else {
            anyhow::bail!("Observatory is off");
        };
        let end = ctx.clock.now();
        let slos = digest::slo_report(ctx, &o, end - chrono::Duration::hours(24), end).await?;
        let mut checks = Vec::with_capacity(slos.len());
        for slo in slos {
            let name = slo.name.clone();
            let latest = ctx
                .store
                .call(move |c| store::recent(c, Some(&name), 1))
                .await?
                .pop();
            checks.push(json!({
                "name": slo.name,
                "status": latest.as_ref().map(|s| s.outcome.status),
                "checked_at": latest.as_ref().map(|s| s.at),
                "message": latest.as_ref().map(|s| s.outcome.message.clone()),
                "uptime_24h": slo.uptime_day,
                "uptime_7d": slo.uptime_7d,
                "uptime_30d": slo.uptime_30d,
                "no_data_30d": slo.no_data_30d,
                "p95_ms": slo.p95_ms,
                "latency_slo_ms": slo.slo_ms,
                "samples_24h": slo.samples_day,
                "outages_24h": slo.incidents.iter().map(|i| json!({
                    "start": i.start, "end": i.end, "worst": i.worst,
                })).collect::<Vec<_>>(),
            }));
        }
        Ok(json!({"checks": checks}))
    })
}

fn schema() -> Value {
    let share = json!({"type": ["number", "null"], "minimum": 0, "maximum": 1});
    json!({
        "type": "object",
        "required": ["checks"],
        "properties": {"checks": {"type": "array", "items": {
            "type": "object",
            "required": ["name", "status", "uptime_24h", "uptime_7d", "uptime_30d", "p95_ms", "samples_24h", "outages_24h"],
            "properties": {
                "name": {"type": "string"},
                "status": {"enum": ["ok", "warn", "critical", "error", null]},
                "checked_at": {"type": ["string", "null"], "format": "date-time"},
                "message": {"type": ["string", "null"]},
                "uptime_24h": share,
                "uptime_7d": share,
                "uptime_30d": share,
                "no_data_30d": {"type": "number", "minimum": 0, "maximum": 1},
                "p95_ms": {"type": ["number", "null"]},
                "latency_slo_ms": {"type": ["integer", "null"]},
                "samples_24h": {"type": "integer", "minimum": 0},
                "outages_24h": {"type": "array", "items": {
                    "type": "object",
                    "required": ["start", "end", "worst"],
                    "properties": {
                        "start": {"type": "string", "format": "date-time"},
                        "end": {"type": ["string", "null"], "format": "date-time"},
                        "worst": {"enum": ["ok", "warn", "critical", "error"]}
                    }
                }}
            }
        }}}
    })
}
