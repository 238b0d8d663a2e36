//! `/api/v1/approvals`: proposals, newest first, and decisions on them through the
//! gate, exactly as a button click decides.

use super::auth::Caller;
use super::page::{Page, PageQuery};
use super::{ApiError, ApiState};
use crate::approvals::{Decided, DecisionError, Proposal, ProposalState, Verdict, decision_note};
use crate::domain::{Actor, ApprovalId};
use crate::web::tokens::Scope;
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// One state (`pending`, `approved`, `succeeded`, …); every state when absent.
    state: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /api/v1/approvals?state=&limit=&cursor=`
pub async fn list(
    State(s): State<ApiState>,
    _caller: Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<Proposal>>, ApiError> {
    let Query(q) = query?;
    let state = q
        .state
        .as_deref()
        .map(|s| {
            s.parse::<ProposalState>()
                .map_err(|_| ApiError::bad_request(format!("state {s:?} is not a proposal state")))
        })
        .transpose()?;
    let paging = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    };
    let limit = paging.limit()?;
    let rows = s.ctx.gate.page(state, paging.before()?, limit + 1).await?;
    Ok(Json(Page::of(rows, limit)))
}

/// `GET /api/v1/approvals/{id}`
pub async fn one(
    State(s): State<ApiState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Proposal>, ApiError> {
    let id = parse_id(&id)?;
    s.ctx
        .gate
        .get(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no proposal {id}")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    verdict: ApiVerdict,
    /// Why, recorded with the decision (at most [`crate::approvals::MAX_NOTE_CHARS`] characters).
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ApiVerdict {
    Approve,
    Reject,
}

/// `POST /api/v1/approvals/{id}/decision` with `{"verdict": "approve" | "reject"}`
/// and optionally `"reason"`.
/// The decision is the token owner's, recorded with the token's name; an approval
/// is handed to the executor and the answer comes back before the action ends.
pub async fn decide(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<DecisionBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_id(&id)?;
    let decider = Actor::Token {
        name: caller.0.name.clone(),
        owner: caller.0.owner.clone(),
    };
    if let Err(e) = caller.require(Scope::Decide) {
        s.ctx
            .audit
            .record(
                decider.key(),
                crate::audit::events::TOKEN_REFUSED,
                id.as_str(),
                json!({"asked": "decide", "scope": caller.0.scope}),
            )
            .await?;
        return Err(e);
    }
    let Json(body) = body?;
    let verdict = match body.verdict {
        ApiVerdict::Approve => Verdict::Approve,
        ApiVerdict::Reject => Verdict::Reject,
    };
    let note = match body.reason.as_deref().map(decision_note) {
        None => None,
        Some(Ok(note)) => note,
        Some(Err(e)) => return Err(ApiError::bad_request(e)),
    };
    let decided = s.ctx.gate.decide_noted(&id, &decider, verdict, note).await;
    if let Ok(d) = &decided {
        crate::web::after_decision(&s.ctx, d).await?;
    }
    match decided {
        Ok(Decided::Approved(p)) => Ok((StatusCode::ACCEPTED, Json(json!({"proposal": p})))),
        Ok(Decided::Rejected(p)) => Ok((StatusCode::OK, Json(json!({"proposal": p})))),
        Ok(Decided::NeedsMoreApprovals {
            proposal,
            have,
            need,
        }) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({"proposal": proposal, "approvals": have, "approvals_needed": need})),
        )),
        Err(e) => Err(refused(e)),
    }
}

fn refused(e: DecisionError) -> ApiError {
    let (status, code) = match &e {
        DecisionError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        DecisionError::Refused { refusal, .. } => (StatusCode::FORBIDDEN, refusal.code()),
        DecisionError::AlreadyDecided { .. } => (StatusCode::CONFLICT, "already_decided"),
        DecisionError::Expired(_) => (StatusCode::CONFLICT, "expired"),
        DecisionError::AlreadyVoted => (StatusCode::CONFLICT, "already_voted"),
        DecisionError::Internal(inner) => return ApiError::internal(inner),
    };
    ApiError::new(status, code, e.to_string())
}

fn parse_id(id: &str) -> Result<ApprovalId, ApiError> {
    ApprovalId::parse(id).map_err(|e| ApiError::bad_request(e.to_string()))
}
