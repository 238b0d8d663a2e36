//! The features, one folder each, plugged in through [`plugin`], and the report of
//! which integrations and features are on and why. The report is logged at start-up and printed by
//! `opsmate config check`, so nobody has to guess why something stays quiet.

pub mod billing;
pub mod guard;
pub mod hunter;
pub mod incidents;
pub mod observatory;
pub mod rollback;
pub mod sentinel;
pub mod watchman;

use crate::plugin::{Build, Features, Plug, Running};
use crate::scheduler::ScheduledJob;

/// Every feature, in the order their commands, digest sections and reports appear.
/// Observatory comes last: its digest gathers the others' sections.
pub const ALL: &[Plug] = &[
    hunter::PLUG,
    watchman::PLUG,
    guard::PLUG,
    incidents::PLUG,
    rollback::PLUG,
    sentinel::PLUG,
    billing::PLUG,
    observatory::PLUG,
];

/// Builds every feature whose section is present, in [`ALL`]'s order. Returns them
/// with every job to schedule: `b.jobs` (the core's) and theirs.
pub async fn build_all(b: Build<'_>) -> anyhow::Result<(Features, Vec<ScheduledJob>)> {
    let mut on = Vec::new();
    let mut jobs = b.jobs.to_vec();
    for plug in ALL {
        let built = (plug.build)(Build {
            config: b.config,
            secrets: b.secrets,
            aws: b.aws,
            store: b.store,
            audit: b.audit,
            clock: b.clock,
            metrics: b.metrics,
            actions: &mut *b.actions,
            dry_run_switch: b.dry_run_switch,
            jobs: &jobs,
            read_only: b.read_only,
        })
        .await?;
        if let Some(feature) = built {
            let specs = feature.jobs(b.config)?;
            let kinds = specs.iter().map(|s| s.kind).collect();
            jobs.extend(specs.into_iter().map(|spec| ScheduledJob {
                kind: spec.kind,
                schedule: spec.schedule,
                catch_up_window: spec.catch_up_window,
            }));
            on.push(Running {
                plug,
                feature,
                jobs: kinds,
            });
        }
    }
    let features = Features::new(ALL, on);
    for f in features.iter() {
        f.connect(&features);
    }
    Ok((features, jobs))
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
    ];
    out.extend(ALL.iter().map(|plug| (plug.status)(config, secrets)));
    out.push(crate::web::console::status(config, secrets));
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
        name: "standby",
        on: config.standby.primary_file.is_some(),
        why: match &config.standby.primary_file {
            Some(file) => format!(
                "the role follows LiteFS's {} (looked at every {:?})",
                file.display(),
                config.standby.poll_interval
            ),
            None => {
                "one machine, always primary (set standby.primary_file to run a LiteFS standby)"
                    .into()
            }
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
pub(crate) fn destinations_text(
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
