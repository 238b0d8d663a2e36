//! `opsmate access scan [--json]`: the scan without chat. It moves the grace clocks
//! like the daily job does, but asks nobody.

use super::config::GuardConfig;
use super::detect::Status;
use super::scan::{self, UserReport};
use crate::app::App;
use crate::config::Loaded;
use crate::errors::exit_code;
use crate::plugin::{CliCommand, cli_args};
use clap::{CommandFactory, Parser, Subcommand};
use std::io::Write;

pub const CLI: &[CliCommand] = &[CliCommand {
    command: AccessArgs::command,
    run: |loaded, matches| match cli_args::<AccessArgs>(matches)?.command {
        AccessCliCommand::Scan { json } => scan(loaded, json),
    },
}];

/// Access Guard: who has left and still has AWS access.
#[derive(Debug, Parser)]
#[command(name = "access")]
pub struct AccessArgs {
    #[command(subcommand)]
    pub command: AccessCliCommand,
}

#[derive(Debug, Subcommand)]
pub enum AccessCliCommand {
    /// Read IAM, Slack and GitHub and print where every IAM user stands (present,
    /// missing_in_grace, departed, kept, unmapped). Asks nobody and changes no access;
    /// it does move the grace clocks like the daily scan. Exits 1 if a directory
    /// could not be read.
    Scan {
        /// Print a JSON array, one object per IAM user.
        #[arg(long)]
        json: bool,
    },
}

/// Runs the scan; exits 1 when a directory could not be read.
pub fn scan(loaded: &Loaded, json: bool) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut loaded = loaded.clone();
        if loaded.config.section::<GuardConfig>()?.is_none() {
            loaded.config.sections.set(&GuardConfig::default());
        }
        let app = App::one_shot(&loaded).await?;
        let ctx = app.ctx.clone();
        let g = ctx
            .features
            .get::<super::Guard>()
            .ok_or_else(|| anyhow::anyhow!("Access Guard did not start"))?;
        let scan = scan::scan(&ctx, &g).await?;
        let mut out = std::io::stdout().lock();
        if json {
            serde_json::to_writer_pretty(&mut out, &scan.users)?;
            writeln!(out)?;
        } else {
            for u in &scan.users {
                writeln!(out, "{}", table_line(u))?;
            }
        }
        for note in &scan.notes {
            eprintln!("{note}");
        }
        eprintln!(
            "calls: IAM {}, Slack {}, GitHub {}",
            scan.calls.iam, scan.calls.slack, scan.calls.github
        );
        Ok(if scan.unreadable.is_empty() {
            exit_code::OK
        } else {
            exit_code::CHECK_FAILED
        })
    })
}

fn table_line(u: &UserReport) -> String {
    let detail = match u.status {
        Status::Unmapped => u.note.clone().unwrap_or_default(),
        Status::Present => String::new(),
        _ => format!(
            "missing from {} since {}",
            u.missing_from.join(", "),
            u.since.map(|t| t.to_rfc3339()).unwrap_or_default()
        ),
    };
    format!(
        "{:<32} {:<36} {:<17} {detail}",
        u.user,
        u.email.as_deref().unwrap_or("-"),
        u.status.as_str()
    )
}
