//! Socket Mode: the same intake as the HTTP endpoints, over slack-morphism's
//! WebSocket listener, for hosts without a public URL. slack-morphism opens the
//! connection with the app-level token, reconnects, and acknowledges each envelope
//! once its callback returns.

use super::intake::{BUSY_TEXT, Intake, IntakeError};
use super::web_api::{Slack, SlackConnector};
use crate::config::Secret;
use slack_morphism::prelude::*;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

type State = SlackClientEventsUserState;
type CallbackResult<T> = UserCallbackResult<T>;

async fn intake_of(states: &State) -> Result<Intake, Box<dyn std::error::Error + Send + Sync>> {
    states
        .read()
        .await
        .get_user_state::<Intake>()
        .cloned()
        .ok_or_else(|| "socket mode started without its intake".into())
}

/// `/opsmate …` over Socket Mode. The acknowledgement carries no message; the answer
/// goes through `response_url`, exactly as over HTTP.
pub async fn on_command(
    ev: SlackCommandEvent,
    _client: Arc<Slack>,
    states: State,
) -> CallbackResult<SlackCommandEventResponse> {
    match intake_of(&states).await?.command(&ev).await {
        Ok(()) => Ok(SlackCommandEventResponse::new(SlackMessageContent::new())),
        Err(IntakeError::Busy) => Ok(SlackCommandEventResponse::new(
            SlackMessageContent::new().with_text(BUSY_TEXT.into()),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Button clicks over Socket Mode.
pub async fn on_interaction(
    ev: SlackInteractionEvent,
    _client: Arc<Slack>,
    states: State,
) -> CallbackResult<()> {
    intake_of(&states).await?.interaction(&ev).await?;
    Ok(())
}

/// Events API callbacks over Socket Mode (deduplicated by `event_id` like over HTTP).
pub async fn on_push(
    ev: SlackPushEventCallback,
    _client: Arc<Slack>,
    states: State,
) -> CallbackResult<()> {
    intake_of(&states).await?.push(&ev).await?;
    Ok(())
}

fn on_error(
    err: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<Slack>,
    _states: State,
) -> axum::http::StatusCode {
    tracing::warn!(error = %err, "Socket Mode callback failed; Slack will redeliver");
    axum::http::StatusCode::INTERNAL_SERVER_ERROR
}

/// A running Socket Mode connection.
pub struct SocketMode {
    listener: SlackClientSocketModeListener<SlackConnector>,
}

impl SocketMode {
    /// Opens the connection(s) with the app-level token.
    pub async fn connect(
        client: Arc<Slack>,
        app_token: &Secret,
        intake: Intake,
    ) -> anyhow::Result<Self> {
        let callbacks = SlackSocketModeListenerCallbacks::new()
            .with_command_events(on_command)
            .with_interaction_events(on_interaction)
            .with_push_events(on_push);
        let environment = Arc::new(
            SlackClientEventsListenerEnvironment::new(client)
                .with_error_handler(on_error)
                .with_user_state(intake),
        );
        let listener = SlackClientSocketModeListener::new(
            &SlackClientSocketModeConfig::new(),
            environment,
            callbacks,
        );
        let token = SlackApiToken::new(SlackApiTokenValue::new(app_token.expose().to_owned()));
        listener
            .listen_for(&token)
            .await
            .map_err(|e| anyhow::anyhow!("opening Socket Mode: {e}"))?;
        listener.start().await;
        Ok(Self { listener })
    }

    pub async fn shutdown(&self) {
        self.listener.shutdown().await;
    }

    /// Connects, retrying with backoff while Slack cannot be reached (a bad token is
    /// logged each time), and holds the connection until `shutdown`.
    pub async fn run(
        client: Arc<Slack>,
        app_token: Secret,
        intake: Intake,
        shutdown: CancellationToken,
    ) {
        let mut wait = Duration::from_secs(1);
        let socket = loop {
            match Self::connect(client.clone(), &app_token, intake.clone()).await {
                Ok(socket) => break socket,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), retry_in = ?wait, "Slack Socket Mode is not connected");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(wait) => {}
                    }
                    wait = (wait * 2).min(Duration::from_secs(60));
                }
            }
        };
        tracing::info!("Slack Socket Mode connected");
        shutdown.cancelled().await;
        socket.shutdown().await;
    }
}
