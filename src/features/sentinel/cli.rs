//! `opsmate sentinel check OWNER/REPO#N [--json]`: evaluates one pull request
//! against its repository's rules and prints the result, without posting anything
//! or writing a check run. The exit code is 0 when every rule passes, 1 otherwise.

use super::Sentinel;
use super::config::SentinelConfig;
use super::rules::rule_name;
use crate::config::Loaded;
use crate::errors::exit_code;
use crate::plugin::{CliCommand, cli_args};
use clap::{CommandFactory, Parser, Subcommand};
use serde_json::json;
use std::io::Write;

pub const CLI: &[CliCommand] = &[CliCommand {
    command: SentinelArgs::command,
    run: |loaded, matches| match cli_args::<SentinelArgs>(matches)?.command {
        SentinelCliCommand::Check { pull, json } => check(loaded, &pull, json),
    },
}];

/// Sentinel: pull-request compliance.
#[derive(Debug, Parser)]
#[command(name = "sentinel")]
pub struct SentinelArgs {
    #[command(subcommand)]
    pub command: SentinelCliCommand,
}

#[derive(Debug, Subcommand)]
pub enum SentinelCliCommand {
    /// Evaluate one pull request now (nothing is posted or written to GitHub).
    Check {
        /// OWNER/REPO#NUMBER
        pull: String,
        /// Print JSON: the pull request and each rule's result.
        #[arg(long)]
        json: bool,
    },
}

fn check(loaded: &Loaded, pull: &str, as_json: bool) -> anyhow::Result<i32> {
    let Some(settings) = loaded.config.section::<SentinelConfig>()? else {
        eprintln!("Sentinel is off: add a [sentinel] section (see the README).");
        return Ok(exit_code::BAD_CONFIG);
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // The GitHub client starts its own tasks, so it is built inside the runtime.
    let _inside = runtime.enter();
    let sentinel = Sentinel::new(settings, &loaded.config, &loaded.secrets)?;
    let (repo, number) = match sentinel.parse_pull(pull) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return Ok(exit_code::BAD_CONFIG);
        }
    };
    let ev = runtime.block_on(sentinel.evaluate(&repo, number))?;
    let mut out = std::io::stdout().lock();
    if as_json {
        serde_json::to_writer_pretty(
            &mut out,
            &json!({
                "repo": repo,
                "number": number,
                "title": ev.pull.title,
                "author": ev.pull.user.login,
                "head_sha": ev.pull.head.sha,
                "state": ev.pull.state,
                "passed": ev.passed(),
                "rules": ev.results,
            }),
        )?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "{repo}#{number} {} (by {}, head {})",
            ev.pull.title,
            ev.pull.user.login,
            super::github::short(&ev.pull.head.sha)
        )?;
        for r in &ev.results {
            writeln!(
                out,
                "{} {}: {}",
                if r.passed { "pass" } else { "FAIL" },
                rule_name(&r.rule),
                r.text
            )?;
        }
        writeln!(
            out,
            "{}",
            if ev.passed() {
                "Every rule passes."
            } else {
                "Some rules are broken."
            }
        )?;
    }
    Ok(if ev.passed() {
        exit_code::OK
    } else {
        exit_code::CHECK_FAILED
    })
}
