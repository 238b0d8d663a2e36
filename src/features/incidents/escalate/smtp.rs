//! SMTP submission for escalation mail (lettre, STARTTLS over rustls with ring).
//!
//! Escalations are rare, so a transport is built per call: no pool to keep
//! healthy, and settings changes take effect on the next send. Failures are
//! split into transient and permanent ones so the caller can decide whether a
//! retry can help.

use std::fmt;
use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// How to reach the SMTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    /// Refuse to send unless the server upgrades the connection with STARTTLS.
    StartTlsRequired,
    /// Use STARTTLS when the server offers it, otherwise send in clear.
    ///
    /// An attacker on the path can strip the STARTTLS offer, and credentials
    /// then travel in clear too; prefer `StartTlsRequired` whenever a password
    /// is configured.
    StartTlsOpportunistic,
    /// Never encrypt; only for a relay on the local host.
    Plain,
}

/// Where and how to submit mail.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    /// Usually 587 (submission with STARTTLS).
    pub port: u16,
    pub security: Security,
    /// The sender, e.g. `OpsMate <opsmate@example.com>`.
    pub from: String,
    /// Credentials come from the environment; the caller reads them. They are
    /// used only when both are set.
    pub username: Option<String>,
    /// Never logged and never part of an error message.
    pub password: Option<String>,
    /// Bounds the whole send (connect, TLS, dialogue), so a stalled server
    /// cannot hold an escalation forever.
    pub timeout: Duration,
    /// Extra PEM root certificates to trust (an internal CA, or a test
    /// server's self-signed certificate). They are added to the bundled
    /// Mozilla roots (`webpki-roots`), which are always trusted.
    pub extra_roots_pem: Vec<String>,
}

/// Hand-written so that logging the settings can never reveal the password.
impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("from", &self.from)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .field("timeout", &self.timeout)
            .field("extra_roots_pem", &self.extra_roots_pem.len())
            .finish()
    }
}

/// One plain-text message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
}

/// Why a send failed, so the caller can decide whether to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Retrying later may succeed: connection refused, timeout, TLS or
    /// protocol trouble, or a 4xx reply.
    Transient(String),
    /// Retrying the same mail with the same settings will fail again: a 5xx
    /// reply, an unparsable address, or unusable settings.
    Permanent(String),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transient(reason) => write!(f, "transient mail failure: {reason}"),
            Self::Permanent(reason) => write!(f, "permanent mail failure: {reason}"),
        }
    }
}

impl std::error::Error for SendError {}

const REDACTED: &str = "<redacted>";

/// Sends `mail` through the server described by `settings`.
///
/// Everything that can be checked locally (addresses, certificates) is
/// checked before connecting, so a bad mail never reaches the server.
pub async fn send(settings: &SmtpSettings, mail: &Mail) -> Result<(), SendError> {
    let message = build_message(&settings.from, mail)?;
    let transport = build_transport(settings)?;
    match tokio::time::timeout(settings.timeout, transport.send(message)).await {
        Ok(Ok(_response)) => Ok(()),
        Ok(Err(error)) => Err(classify(&error, settings.password.as_deref())),
        Err(_elapsed) => Err(SendError::Transient(format!(
            "no answer from {}:{} within {:?}",
            settings.host, settings.port, settings.timeout
        ))),
    }
}

fn build_message(from: &str, mail: &Mail) -> Result<Message, SendError> {
    if mail.to.is_empty() {
        return Err(SendError::Permanent("the mail has no recipients".into()));
    }
    let mut builder = Message::builder()
        .from(parse_mailbox("sender", from)?)
        .subject(mail.subject.as_str())
        .header(ContentType::TEXT_PLAIN);
    for recipient in &mail.to {
        builder = builder.to(parse_mailbox("recipient", recipient)?);
    }
    builder
        .body(mail.text.clone())
        .map_err(|error| SendError::Permanent(format!("cannot build the mail: {error}")))
}

/// Names the offending address so the operator can fix the configuration.
fn parse_mailbox(role: &str, address: &str) -> Result<Mailbox, SendError> {
    address.parse().map_err(|error| {
        SendError::Permanent(format!("invalid {role} address {address:?}: {error}"))
    })
}

fn build_transport(
    settings: &SmtpSettings,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.as_str())
            .port(settings.port)
            .timeout(Some(settings.timeout))
            .tls(tls_mode(settings)?);
    if let (Some(username), Some(password)) = (&settings.username, &settings.password) {
        builder = builder.credentials(Credentials::new(username.clone(), password.clone()));
    }
    Ok(builder.build())
}

fn tls_mode(settings: &SmtpSettings) -> Result<Tls, SendError> {
    Ok(match settings.security {
        Security::StartTlsRequired => Tls::Required(tls_parameters(settings)?),
        Security::StartTlsOpportunistic => Tls::Opportunistic(tls_parameters(settings)?),
        Security::Plain => Tls::None,
    })
}

/// The certificate must match `host`, so tests and internal relays connect by
/// the name in their certificate, not by IP address.
fn tls_parameters(settings: &SmtpSettings) -> Result<TlsParameters, SendError> {
    let mut builder = TlsParameters::builder(settings.host.clone());
    for (index, pem) in settings.extra_roots_pem.iter().enumerate() {
        builder = builder.add_root_certificate(parse_root(index, pem)?);
    }
    builder
        .build_rustls()
        .map_err(|error| SendError::Permanent(format!("unusable TLS settings: {error}")))
}

/// Rejects text without a certificate: lettre would silently accept it as an
/// empty set, and the intended CA would then not be trusted.
fn parse_root(index: usize, pem: &str) -> Result<Certificate, SendError> {
    let invalid =
        |detail: String| SendError::Permanent(format!("extra root certificate #{index}: {detail}"));
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(invalid("no PEM certificate found".into()));
    }
    Certificate::from_pem(pem.as_bytes()).map_err(|error| invalid(error.to_string()))
}

/// Only a 5xx reply proves that retrying cannot help; everything else
/// (4xx replies, connection, timeout, TLS and protocol trouble) may pass.
fn classify(error: &lettre::transport::smtp::Error, password: Option<&str>) -> SendError {
    let reason = redact(&error.to_string(), password);
    if error.is_permanent() {
        SendError::Permanent(reason)
    } else {
        SendError::Transient(reason)
    }
}

/// A server may echo what it received; the password must still not reach the
/// logs through the error text.
fn redact(text: &str, password: Option<&str>) -> String {
    match password {
        Some(secret) if !secret.is_empty() => text.replace(secret, REDACTED),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "opsmate";
    const PASSWORD: &str = "correct-horse-battery";

    #[test]
    fn debug_output_of_the_settings_hides_the_password() {
        let settings = SmtpSettings {
            host: "smtp.example.com".into(),
            port: 587,
            security: Security::StartTlsRequired,
            from: "OpsMate <opsmate@example.com>".into(),
            username: Some(USER.into()),
            password: Some(PASSWORD.into()),
            timeout: Duration::from_secs(30),
            extra_roots_pem: Vec::new(),
        };

        let printed = format!("{settings:?}");

        assert!(!printed.contains(PASSWORD));
        assert!(printed.contains(REDACTED));
    }

    #[test]
    fn redaction_removes_every_occurrence_of_the_password() {
        let text = redact("535 bad secret s3cr3t for s3cr3t", Some("s3cr3t"));

        assert_eq!(text, format!("535 bad secret {REDACTED} for {REDACTED}"));
    }
}
