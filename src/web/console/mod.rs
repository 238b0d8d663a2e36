//! The web console: pages rendered on the server (minijinja templates, embedded with
//! their stylesheet and script), signed in with Slack, updated live over
//! Server-Sent Events.
//!
//! - [`signin`]: Sign in with Slack (OpenID Connect) and logout;
//! - [`session`]: the signed session cookie, sessions in SQLite, CSRF tokens;
//! - [`pages`]: Overview, Approvals, and each feature's page (Zombie Hunter, Night
//!   Watchman, Access Guard, Health), declared by its plug;
//! - [`audit_page`]: the audit log, filtered and paged, its chain's status, and
//!   its export as jsonl and csv;
//! - [`decide`]: Approve and Reject, through the same gate as a button;
//! - [`charts`]: the SVG charts, drawn on the server;
//! - [`live`]: the event stream that tells open pages something changed.
//!
//! The console is on with `SLACK_CLIENT_ID` and `SLACK_CLIENT_SECRET` set, or with
//! `web.local_admin = true` on a loopback address (read-only, for trying it out);
//! otherwise its pages answer 404 saying how to turn it on.

pub mod audit_page;
pub mod charts;
pub mod decide;
pub mod live;
pub mod pages;
pub mod session;
pub mod signin;
mod templates;

use crate::config::{Config, Secrets};
use crate::dispatch::Context;
use crate::domain::{Actor, SlackUserId};
use crate::features::FeatureStatus;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use cookie::Key;
use signin::Oidc;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// How the console lets people in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Sign in with Slack.
    Slack,
    /// Anyone reaching the loopback address may look; nobody may decide.
    LocalAdmin,
    Off,
}

/// The mode the configuration and environment give.
pub fn mode(config: &Config, secrets: &Secrets) -> Mode {
    match (
        &secrets.slack_client_id,
        &secrets.slack_client_secret,
        config.web.local_admin,
    ) {
        (Some(_), Some(_), _) => Mode::Slack,
        (_, _, true) => Mode::LocalAdmin,
        _ => Mode::Off,
    }
}

/// The console's line in the start-up log and `opsmate config check`.
pub fn status(config: &Config, secrets: &Secrets) -> FeatureStatus {
    let base = config.web.base_url(config.http.listen);
    let (on, why) = match mode(config, secrets) {
        Mode::Slack => (true, format!("{base}/, Sign in with Slack")),
        Mode::LocalAdmin => (
            true,
            format!("{base}/, read-only for anyone on this machine (web.local_admin); set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to sign in with Slack"),
        ),
        Mode::Off => (
            false,
            "set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (Sign in with Slack), or web.local_admin = true to try it on this machine".into(),
        ),
    };
    FeatureStatus {
        name: "web console",
        on,
        why,
    }
}

/// What the console's handlers share.
#[derive(Clone)]
pub struct ConsoleState {
    pub ctx: Context,
    pub mode: Mode,
    pub key: Key,
    /// The cookie is `Secure` (the console is reached over https).
    pub secure: bool,
    pub oidc: Option<Oidc>,
    /// The CSRF token of the local admin (who has no session).
    pub local_csrf: Arc<String>,
    /// Fired when the server begins to stop: open event streams end, so they do
    /// not hold the shutdown up.
    pub closing: CancellationToken,
    /// The audit chain's last walk, for the Audit page.
    pub chain: audit_page::ChainStatus,
}

impl ConsoleState {
    /// The console over `ctx`. Fails only when the database cannot give the
    /// cookie key.
    pub async fn new(ctx: Context) -> anyhow::Result<Self> {
        let key = ctx.store.call(|c| session::signing_key(c)).await?;
        let mode = mode(&ctx.config, &ctx.secrets);
        let base = ctx.config.web.base_url(ctx.config.http.listen);
        let oidc = match (
            &ctx.secrets.slack_client_id,
            &ctx.secrets.slack_client_secret,
        ) {
            (Some(id), Some(secret)) => Some(Oidc {
                client_id: id.expose().to_owned(),
                client_secret: secret.clone(),
                authorize_url: ctx.config.web.authorize_url(&ctx.config.slack.api_url),
                api_url: ctx.config.slack.api_url.clone(),
                public_url: ctx
                    .config
                    .web
                    .public_url
                    .as_ref()
                    .map(|u| u.trim_end_matches('/').to_owned()),
                http: reqwest::Client::builder()
                    .connect_timeout(std::time::Duration::from_secs(5))
                    .build()?,
            }),
            _ => None,
        };
        Ok(ConsoleState {
            secure: base.starts_with("https://"),
            ctx,
            mode,
            key,
            oidc,
            local_csrf: Arc::new(session::random_token()),
            closing: CancellationToken::new(),
            chain: audit_page::ChainStatus::default(),
        })
    }
}

/// The console's routes: the core's pages and every feature's (each at its own
/// path, so any other address stays the server's plain 404).
pub fn routes(state: ConsoleState) -> Router {
    let mut router = Router::new()
        .route("/", get(pages::overview))
        .route("/approvals", get(pages::approvals))
        .route("/approvals/{id}/decision", post(decide::decide))
        .route("/audit", get(audit_page::page))
        .route("/audit/export.jsonl", get(audit_page::export_jsonl))
        .route("/audit/export.csv", get(audit_page::export_csv))
        .route("/live", get(live::stream))
        .route("/static/{file}", get(pages::asset))
        .route("/login", get(signin::login))
        .route("/auth/slack/callback", get(signin::callback))
        .route("/logout", post(signin::logout))
        .route("/signed-out", get(pages::signed_out));
    for (plug, page) in crate::features::ALL
        .iter()
        .flat_map(|plug| plug.pages.iter().map(move |page| (plug, page)))
    {
        router = router.route(
            &format!("/{}", page.path),
            get(move |s: State<ConsoleState>, viewer: Viewer| {
                pages::feature(s, viewer, plug, page)
            }),
        );
    }
    router.with_state(state)
}

/// Who is looking.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// A signed-in person as the gate sees them, or [`Actor::System`] for the
    /// local admin.
    pub actor: Actor,
    pub user: Option<SlackUserId>,
    pub name: String,
    pub csrf: String,
}

impl Viewer {
    /// The local admin looks but never decides.
    pub fn may_decide(&self) -> bool {
        self.user.is_some()
    }
}

impl FromRequestParts<ConsoleState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        s: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        match s.mode {
            Mode::Off => return Err(pages::console_off(s)),
            Mode::LocalAdmin => {
                return Ok(Viewer {
                    actor: Actor::System,
                    user: None,
                    name: "local admin (read-only)".into(),
                    csrf: s.local_csrf.to_string(),
                });
            }
            Mode::Slack => {}
        }
        let Some(id) = session::read_signed(&parts.headers, &s.key, session::COOKIE) else {
            return Err(sign_in_first(parts));
        };
        let now = s.ctx.clock.now();
        let found = s
            .ctx
            .store
            .call(move |c| session::lookup(c, &id, now))
            .await
            .map_err(|e| {
                tracing::error!(error = %format!("{e:#}"), "could not read a web session");
                StatusCode::SERVICE_UNAVAILABLE.into_response()
            })?;
        let Some(session) = found else {
            return Err(sign_in_first(parts));
        };
        Ok(Viewer {
            actor: Actor::Slack {
                user: session.user.clone(),
                groups: vec![],
            },
            name: session
                .name
                .clone()
                .unwrap_or_else(|| session.user.to_string()),
            user: Some(session.user),
            csrf: session.csrf,
        })
    }
}

/// A page asks for sign-in; the stream and POSTs get 401.
fn sign_in_first(parts: &Parts) -> Response {
    let wants_page = parts.method == axum::http::Method::GET
        && parts
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|a| a.contains("text/html") || a.contains("*/*"))
        && parts.uri.path() != "/live";
    if wants_page {
        let next = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
        Redirect::to(&format!("/login?{query}")).into_response()
    } else {
        (StatusCode::UNAUTHORIZED, "sign in first").into_response()
    }
}

/// Refuses (403, audited) a POST whose form does not carry the viewer's CSRF token.
pub async fn check_csrf(s: &ConsoleState, viewer: &Viewer, body: &[u8]) -> Result<(), Response> {
    let given = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()
        .and_then(|form| form.into_iter().find(|(k, _)| k == "csrf").map(|(_, v)| v));
    if given.is_some_and(|token| session::same_token(&token, &viewer.csrf)) {
        return Ok(());
    }
    let who = viewer.actor.key();
    if let Err(e) = s
        .ctx
        .audit
        .record(
            who.clone(),
            crate::audit::events::WEB_CSRF_REFUSED,
            who.as_str(),
            serde_json::json!({}),
        )
        .await
    {
        tracing::warn!(error = %format!("{e:#}"), "a refused console POST could not be audited");
    }
    Err(pages::message(
        s,
        StatusCode::FORBIDDEN,
        "Refused",
        "This form is stale or did not come from this console (its CSRF token is missing or wrong). Reload the page and try again.",
    ))
}
