//! On a replica, writes go to the primary.
//!
//! Fly's proxy replays a request elsewhere when the answer carries a `fly-replay`
//! header; `instance=<machine id>` names the machine, and LiteFS's `.primary` file
//! holds the primary's hostname, which on Fly is its machine id. So a replica
//! answers every request that may write with that header, before reading its body:
//! Slack's and Telegram's webhooks, the webhooks of the features, the console's and
//! the REST API's POSTs, and the sign-in callback (a GET that starts a session).
//! Reads (pages, `GET /api/v1/…`, `/readyz`, `/metrics`) are answered here.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;

/// The response header Fly's proxy acts on.
pub const FLY_REPLAY: &str = "fly-replay";

/// GET routes that write (and so must run on the primary).
const WRITING_GETS: &[&str] = &["/auth/slack/callback"];

/// Whether a request may write to the database.
pub fn writes(method: &Method, path: &str) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) || WRITING_GETS.contains(&path)
}

/// The middleware of a replica; its state is the primary's hostname (empty when
/// LiteFS does not know it).
pub async fn replay(State(primary): State<Arc<str>>, request: Request, next: Next) -> Response {
    if !writes(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    let value = (!primary.is_empty())
        .then(|| HeaderValue::from_str(&format!("instance={primary}")).ok())
        .flatten();
    let mut response =
        Response::builder().header(header::CONTENT_TYPE, "text/plain; charset=utf-8");
    response = match value {
        Some(value) => response
            .status(StatusCode::CONFLICT)
            .header(FLY_REPLAY, value),
        // No primary to send it to: the caller retries (Slack and Telegram do).
        None => response
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .header(header::RETRY_AFTER, "1"),
    };
    let text = if primary.is_empty() {
        "this machine is a replica and no primary is known right now; try again shortly".to_owned()
    } else {
        format!("this machine is a replica; writes go to the primary ({primary})")
    };
    response
        .body(Body::from(text))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_and_the_sign_in_callback_write_pages_do_not() {
        assert!(writes(&Method::POST, "/slack/events"));
        assert!(writes(&Method::DELETE, "/api/v1/tokens/3"));
        assert!(writes(&Method::GET, "/auth/slack/callback"));
        assert!(!writes(&Method::GET, "/approvals"));
        assert!(!writes(&Method::HEAD, "/readyz"));
    }
}
