//! The console's pages: the frame every page shares, Overview, Approvals, each
//! feature's page, the static files, and the answers for a console that is off or a
//! request that went wrong.

use super::templates::{self, page_template};
use super::{ConsoleState, Mode, Viewer};
use crate::approvals::policy::{for_proposal, policy_kinds};
use crate::approvals::{Proposal, ProposalState, kinds};
use crate::chat::answers;
use crate::chat::message::{ChatMessage, Part};
use crate::features::ALL;
use crate::plugin::{ConsolePage, Plug};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Decided proposals on one page of Approvals.
const DECIDED_PER_PAGE: usize = 50;

/// The navigation: the core's pages, then every feature's.
fn nav(active: &str) -> Vec<Value> {
    let mut items = vec![
        ("", "Overview"),
        ("approvals", "Approvals"),
        ("audit", "Audit"),
    ];
    items.extend(
        ALL.iter()
            .flat_map(|p| p.pages.iter())
            .map(|page| (page.path, page.title)),
    );
    items
        .into_iter()
        .map(|(path, title)| json!({"path": path, "title": title, "active": path == active}))
        .collect()
}

/// What every page's template gets: its title, the navigation and who is looking.
pub fn frame(viewer: Option<&Viewer>, title: &str, page: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("title".into(), json!(title));
    m.insert("page".into(), json!(page));
    m.insert("nav".into(), json!(nav(page)));
    if let Some(v) = viewer {
        m.insert(
            "viewer".into(),
            json!({"name": v.name, "csrf": v.csrf, "may_decide": v.may_decide()}),
        );
    }
    m
}

/// Renders `template` with `context`, or a 500 page (logged).
pub fn render(template: &str, context: Map<String, Value>) -> Response {
    render_with(StatusCode::OK, template, context)
}

fn render_with(status: StatusCode, template: &str, context: Map<String, Value>) -> Response {
    match templates::render(template, Value::Object(context)) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), template, "a console page could not be drawn");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be drawn; the error is logged",
            )
                .into_response()
        }
    }
}

/// A page that only says something (a refusal, an error, the console being off).
pub fn message(s: &ConsoleState, status: StatusCode, title: &str, text: &str) -> Response {
    let mut m = frame(None, title, "message");
    m.insert("text".into(), json!(text));
    m.insert(
        "sign_in".into(),
        json!(s.mode == Mode::Slack && status == StatusCode::UNAUTHORIZED),
    );
    render_with(status, "message.html", m)
}

/// A page whose address does not parse.
pub fn malformed(s: &ConsoleState) -> Response {
    message(
        s,
        StatusCode::BAD_REQUEST,
        "Not understood",
        "The page's address is malformed.",
    )
}

/// Every page while neither Sign in with Slack nor `web.local_admin` is set.
pub fn console_off(s: &ConsoleState) -> Response {
    message(
        s,
        StatusCode::NOT_FOUND,
        "The web console is off",
        "Set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to sign in with Slack, or web.local_admin = true to try it on this machine (see the README).",
    )
}

/// `GET /signed-out`.
pub async fn signed_out(State(s): State<ConsoleState>) -> Response {
    message(
        &s,
        StatusCode::OK,
        "Signed out",
        "You are signed out of OpsMate.",
    )
}

fn age(p: &Proposal, now: chrono::DateTime<chrono::Utc>) -> String {
    let mins = (now - p.created_at).num_minutes().max(0);
    match mins {
        m if m < 60 => format!("{m} min"),
        m if m < 48 * 60 => format!("{} h", m / 60),
        m => format!("{} days", m / 1440),
    }
}

/// Who may decide `p`, in words, from its kinds' policies.
fn deciders(s: &ConsoleState, p: &Proposal) -> String {
    let config = for_proposal(&s.ctx.config.approvals, p.kind, &p.params);
    let mut people = Vec::new();
    for kind in policy_kinds(p.kind, &p.params) {
        if let Some(policy) = config.policy(kind) {
            people.extend(policy.slack_users.iter().map(|u| format!("slack:{u}")));
            people.extend(policy.slack_groups.iter().map(|g| format!("group {g}")));
            people.extend(
                policy
                    .telegram_users
                    .iter()
                    .map(|t| format!("telegram:{}", t.0)),
            );
        }
    }
    people.sort();
    people.dedup();
    if people.is_empty() {
        "nobody (no approvers configured)".into()
    } else {
        people.join(", ")
    }
}

/// A proposal as the templates show it.
async fn proposal_view(s: &ConsoleState, viewer: &Viewer, p: &Proposal) -> Value {
    let spec = kinds::spec(p.kind);
    let may_decide = match &viewer.user {
        Some(_) if p.state == ProposalState::Pending => {
            let kinds = policy_kinds(p.kind, &p.params);
            let decider = crate::chat::slack::groups::resolve(&s.ctx, &viewer.actor, &kinds).await;
            s.ctx.gate.may_decide(&decider, p).is_ok()
        }
        _ => false,
    };
    json!({
        "id": p.id,
        "kind_label": answers::kind_label(p.kind),
        "reason": p.reason,
        "target": p.target,
        "state": p.state,
        "age": age(p, s.ctx.clock.now()),
        "expires_at": p.expires_at,
        "decided_by": p.decided_by,
        "decided_at": p.decided_at.or(p.finished_at),
        "decision_note": p.decision_note,
        "may_decide": may_decide,
        "approve_label": spec.map_or("Approve", |k| k.approve),
        "reject_label": spec.map_or("Reject", |k| k.reject),
        "who_may_decide": deciders(s, p),
    })
}

/// A neutral message as the templates show it (its buttons are chat's).
fn section(msg: &ChatMessage) -> Value {
    let parts: Vec<Value> = msg
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(json!({"text": t})),
            Part::Fields(f) => Some(json!({"fields": f})),
            Part::Buttons(_) | Part::Presses(_) => None,
        })
        .collect();
    json!({"title": msg.title, "parts": parts})
}

fn internal(e: &anyhow::Error) -> Response {
    tracing::error!(error = %format!("{e:#}"), "a console page failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "the page could not be drawn; the error is logged",
    )
        .into_response()
}

/// `GET /`: what is waiting and what each feature says now (the same sections as
/// Slack's Home tab).
pub async fn overview(State(s): State<ConsoleState>, viewer: Viewer) -> Response {
    let pending = match s.ctx.gate.pending().await {
        Ok(p) => p,
        Err(e) => return internal(&e),
    };
    let mut views = Vec::with_capacity(pending.len());
    for p in &pending {
        views.push(proposal_view(&s, &viewer, p).await);
    }
    let mut sections = Vec::new();
    for feature in s.ctx.features.iter() {
        match feature.overview(&s.ctx).await {
            Ok(Some(msg)) => sections.push(section(&msg)),
            Ok(None) => {}
            Err(e) => return internal(&e),
        }
    }
    let mut m = frame(Some(&viewer), "Overview", "");
    m.insert("pending".into(), json!(views));
    m.insert("sections".into(), json!(sections));
    render("overview.html", m)
}

#[derive(Debug, Deserialize)]
pub struct ApprovalsQuery {
    cursor: Option<i64>,
    approved: Option<String>,
    rejected: Option<String>,
    voted: Option<String>,
}

/// `GET /approvals`: pending with their age and who may decide, then the decided
/// ones, newest first, paged.
pub async fn approvals(
    State(s): State<ConsoleState>,
    viewer: Viewer,
    query: Result<Query<ApprovalsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return malformed(&s);
    };
    let (pending, page) = match tokio::try_join!(
        s.ctx.gate.pending(),
        s.ctx.gate.page(None, q.cursor, DECIDED_PER_PAGE * 2)
    ) {
        Ok(x) => x,
        Err(e) => return internal(&e),
    };
    let mut pending_views = Vec::new();
    for p in &pending {
        pending_views.push(proposal_view(&s, &viewer, p).await);
    }
    let decided: Vec<&(i64, Proposal)> = page
        .iter()
        .filter(|(_, p)| p.state != ProposalState::Pending)
        .take(DECIDED_PER_PAGE)
        .collect();
    let next = (page.len() == DECIDED_PER_PAGE * 2)
        .then(|| page.last().map(|(seq, _)| *seq))
        .flatten();
    let mut decided_views = Vec::new();
    for (_, p) in decided {
        decided_views.push(proposal_view(&s, &viewer, p).await);
    }
    let notice = match (&q.approved, &q.rejected, &q.voted) {
        (Some(id), _, _) => Some(format!("Approved {id}: it runs now.")),
        (_, Some(id), _) => Some(format!("Rejected {id}.")),
        (_, _, Some(id)) => Some(format!(
            "Your approval of {id} is recorded; it needs more approvers."
        )),
        _ => None,
    };
    let mut m = frame(Some(&viewer), "Approvals", "approvals");
    m.insert("pending".into(), json!(pending_views));
    m.insert("decided".into(), json!(decided_views));
    m.insert("next_cursor".into(), json!(next));
    m.insert("notice".into(), json!(notice));
    render("approvals.html", m)
}

/// `GET /<path>`: a feature's page, filled by its data; a page of a feature that
/// is off says how to turn it on.
pub async fn feature(
    State(s): State<ConsoleState>,
    viewer: Viewer,
    plug: &'static Plug,
    page: &'static ConsolePage,
) -> Response {
    let mut m = frame(Some(&viewer), page.title, page.path);
    if s.ctx.features.named(plug.name).is_none() {
        let why = (plug.status)(&s.ctx.config, &s.ctx.secrets).why;
        m.insert(
            "text".into(),
            json!(format!("{} is off: {why}", page.title)),
        );
        return render("message.html", m);
    }
    match (page.data)(&s.ctx).await {
        Ok(data) => {
            m.insert("data".into(), data);
            render(&page_template(page.path), m)
        }
        Err(e) => internal(&e),
    }
}

/// `GET /static/{file}`: the embedded stylesheet and script.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "style.css" => (include_str!("static/style.css"), "text/css; charset=utf-8"),
        "live.js" => (
            include_str!("static/live.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return (StatusCode::NOT_FOUND, "not found").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        body,
    )
        .into_response()
}
