//! Slack's views: the reason dialog (`views.open`) and the App Home tab
//! (`views.publish`). They are called at once rather than through the outbox: a
//! dialog must open within the three seconds its `trigger_id` lives, and a Home tab
//! is redrawn whole from the database the next time it is opened, so a failed
//! publish loses nothing.

use super::web_api::Slack;
use crate::config::Secret;
use crate::domain::SlackUserId;
use anyhow::Context as _;
use serde_json::Value;
use slack_morphism::prelude::*;
use std::sync::Arc;

/// Opens dialogs and publishes Home tabs with the bot token.
pub struct SlackViews {
    client: Arc<Slack>,
    token: SlackApiToken,
}

impl SlackViews {
    pub fn new(client: Arc<Slack>, token: &Secret) -> Self {
        Self {
            client,
            token: SlackApiToken::new(SlackApiTokenValue::new(token.expose().to_owned())),
        }
    }

    /// Opens `view` (a modal's JSON) for the person whose click carried `trigger_id`.
    pub async fn open(&self, trigger_id: &str, view: Value) -> anyhow::Result<()> {
        let view: SlackView = serde_json::from_value(view).context("the dialog is not a view")?;
        let request = SlackApiViewsOpenRequest::new(SlackTriggerId(trigger_id.to_owned()), view);
        self.client
            .open_session(&self.token)
            .views_open(&request)
            .await
            .context("views.open")?;
        Ok(())
    }

    /// Publishes `view` (a Home tab's JSON) as `user`'s Home tab.
    pub async fn publish(&self, user: &SlackUserId, view: Value) -> anyhow::Result<()> {
        let view: SlackView = serde_json::from_value(view).context("the Home tab is not a view")?;
        let request = SlackApiViewsPublishRequest::new(
            slack_morphism::prelude::SlackUserId(user.as_str().to_owned()),
            view,
        );
        self.client
            .open_session(&self.token)
            .views_publish(&request)
            .await
            .context("views.publish")?;
        Ok(())
    }
}
