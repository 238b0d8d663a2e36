//! `opsmate watchman check [--json]` and `opsmate watchman run`.

use super::Watchman;
use super::check::{self, Check, InstanceAction};
use super::config::WatchmanConfig;
use super::decide::Verdict;
use super::run::evening_now;
use crate::app::App;
use crate::config::Loaded;
use crate::errors::exit_code;
use crate::plugin::{CliCommand, cli_args};
use clap::{CommandFactory, Parser, Subcommand};
use std::io::Write;

pub const CLI: &[CliCommand] = &[CliCommand {
    command: WatchmanArgs::command,
    run: |loaded, matches| run(loaded, cli_args::<WatchmanArgs>(matches)?.command),
}];

/// Night Watchman: tonight's decision, or the whole evening flow now.
#[derive(Debug, Parser)]
#[command(name = "watchman")]
pub struct WatchmanArgs {
    #[command(subcommand)]
    pub command: WatchmanCliCommand,
}

#[derive(Debug, Subcommand)]
pub enum WatchmanCliCommand {
    /// Print the decision and its reasons without acting.
    Check {
        /// Print JSON: decision, reasons, instances (id, region, action, why).
        #[arg(long)]
        json: bool,
    },
    /// Check now and, if nobody is working, stop the instances (your run of this
    /// command is the recorded decision; `dry_run` is respected).
    Run,
}

/// Runs a `watchman` subcommand; returns the exit code.
pub fn run(loaded: &Loaded, command: WatchmanCliCommand) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // The same wiring as the server (store, gate, audit, handlers), without serving.
        let mut loaded = loaded.clone();
        if loaded.config.section::<WatchmanConfig>()?.is_none() {
            loaded.config.sections.set(&WatchmanConfig::default());
        }
        let app = App::one_shot(&loaded).await?;
        let ctx = app.ctx.clone();
        let w = ctx
            .features
            .get::<super::Watchman>()
            .ok_or_else(|| anyhow::anyhow!("Night Watchman did not start"))?;
        let mut out = std::io::stdout().lock();
        match command {
            WatchmanCliCommand::Check { json } => {
                let check = check::check(&w, &ctx.store, ctx.clock.now()).await?;
                if json {
                    serde_json::to_writer_pretty(&mut out, &check)?;
                    writeln!(out)?;
                } else {
                    print_check(&mut out, &check)?;
                }
                Ok(exit_code::OK)
            }
            WatchmanCliCommand::Run => run_now(&ctx, &w, &mut out).await,
        }
    })
}

fn print_check(out: &mut impl Write, check: &Check) -> std::io::Result<()> {
    writeln!(
        out,
        "decision: {}",
        match check.decision {
            Verdict::Stop => "stop",
            Verdict::Keep => "keep",
        }
    )?;
    for r in &check.reasons {
        writeln!(out, "  - {r}")?;
    }
    for i in &check.instances {
        let action = match i.action {
            InstanceAction::Stop => "stop".to_owned(),
            InstanceAction::Skip => format!("skip ({})", i.why.as_deref().unwrap_or("")),
        };
        writeln!(
            out,
            "{:<22} {:<16} {:<12} {action}",
            i.id, i.region, i.instance_type
        )?;
    }
    match check.estimated_savings_usd {
        Some(usd) => writeln!(out, "estimated savings until the morning start: ${usd:.2}"),
        None => writeln!(out, "estimated savings: unknown (no morning start)"),
    }
}

/// The evening flow now, with the person running the command as the decider.
async fn run_now(
    ctx: &crate::dispatch::Context,
    w: &Watchman,
    out: &mut impl Write,
) -> anyhow::Result<i32> {
    let night = super::run::night_target(ctx.clock.now(), w);
    let (check, proposal) = evening_now(ctx, w, night).await?;
    print_check(out, &check)?;
    let Some(p) = proposal else {
        return Ok(exit_code::OK);
    };
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let approved = ctx
        .gate
        .approve_unattended(&p.id, &format!("cli:{user}"), "opsmate watchman run")
        .await?;
    let decided = match approved {
        Some(p) => Some(ctx.executor.run_to_end(&p.id).await?),
        None => None,
    };
    match decided {
        Some(p) => {
            writeln!(out, "{}: {}", p.id, p.state)?;
            if let Some(outcome) = &p.outcome {
                for line in outcome.summary_lines() {
                    writeln!(out, "  {line}")?;
                }
                if let Some(why) = outcome.skipped.as_ref().or(outcome.error.as_ref()) {
                    writeln!(out, "  {why}")?;
                }
            }
            super::run::refresh_for(ctx, std::slice::from_ref(&p.id)).await?;
            Ok(if p.state == crate::approvals::ProposalState::Failed {
                exit_code::CHECK_FAILED
            } else {
                exit_code::OK
            })
        }
        None => {
            writeln!(out, "{}: already decided ({})", p.id, p.state)?;
            Ok(exit_code::OK)
        }
    }
}
