//! `/api/v1/audit`: the log newest first, narrowed by event, actor, subject and
//! time; and the chain's verification, as `opsmate audit verify` runs it.

use super::auth::Caller;
use super::page::{Page, PageQuery};
use super::{ApiError, ApiState};
use crate::audit::{self, AuditRecord, Filter, Verification};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// An event name, or a prefix ending in `.`.
    event: Option<String>,
    actor: Option<String>,
    subject: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /api/v1/audit?event=&actor=&subject=&since=&until=&limit=&cursor=`
pub async fn list(
    State(s): State<ApiState>,
    _caller: Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<AuditRecord>>, ApiError> {
    let Query(q) = query?;
    let paging = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    };
    let (limit, before) = (paging.limit()?, paging.before()?);
    let filter = Filter {
        event: q.event,
        actor: q.actor,
        subject: q.subject,
        since: q.since,
        until: q.until,
    };
    let rows = s
        .ctx
        .store
        .call(move |c| audit::page(c, &filter, before, limit + 1))
        .await?;
    let rows = rows.into_iter().map(|r| (r.seq, r)).collect();
    Ok(Json(Page::of(rows, limit)))
}

/// `GET /api/v1/audit/verify`: `{"intact": true, "rows", "head"}` or
/// `{"intact": false, "broken_at", "reason"}`.
pub async fn verify(State(s): State<ApiState>, _caller: Caller) -> Result<Json<Value>, ApiError> {
    let found = s.ctx.store.call(|c| audit::verify(c, &[])).await?;
    Ok(Json(match found {
        Verification::Intact {
            rows,
            head,
            heads_checked,
        } => json!({
            "intact": true,
            "rows": rows,
            "head": head.map(|h| json!({"seq": h.seq, "hash": h.hash})),
            "posted_heads_checked": heads_checked,
        }),
        Verification::Broken { seq, reason } => {
            json!({"intact": false, "broken_at": seq, "reason": reason})
        }
    }))
}
