//! Slack user-group membership, for approver policies that name groups. Looked up
//! with `usergroups.users.list` and cached for a few minutes, so a burst of clicks
//! costs one call per group.

use super::web_api::Slack;
use crate::config::Secret;
use crate::dispatch::Context;
use crate::domain::{ActionKind, Actor, SlackGroupId, SlackUserId};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CACHE_FOR: Duration = Duration::from_secs(300);

pub struct SlackGroups {
    client: Arc<Slack>,
    token: SlackApiToken,
    cache: Mutex<HashMap<String, (Instant, Vec<String>)>>,
}

impl SlackGroups {
    pub fn new(client: Arc<Slack>, token: &Secret) -> Self {
        Self {
            client,
            token: SlackApiToken::new(SlackApiTokenValue::new(token.expose().to_owned())),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Which of `candidates` the user belongs to. A group that cannot be read counts
    /// as not containing the user (fail closed), and is logged.
    pub async fn memberships(
        &self,
        user: &SlackUserId,
        candidates: &[SlackGroupId],
    ) -> Vec<SlackGroupId> {
        let mut out = Vec::new();
        for group in candidates {
            match self.members(group).await {
                Ok(members) if members.iter().any(|m| m == user.as_str()) => {
                    out.push(group.clone())
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(group = group.as_str(), error = %e, "could not read Slack user group; treating the clicker as not in it")
                }
            }
        }
        out
    }

    async fn members(&self, group: &SlackGroupId) -> Result<Vec<String>, SlackClientError> {
        if let Some((at, members)) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(group.as_str())
            && at.elapsed() < CACHE_FOR
        {
            return Ok(members.clone());
        }
        let session = self.client.open_session(&self.token);
        let req =
            SlackApiUserGroupsUsersListRequest::new(SlackUserGroupId(group.as_str().to_owned()));
        let members: Vec<String> = session
            .usergroups_users_list(&req)
            .await?
            .users
            .into_iter()
            .map(|u| u.to_string())
            .collect();
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(group.as_str().to_owned(), (Instant::now(), members.clone()));
        Ok(members)
    }
}

/// A Slack actor with their memberships in the user groups that the policies of
/// `kinds` name, looked up now (other actors are returned as they are).
pub async fn resolve(ctx: &Context, actor: &Actor, kinds: &[ActionKind]) -> Actor {
    let candidates: Vec<_> = kinds
        .iter()
        .filter_map(|k| ctx.gate.config().policy(*k))
        .flat_map(|policy| policy.slack_groups.clone())
        .collect();
    with_memberships(ctx, actor, candidates).await
}

/// The actor with those of `candidates` they belong to, resolved now (Slack only).
pub async fn with_memberships(
    ctx: &Context,
    actor: &Actor,
    mut candidates: Vec<crate::domain::SlackGroupId>,
) -> Actor {
    let (Actor::Slack { user, .. }, Some(slack)) = (actor, &ctx.slack_groups) else {
        return actor.clone();
    };
    candidates.sort();
    candidates.dedup();
    if candidates.is_empty() {
        return actor.clone();
    }
    Actor::Slack {
        user: user.clone(),
        groups: slack.memberships(user, &candidates).await,
    }
}
