//! The HTTP server: health, readiness and metrics today; the chat doors mount here too.
//!
//! Every route sits behind a 1 MiB body limit (answered with 413), a request timeout
//! (408, so a body sent a byte at a time cannot hold a handler) and a layer that
//! counts requests by matched route and status. [`serve`] accepts the connections.

mod health;
mod metrics;
pub mod rejections;
pub mod serve;
pub mod webhooks;

use crate::approvals::Gate;
use crate::metrics::{Metrics, RouteLabels};
use crate::outbox::Outbox;
use crate::standby::Role;
use crate::store::Store;
use axum::Extension;
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use std::net::SocketAddr;
use std::time::Duration;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

/// Largest request body accepted, per Slack's and Telegram's own limits.
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub store: Store,
    pub metrics: Metrics,
    pub gate: Gate,
    pub outbox: Outbox,
    /// This machine's part; a replica sends writes to the primary.
    pub role: Role,
}

/// Builds the router, with the chat doors (e.g. Slack's endpoints) merged in. Tests
/// serve the same router on a loopback port.
///
/// The core routes refuse bodies over the limit before reading them. The doors apply
/// the same limit in their body extractor instead, so that they can audit the 413.
pub fn router(state: HttpState, doors: Vec<Router>, request_timeout: Duration) -> Router {
    let metrics = state.metrics.clone();
    let replica_of = match &state.role {
        Role::Primary => None,
        replica => Some(std::sync::Arc::<str>::from(replica.primary().unwrap_or(""))),
    };
    let mut router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .fallback(not_found)
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT_BYTES));
    for door in doors {
        router = router.merge(door.layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES)));
    }
    if let Some(primary) = replica_of {
        router = router.layer(middleware::from_fn_with_state(
            primary,
            crate::standby::replay::replay,
        ));
    }
    router
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(middleware::from_fn_with_state(metrics, count_requests))
}

async fn not_found() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "not found")
}

async fn count_requests(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    metrics
        .http_requests
        .get_or_create(&RouteLabels {
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// The connection's peer, as a handler extracts it (absent when a test calls the
/// router without a connection).
pub type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

/// The caller's address: the first `X-Forwarded-For` hop behind a proxy, else the peer.
pub fn client_address(headers: &HeaderMap, peer: &Peer) -> String {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .or_else(|| {
            peer.as_ref()
                .map(|Extension(ConnectInfo(a))| a.ip().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}
