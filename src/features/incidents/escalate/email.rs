//! Escalation mail (placeholder until the SMTP transport lands).
use super::super::config::EmailConfig;
use super::Attempt;
use crate::config::Secrets;
use serde_json::Value;

pub async fn send(_e: &EmailConfig, _s: &Secrets, _payload: &Value) -> Attempt {
    Attempt::Retry("mail is not wired yet".into())
}
