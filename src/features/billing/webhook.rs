//! `POST /billing/lemonsqueezy`: Lemon Squeezy's signed webhook.
//!
//! `X-Signature` is the hex HMAC-SHA256 of the raw body keyed with the signing
//! secret. A delivery is named by its event, its object's id and the body's hash,
//! so Lemon Squeezy's redelivery of the same event is handled once while a later
//! event about the same subscription is not mistaken for it. Deliveries of one
//! subscription share a lane and are handled in arrival order.

use super::config::SIGNING_SECRET_VAR;
use crate::audit::events::BILLING_REQUEST_REJECTED;
use crate::config::Secret;
use crate::http::webhooks::signature::{self, BadSignature};
use crate::http::webhooks::{DeliveryName, Identified, WebhookSpec};
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

pub const SOURCE: &str = "lemonsqueezy";

pub const WEBHOOKS: &[WebhookSpec] = &[WebhookSpec {
    path: "/billing/lemonsqueezy",
    source: SOURCE,
    secret_var: SIGNING_SECRET_VAR,
    rejected_event: BILLING_REQUEST_REJECTED,
    verify,
    identify,
}];

/// The events that change a subscription; any other (`order_created`, …) is
/// answered and dropped.
pub const EVENTS: &[&str] = &[
    "subscription_created",
    "subscription_updated",
    "subscription_cancelled",
    "subscription_resumed",
    "subscription_expired",
    "subscription_payment_failed",
    "subscription_payment_success",
];

fn verify(secret: &Secret, headers: &HeaderMap, body: &[u8]) -> Result<(), BadSignature> {
    let given = headers
        .get("x-signature")
        .map(|v| v.to_str().unwrap_or_default());
    signature::check_hex(secret, body, given)
}

fn identify(_headers: &HeaderMap, body: &[u8]) -> Result<Identified, String> {
    let hook = parse(body)?;
    if !EVENTS.contains(&hook.meta.event_name.as_str()) {
        return Ok(Identified::Ignore(format!(
            "{} is not a subscription event",
            hook.meta.event_name
        )));
    }
    let subscription = hook.subscription_id()?;
    Ok(Identified::Take(DeliveryName {
        key: format!(
            "{}:{}:{}",
            hook.meta.event_name,
            hook.data.id,
            hex::encode(Sha256::digest(body))
        ),
        event: hook.meta.event_name,
        lane: Some(subscription),
    }))
}

/// A webhook body as Lemon Squeezy sends it (JSON:API).
#[derive(Debug, Clone, Deserialize)]
pub struct Hook {
    pub meta: Meta,
    pub data: Data,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Meta {
    pub event_name: String,
    #[serde(default)]
    pub custom_data: Option<serde_json::Value>,
    #[serde(default)]
    pub test_mode: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Data {
    /// `subscriptions`, or `subscription-invoices` for the payment events.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(deserialize_with = "id_text")]
    pub id: String,
    #[serde(default)]
    pub attributes: Attributes,
}

/// The attributes OpsMate reads, of a subscription or of a subscription invoice.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Attributes {
    #[serde(default, deserialize_with = "opt_id_text")]
    pub customer_id: Option<String>,
    /// A subscription's status, or an invoice's (`paid`, `pending`, …).
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub variant_name: Option<String>,
    #[serde(default)]
    pub product_name: Option<String>,
    #[serde(default)]
    pub renews_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub first_subscription_item: Option<SubscriptionItem>,
    /// An invoice's subscription.
    #[serde(default, deserialize_with = "opt_id_text")]
    pub subscription_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SubscriptionItem {
    #[serde(deserialize_with = "id_text")]
    pub id: String,
}

impl Hook {
    /// The subscription the event is about.
    pub fn subscription_id(&self) -> Result<String, String> {
        match self.data.kind.as_str() {
            "subscriptions" => Ok(self.data.id.clone()),
            "subscription-invoices" => {
                self.data.attributes.subscription_id.clone().ok_or_else(|| {
                    "a subscription invoice without data.attributes.subscription_id".into()
                })
            }
            other => Err(format!(
                "data.type {other:?} is not a subscription or its invoice"
            )),
        }
    }
}

/// Parses a body, or says in words what is wrong with it (a 400).
pub fn parse(body: &[u8]) -> Result<Hook, String> {
    let hook: Hook = serde_json::from_slice(body).map_err(|e| {
        format!("not a Lemon Squeezy webhook body (meta.event_name, data.type, data.id): {e}")
    })?;
    if hook.meta.event_name.trim().is_empty() || hook.data.id.trim().is_empty() {
        return Err("meta.event_name and data.id must not be empty".into());
    }
    Ok(hook)
}

/// Lemon Squeezy writes ids as strings in `data.id` and as numbers in attributes.
fn id_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "an id must be a string or a number, not {other}"
        ))),
    }
}

fn opt_id_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) => Ok(Some(s)),
        serde_json::Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(serde::de::Error::custom(format!(
            "an id must be a string or a number, not {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(event: &str, kind: &str) -> Vec<u8> {
        serde_json::json!({
            "meta": {"event_name": event, "custom_data": {"tenant": "acme"}},
            "data": {"type": kind, "id": "42", "attributes": {
                "customer_id": 7, "status": "active", "variant_name": "Team",
                "subscription_id": 9, "first_subscription_item": {"id": 99, "subscription_id": 42},
                "renews_at": "2026-12-01T00:00:00.000000Z", "ends_at": null
            }}
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_subscription_event_is_named_by_event_id_and_body_hash_in_its_lane() {
        let b = body("subscription_updated", "subscriptions");
        let Identified::Take(name) = identify(&HeaderMap::new(), &b).unwrap() else {
            panic!("taken")
        };
        assert!(
            name.key.starts_with("subscription_updated:42:"),
            "{}",
            name.key
        );
        assert_eq!(name.key.len(), "subscription_updated:42:".len() + 64);
        assert_eq!(name.lane.as_deref(), Some("42"));
        let hook = parse(&b).unwrap();
        assert_eq!(hook.data.attributes.customer_id.as_deref(), Some("7"));
        assert_eq!(
            hook.data.attributes.first_subscription_item.unwrap().id,
            "99"
        );
    }

    #[test]
    fn an_invoice_is_laned_by_its_subscription_and_other_events_are_ignored() {
        let b = body("subscription_payment_failed", "subscription-invoices");
        let Identified::Take(name) = identify(&HeaderMap::new(), &b).unwrap() else {
            panic!("taken")
        };
        assert_eq!(name.lane.as_deref(), Some("9"));
        assert!(matches!(
            identify(&HeaderMap::new(), &body("order_created", "orders")),
            Ok(Identified::Ignore(_))
        ));
    }

    #[test]
    fn a_body_without_event_name_or_id_is_malformed() {
        assert!(
            identify(
                &HeaderMap::new(),
                br#"{"data":{"type":"subscriptions","id":"1"}}"#
            )
            .is_err()
        );
        assert!(identify(&HeaderMap::new(), br#"{"meta":{"event_name":"subscription_created"},"data":{"type":"subscriptions"}}"#).is_err());
        assert!(identify(&HeaderMap::new(), b"not json").is_err());
    }
}
