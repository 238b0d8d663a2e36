//! Telegram adapter: the webhook and long polling (doors in), HTML rendering with
//! inline keyboards, and Bot API delivery through teloxide (out).

pub mod commands;
pub mod door;
pub mod html;
pub mod intake;
pub mod polling;
pub mod seen;
pub mod send;
pub mod transport;

/// The teloxide client every Telegram call goes through.
pub type TelegramBot = teloxide::Bot;

/// A bot for `token` talking to `api_url` (Telegram itself, or a local Bot API server).
pub fn bot(api_url: &str, token: &crate::config::Secret) -> anyhow::Result<TelegramBot> {
    let url = reqwest::Url::parse(api_url)?;
    Ok(teloxide::Bot::new(token.expose()).set_api_url(url))
}

/// Registers the webhook with its secret, retrying while Telegram cannot be reached.
pub async fn register_webhook(
    bot: TelegramBot,
    url: String,
    secret: Option<crate::config::Secret>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    use teloxide::prelude::*;
    use teloxide::types::AllowedUpdate;
    let Ok(parsed) = reqwest::Url::parse(&url) else {
        tracing::error!(%url, "telegram.public_url does not make a valid webhook URL");
        return;
    };
    let mut wait = std::time::Duration::from_secs(1);
    loop {
        let mut req = bot
            .set_webhook(parsed.clone())
            .allowed_updates(vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery]);
        if let Some(s) = &secret {
            req = req.secret_token(s.expose().to_owned());
        }
        match req.send().await {
            Ok(_) => {
                tracing::info!(%url, "Telegram webhook registered");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?wait, "registering the Telegram webhook failed")
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(std::time::Duration::from_secs(300));
    }
}
