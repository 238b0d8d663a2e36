//! A local HTTP server speaking the Slack Web API's JSON (and `response_url`s), with
//! scripted failures. It records every call.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A canned answer.
#[derive(Clone, Debug)]
pub enum Reply {
    Status(u16),
    RateLimited { retry_after_secs: u64 },
    SlackError(&'static str),
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Call {
    /// Web API method (`chat.postMessage`), or `response_url:<name>`.
    pub method: String,
    pub authorization: Option<String>,
    pub body: Value,
    pub at: Instant,
    /// What the fake answered: true for success.
    pub succeeded: bool,
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Reply>,
    calls: Vec<Call>,
    next_ts: u64,
    groups: HashMap<String, Vec<String>>,
    /// The member directory `users.list` pages through.
    members: Vec<Value>,
    /// `response_url` names that accept the request and never answer.
    hung: std::collections::HashSet<String>,
    /// Sign in with Slack: who the next authorization signs in as, and the codes
    /// given out (with the nonce and client they were asked for).
    signing_in: Option<(String, String)>,
    codes: HashMap<String, (String, String, String, String)>,
}

/// The OAuth client the fake accepts.
pub const CLIENT_ID: &str = "1111.2222";
pub const CLIENT_SECRET: &str = "oidc-client-secret";

/// The ts the fake gives the `n`-th message posted to it (from 1), in the order the
/// `chat.postMessage` calls arrive.
pub fn message_ts(n: u64) -> String {
    format!("1700000000.{n:06}")
}

/// Largest page `users.list` returns, whatever `limit` asks (Slack's advice is 200).
pub const USERS_PAGE_CAP: usize = 200;

#[derive(Clone)]
pub struct FakeSlack {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl FakeSlack {
    pub async fn start(script: Vec<Reply>) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            script: script.into(),
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/api/{method}", any(web_api))
            .route("/response/{name}", post(response_url))
            .route("/openid/connect/authorize", axum::routing::get(authorize))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, inner }
    }

    /// The person who signs in at the authorization page from now on (as if they
    /// had been signed in to Slack and pressed Allow).
    pub fn sign_in_as(&self, user: &str, name: &str) {
        self.inner.lock().unwrap().signing_in = Some((user.into(), name.into()));
    }

    /// Base URL to put in `slack.api_url`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// A `response_url` this fake answers, recorded as `response_url:<name>`.
    pub fn response_url(&self, name: &str) -> String {
        format!("http://{}/response/{name}", self.addr)
    }

    /// Members `usergroups.users.list` reports for a group.
    pub fn set_group(&self, group: &str, users: &[&str]) {
        self.inner
            .lock()
            .unwrap()
            .groups
            .insert(group.into(), users.iter().map(|u| u.to_string()).collect());
    }

    /// Adds a member to the directory (`deleted` is Slack's deactivated flag).
    pub fn add_member(&self, id: &str, email: &str, deleted: bool) {
        self.inner.lock().unwrap().members.push(json!({
            "id": id, "team_id": "T0ACME", "name": id.to_lowercase(), "deleted": deleted,
            "real_name": format!("Member {id}"), "is_bot": false,
            "profile": {"email": email, "real_name": format!("Member {id}")}
        }));
    }

    /// Deactivates (or reactivates) a member.
    pub fn set_deleted(&self, id: &str, deleted: bool) {
        for m in self.inner.lock().unwrap().members.iter_mut() {
            if m["id"] == id {
                m["deleted"] = json!(deleted);
            }
        }
    }

    /// Makes the `response_url` `name` accept every request and never answer, as a
    /// stuck server does (each one is still recorded, as not succeeded).
    pub fn hang(&self, name: &str) {
        self.inner.lock().unwrap().hung.insert(name.to_owned());
    }

    /// Lets the `response_url` `name` answer again.
    pub fn unhang(&self, name: &str) {
        self.inner.lock().unwrap().hung.remove(name);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// Calls of one method, in order.
    pub fn calls_to(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }
}

fn scripted(reply: Reply) -> Response {
    match reply {
        Reply::Status(code) => {
            (StatusCode::from_u16(code).unwrap(), "upstream trouble").into_response()
        }
        Reply::RateLimited { retry_after_secs } => {
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(json!({"ok": false, "error": "ratelimited"})),
            )
                .into_response();
            r.headers_mut().insert(
                "retry-after",
                HeaderValue::from_str(&retry_after_secs.to_string()).unwrap(),
            );
            r
        }
        Reply::SlackError(code) => axum::Json(json!({"ok": false, "error": code})).into_response(),
    }
}

async fn web_api(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(method): Path<String>,
    http_method: Method,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = if http_method == Method::GET {
        json!(query)
    } else if let Ok(json) = serde_json::from_slice::<Value>(&body) {
        json
    } else {
        // A form (openid.connect.token).
        json!(serde_urlencoded::from_bytes::<HashMap<String, String>>(&body).unwrap_or_default())
    };
    let mut inner = inner.lock().unwrap();
    let mut call = Call {
        method: method.clone(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.clone(),
        at: Instant::now(),
        succeeded: false,
    };
    let response = match inner.script.pop_front() {
        Some(reply) => scripted(reply),
        None => {
            call.succeeded = true;
            match method.as_str() {
                "chat.postMessage" => {
                    inner.next_ts += 1;
                    let ts = message_ts(inner.next_ts);
                    axum::Json(json!({
                        "ok": true, "channel": body["channel"], "ts": ts,
                        "message": {"type": "message", "subtype": "bot_message", "bot_id": "B0OPSMATE",
                                    "text": body["text"], "blocks": body["blocks"], "ts": ts}
                    }))
                    .into_response()
                }
                "chat.update" => axum::Json(json!({
                    "ok": true, "channel": body["channel"], "ts": body["ts"], "text": body["text"],
                    "message": {"bot_id": "B0OPSMATE", "text": body["text"], "blocks": body["blocks"]}
                }))
                .into_response(),
                "users.list" => {
                    let limit = body["limit"]
                        .as_str()
                        .and_then(|l| l.parse::<usize>().ok())
                        .unwrap_or(100)
                        .clamp(1, USERS_PAGE_CAP);
                    let start = body["cursor"]
                        .as_str()
                        .and_then(|c| c.strip_prefix("page-"))
                        .and_then(|c| c.parse::<usize>().ok())
                        .unwrap_or(0);
                    let end = (start + limit).min(inner.members.len());
                    let page = inner.members.get(start..end).unwrap_or_default().to_vec();
                    let next = if end < inner.members.len() {
                        format!("page-{end}")
                    } else {
                        String::new()
                    };
                    axum::Json(json!({"ok": true, "members": page,
                                      "response_metadata": {"next_cursor": next}}))
                    .into_response()
                }
                "usergroups.users.list" => {
                    let group = body["usergroup"].as_str().unwrap_or_default();
                    match inner.groups.get(group) {
                        Some(users) => axum::Json(json!({"ok": true, "users": users})).into_response(),
                        None => {
                            call.succeeded = false;
                            axum::Json(json!({"ok": false, "error": "no_such_subteam"})).into_response()
                        }
                    }
                }
                "openid.connect.token" => oidc_token(&mut inner, &body),
                "openid.connect.userInfo" => {
                    let token = call.authorization.clone().unwrap_or_default();
                    let token = token.trim_start_matches("Bearer ");
                    match token.strip_prefix("xoxp-oidc-") {
                        Some(user) => axum::Json(json!({
                            "ok": true, "sub": user, "https://slack.com/user_id": user,
                            "https://slack.com/team_id": "T0TEAM", "name": format!("{user} name"),
                            "email": format!("{}@corp.com", user.to_lowercase())
                        }))
                        .into_response(),
                        None => {
                            call.succeeded = false;
                            axum::Json(json!({"ok": false, "error": "invalid_auth"})).into_response()
                        }
                    }
                }
                // Slack answers with the view as stored: the request's view with
                // its id, team, hash and (empty) state added.
                "views.open" | "views.publish" => {
                    inner.next_ts += 1;
                    let mut view = body["view"].clone();
                    if let Some(v) = view.as_object_mut() {
                        v.insert("id".into(), json!(format!("V{:08}", inner.next_ts)));
                        v.insert("team_id".into(), json!("T0TEAM"));
                        v.insert("hash".into(), json!(format!("{}.hash", inner.next_ts)));
                        v.insert("state".into(), json!({"values": {}}));
                    }
                    axum::Json(json!({"ok": true, "view": view})).into_response()
                }
                _ => axum::Json(json!({"ok": true})).into_response(),
            }
        }
    };
    inner.calls.push(call);
    response
}

/// Slack answers a `response_url` post with a plain `ok`.
async fn response_url(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let hung = {
        let mut inner = inner.lock().unwrap();
        let hung = inner.hung.contains(&name);
        if hung {
            inner.calls.push(Call {
                method: format!("response_url:{name}"),
                authorization: None,
                body: body.clone(),
                at: Instant::now(),
                succeeded: false,
            });
        }
        hung
    };
    if hung {
        return std::future::pending().await;
    }
    let mut inner = inner.lock().unwrap();
    let reply = inner.script.pop_front();
    inner.calls.push(Call {
        method: format!("response_url:{name}"),
        authorization: None,
        body,
        at: Instant::now(),
        succeeded: reply.is_none(),
    });
    match reply {
        Some(reply) => scripted(reply),
        None => (StatusCode::OK, [("content-type", "text/plain")], "ok").into_response(),
    }
}

/// Slack's authorization page, for someone already signed in to Slack who presses
/// Allow: back to `redirect_uri` with a code (or `access_denied` when nobody is set
/// to sign in).
async fn authorize(
    State(inner): State<Arc<Mutex<Inner>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut inner = inner.lock().unwrap();
    let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
    let state = q.get("state").cloned().unwrap_or_default();
    let ok = q.get("response_type").map(String::as_str) == Some("code")
        && q.get("scope")
            .is_some_and(|s| s.split(' ').any(|w| w == "openid"))
        && q.get("client_id").map(String::as_str) == Some(CLIENT_ID);
    let to = match (inner.signing_in.clone(), ok) {
        (Some((user, name)), true) => {
            let code = format!("code-{}-{}", user, inner.codes.len());
            let nonce = q.get("nonce").cloned().unwrap_or_default();
            inner.codes.insert(
                code.clone(),
                (nonce, redirect.clone(), user.clone(), name.clone()),
            );
            format!("{redirect}?code={code}&state={state}")
        }
        _ => format!("{redirect}?error=access_denied&state={state}"),
    };
    axum::response::Redirect::to(&to).into_response()
}

/// `openid.connect.token`: a code given out once, for the right client and
/// redirect, becomes an access token and an ID token (a JWT whose claims carry the
/// nonce; the signature part is not checked by OpsMate, which got it over TLS).
fn oidc_token(inner: &mut Inner, form: &Value) -> Response {
    let field = |k: &str| form[k].as_str().unwrap_or_default().to_owned();
    let refuse = |error: &str| axum::Json(json!({"ok": false, "error": error})).into_response();
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return refuse("invalid_client_id");
    }
    let Some((nonce, redirect, user, name)) = inner.codes.remove(&field("code")) else {
        return refuse("invalid_code");
    };
    if field("redirect_uri") != redirect {
        return refuse("bad_redirect_uri");
    }
    use base64::Engine;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let jwt = format!(
        "{}.{}.{}",
        b64(json!({"alg": "RS256", "typ": "JWT", "kid": "fake"})),
        b64(
            json!({"iss": "https://slack.com", "sub": user, "aud": CLIENT_ID, "nonce": nonce,
                   "https://slack.com/user_id": user, "https://slack.com/team_id": "T0TEAM", "name": name})
        ),
        "c2lnbmF0dXJl"
    );
    axum::Json(json!({"ok": true, "access_token": format!("xoxp-oidc-{user}"), "token_type": "Bearer", "id_token": jwt}))
        .into_response()
}
