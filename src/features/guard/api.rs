//! Access Guard in the REST API: `GET /api/v1/access`, everyone Access Guard has
//! seen, by status: departed with their grace clock, kept (by whom, until when,
//! why), revoked with the steps done, and present.

use super::Guard;
use super::store;
use crate::approvals::BoxFuture;
use crate::dispatch::Context;
use crate::plugin::ApiResource;
use serde_json::{Value, json};

pub const API: &[ApiResource] = &[ApiResource {
    name: "access",
    summary: "IAM users Access Guard has seen, by status: departed (with the grace period's end), kept, revoked (with each step done) and present, as of the last scan.",
    schema,
    read,
}];

pub(super) fn read(ctx: &Context) -> BoxFuture<'_, anyhow::Result<Value>> {
    Box::pin(async move {
        let grace_days = ctx
            .features
            .get::<Guard>()
            .map_or(0, |g| g.settings.grace_period_days);
        let now = ctx.clock.now();
        let people = ctx
            .store
            .call(move |c| {
                let mut people: Vec<_> = store::people(c)?.into_values().collect();
                people.sort_by(|a, b| a.user.cmp(&b.user));
                let mut out = Vec::with_capacity(people.len());
                for p in people {
                    let steps = store::done_steps(c, &p.user)?;
                    let mut steps: Vec<_> = steps
                        .into_iter()
                        .map(|(step, removed)| json!({"step": step, "removed": removed}))
                        .collect();
                    steps.sort_by(|a, b| a["step"].as_str().cmp(&b["step"].as_str()));
                    let status = if p.revoked_at.is_some() {
                        "revoked"
                    } else if p.kept_until.is_some_and(|t| t > now) {
                        "kept"
                    } else if p.missing_since.is_some() {
                        "departed"
                    } else {
                        "present"
                    };
                    let grace_ends = p
                        .missing_since
                        .map(|t| t + chrono::Duration::days(i64::from(grace_days)));
                    out.push(json!({
                        "iam_user": p.user,
                        "status": status,
                        "missing_since": p.missing_since,
                        "missing_from": p.missing_from,
                        "grace_ends": grace_ends,
                        "kept_until": p.kept_until,
                        "kept_by": p.kept_by,
                        "kept_reason": p.kept_reason,
                        "revoked_at": p.revoked_at,
                        "steps_done": steps,
                    }));
                }
                Ok(out)
            })
            .await?;
        Ok(json!({"grace_period_days": grace_days, "people": people}))
    })
}

fn schema() -> Value {
    let time = json!({"type": ["string", "null"], "format": "date-time"});
    json!({
        "type": "object",
        "required": ["grace_period_days", "people"],
        "properties": {
            "grace_period_days": {"type": "integer", "minimum": 0},
            "people": {"type": "array", "items": {
                "type": "object",
                "required": ["iam_user", "status", "missing_from", "steps_done"],
                "properties": {
                    "iam_user": {"type": "string"},
                    "status": {"enum": ["departed", "kept", "revoked", "present"]},
                    "missing_since": time,
                    "missing_from": {"type": "array", "items": {"type": "string"}},
                    "grace_ends": time,
                    "kept_until": time,
                    "kept_by": {"type": ["string", "null"]},
                    "kept_reason": {"type": ["string", "null"]},
                    "revoked_at": time,
                    "steps_done": {"type": "array", "items": {
                        "type": "object",
                        "required": ["step", "removed"],
                        "properties": {
                            "step": {"type": "string"},
                            "removed": {"type": "array", "items": {"type": "string"}}
                        }
                    }}
                }
            }}
        }
    })
}
