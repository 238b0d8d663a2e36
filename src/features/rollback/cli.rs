//! `opsmate rollback status [--json]`: each application's state, from the database,
//! without starting the bot.

use super::config::RollbackConfig;
use super::status;
use crate::app::App;
use crate::config::Loaded;
use crate::errors::exit_code;
use crate::plugin::{CliCommand, cli_args};
use clap::{CommandFactory, Parser, Subcommand};
use std::io::Write;

pub const CLI: &[CliCommand] = &[CliCommand {
    command: RollbackArgs::command,
    run: |loaded, matches| match cli_args::<RollbackArgs>(matches)?.command {
        RollbackCliCommand::Status { json } => show(loaded, json),
    },
}];

/// Rollback Pilot: degraded Argo CD applications and their rollbacks.
#[derive(Debug, Parser)]
#[command(name = "rollback")]
pub struct RollbackArgs {
    #[command(subcommand)]
    pub command: RollbackCliCommand,
}

#[derive(Debug, Subcommand)]
pub enum RollbackCliCommand {
    /// Print each watched application's state (healthy, suspect, degraded,
    /// candidate_found, pr_open, awaiting_approval, merging, merged, verifying,
    /// recovered, failed, aborted) with its pull request and last outcome.
    Status {
        /// Print a JSON array, one object per application.
        #[arg(long)]
        json: bool,
    },
}

pub fn show(loaded: &Loaded, json: bool) -> anyhow::Result<i32> {
    let Some(settings) = loaded.config.section::<RollbackConfig>()? else {
        eprintln!("Rollback Pilot is off: add a [rollback] section (see the README).");
        return Ok(exit_code::CHECK_FAILED);
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let app = App::one_shot(loaded).await?;
        let statuses = status::statuses(&settings, &app.ctx.store).await?;
        let mut out = std::io::stdout().lock();
        if json {
            serde_json::to_writer_pretty(&mut out, &statuses)?;
            writeln!(out)?;
        } else {
            for s in &statuses {
                writeln!(out, "{}", status::line(s, loaded.config.timezone))?;
            }
        }
        Ok(exit_code::OK)
    })
}
