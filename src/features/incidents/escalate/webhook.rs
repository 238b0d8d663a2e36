//! Signed webhooks: the JSON body with `X-OpsMate-Signature: sha256=<hex>`, the
//! HMAC-SHA256 of the exact body under the webhook's secret (as GitHub signs its
//! deliveries), and `X-OpsMate-Delivery` so a receiver can drop a repeat.

use super::super::store::Incident;
use super::Attempt;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "X-OpsMate-Signature";
pub const DELIVERY_HEADER: &str = "X-OpsMate-Delivery";
pub const EVENT_HEADER: &str = "X-OpsMate-Event";

/// The body's signature header value.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The incident as receivers see it.
pub fn incident_json(i: &Incident) -> Value {
    json!({
        "id": i.id,
        "check": i.check,
        "severity": i.severity.as_str(),
        "summary": i.summary,
        "opened_at": i.opened_at.to_rfc3339(),
        "acked_by": i.acked_by,
        "resolved_at": i.resolved_at.map(|t| t.to_rfc3339()),
    })
}

/// `incident.escalated`, `incident.acked` or `incident.resolved`.
pub fn event(name: &str, i: &Incident, level: i64) -> Value {
    json!({"event": name, "level": level, "incident": incident_json(i)})
}

/// Sends one delivery; 2xx is delivered, 410 Gone ends it, anything else is retried.
pub async fn send(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    delivery: i64,
    body: &Value,
) -> Attempt {
    let bytes = body.to_string().into_bytes();
    let name = body["event"].as_str().unwrap_or("incident").to_owned();
    let req = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, sign(secret, &bytes))
        .header(DELIVERY_HEADER, delivery.to_string())
        .header(EVENT_HEADER, name)
        .body(bytes);
    match req.send().await {
        Ok(r) if r.status().is_success() => Attempt::Delivered,
        Ok(r) if r.status() == reqwest::StatusCode::GONE => {
            Attempt::Failed("the webhook answered 410 Gone".into())
        }
        Ok(r) => Attempt::Retry(format!("the webhook answered {}", r.status())),
        Err(e) => Attempt::Retry(format!(
            "webhook: {}",
            crate::features::observatory::probes::http::describe(&e, super::SEND_TIMEOUT)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_the_exact_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
