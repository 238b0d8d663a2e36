//! Zombie Hunter in the REST API: `GET /api/v1/findings`, the idle resources the
//! last scans found and that are still idle, costliest first.

use crate::approvals::BoxFuture;
use crate::clock::from_millis;
use crate::dispatch::Context;
use crate::plugin::ApiResource;
use serde_json::{Value, json};

pub const API: &[ApiResource] = &[ApiResource {
    name: "findings",
    summary: "Idle EBS volumes, old snapshots and unassociated Elastic IPs still idle, with their monthly cost and when they were first seen, costliest first; and this month's deletions and their savings.",
    schema,
    read,
}];

pub(super) fn read(ctx: &Context) -> BoxFuture<'_, anyhow::Result<Value>> {
    Box::pin(async move {
        let findings = ctx
            .store
            .call(|c| {
                let mut stmt = c.prepare(
                    "SELECT account, region, kind, resource_id, first_seen, last_seen,
                            monthly_cost_usd, details
                     FROM hunter_findings WHERE resolved_at IS NULL
                     ORDER BY monthly_cost_usd DESC, region, resource_id",
                )?;
                let rows = stmt.query_map([], |r| {
                    let details: String = r.get(7)?;
                    Ok(json!({
                        "account": r.get::<_, String>(0)?,
                        "region": r.get::<_, String>(1)?,
                        "kind": r.get::<_, String>(2)?,
                        "resource_id": r.get::<_, String>(3)?,
                        "first_seen": from_millis(r.get(4)?),
                        "last_seen": from_millis(r.get(5)?),
                        "monthly_cost_usd": r.get::<_, f64>(6)?,
                        "details": serde_json::from_str::<Value>(&details).unwrap_or(Value::Null),
                    }))
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        let w = waste(ctx).await?;
        Ok(json!({
            "count": w.count,
            "monthly_cost_usd": w.monthly_cost_usd,
            "deleted_this_month": w.deleted_this_month,
            "saved_this_month_usd": w.saved_this_month_usd,
            "findings": findings,
        }))
    })
}

/// The waste the last scans left standing, and this month's deletions.
pub struct Waste {
    pub count: i64,
    pub monthly_cost_usd: f64,
    pub deleted_this_month: usize,
    pub saved_this_month_usd: f64,
}

/// Reads [`Waste`] (the month in UTC).
pub async fn waste(ctx: &Context) -> anyhow::Result<Waste> {
    let now = ctx.clock.now();
    let month = crate::clock::month_start(now);
    ctx.store
        .call(move |c| {
            let (count, cost): (i64, f64) = c.query_row(
                "SELECT COUNT(*), COALESCE(SUM(monthly_cost_usd), 0) FROM hunter_findings
                 WHERE resolved_at IS NULL",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let (_, _, deleted, saved) = super::plug::numbers(c, month, now)?;
            let cents = |v: f64| (v * 100.0).round() / 100.0;
            Ok(Waste {
                count,
                monthly_cost_usd: cents(cost),
                deleted_this_month: deleted,
                saved_this_month_usd: cents(saved),
            })
        })
        .await
}

fn schema() -> Value {
    json!({
        "type": "object",
        "required": ["count", "monthly_cost_usd", "deleted_this_month", "saved_this_month_usd", "findings"],
        "properties": {
            "count": {"type": "integer", "minimum": 0},
            "monthly_cost_usd": {"type": "number", "minimum": 0},
            "deleted_this_month": {"type": "integer", "minimum": 0},
            "saved_this_month_usd": {"type": "number", "minimum": 0},
            "findings": {"type": "array", "items": {
                "type": "object",
                "required": ["account", "region", "kind", "resource_id", "first_seen", "last_seen", "monthly_cost_usd"],
                "properties": {
                    "account": {"type": "string"},
                    "region": {"type": "string"},
                    "kind": {"enum": ["volume", "snapshot", "elastic_ip"]},
                    "resource_id": {"type": "string"},
                    "first_seen": {"type": "string", "format": "date-time"},
                    "last_seen": {"type": "string", "format": "date-time"},
                    "monthly_cost_usd": {"type": "number", "minimum": 0},
                    "details": {}
                }
            }}
        }
    })
}
