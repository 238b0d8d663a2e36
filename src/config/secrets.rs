//! Secrets: read from the environment only, and impossible to print by accident.

use std::collections::BTreeMap;
use std::fmt;

/// A secret string. `Debug` and `Display` print `[redacted]`; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw value, for the one place that sends it (an HTTP header, an HMAC key).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Environment variable names of every secret OpsMate reads.
pub const SECRET_VARS: [&str; 7] = [
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
    "GITHUB_TOKEN",
    "LINEAR_API_KEY",
];

/// All secrets, each optional: an absent one turns its integration off.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Secrets {
    pub slack_bot_token: Option<Secret>,
    pub slack_signing_secret: Option<Secret>,
    pub slack_app_token: Option<Secret>,
    pub telegram_bot_token: Option<Secret>,
    pub telegram_webhook_secret: Option<Secret>,
    pub github_token: Option<Secret>,
    pub linear_api_key: Option<Secret>,
    /// Sign in with Slack (the web console): the app's OAuth client id and secret.
    pub slack_client_id: Option<Secret>,
    pub slack_client_secret: Option<Secret>,
    /// Every other variable of the environment, for secrets the configuration names
    /// by variable (a remediation's header, a pager's routing key, SMTP credentials).
    pub named: BTreeMap<String, Secret>,
}

impl Secrets {
    /// Reads the secrets from an environment snapshot. Empty values count as unset.
    pub fn from_env(env: &BTreeMap<String, String>) -> Self {
        let get = |name: &str| {
            env.get(name)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(Secret::new)
        };
        Self {
            slack_bot_token: get("SLACK_BOT_TOKEN"),
            slack_signing_secret: get("SLACK_SIGNING_SECRET"),
            slack_app_token: get("SLACK_APP_TOKEN"),
            telegram_bot_token: get("TELEGRAM_BOT_TOKEN"),
            telegram_webhook_secret: get("TELEGRAM_WEBHOOK_SECRET"),
            github_token: get("GITHUB_TOKEN"),
            linear_api_key: get("LINEAR_API_KEY"),
            slack_client_id: get("SLACK_CLIENT_ID"),
            slack_client_secret: get("SLACK_CLIENT_SECRET"),
            named: env
                .iter()
                .filter(|(k, v)| !SECRET_VARS.contains(&k.as_str()) && !v.trim().is_empty())
                .map(|(k, v)| (k.clone(), Secret::new(v.trim())))
                .collect(),
        }
    }

    /// The secret in the environment variable `var`, as the configuration names it.
    pub fn named(&self, var: &str) -> Option<&Secret> {
        self.named.get(var)
    }

    /// Sets a named secret (tests, and callers that assemble secrets by hand).
    pub fn with_named(mut self, var: &str, value: &str) -> Self {
        self.named.insert(var.to_owned(), Secret::new(value));
        self
    }

    /// `(variable, is set)` for every secret, in a fixed order, for `config check`.
    pub fn presence(&self) -> Vec<(&'static str, bool)> {
        let set = [
            self.slack_bot_token.is_some(),
            self.slack_signing_secret.is_some(),
            self.slack_app_token.is_some(),
            self.telegram_bot_token.is_some(),
            self.telegram_webhook_secret.is_some(),
            self.github_token.is_some(),
            self.linear_api_key.is_some(),
        ];
        SECRET_VARS.into_iter().zip(set).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_their_value() {
        let s = Secret::new("xoxb-very-secret");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{s:?}"), "[redacted]");
        let all = Secrets {
            slack_bot_token: Some(s),
            ..Secrets::default()
        };
        assert!(!format!("{all:?}").contains("very-secret"));
    }

    #[test]
    fn empty_secret_counts_as_unset() {
        let env = BTreeMap::from([
            ("SLACK_BOT_TOKEN".to_string(), "  ".to_string()),
            ("GITHUB_TOKEN".to_string(), "ghp_x".to_string()),
        ]);
        let s = Secrets::from_env(&env);
        assert!(s.slack_bot_token.is_none());
        assert_eq!(s.github_token.as_ref().map(Secret::expose), Some("ghp_x"));
    }
}
