//! Long polling, for hosts without a public URL: `getUpdates` with a long timeout,
//! resuming after the last update handled (kept in SQLite), through the same intake
//! as the webhook.

use super::TelegramBot;
use super::intake::TelegramIntake;
use super::seen;
use std::time::Duration;
use teloxide::prelude::*;
use teloxide::types::AllowedUpdate;
use tokio_util::sync::CancellationToken;

/// Seconds Telegram holds a `getUpdates` call open when there is nothing new.
const LONG_POLL_SECS: u32 = 25;

pub async fn run(bot: TelegramBot, intake: TelegramIntake, shutdown: CancellationToken) {
    // A webhook left over from webhook mode would make getUpdates fail.
    if let Err(e) = bot.delete_webhook().await {
        tracing::warn!(error = %e, "could not remove an old Telegram webhook");
    }
    let mut wait = Duration::from_secs(1);
    loop {
        let offset = match intake.store.call(|c| seen::next_offset(c)).await {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "reading the Telegram offset failed");
                0
            }
        };
        let request = bot
            .get_updates()
            .offset(offset as i32)
            .timeout(LONG_POLL_SECS)
            .allowed_updates(vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery]);
        let updates = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = request.send() => r,
        };
        match updates {
            Ok(updates) => {
                wait = Duration::from_secs(1);
                for update in &updates {
                    if let Err(e) = intake.update(update).await {
                        tracing::warn!(error = %e, "could not take a Telegram update; it will be fetched again");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        break;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?wait, "Telegram getUpdates failed");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(Duration::from_secs(60));
            }
        }
    }
    tracing::info!("Telegram polling stopped");
}
