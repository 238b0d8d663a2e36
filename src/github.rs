//! The GitHub client (octocrab) shared by Night Watchman and Access Guard, pointed at
//! `github.api_url` so GitHub Enterprise Server and local fakes work the same way.

use crate::config::{Config, Secrets};
use octocrab::Octocrab;
use std::time::Duration;

/// Builds a client with `GITHUB_TOKEN` when set, and connect and read timeouts.
pub fn client(config: &Config, secrets: &Secrets, timeout: Duration) -> anyhow::Result<Octocrab> {
    let mut builder = Octocrab::builder()
        .base_uri(config.github.api_url.as_str())?
        .set_connect_timeout(Some(timeout))
        .set_read_timeout(Some(timeout));
    if let Some(token) = &secrets.github_token {
        builder = builder.personal_token(token.expose().to_owned());
    }
    Ok(builder.build()?)
}

/// A short description of a GitHub error: the status and GitHub's message when
/// GitHub answered, else the error itself.
pub fn error_text(e: &octocrab::Error) -> String {
    match e {
        octocrab::Error::GitHub { source, .. } => {
            format!("GitHub answered {}: {}", source.status_code, source.message)
        }
        other => other.to_string(),
    }
}
