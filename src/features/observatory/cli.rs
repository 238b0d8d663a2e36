//! `opsmate health check|history|slo` and `opsmate digest [--send]`.

use super::config::ObservatoryConfig;
use super::{Observatory, digest, store};
use crate::app::App;
use crate::chat::answers::local;
use crate::config::Loaded;
use crate::dispatch::Context;
use crate::errors::exit_code;
use crate::plugin::{CliCommand, cli_args};
use clap::{CommandFactory, Parser, Subcommand};
use std::io::Write;
use std::sync::Arc;

/// How long `digest --send` waits for Slack and Telegram to take the message.
const SEND_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Builds the app without serving (one-shot) with Observatory on.
async fn app(loaded: &Loaded) -> anyhow::Result<(App, Context, Arc<Observatory>)> {
    let mut loaded = loaded.clone();
    if loaded.config.section::<ObservatoryConfig>()?.is_none() {
        loaded.config.sections.set(&ObservatoryConfig::default());
    }
    let app = App::one_shot(&loaded).await?;
    let ctx = app.ctx.clone();
    let o = ctx
        .features
        .get::<Observatory>()
        .ok_or_else(|| anyhow::anyhow!("Observatory did not start"))?;
    Ok((app, ctx, o))
}

pub const CLI: &[CliCommand] = &[
    CliCommand {
        command: HealthArgs::command,
        run: |loaded, matches| health(loaded, cli_args::<HealthArgs>(matches)?.command),
    },
    CliCommand {
        command: DigestArgs::command,
        run: |loaded, matches| digest(loaded, cli_args::<DigestArgs>(matches)?.send),
    },
];

/// Observatory: run the health checks, or read their history and SLOs.
#[derive(Debug, Parser)]
#[command(name = "health")]
pub struct HealthArgs {
    #[command(subcommand)]
    pub command: HealthCliCommand,
}

#[derive(Debug, Subcommand)]
pub enum HealthCliCommand {
    /// Run every check once and print the results; exit 0 only if all are ok.
    Check,
    /// The newest stored results, newest first.
    History {
        #[arg(default_value_t = 20)]
        n: usize,
    },
    /// Uptime (day, 7 d, 30 d) and p95 latency of every check.
    Slo,
}

/// Print the daily digest now (`--send` also posts it to Slack and Telegram).
#[derive(Debug, Parser)]
#[command(name = "digest")]
pub struct DigestArgs {
    #[arg(long)]
    pub send: bool,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Runs a `health` subcommand; returns the exit code.
pub fn health(loaded: &Loaded, command: HealthCliCommand) -> anyhow::Result<i32> {
    runtime()?.block_on(async {
        let (_app, ctx, o) = app(loaded).await?;
        let mut out = std::io::stdout().lock();
        match command {
            HealthCliCommand::Check => {
                let mut all_ok = true;
                // Every check at once: a slow one costs only its own timeout.
                let mut runs = tokio::task::JoinSet::new();
                for (i, check) in o.settings.checks.iter().cloned().enumerate() {
                    let (ctx, o) = (ctx.clone(), o.clone());
                    runs.spawn(async move { (i, o.check_once(&ctx, &check).await) });
                }
                let mut results = runs.join_all().await;
                results.sort_by_key(|(i, _)| *i);
                for (check, (_, result)) in o.settings.checks.iter().zip(results) {
                    let outcome = result?;
                    all_ok &= outcome.status == super::status::Status::Ok;
                    writeln!(
                        out,
                        "{:<24} {:<8} {}",
                        check.name, outcome.status, outcome.message
                    )?;
                }
                for (name, outcome) in o.self_checks_once(&ctx).await? {
                    all_ok &= outcome.status == super::status::Status::Ok;
                    writeln!(
                        out,
                        "{:<24} {:<8} {}",
                        name, outcome.status, outcome.message
                    )?;
                }
                Ok(if all_ok {
                    exit_code::OK
                } else {
                    exit_code::CHECK_FAILED
                })
            }
            HealthCliCommand::History { n } => {
                let rows = ctx.store.call(move |c| store::recent(c, None, n)).await?;
                for s in rows {
                    writeln!(
                        out,
                        "{}  {:<24} {:<8} {}",
                        local(s.at, o.tz),
                        s.check,
                        s.outcome.status,
                        s.outcome.message
                    )?;
                }
                Ok(exit_code::OK)
            }
            HealthCliCommand::Slo => {
                let now = ctx.clock.now();
                let (start, end) = super::slo::digest_window(&o.digest_schedule, now);
                for s in digest::slo_report(&ctx, &o, start, end).await? {
                    writeln!(out, "{}", digest::slo_line(&s))?;
                }
                Ok(exit_code::OK)
            }
        }
    })
}

/// `opsmate digest [--send]`: prints the digest; with `--send` it also goes to Slack
/// and Telegram, delivered before the command exits.
pub fn digest(loaded: &Loaded, send: bool) -> anyhow::Result<i32> {
    runtime()?.block_on(async {
        let (app, ctx, o) = app(loaded).await?;
        let digest = digest::build(&ctx, &o, ctx.clock.now()).await?;
        let msg = &digest.message;
        println!("{}", msg.plain());
        if send {
            let to = o.destinations(&ctx);
            if to.is_empty() {
                anyhow::bail!(
                    "nowhere to send: set observatory.slack_channel or slack.alert_channel (with SLACK_BOT_TOKEN), or telegram.alert_chat_id (with TELEGRAM_BOT_TOKEN)"
                );
            }
            to.post(&ctx, msg).await?;
            digest
                .posted(&ctx, format!("opsmate digest --send to {}", to.describe()))
                .await?;
            let left = app.deliver_outbox(SEND_WAIT).await?;
            if left > 0 {
                eprintln!("{left} message(s) not delivered yet; a running server will deliver them");
                return Ok(exit_code::CHECK_FAILED);
            }
        }
        Ok(exit_code::OK)
    })
}
