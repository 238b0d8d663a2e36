//! `GET /api/v1/<resource>`: what the features show (findings, watchman, access,
//! health, incidents, rollbacks). Each resource is declared by its feature's plug
//! ([`crate::plugin::ApiResource`]); this only finds it and answers.

use super::auth::Caller;
use super::{ApiError, ApiState};
use crate::features::ALL;
use crate::plugin::{ApiResource, Plug};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::Value;

/// Every feature's resources, with the plug declaring each.
pub fn all() -> impl Iterator<Item = (&'static Plug, &'static ApiResource)> {
    ALL.iter()
        .flat_map(|plug| plug.api.iter().map(move |r| (plug, r)))
}

/// `GET /api/v1/{resource}`. A resource of a feature that is off answers 404 with
/// the code `feature_off` and how to turn it on.
pub async fn read(
    State(s): State<ApiState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let Some((plug, resource)) = all().find(|(_, r)| r.name == name) else {
        return Err(ApiError::not_found(format!(
            "no resource /api/v1/{name}; GET /api/v1/openapi.json lists them"
        )));
    };
    if s.ctx.features.named(plug.name).is_none() {
        let why = (plug.status)(&s.ctx.config, &s.ctx.secrets).why;
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "feature_off",
            format!("{} is off: {why}", plug.name),
        ));
    }
    Ok(Json((resource.read)(&s.ctx).await?))
}
