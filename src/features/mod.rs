//! The four jobs, one folder each, and the report of which integrations and jobs
//! are on and why. The report is logged at start-up and printed by
//! `opsmate config check`, so nobody has to guess why something stays quiet.

pub mod guard;
pub mod hunter;
pub mod observatory;
pub mod watchman;

use crate::dispatch::Context;
use crate::domain::ApprovalId;

/// Rewrites the features' messages (Zombie Hunter reports, Night Watchman notices,
/// Access Guard requests) that show any of these proposals, after a decision, an
/// expiry or an interruption.
pub async fn refresh_decided(ctx: &Context, ids: &[ApprovalId]) -> anyhow::Result<()> {
    hunter::report::refresh_for(ctx, ids).await?;
    watchman::run::refresh_for(ctx, ids).await?;
    guard::run::refresh_for(ctx, ids).await
}

use crate::config::{Config, Secrets, SlackMode, TelegramMode};

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureStatus {
    pub name: &'static str,
    pub on: bool,
    pub why: String,
}

/// The on/off state of everything OpsMate can do, with the reason.
pub fn report(config: &Config, secrets: &Secrets) -> Vec<FeatureStatus> {
    let mut out = vec![
        slack_status(config, secrets),
        telegram_status(config, secrets),
        hunter_status(config, secrets),
        watchman_status(config, secrets),
        guard_status(config, secrets),
        observatory_status(config, secrets),
    ];
    out.push(FeatureStatus {
        name: "aws",
        on: true,
        why: match &config.aws.endpoint_url {
            Some(url) => format!(
                "regions {:?} via endpoint override {url}",
                config.aws.regions
            ),
            None => format!(
                "regions {:?} with the SDK's default credential chain",
                config.aws.regions
            ),
        },
    });
    out.push(FeatureStatus {
        name: "dry_run",
        on: config.dry_run,
        why: if config.dry_run {
            "actions only say what they would do".into()
        } else {
            "approved actions change cloud state".into()
        },
    });
    out
}

/// Where a feature's messages go (its own channel and chat, else the alert ones, on
/// the platforms whose token is set), or how to say where.
fn destinations_text(
    config: &Config,
    secrets: &Secrets,
    slack: Option<&String>,
    telegram: Option<i64>,
    keys: (&str, &str),
) -> String {
    let to = crate::chat::destinations::Destinations::resolve(config, secrets, slack, telegram);
    match (to.slack_channel, to.telegram_chat) {
        (None, None) => format!(
            "nowhere yet: set {} or {} (or the alert channel/chat)",
            keys.0, keys.1
        ),
        (s, t) => [
            s.map(|c| format!("Slack {c}")),
            t.map(|c| format!("Telegram {c}")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" and "),
    }
}

/// Zombie Hunter is on when `[hunter]` is present.
pub fn hunter_status(config: &Config, secrets: &Secrets) -> FeatureStatus {
    let Some(h) = &config.hunter else {
        return FeatureStatus {
            name: "zombie_hunter",
            on: false,
            why: "add a [hunter] section to turn it on".into(),
        };
    };
    let regions = h.regions.as_ref().unwrap_or(&config.aws.regions);
    let to = destinations_text(
        config,
        secrets,
        h.slack_channel.as_ref(),
        h.telegram_chat_id,
        ("hunter.slack_channel", "hunter.telegram_chat_id"),
    );
    FeatureStatus {
        name: "zombie_hunter",
        on: true,
        why: format!(
            "regions {regions:?}, {} extra account(s), schedule \"{}\"; reports go to {to}",
            h.assume_roles.len(),
            h.schedule
        ),
    }
}

/// Night Watchman is on when `[watchman]` is present.
pub fn watchman_status(config: &Config, secrets: &Secrets) -> FeatureStatus {
    let Some(w) = &config.watchman else {
        return FeatureStatus {
            name: "night_watchman",
            on: false,
            why: "add a [watchman] section to turn it on".into(),
        };
    };
    let signals = [
        (w.github_org.is_some() || !w.github_repos.is_empty()).then_some("GitHub"),
        (!w.linear_team_keys.is_empty()).then_some("Linear"),
        Some("holds"),
    ];
    let signals: Vec<&str> = signals.into_iter().flatten().collect();
    FeatureStatus {
        name: "night_watchman",
        on: true,
        why: format!(
            "instances tagged {:?}; check \"{}\", morning start \"{}\", {} mode; signals: {}; messages go to {}",
            w.tag_filters,
            w.shutdown_schedule,
            w.start_schedule,
            match w.mode {
                crate::config::WatchmanMode::Notice => "notice",
                crate::config::WatchmanMode::Approve => "approve",
            },
            signals.join(", "),
            destinations_text(
                config,
                secrets,
                w.slack_channel.as_ref(),
                w.telegram_chat_id,
                ("watchman.slack_channel", "watchman.telegram_chat_id")
            )
        ),
    }
}

/// Access Guard is on when `[guard]` is present.
pub fn guard_status(config: &Config, secrets: &Secrets) -> FeatureStatus {
    let Some(g) = &config.guard else {
        return FeatureStatus {
            name: "access_guard",
            on: false,
            why: "add a [guard] section to turn it on".into(),
        };
    };
    let directories = [
        secrets
            .slack_bot_token
            .is_some()
            .then(|| "Slack (users.list and member events)".to_owned()),
        g.github_org.as_ref().map(|org| format!("GitHub org {org}")),
    ];
    let directories: Vec<String> = directories.into_iter().flatten().collect();
    FeatureStatus {
        name: "access_guard",
        on: true,
        why: format!(
            "directories: {}; rule \"{}\", grace {} days, keep {} days, schedule \"{}\"; requests go to {}",
            if directories.is_empty() {
                "none (set SLACK_BOT_TOKEN or guard.github_org: until then every user is unmapped)"
                    .to_owned()
            } else {
                directories.join(" and ")
            },
            match g.rule {
                crate::config::DepartureRule::Any => "any",
                crate::config::DepartureRule::All => "all",
            },
            g.grace_period_days,
            g.keep_days,
            g.schedule,
            destinations_text(
                config,
                secrets,
                config.slack.security_channel.as_ref(),
                g.telegram_chat_id,
                ("slack.security_channel", "guard.telegram_chat_id")
            )
        ),
    }
}

/// Observatory is on when `[observatory]` is present.
pub fn observatory_status(config: &Config, secrets: &Secrets) -> FeatureStatus {
    let Some(o) = &config.observatory else {
        return FeatureStatus {
            name: "observatory",
            on: false,
            why: "add an [observatory] section with [[observatory.checks]] to turn it on".into(),
        };
    };
    FeatureStatus {
        name: "observatory",
        on: true,
        why: format!(
            "{} check(s){}; digest \"{}\"; alerts and the digest go to {}",
            o.checks.len(),
            if o.self_checks.enabled {
                " plus self-checks"
            } else {
                ""
            },
            o.digest_schedule,
            destinations_text(
                config,
                secrets,
                o.slack_channel.as_ref(),
                o.telegram_chat_id,
                ("observatory.slack_channel", "observatory.telegram_chat_id")
            )
        ),
    }
}

/// Telegram is on when its token is set, and for a webhook its secret too.
pub fn telegram_status(config: &Config, secrets: &Secrets) -> FeatureStatus {
    let (on, why) = match (
        secrets.telegram_bot_token.is_some(),
        config.telegram.effective_mode(),
        secrets.telegram_webhook_secret.is_some(),
    ) {
        (false, _, _) => (false, "set TELEGRAM_BOT_TOKEN to turn it on".to_owned()),
        (true, TelegramMode::Webhook, false) => (
            false,
            "webhook mode needs TELEGRAM_WEBHOOK_SECRET (the secret Telegram sends back with every update)".to_owned(),
        ),
        (true, TelegramMode::Webhook, true) => (
            true,
            format!(
                "webhook at {}/telegram/webhook; serving chats {:?}",
                config.telegram.public_url.as_deref().unwrap_or_default(),
                config.telegram.allowed_chat_ids
            ),
        ),
        (true, TelegramMode::Polling, _) => (
            true,
            format!(
                "long polling {}; serving chats {:?}",
                config.telegram.api_url, config.telegram.allowed_chat_ids
            ),
        ),
    };
    FeatureStatus {
        name: "telegram",
        on,
        why,
    }
}

/// Slack is on when the tokens its mode needs are set.
pub fn slack_status(config: &Config, secrets: &Secrets) -> FeatureStatus {
    let bot = secrets.slack_bot_token.is_some();
    let (door_secret, door_var, door) = match config.slack.mode {
        SlackMode::Http => (
            secrets.slack_signing_secret.is_some(),
            "SLACK_SIGNING_SECRET",
            "HTTP endpoints under /slack/",
        ),
        SlackMode::Socket => (
            secrets.slack_app_token.is_some(),
            "SLACK_APP_TOKEN",
            "Socket Mode",
        ),
    };
    let (on, why) = match (bot, door_secret) {
        (true, true) => (
            true,
            format!("{door}; messages go to {}", config.slack.api_url),
        ),
        (true, false) => (
            false,
            format!(
                "SLACK_BOT_TOKEN is set but {door_var} is not: OpsMate can post but not hear commands or clicks; set {door_var}"
            ),
        ),
        (false, _) => (
            false,
            format!("set SLACK_BOT_TOKEN and {door_var} to turn it on"),
        ),
    };
    FeatureStatus {
        name: "slack",
        on,
        why,
    }
}
