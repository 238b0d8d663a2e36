//! `opsmate billing status [--json]`: the subscription, this month's usage, the
//! usage reports and the plan's caps, from the database, without starting the bot.

use super::config::BillingConfig;
use super::plug::BillingFeature;
use super::status;
use crate::app::App;
use crate::config::Loaded;
use crate::errors::exit_code;
use crate::plugin::{CliCommand, cli_args};
use clap::{CommandFactory, Parser, Subcommand};
use std::io::Write;

pub const CLI: &[CliCommand] = &[CliCommand {
    command: BillingArgs::command,
    run: |loaded, matches| match cli_args::<BillingArgs>(matches)?.command {
        BillingCliCommand::Status { json } => show(loaded, json),
    },
}];

/// Billing: the Lemon Squeezy subscription, usage and plan caps.
#[derive(Debug, Parser)]
#[command(name = "billing")]
pub struct BillingArgs {
    #[command(subcommand)]
    pub command: BillingCliCommand,
}

#[derive(Debug, Subcommand)]
pub enum BillingCliCommand {
    /// Print each subscription (status, plan, renews/ends), whether actions are dry
    /// runs because it lapsed, this month's executed actions by kind, the usage
    /// reports sent to Lemon Squeezy, the plan's caps and any missing secret.
    Status {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

pub fn show(loaded: &Loaded, json: bool) -> anyhow::Result<i32> {
    if loaded.config.section::<BillingConfig>()?.is_none() {
        eprintln!("Billing is off: add a [billing] section (see the README).");
        return Ok(exit_code::CHECK_FAILED);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let app = App::one_shot(loaded).await?;
        let Some(billing) = app.ctx.features.get::<BillingFeature>() else {
            anyhow::bail!("billing did not start");
        };
        let s = billing.status(&app.ctx).await?;
        let mut out = std::io::stdout().lock();
        if json {
            serde_json::to_writer_pretty(&mut out, &s)?;
            writeln!(out)?;
        } else {
            for line in status::lines(&s, loaded.config.timezone) {
                writeln!(out, "{line}")?;
            }
        }
        Ok(exit_code::OK)
    })
}
