//! Escalation mail: a queued delivery's payload (`to`, `subject`, `text`) sent through
//! `[incidents.email]`, with the SMTP credentials taken from the environment
//! variables it names. A refusal (5xx, a bad address) is kept as failed; anything
//! else (no answer, 4xx, TLS trouble) is tried again.

use super::Attempt;
use super::smtp::{self, Mail, Security, SendError, SmtpSettings};
use crate::config::Secrets;
use crate::features::incidents::config::{EmailConfig, StartTls};
use serde_json::Value;

/// How long one mail may take.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub async fn send(e: &EmailConfig, secrets: &Secrets, payload: &Value) -> Attempt {
    let settings = match settings(e, secrets) {
        Ok(s) => s,
        Err(why) => return Attempt::Retry(why),
    };
    let mail = Mail {
        to: payload["to"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        subject: payload["subject"].as_str().unwrap_or("OpsMate").to_owned(),
        text: payload["text"].as_str().unwrap_or_default().to_owned(),
    };
    match smtp::send(&settings, &mail).await {
        Ok(()) => Attempt::Delivered,
        Err(SendError::Permanent(why)) => Attempt::Failed(why),
        Err(SendError::Transient(why)) => Attempt::Retry(why),
    }
}

/// The SMTP settings, or why they cannot be made yet (a variable not set, a CA file
/// that cannot be read): the delivery waits for it rather than being dropped.
fn settings(e: &EmailConfig, secrets: &Secrets) -> Result<SmtpSettings, String> {
    let secret = |var: &Option<String>| -> Result<Option<String>, String> {
        match var {
            None => Ok(None),
            Some(var) => secrets
                .named(var)
                .map(|s| Some(s.expose().to_owned()))
                .ok_or_else(|| format!("{var} is not set")),
        }
    };
    let extra_roots_pem = match &e.ca_file {
        Some(path) => vec![
            std::fs::read_to_string(path)
                .map_err(|err| format!("{} cannot be read: {err}", path.display()))?,
        ],
        None => Vec::new(),
    };
    Ok(SmtpSettings {
        host: e.smtp_host.clone(),
        port: e.smtp_port,
        security: match e.starttls {
            StartTls::Required => Security::StartTlsRequired,
            StartTls::Opportunistic => Security::StartTlsOpportunistic,
            StartTls::Off => Security::Plain,
        },
        from: e.from.clone(),
        username: secret(&e.username_env)?,
        password: secret(&e.password_env)?,
        timeout: TIMEOUT,
        extra_roots_pem,
    })
}
