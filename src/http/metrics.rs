//! `/metrics` in Prometheus' text format.

use super::HttpState;
use crate::approvals::ProposalState;
use crate::metrics::StateLabels;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Refreshes the gauges that mirror the database, then encodes every metric.
pub async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    match state.gate.count_by_state().await {
        Ok(counts) => {
            for st in ProposalState::ALL {
                let n = counts
                    .iter()
                    .find(|(s, _)| s == st.as_str())
                    .map_or(0, |(_, n)| *n);
                state
                    .metrics
                    .approvals
                    .get_or_create(&StateLabels {
                        state: st.as_str().to_owned(),
                    })
                    .set(n);
            }
        }
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "metrics: counting proposals failed"),
    }
    match state.outbox.depth().await {
        Ok((depth, age)) => {
            state.metrics.outbox_depth.set(depth);
            state.metrics.outbox_oldest_age_seconds.set(age);
        }
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "metrics: reading outbox depth failed"),
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        state.metrics.encode(),
    )
}
