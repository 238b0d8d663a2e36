//! Observatory's page in the web console: each check's status, uptime over 24 h,
//! 7 d and 30 d, p95, a latency chart of the last 24 hours, a 30-day uptime bar
//! and the day's outages (the data of `GET /api/v1/health`, with the charts).

use super::{Observatory, rollups, store};
use crate::approvals::BoxFuture;
use crate::dispatch::Context;
use crate::plugin::ConsolePage;
use crate::web::console::charts;
use chrono::{Duration, DurationRound};
use serde_json::{Value, json};

pub const PAGES: &[ConsolePage] = &[ConsolePage {
    path: "health",
    title: "Health",
    template: include_str!("page.html"),
    data,
}];

/// Days in the uptime bar.
const DAYS: i64 = 30;

fn data(ctx: &Context) -> BoxFuture<'_, anyhow::Result<Value>> {
    Box::pin(async move {
        let Some(o) = ctx.features.get::<Observatory>() else {
            anyhow::bail!("Observatory is off");
        };
        let mut page = super::api::read(ctx).await?;
        let end = ctx.clock.now();
        let checks: Vec<(String, std::time::Duration, Option<u64>)> = o
            .settings
            .checks
            .iter()
            .map(|c| (c.name.clone(), c.interval, c.latency_slo_ms))
            .collect();
        let drawn = ctx
            .store
            .call(move |c| {
                let today = end.duration_trunc(Duration::days(1))?;
                let mut out = serde_json::Map::new();
                for (name, interval, _) in &checks {
                    let interval = Duration::from_std(*interval)?;
                    let start = end - Duration::hours(24);
                    let points: Vec<_> = store::points(c, name, start, end, true)?
                        .into_iter()
                        .map(|p| (p.at, p.latency_ms))
                        .collect();
                    let mut days = Vec::with_capacity(DAYS as usize);
                    for back in (0..DAYS).rev() {
                        let from = today - Duration::days(back);
                        let to = (from + Duration::days(1)).min(end);
                        let up = rollups::uptime(c, name, interval, from, to)?;
                        days.push((from.format("%Y-%m-%d").to_string(), up.ratio()));
                    }
                    out.insert(
                        name.clone(),
                        json!({
                            "latency": charts::latency(&points, start, end, &format!("{name}: latency over 24 hours")),
                            "days": charts::uptime_days(&days, 0.999, &format!("{name}: uptime by day over {DAYS} days")),
                        }),
                    );
                }
                Ok(Value::Object(out))
            })
            .await?;
        page["charts"] = drawn;
        Ok(page)
    })
}
