//! http checks: status, body, JSON field, latency and the certificate's expiry.

use super::{human, millis};
use crate::features::observatory::config::{CheckConfig, DEFAULT_TLS_WARN_DAYS};
use crate::features::observatory::status::{Outcome, Status};
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// Bodies are read up to this size: enough for any health endpoint, and a huge
/// response cannot fill memory.
const MAX_BODY: usize = 1024 * 1024;

/// A client that trusts the usual roots plus those in `ca_file`.
///
/// It never follows redirects (a 301 is an answer to judge, not to chase) and keeps
/// no idle connections, so every run measures a full connect and sees the
/// certificate the server presents now, not one from a pooled connection.
pub(super) fn client(ca_file: Option<&Path>) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_info(true)
        .pool_max_idle_per_host(0)
        .user_agent(concat!(
            "OpsMate/",
            env!("CARGO_PKG_VERSION"),
            " health check"
        ));
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read ca_file {}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("ca_file {} is not valid PEM", path.display()))?;
        if certs.is_empty() {
            anyhow::bail!("ca_file {} holds no certificate", path.display());
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().context("cannot build the HTTP client")
}

/// What came back from one request.
struct Fetched {
    status: reqwest::StatusCode,
    body: Vec<u8>,
    /// The body was longer than [`MAX_BODY`]; `body` is its start.
    truncated: bool,
    /// DER of the server's certificate, for https.
    cert: Option<Vec<u8>>,
}

pub(super) async fn run(client: &reqwest::Client, check: &CheckConfig) -> Outcome {
    let Some(url) = check.url.as_deref() else {
        return Outcome::error("no url is configured");
    };
    let method = match check.method.as_deref() {
        None => reqwest::Method::GET,
        Some(m) => match reqwest::Method::from_bytes(m.to_ascii_uppercase().as_bytes()) {
            Ok(m) => m,
            Err(_) => return Outcome::error(format!("{m:?} is not an HTTP method")),
        },
    };
    let timeout = check.timeout();
    let started = Instant::now();
    // reqwest's timeout ends the request; this one bounds the run whatever happens.
    let fetched = tokio::time::timeout(timeout, fetch(client, method, url, timeout)).await;
    let elapsed = started.elapsed();
    match fetched {
        Err(_) => Outcome::error(format!("timed out after {}", human(timeout))),
        Ok(Err(e)) => Outcome::error(describe(&e, timeout)),
        Ok(Ok(fetched)) => judge(check, &fetched, millis(elapsed), Utc::now()),
    }
}

async fn fetch(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    timeout: Duration,
) -> Result<Fetched, reqwest::Error> {
    let mut response = client.request(method, url).timeout(timeout).send().await?;
    let status = response.status();
    let cert = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .map(<[u8]>::to_vec);
    let mut body = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched {
        status,
        body,
        truncated,
        cert,
    })
}

/// Weighs a response against the check; the worst finding sets the status and leads
/// the message.
fn judge(check: &CheckConfig, got: &Fetched, ms: f64, now: DateTime<Utc>) -> Outcome {
    let mut findings: Vec<(Status, String)> = Vec::new();
    let expected = check.expect_status.unwrap_or(200);
    if got.status.as_u16() != expected {
        findings.push((
            Status::Critical,
            format!("HTTP {}, expected {expected}", got.status.as_u16()),
        ));
    }
    let cut = if got.truncated {
        " (only its first 1 MiB was read)"
    } else {
        ""
    };
    if let Some(needle) = &check.body_contains
        && !String::from_utf8_lossy(&got.body).contains(needle.as_str())
    {
        findings.push((
            Status::Critical,
            format!("body does not contain {needle:?}{cut}"),
        ));
    }
    if let Some(path) = &check.json_field
        && let Some(problem) = json_problem(&got.body, path, check.json_equals.as_deref())
    {
        findings.push((Status::Critical, format!("{problem}{cut}")));
    }
    if let Some(slo) = check.latency_slo_ms
        && ms > slo as f64
    {
        findings.push((Status::Warn, format!("{ms:.0} ms, over the {slo} ms SLO")));
    }
    if let Some(der) = &got.cert {
        let warn_days = check.tls_warn_days.unwrap_or(DEFAULT_TLS_WARN_DAYS);
        if let Some(finding) = certificate_finding(der, warn_days, now) {
            findings.push(finding);
        }
    }
    findings.sort_by_key(|(status, _)| std::cmp::Reverse(*status));
    let status = findings.first().map_or(Status::Ok, |(s, _)| *s);
    let message = if findings.is_empty() {
        format!("HTTP {} in {ms:.0} ms", got.status.as_u16())
    } else {
        findings
            .into_iter()
            .map(|(_, m)| m)
            .collect::<Vec<_>>()
            .join("; ")
    };
    Outcome::new(status, Some(ms), "ms", message)
}

/// Why the body fails the JSON test, if it does.
fn json_problem(body: &[u8], path: &str, equals: Option<&str>) -> Option<String> {
    let json: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Some(format!("body is not JSON ({e})")),
    };
    let Some(value) = lookup(&json, path) else {
        return Some(format!("JSON field {path} is missing"));
    };
    let text = render(value);
    match equals {
        Some(want) if text != want => {
            Some(format!("JSON field {path} is {text:?}, expected {want:?}"))
        }
        _ => None,
    }
}

/// The value at a dotted path: object keys, and array indexes as numbers
/// (`checks.0.status`).
fn lookup<'a>(json: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(json, |v, key| match v {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// A JSON value as people write it in the config: strings without their quotes.
fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whole days from `now` until `not_after`, rounded down: a certificate with 4.9 days
/// left has 4, and one already expired has a negative count.
fn days_left(not_after: i64, now: DateTime<Utc>) -> i64 {
    (not_after - now.timestamp()).div_euclid(86_400)
}

/// A warning when the certificate expires within `warn_days`.
fn certificate_finding(der: &[u8], warn_days: u32, now: DateTime<Utc>) -> Option<(Status, String)> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Some((Status::Warn, "cannot read the certificate's expiry".into()));
    };
    let not_after = cert.validity().not_after.timestamp();
    let date = day(not_after);
    let days = days_left(not_after, now);
    if not_after <= now.timestamp() {
        return Some((Status::Error, format!("certificate expired on {date}")));
    }
    if days >= i64::from(warn_days) {
        return None;
    }
    let when = match days {
        0 => "in less than a day".to_owned(),
        1 => "in 1 day".to_owned(),
        n => format!("in {n} days"),
    };
    Some((Status::Warn, format!("certificate expires {when} ({date})")))
}

/// A short reason for a failed request: what people need to tell a dead service from
/// a wrong name or a bad certificate.
pub fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("timed out after {}", human(timeout));
    }
    let chain = causes(e);
    let innermost = chain.last().map(|c| c.to_string()).unwrap_or_default();
    let io_kind = |kind| {
        chain.iter().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == kind)
        })
    };
    if io_kind(std::io::ErrorKind::ConnectionRefused) {
        return "connection refused".into();
    }
    if io_kind(std::io::ErrorKind::ConnectionReset) {
        return "connection reset".into();
    }
    if chain.iter().any(|c| c.to_string() == "dns error") {
        return format!("DNS lookup failed: {innermost}");
    }
    if let Some(tls) = chain.iter().find_map(|c| c.downcast_ref::<rustls::Error>()) {
        return describe_tls(tls);
    }
    if e.is_builder() {
        return format!("bad request: {innermost}");
    }
    if innermost.is_empty() {
        e.to_string()
    } else {
        innermost
    }
}

/// Certificate problems in words, the rest as rustls says them.
fn describe_tls(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    let rustls::Error::InvalidCertificate(cert) = e else {
        return format!("TLS failed: {e}");
    };
    match cert {
        C::Expired => "certificate expired".into(),
        C::ExpiredContext { not_after, .. } => format!(
            "certificate expired on {}",
            day(i64::try_from(not_after.as_secs()).unwrap_or(i64::MAX))
        ),
        C::UnknownIssuer => {
            "certificate not trusted: unknown issuer (an internal CA needs ca_file)".into()
        }
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "certificate is not valid for this host name".into()
        }
        other => format!("TLS failed: invalid certificate: {other}"),
    }
}

/// A Unix time as a UTC date.
fn day(unix: i64) -> String {
    DateTime::from_timestamp(unix, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| unix.to_string())
}

/// The error's causes, outermost first, looking inside `io::Error`s too (their
/// `source` skips the error they wrap).
fn causes<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut out = Vec::new();
    let mut next = e.source();
    while let Some(c) = next {
        out.push(c);
        next = match c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => c.source(),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_paths_walk_objects_and_arrays() {
        let v = json!({"status": "ok", "db": {"ok": true, "lag": 1.5}, "checks": [{"name": "a"}]});
        assert_eq!(lookup(&v, "status"), Some(&json!("ok")));
        assert_eq!(lookup(&v, "db.ok"), Some(&json!(true)));
        assert_eq!(lookup(&v, "checks.0.name"), Some(&json!("a")));
        assert_eq!(lookup(&v, "checks.1.name"), None);
        assert_eq!(lookup(&v, "db.missing"), None);
        assert_eq!(lookup(&v, "status.deeper"), None);
    }

    #[test]
    fn values_compare_as_text_with_strings_unquoted() {
        let v = json!({"s": "ok", "b": true, "n": 3, "f": 1.5, "z": null});
        assert_eq!(render(lookup(&v, "s").unwrap()), "ok");
        assert_eq!(render(lookup(&v, "b").unwrap()), "true");
        assert_eq!(render(lookup(&v, "n").unwrap()), "3");
        assert_eq!(render(lookup(&v, "f").unwrap()), "1.5");
        assert_eq!(render(lookup(&v, "z").unwrap()), "null");
        assert_eq!(
            json_problem(br#"{"db":{"ok":true}}"#, "db.ok", Some("true")),
            None
        );
        assert_eq!(
            json_problem(br#"{"status":"degraded"}"#, "status", Some("ok")).unwrap(),
            r#"JSON field status is "degraded", expected "ok""#
        );
        assert!(
            json_problem(b"<html>", "status", None)
                .unwrap()
                .starts_with("body is not JSON")
        );
    }

    #[test]
    fn days_left_round_down_and_go_negative_after_expiry() {
        let now: DateTime<Utc> = "2026-03-01T12:00:00Z".parse().unwrap();
        let t = now.timestamp();
        assert_eq!(days_left(t + 5 * 86_400, now), 5);
        assert_eq!(days_left(t + 5 * 86_400 - 1, now), 4);
        assert_eq!(days_left(t + 10, now), 0);
        assert_eq!(days_left(t - 10, now), -1);
    }

    fn fetched(status: u16, body: &str) -> Fetched {
        Fetched {
            status: reqwest::StatusCode::from_u16(status).unwrap(),
            body: body.as_bytes().to_vec(),
            truncated: false,
            cert: None,
        }
    }

    #[test]
    fn the_worst_finding_sets_the_status_and_leads_the_message() {
        let mut check =
            CheckConfig::new("api", crate::features::observatory::config::CheckKind::Http);
        check.latency_slo_ms = Some(100);
        check.body_contains = Some("healthy".into());
        let now = Utc::now();
        let slow = judge(&check, &fetched(200, "healthy"), 1234.4, now);
        assert_eq!(slow.status, Status::Warn);
        assert_eq!(slow.message, "1234 ms, over the 100 ms SLO");
        assert_eq!(slow.value, Some(1234.4));
        let both = judge(&check, &fetched(200, "sick"), 1234.0, now);
        assert_eq!(both.status, Status::Critical);
        assert_eq!(
            both.message,
            "body does not contain \"healthy\"; 1234 ms, over the 100 ms SLO"
        );
        let fine = judge(&check, &fetched(200, "healthy"), 12.0, now);
        assert_eq!(
            (fine.status, fine.message.as_str()),
            (Status::Ok, "HTTP 200 in 12 ms")
        );
        check.expect_status = Some(301);
        let moved = judge(&check, &fetched(200, "healthy"), 12.0, now);
        assert_eq!(moved.message, "HTTP 200, expected 301");
    }
}
