//! The REST API, `/api/v1/`: approvals (list, get, decide), the audit log (list,
//! verify) and each feature's resources (findings, watchman, access, health,
//! incidents, rollbacks), as JSON with cursor pagination, described at
//! `/api/v1/openapi.json`.
//!
//! Every request carries `Authorization: Bearer <token>` (see [`super::tokens`]).
//! A `read` token may look; a `decide` token may also decide proposals, as its owner,
//! through the same gate as a button. Each token has its own rate limit.

mod approvals;
mod audit;
mod auth;
mod error;
pub mod openapi;
mod page;
pub mod resources;

pub use auth::Limiter;
pub use error::ApiError;

use crate::dispatch::Context;
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;

/// What the API handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub ctx: Context,
    pub limiter: Arc<Limiter>,
}

/// The API's routes over the app's context.
pub fn routes(ctx: Context) -> Router {
    let limiter = Arc::new(Limiter::per_minute(ctx.config.api.requests_per_minute));
    Router::new()
        .route("/api/v1/approvals", get(approvals::list))
        .route("/api/v1/approvals/{id}", get(approvals::one))
        .route("/api/v1/approvals/{id}/decision", post(approvals::decide))
        .route("/api/v1/audit", get(audit::list))
        .route("/api/v1/audit/verify", get(audit::verify))
        .route("/api/v1/openapi.json", get(openapi::serve))
        .route("/api/v1/{resource}", get(resources::read))
        .with_state(ApiState { ctx, limiter })
}
