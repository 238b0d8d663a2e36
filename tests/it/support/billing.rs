//! The billing harness: the app with `[billing]` on, Lemon Squeezy's webhook bodies
//! in their documented JSON:API shape, signed with the real HMAC.

use super::fake_lemonsqueezy::{
    API_KEY, API_KEY_ENV, FakeLemonSqueezy, SIGNING_SECRET, SIGNING_SECRET_ENV,
};
use super::{TestApp, config_in};
use opsmate::app::AppOptions;
use opsmate::approvals::ActionHandler;
use opsmate::config::{Secret, Secrets};
use opsmate::domain::ActionKind;
use opsmate::features::billing::config::BillingConfig;
use opsmate::http::webhooks::signature::sign_hex;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// A subscription row: (customer, status, plan, renews_at, ends_at).
pub type Row = (String, String, String, Option<i64>, Option<i64>);

pub struct BillingHarness {
    pub _dir: tempfile::TempDir,
    pub app: TestApp,
    pub lemon: FakeLemonSqueezy,
    http: reqwest::Client,
}

impl BillingHarness {
    /// The app with `[billing]` (reporting usage to the fake) and an action handler
    /// for `delete_volume` that UALICE may approve.
    pub async fn start(action: Arc<dyn ActionHandler>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let lemon = FakeLemonSqueezy::start().await;
        let mut config = config_in(dir.path());
        config.sections.set(&BillingConfig {
            report_usage: true,
            api_url: lemon.url.clone(),
            retry_backoff: Duration::from_millis(50),
            ..BillingConfig::default()
        });
        config
            .approvals
            .set_policy(ActionKind::DELETE_VOLUME, super::slack::policy());
        let secrets = Secrets::default()
            .with_named(SIGNING_SECRET_ENV, SIGNING_SECRET)
            .with_named(API_KEY_ENV, API_KEY);
        let mut actions = opsmate::approvals::ActionRegistry::default();
        actions.register(ActionKind::DELETE_VOLUME, action);
        let app = TestApp::start(
            config,
            secrets,
            AppOptions {
                actions,
                ..AppOptions::default()
            },
        )
        .await;
        Self {
            _dir: dir,
            app,
            lemon,
            http: reqwest::Client::new(),
        }
    }

    /// Posts `body` with `signature` (or none) to the webhook; returns the status and
    /// the answer.
    pub async fn post(&self, body: &[u8], signature: Option<&str>) -> (u16, Value) {
        let mut req = self
            .http
            .post(self.app.url("/billing/lemonsqueezy"))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(s) = signature {
            req = req.header("X-Signature", s);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Posts `body` signed as Lemon Squeezy signs it, and waits until it is handled.
    pub async fn deliver(&self, body: &[u8]) -> (u16, Value) {
        let answer = self.post(body, Some(&sign(body))).await;
        self.app.settle().await;
        answer
    }

    /// The row of subscription `id`: (customer, status, plan, renews_at, ends_at).
    pub fn row(&self, id: &str) -> Option<Row> {
        use rusqlite::OptionalExtension;
        self.app
            .ctx
            .store
            .with_conn(|c| {
                Ok(c.query_row(
                    "SELECT customer, status, plan, renews_at, ends_at FROM subscriptions WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .optional()?)
            })
            .unwrap()
    }
}

/// `X-Signature` for `body`.
pub fn sign(body: &[u8]) -> String {
    sign_hex(&Secret::new(SIGNING_SECRET), body)
}

/// A subscription event, as Lemon Squeezy documents it.
pub fn subscription_event(event: &str, id: &str, status: &str, updated_at: &str) -> Vec<u8> {
    subscription_event_with(event, id, status, updated_at, Value::Null)
}

pub fn subscription_event_with(
    event: &str,
    id: &str,
    status: &str,
    updated_at: &str,
    ends_at: Value,
) -> Vec<u8> {
    json!({
        "meta": {"event_name": event, "custom_data": {"opsmate": "acme"}, "test_mode": true,
                 "webhook_id": "7f0c1d2e-0000-4000-8000-000000000001"},
        "data": {
            "type": "subscriptions",
            "id": id,
            "attributes": {
                "store_id": 1, "customer_id": 7001, "order_id": 31, "order_item_id": 32,
                "product_id": 11, "variant_id": 12,
                "product_name": "OpsMate Hosted", "variant_name": "Team",
                "user_name": "Ada Ops", "user_email": "ada@example.com",
                "status": status, "status_formatted": status,
                "card_brand": "visa", "card_last_four": "4242",
                "pause": null, "cancelled": status == "cancelled", "trial_ends_at": null,
                "billing_anchor": 1,
                "first_subscription_item": {"id": 9901, "subscription_id": id.parse::<i64>().unwrap_or(0),
                    "price_id": 5, "quantity": 1, "is_usage_based": true,
                    "created_at": "2026-11-01T09:00:00.000000Z", "updated_at": updated_at},
                "urls": {"update_payment_method": "https://example.lemonsqueezy.com/x", "customer_portal": "https://example.lemonsqueezy.com/y"},
                "renews_at": "2026-12-01T09:00:00.000000Z",
                "ends_at": ends_at,
                "created_at": "2026-11-01T09:00:00.000000Z",
                "updated_at": updated_at,
                "test_mode": true
            },
            "relationships": {},
            "links": {"self": format!("https://api.lemonsqueezy.com/v1/subscriptions/{id}")}
        }
    })
    .to_string()
    .into_bytes()
}

/// A payment event: its data is the subscription invoice.
pub fn invoice_event(event: &str, invoice: &str, subscription: &str, status: &str) -> Vec<u8> {
    json!({
        "meta": {"event_name": event, "custom_data": null, "test_mode": true},
        "data": {
            "type": "subscription-invoices",
            "id": invoice,
            "attributes": {
                "store_id": 1, "subscription_id": subscription.parse::<i64>().unwrap_or(0),
                "customer_id": 7001, "user_name": "Ada Ops", "user_email": "ada@example.com",
                "billing_reason": "renewal", "card_brand": "visa", "card_last_four": "4242",
                "currency": "USD", "status": status, "status_formatted": status,
                "refunded": false, "subtotal": 4900, "total": 4900,
                "created_at": "2026-12-01T09:00:00.000000Z", "updated_at": "2026-12-01T09:00:00.000000Z",
                "test_mode": true
            }
        }
    })
    .to_string()
    .into_bytes()
}
