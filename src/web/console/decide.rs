//! `POST /approvals/{id}/decision`: Approve or Reject on the web, by a signed-in
//! person, through the same gate as a Slack button (their user groups resolved the
//! same way), with the CSRF token of their session. An approval is handed to the
//! executor; the page comes back at once.

use super::{ConsoleState, Viewer, check_csrf, pages};
use crate::approvals::{Decided, DecisionError, Verdict, decision_note};
use crate::chat::answers;
use crate::domain::ApprovalId;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

/// The decision form's fields.
struct Form {
    verdict: String,
    reason: String,
}

pub async fn decide(
    State(s): State<ConsoleState>,
    viewer: Viewer,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = check_csrf(&s, &viewer, &body).await {
        return r;
    }
    if !viewer.may_decide() {
        return pages::message(
            &s,
            StatusCode::FORBIDDEN,
            "Read-only",
            "The local admin may look but not decide. Sign in with Slack to decide.",
        );
    }
    let bad = |why: String| pages::message(&s, StatusCode::BAD_REQUEST, "Not decided", &why);
    let Ok(id) = ApprovalId::parse(&id) else {
        return bad(format!("{id:?} is not an approval id."));
    };
    let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return bad("The form is malformed.".into());
    };
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let form = Form {
        verdict: get("verdict").unwrap_or_default(),
        reason: get("reason").unwrap_or_default(),
    };
    let verdict = match form.verdict.as_str() {
        "approve" => Verdict::Approve,
        "reject" => Verdict::Reject,
        other => return bad(format!("{other:?} is neither approve nor reject.")),
    };
    let note = match decision_note(&form.reason) {
        Ok(note) => note,
        Err(e) => return bad(e),
    };
    let ctx = &s.ctx;
    let kinds = match ctx.gate.get(&id).await {
        Ok(Some(p)) => crate::approvals::policy::policy_kinds(p.kind, &p.params),
        Ok(None) => vec![],
        Err(e) => return internal(&s, &e),
    };
    let decider = crate::chat::slack::groups::resolve(ctx, &viewer.actor, &kinds).await;
    match ctx.gate.decide_noted(&id, &decider, verdict, note).await {
        Ok(decided) => {
            if let Err(e) = crate::web::after_decision(ctx, &decided).await {
                return internal(&s, &e);
            }
            let what = match decided {
                Decided::Approved(_) => "approved",
                Decided::Rejected(_) => "rejected",
                Decided::NeedsMoreApprovals { .. } => "voted",
            };
            Redirect::to(&format!("/approvals?{what}={id}")).into_response()
        }
        Err(DecisionError::Internal(e)) => internal(&s, &e),
        Err(refused) => {
            let msg = answers::refusal(&refused, ctx.config.timezone);
            let status = match refused {
                DecisionError::NotFound(_) => StatusCode::NOT_FOUND,
                DecisionError::Refused { .. } => StatusCode::FORBIDDEN,
                _ => StatusCode::CONFLICT,
            };
            pages::message(&s, status, &msg.title, &msg.plain())
        }
    }
}

fn internal(s: &ConsoleState, e: &anyhow::Error) -> Response {
    tracing::error!(error = %format!("{e:#}"), "a console decision failed");
    pages::message(
        s,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The decision could not be recorded; the error is logged.",
    )
}
