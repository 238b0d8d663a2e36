//! PagerDuty Events API v2: `trigger`, `acknowledge` and `resolve`, with the incident
//! as the `dedup_key` so PagerDuty keeps one alert per incident. The routing key is
//! added only when the event is sent.

use super::super::store::Incident;
use super::Attempt;
use crate::features::observatory::status::Status;
use serde_json::{Value, json};

/// One alert per OpsMate incident.
pub fn dedup_key(incident: i64) -> String {
    format!("opsmate-incident-{incident}")
}

fn severity(s: Status) -> &'static str {
    match s {
        Status::Warn => "warning",
        Status::Error => "error",
        Status::Critical | Status::Ok => "critical",
    }
}

/// The event body without its routing key.
pub fn trigger(i: &Incident, level: i64) -> Value {
    json!({
        "event_action": "trigger",
        "dedup_key": dedup_key(i.id),
        "payload": {
            "summary": format!("{} is {}: {}", i.check, i.severity, i.summary),
            "source": "opsmate",
            "severity": severity(i.severity),
            "component": i.check,
            "custom_details": {
                "incident": i.id,
                "opened_at": i.opened_at.to_rfc3339(),
                "escalation_level": level,
            },
        },
    })
}

/// `acknowledge` or `resolve` of the same alert.
pub fn follow_up(incident: i64, action: &str) -> Value {
    json!({"event_action": action, "dedup_key": dedup_key(incident)})
}

/// Sends one event. 202 is delivered; 400 is an event PagerDuty will never take;
/// anything else (429, 5xx, no answer) is tried again.
pub async fn send(
    client: &reqwest::Client,
    url: &str,
    routing_key: &str,
    event: &Value,
) -> Attempt {
    let mut body = event.clone();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("routing_key".into(), routing_key.into());
    }
    match client.post(url).json(&body).send().await {
        Ok(r) if r.status().is_success() => Attempt::Delivered,
        Ok(r) if r.status() == reqwest::StatusCode::BAD_REQUEST => {
            let text = r.text().await.unwrap_or_default();
            Attempt::Failed(format!(
                "PagerDuty refused the event: {}",
                super::short(&text)
            ))
        }
        Ok(r) => Attempt::Retry(format!("PagerDuty answered {}", r.status())),
        Err(e) => Attempt::Retry(format!(
            "PagerDuty: {}",
            crate::features::observatory::probes::http::describe(&e, super::SEND_TIMEOUT)
        )),
    }
}
