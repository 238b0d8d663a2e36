//! The whole Slack member directory, read with `users.list` and cursor pagination.
//! Access Guard compares it with IAM; `team_join` and `user_change` events keep the
//! stored copy fresh between reads.

use super::members;
use super::web_api::{self, Slack};
use crate::config::Secret;
use crate::events::SlackMember;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use std::sync::Arc;
use std::time::Duration;

/// Members per page. Slack advises at most 200, and pages beyond it may come back
/// short anyway.
pub const PAGE_SIZE: u16 = 200;

/// How often one page is retried after a 429 before the listing fails.
const RATE_LIMIT_RETRIES: u32 = 5;

/// Longest `Retry-After` honoured; a longer one fails the listing (the scan then
/// falls back to the stored directory).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Reads the directory with the bot token (scopes `users:read`, `users:read.email`).
pub struct SlackDirectory {
    client: Arc<Slack>,
    token: SlackApiToken,
}

/// A full listing and the calls it took.
#[derive(Debug, Clone)]
pub struct Listing {
    pub members: Vec<SlackMember>,
    pub calls: u32,
}

/// Longest wait for one page of the member directory.
const DIRECTORY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl SlackDirectory {
    /// Its own client without the crate's proactive throttle: a listing is a burst of
    /// a few dozen calls once a day, and Slack's 429s are honoured instead.
    pub fn new(api_url: &str, token: &Secret) -> anyhow::Result<Self> {
        Ok(Self {
            client: web_api::webhook_client(api_url, DIRECTORY_TIMEOUT)?,
            token: SlackApiToken::new(SlackApiTokenValue::new(token.expose().to_owned())),
        })
    }

    /// Every member, all pages. Any page that still fails fails the listing: a
    /// partial directory would make the missing half look gone.
    pub async fn list(&self) -> anyhow::Result<Listing> {
        let session = self.client.open_session(&self.token);
        let mut cursor: Option<SlackCursorId> = None;
        let mut members = Vec::new();
        let mut calls = 0;
        loop {
            let req = SlackApiUsersListRequest::new()
                .with_limit(PAGE_SIZE)
                .opt_cursor(cursor.clone());
            let mut attempt = 0;
            let page = loop {
                calls += 1;
                match session.users_list(&req).await {
                    Ok(page) => break page,
                    Err(SlackClientError::RateLimitError(e)) if attempt < RATE_LIMIT_RETRIES => {
                        let wait = e.retry_after.unwrap_or(Duration::from_secs(1));
                        if wait > MAX_RETRY_AFTER {
                            anyhow::bail!("users.list is rate limited for {wait:?}");
                        }
                        attempt += 1;
                        tracing::info!(?wait, attempt, "users.list rate limited; waiting");
                        tokio::time::sleep(wait).await;
                    }
                    Err(e) => anyhow::bail!("users.list: {e}"),
                }
            };
            members.extend(
                page.members
                    .iter()
                    .filter_map(|u| members::from_slack(u, "users.list")),
            );
            cursor = page
                .response_metadata
                .and_then(|m| m.next_cursor)
                .filter(|c| !c.to_string().is_empty());
            if cursor.is_none() {
                break;
            }
        }
        Ok(Listing { members, calls })
    }
}
