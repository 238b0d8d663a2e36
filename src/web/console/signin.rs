//! Sign in with Slack (OpenID Connect): `/login` sends the browser to Slack's
//! authorization page with a fresh state and nonce (kept in a signed cookie);
//! `/auth/slack/callback` checks the state, trades the code at
//! `openid.connect.token`, checks the ID token's nonce and audience, reads the
//! person at `openid.connect.userInfo`, checks they may look, and starts a
//! session. `/logout` ends it.
//!
//! The ID token comes straight from Slack's token endpoint over TLS, so its claims
//! are read without checking its signature (OpenID Connect Core 3.1.3.7).

use super::session::{self, SIGNIN_COOKIE};
use super::{ConsoleState, Viewer};
use crate::audit::events;
use crate::domain::{Actor, SlackGroupId, SlackUserId};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// How long the trip to Slack's page and back may take.
const SIGNIN_TTL: Duration = Duration::from_secs(600);

/// Slack's OAuth client, when `SLACK_CLIENT_ID` and `SLACK_CLIENT_SECRET` are set.
#[derive(Clone)]
pub struct Oidc {
    pub client_id: String,
    pub client_secret: crate::config::Secret,
    pub authorize_url: String,
    /// Slack's Web API (`openid.connect.token`, `openid.connect.userInfo`).
    pub api_url: String,
    /// Where Slack sends the browser back: `web.public_url`'s callback, or (when it
    /// is unset) the callback on the host the browser asked for. Slack only sends
    /// people back to the redirect URLs registered for the app.
    pub public_url: Option<String>,
    pub http: reqwest::Client,
}

impl Oidc {
    fn redirect_uri(&self, headers: &HeaderMap) -> String {
        let base = self.public_url.clone().unwrap_or_else(|| {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}")
        });
        format!("{base}/auth/slack/callback")
    }
}

fn redirect_with_cookie(to: &str, cookie: String) -> Response {
    let mut r = Redirect::to(to).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

#[derive(Debug, Deserialize)]
pub struct Login {
    /// The console page to come back to.
    next: Option<String>,
}

/// Only a path on this console (never `//host`), else the Overview.
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p,
        _ => "/",
    }
}

/// `GET /login?next=`: off to Slack.
pub async fn login(
    State(s): State<ConsoleState>,
    headers: HeaderMap,
    Query(q): Query<Login>,
) -> Response {
    let Some(oidc) = &s.oidc else {
        return super::pages::message(
            &s,
            StatusCode::NOT_FOUND,
            "Sign-in is off",
            "Set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to sign in with Slack.",
        );
    };
    let (state, nonce) = (session::random_token(), session::random_token());
    let url = match reqwest::Url::parse_with_params(
        &oidc.authorize_url,
        &[
            ("response_type", "code"),
            ("scope", "openid profile email"),
            ("client_id", oidc.client_id.as_str()),
            ("state", state.as_str()),
            ("nonce", nonce.as_str()),
            ("redirect_uri", oidc.redirect_uri(&headers).as_str()),
        ],
    ) {
        Ok(url) => url,
        Err(e) => {
            tracing::error!(error = %e, "web.authorize_url is not a URL");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let cookie = session::set_signed(
        &s.key,
        SIGNIN_COOKIE,
        &format!("{state}|{nonce}|{}", local_path(q.next.as_deref())),
        Some(SIGNIN_TTL),
        s.secure,
    );
    redirect_with_cookie(url.as_str(), cookie)
}

#[derive(Debug, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /auth/slack/callback?code=&state=`.
pub async fn callback(
    State(s): State<ConsoleState>,
    headers: HeaderMap,
    query: Result<Query<Callback>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let refuse =
        |status: StatusCode, why: &str| super::pages::message(&s, status, "Not signed in", why);
    let Some(oidc) = &s.oidc else {
        return refuse(StatusCode::NOT_FOUND, "Sign-in is off.");
    };
    let Ok(Query(q)) = query else {
        return refuse(StatusCode::BAD_REQUEST, "Slack's answer is malformed.");
    };
    if let Some(e) = q.error {
        return refuse(StatusCode::UNAUTHORIZED, &format!("Slack said: {e}."));
    }
    let expected = session::read_signed(&headers, &s.key, SIGNIN_COOKIE);
    let parts: Option<Vec<&str>> = expected.as_deref().map(|v| v.splitn(3, '|').collect());
    let Some([state, nonce, next]) = parts.as_deref() else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "The sign-in expired or was started in another browser. Try again.",
        );
    };
    let (Some(code), Some(given)) = (q.code, q.state) else {
        return refuse(StatusCode::BAD_REQUEST, "Slack's answer has no code.");
    };
    let next = local_path(Some(next)).to_owned();
    if !session::same_token(state, &given) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "The sign-in's state does not match.",
        );
    }
    let redirect = oidc.redirect_uri(&headers);
    let person = match identify(oidc, &code, nonce, &redirect).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "Sign in with Slack failed");
            return refuse(
                StatusCode::UNAUTHORIZED,
                "Slack did not confirm who you are. Try again.",
            );
        }
    };
    if !may_look(&s, &person.user).await {
        if let Err(e) = record(&s, &person, events::WEB_SIGNIN_REFUSED).await {
            tracing::warn!(error = %format!("{e:#}"), "a refused sign-in could not be audited");
        }
        return refuse(
            StatusCode::FORBIDDEN,
            "You are not on this console's list (web.allowed_users, web.allowed_groups).",
        );
    }
    let (user, name, now, ttl) = (
        person.user.clone(),
        person.name.clone(),
        s.ctx.clock.now(),
        s.ctx.config.web.session_ttl,
    );
    // No session without its audit row.
    let created = match record(&s, &person, events::WEB_SIGNED_IN).await {
        Ok(()) => {
            s.ctx
                .store
                .call(move |c| session::create(c, &user, name.as_deref(), now, ttl))
                .await
        }
        Err(e) => Err(e),
    };
    let id = match created {
        Ok(id) => id,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "could not record a web sign-in");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let cookie = session::set_signed(&s.key, session::COOKIE, &id, Some(ttl), s.secure);
    let mut r = redirect_with_cookie(&next, cookie);
    let clear = session::set_signed(&s.key, SIGNIN_COOKIE, "", None, s.secure);
    if let Ok(v) = HeaderValue::from_str(&clear) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// Audits `event` about the person Slack confirmed.
async fn record(s: &ConsoleState, person: &Person, event: &str) -> anyhow::Result<()> {
    s.ctx
        .audit
        .record(
            format!("slack:{}", person.user),
            event,
            person.user.as_str(),
            json!({"name": person.name}),
        )
        .await
        .map(|_| ())
}

/// Who Slack says signed in.
struct Person {
    user: SlackUserId,
    name: Option<String>,
}

async fn slack_call(oidc: &Oidc, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let answer: Value = request
        .timeout(Duration::from_secs(10))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    if answer["ok"] != json!(true) {
        anyhow::bail!(
            "Slack answered {} ({})",
            answer["error"].as_str().unwrap_or("not ok"),
            oidc.api_url
        );
    }
    Ok(answer)
}

async fn identify(
    oidc: &Oidc,
    code: &str,
    nonce: &str,
    redirect_uri: &str,
) -> anyhow::Result<Person> {
    let api = oidc.api_url.trim_end_matches('/');
    let token = slack_call(
        oidc,
        oidc.http
            .post(format!("{api}/openid.connect.token"))
            .form(&[
                ("client_id", oidc.client_id.as_str()),
                ("client_secret", oidc.client_secret.expose()),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("grant_type", "authorization_code"),
            ]),
    )
    .await?;
    let claims = id_token_claims(token["id_token"].as_str().unwrap_or_default())?;
    if claims["nonce"].as_str() != Some(nonce) {
        anyhow::bail!("the ID token's nonce is not this sign-in's");
    }
    let audience_ok = match &claims["aud"] {
        Value::String(a) => a == &oidc.client_id,
        Value::Array(a) => a
            .iter()
            .any(|x| x.as_str() == Some(oidc.client_id.as_str())),
        _ => false,
    };
    if !audience_ok {
        anyhow::bail!("the ID token is for another client");
    }
    let access = token["access_token"].as_str().unwrap_or_default();
    let info = slack_call(
        oidc,
        oidc.http
            .get(format!("{api}/openid.connect.userInfo"))
            .bearer_auth(access),
    )
    .await?;
    let user = info["https://slack.com/user_id"]
        .as_str()
        .or(claims["https://slack.com/user_id"].as_str())
        .ok_or_else(|| anyhow::anyhow!("userInfo has no Slack user id"))?;
    Ok(Person {
        user: SlackUserId::parse(user)?,
        name: info["name"].as_str().map(str::to_owned),
    })
}

/// The claims of a JWT, unverified (see the module's note).
fn id_token_claims(jwt: &str) -> anyhow::Result<Value> {
    let payload = jwt
        .split('.')
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("the ID token is not a JWT"))?;
    let bytes =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('='))?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// Whether `user` may look: listed in `web.allowed_users`, a member of one of
/// `web.allowed_groups`, or, when both are empty, an approver of any kind.
async fn may_look(s: &ConsoleState, user: &SlackUserId) -> bool {
    let web = &s.ctx.config.web;
    if web.allowed_users.contains(user) {
        return true;
    }
    if !web.allowed_groups.is_empty() {
        if let Some(groups) = &s.ctx.slack_groups {
            return !groups
                .memberships(user, &web.allowed_groups)
                .await
                .is_empty();
        }
        return false;
    }
    if !web.allowed_users.is_empty() {
        return false;
    }
    let approvals = &s.ctx.config.approvals;
    approvals
        .kinds
        .values()
        .any(|p| p.slack_users.contains(user))
        || {
            let groups: Vec<SlackGroupId> = approvals
                .kinds
                .values()
                .flat_map(|p| p.slack_groups.iter().cloned())
                .collect();
            match (&s.ctx.slack_groups, groups.is_empty()) {
                (Some(g), false) => !g.memberships(user, &groups).await.is_empty(),
                _ => false,
            }
        }
}

/// `POST /logout` (with the CSRF token): ends the session.
pub async fn logout(
    State(s): State<ConsoleState>,
    viewer: Viewer,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = super::check_csrf(&s, &viewer, &body).await {
        return r;
    }
    if let Some(id) = session::read_signed(&headers, &s.key, session::COOKIE)
        && let Err(e) = s.ctx.store.call(move |c| session::delete(c, &id)).await
    {
        tracing::error!(error = %format!("{e:#}"), "a session could not be ended");
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if let Actor::Slack { user, .. } = &viewer.actor
        && let Err(e) = s
            .ctx
            .audit
            .record(
                viewer.actor.key(),
                events::WEB_SIGNED_OUT,
                user.as_str(),
                json!({}),
            )
            .await
    {
        tracing::warn!(error = %format!("{e:#}"), "a sign-out could not be audited");
    }
    let clear = session::set_signed(&s.key, session::COOKIE, "", None, s.secure);
    redirect_with_cookie("/signed-out", clear)
}
