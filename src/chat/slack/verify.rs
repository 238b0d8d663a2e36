//! Verifying that a request really comes from Slack: the `v0` HMAC-SHA256 signature of
//! the raw body, keyed with the signing secret, compared in constant time, and a
//! timestamp no more than five minutes away from now (replay protection).

use crate::config::Secret;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const SIGNATURE_HEADER: &str = "x-slack-signature";
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// Oldest (or furthest in the future) timestamp accepted, in seconds.
pub const MAX_SKEW_SECS: i64 = 5 * 60;

/// Why a request was refused. Each becomes a 401 and an audit row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("missing signature or timestamp header")]
    Missing,
    #[error("timestamp is not a number")]
    BadTimestamp,
    #[error("timestamp is {0} s away from now (limit {MAX_SKEW_SECS} s)")]
    Stale(i64),
    #[error("signature does not match")]
    Forged,
}

impl Rejection {
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Missing => "missing_signature",
            Rejection::BadTimestamp => "bad_timestamp",
            Rejection::Stale(_) => "stale_timestamp",
            Rejection::Forged => "forged_signature",
        }
    }
}

/// Checks Slack's request signatures with one signing secret.
#[derive(Clone)]
pub struct SlackVerifier {
    secret: Secret,
}

impl SlackVerifier {
    pub fn new(secret: Secret) -> Self {
        Self { secret }
    }

    /// The `v0=…` signature Slack would send for this body and timestamp.
    pub fn sign(&self, timestamp: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.expose().as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(b"v0:");
        mac.update(timestamp.as_bytes());
        mac.update(b":");
        mac.update(body);
        format!("v0={}", hex::encode(mac.finalize().into_bytes()))
    }

    /// Verifies a request at time `now` (Unix seconds; injected so tests can use
    /// Slack's published example from 2018).
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), Rejection> {
        let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
            return Err(Rejection::Missing);
        };
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| Rejection::BadTimestamp)?;
        let skew = now.saturating_sub(ts);
        if skew.abs() > MAX_SKEW_SECS {
            return Err(Rejection::Stale(skew));
        }
        let expected = self.sign(timestamp, body);
        if expected
            .as_bytes()
            .ct_eq(signature.trim().as_bytes())
            .into()
        {
            Ok(())
        } else {
            Err(Rejection::Forged)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's own example from "Verifying requests from Slack".
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn verifier() -> SlackVerifier {
        SlackVerifier::new(Secret::new(SECRET))
    }

    #[test]
    fn slacks_published_example_verifies() {
        assert_eq!(verifier().sign(TIMESTAMP, BODY.as_bytes()), SIGNATURE);
        let now = 1531420618 + 10;
        assert_eq!(
            verifier().verify(Some(TIMESTAMP), Some(SIGNATURE), BODY.as_bytes(), now),
            Ok(())
        );
    }

    #[test]
    fn the_same_example_is_stale_today() {
        let now = chrono::Utc::now().timestamp();
        assert!(matches!(
            verifier().verify(Some(TIMESTAMP), Some(SIGNATURE), BODY.as_bytes(), now),
            Err(Rejection::Stale(_))
        ));
    }

    #[test]
    fn tampering_and_missing_headers_are_refused() {
        let now = 1531420618;
        let v = verifier();
        let mut body = BODY.as_bytes().to_vec();
        body[10] ^= 1;
        assert_eq!(
            v.verify(Some(TIMESTAMP), Some(SIGNATURE), &body, now),
            Err(Rejection::Forged)
        );
        assert_eq!(
            v.verify(Some("1531420619"), Some(SIGNATURE), BODY.as_bytes(), now),
            Err(Rejection::Forged)
        );
        assert_eq!(
            v.verify(Some(TIMESTAMP), Some("v0=00"), BODY.as_bytes(), now),
            Err(Rejection::Forged)
        );
        assert_eq!(
            v.verify(None, Some(SIGNATURE), BODY.as_bytes(), now),
            Err(Rejection::Missing)
        );
        assert_eq!(
            v.verify(Some(TIMESTAMP), None, BODY.as_bytes(), now),
            Err(Rejection::Missing)
        );
        assert_eq!(
            v.verify(Some("soon"), Some(SIGNATURE), BODY.as_bytes(), now),
            Err(Rejection::BadTimestamp)
        );
        let other = SlackVerifier::new(Secret::new("another-secret"));
        assert_eq!(
            other.verify(Some(TIMESTAMP), Some(SIGNATURE), BODY.as_bytes(), now),
            Err(Rejection::Forged)
        );
    }

    #[test]
    fn future_timestamps_beyond_the_window_are_refused() {
        let v = verifier();
        let now = 1531420618 - MAX_SKEW_SECS - 1;
        assert_eq!(
            v.verify(Some(TIMESTAMP), Some(SIGNATURE), BODY.as_bytes(), now),
            Err(Rejection::Stale(-MAX_SKEW_SECS - 1))
        );
    }
}
