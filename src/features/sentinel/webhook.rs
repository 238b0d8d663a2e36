//! GitHub's deliveries, as the signed door takes them: `X-Hub-Signature-256` is
//! `sha256=` and the hex HMAC of the body with `GITHUB_WEBHOOK_SECRET`; the delivery
//! is known by `X-GitHub-Delivery`, and one pull request's deliveries are handled in
//! order. `pull_request` (the actions that change what the rules see, and a merge)
//! and `pull_request_review` are taken; anything else (`ping`) is answered and left.

use super::config::WEBHOOK_SECRET_VAR;
use crate::config::Secret;
use crate::http::webhooks::signature::{self, BadSignature};
use crate::http::webhooks::{DeliveryName, Identified, WebhookSpec};
use axum::http::HeaderMap;
use serde::Deserialize;

pub const PATH: &str = "/github/webhook";
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
pub const DELIVERY_HEADER: &str = "x-github-delivery";
pub const EVENT_HEADER: &str = "x-github-event";

pub const WEBHOOKS: &[WebhookSpec] = &[WebhookSpec {
    path: PATH,
    source: "github",
    secret_var: WEBHOOK_SECRET_VAR,
    rejected_event: crate::audit::events::GITHUB_REQUEST_REJECTED,
    verify,
    identify,
}];

/// The `pull_request` actions that change what the rules see.
const CHECKED_ACTIONS: &[&str] = &[
    "opened",
    "edited",
    "synchronize",
    "reopened",
    "ready_for_review",
    "labeled",
    "unlabeled",
];

fn verify(secret: &Secret, headers: &HeaderMap, body: &[u8]) -> Result<(), BadSignature> {
    let given = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().strip_prefix("sha256=").unwrap_or("x"));
    signature::check_hex(secret, body, given)
}

/// The parts of a delivery Sentinel reads.
#[derive(Debug, Deserialize)]
pub struct PullEvent {
    pub action: String,
    pub repository: Repository,
    pub pull_request: PullRef,
}

#[derive(Debug, Deserialize)]
pub struct Repository {
    pub full_name: String,
}

#[derive(Debug, Deserialize)]
pub struct PullRef {
    pub number: u64,
    #[serde(default)]
    pub merged: bool,
}

fn identify(headers: &HeaderMap, body: &[u8]) -> Result<Identified, String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let event = header(EVENT_HEADER).ok_or("the X-GitHub-Event header is missing")?;
    let key = header(DELIVERY_HEADER).ok_or("the X-GitHub-Delivery header is missing")?;
    if key.len() > 100 {
        return Err("the X-GitHub-Delivery header is too long".into());
    }
    if event != "pull_request" && event != "pull_request_review" {
        return Ok(Identified::Ignore(format!("{event} events are not used")));
    }
    let parsed: PullEvent =
        serde_json::from_slice(body).map_err(|e| format!("not a {event} delivery: {e}"))?;
    let takes = match event {
        "pull_request" => {
            CHECKED_ACTIONS.contains(&parsed.action.as_str()) || parsed.action == "closed"
        }
        _ => matches!(parsed.action.as_str(), "submitted" | "dismissed" | "edited"),
    };
    if !takes {
        return Ok(Identified::Ignore(format!(
            "{event}.{} changes nothing Sentinel checks",
            parsed.action
        )));
    }
    Ok(Identified::Take(DeliveryName {
        key: key.to_owned(),
        event: format!("{event}.{}", parsed.action),
        lane: Some(format!(
            "{}#{}",
            parsed.repository.full_name.to_ascii_lowercase(),
            parsed.pull_request.number
        )),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(event: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(EVENT_HEADER, HeaderValue::from_str(event).unwrap());
        h.insert(DELIVERY_HEADER, HeaderValue::from_static("d-1"));
        h
    }

    #[test]
    fn deliveries_are_named_by_their_id_and_laned_by_pull_request() {
        let body = br#"{"action":"synchronize","repository":{"full_name":"Acme/API"},"pull_request":{"number":7}}"#;
        assert_eq!(
            identify(&headers("pull_request"), body),
            Ok(Identified::Take(DeliveryName {
                key: "d-1".into(),
                event: "pull_request.synchronize".into(),
                lane: Some("acme/api#7".into()),
            }))
        );
        assert!(matches!(
            identify(&headers("ping"), b"{}"),
            Ok(Identified::Ignore(_))
        ));
        let assigned = br#"{"action":"assigned","repository":{"full_name":"a/b"},"pull_request":{"number":1}}"#;
        assert!(matches!(
            identify(&headers("pull_request"), assigned),
            Ok(Identified::Ignore(_))
        ));
        assert!(identify(&headers("pull_request"), b"[1,2]").is_err());
        assert!(identify(&HeaderMap::new(), b"{}").is_err());
    }

    #[test]
    fn the_signature_needs_its_prefix() {
        let secret = Secret::new("s");
        let mut h = HeaderMap::new();
        let sig = signature::sign_hex(&secret, b"x");
        h.insert(SIGNATURE_HEADER, HeaderValue::from_str(&sig).unwrap());
        assert_eq!(verify(&secret, &h, b"x"), Err(BadSignature::Malformed));
        h.insert(
            SIGNATURE_HEADER,
            HeaderValue::from_str(&format!("sha256={sig}")).unwrap(),
        );
        assert_eq!(verify(&secret, &h, b"x"), Ok(()));
        assert_eq!(
            verify(&secret, &HeaderMap::new(), b"x"),
            Err(BadSignature::Missing)
        );
    }
}
