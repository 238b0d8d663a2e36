//! `opsmate token create|list|revoke`: the REST API's bearer tokens.

use super::tokens::{self, Scope, TokenError};
use crate::domain::SlackUserId;
use crate::errors::exit_code;
use crate::store::Store;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it, this once (only its hash is kept).
    Create {
        /// What the token is for, e.g. `ci`; decisions made with it are recorded under it.
        #[arg(long, value_parser = token_name)]
        name: String,
        /// `read` looks; `decide` may also approve and reject, as the owner.
        #[arg(long, value_enum)]
        scope: Scope,
        /// The Slack user id the token acts for: the approvers' policies are checked
        /// against this person.
        #[arg(long, value_name = "SLACK_USER_ID", value_parser = slack_user)]
        owner: SlackUserId,
    },
    /// List the live tokens (never their secrets).
    List,
    /// End a token; requests with it get 401 from now on.
    Revoke { name: String },
}

/// Runs one token command against the database.
pub fn run(command: TokenCommand, store: &Store) -> anyhow::Result<i32> {
    let now = chrono::Utc::now();
    match command {
        TokenCommand::Create { name, scope, owner } => {
            match store.with_conn(|c| Ok(tokens::create(c, &name, scope, &owner, "cli", now)))? {
                Ok((token, secret)) => {
                    println!("{secret}");
                    eprintln!(
                        "token {:?} created (scope {}, owner {}); it is shown only this once",
                        token.name,
                        scope.as_str(),
                        token.owner.as_str()
                    );
                    Ok(exit_code::OK)
                }
                Err(e) => refused(e),
            }
        }
        TokenCommand::List => {
            for t in store.with_conn(|c| tokens::list(c))? {
                println!(
                    "{:<24} {:<7} {:<12} created {}",
                    t.name,
                    t.scope.as_str(),
                    t.owner.as_str(),
                    t.created_at
                );
            }
            Ok(exit_code::OK)
        }
        TokenCommand::Revoke { name } => {
            match store.with_conn(|c| Ok(tokens::revoke(c, &name, "cli", now)))? {
                Ok(()) => {
                    eprintln!("token {name:?} revoked");
                    Ok(exit_code::OK)
                }
                Err(e) => refused(e),
            }
        }
    }
}

fn token_name(s: &str) -> Result<String, String> {
    let ok = (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err("1 to 64 letters, digits, '-', '_' or '.'".into())
    }
}

fn slack_user(s: &str) -> Result<SlackUserId, String> {
    SlackUserId::parse(s).map_err(|e| e.to_string())
}

fn refused(e: TokenError) -> anyhow::Result<i32> {
    match e {
        TokenError::Internal(e) => Err(e),
        other => {
            eprintln!("error: {other}");
            Ok(exit_code::CHECK_FAILED)
        }
    }
}
