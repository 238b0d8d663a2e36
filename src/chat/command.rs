//! Platform-neutral chat commands, and the parser for Slack's `/opsmate <text>`.
//!
//! Slack and Telegram both turn what a person typed into a [`Command`]; the
//! dispatcher answers a `Command` the same way whichever door it came through. The
//! parser is pure, so every spelling is unit-tested without a network.

use std::time::Duration;

/// Default and largest row counts for `audit [n]`.
pub const AUDIT_DEFAULT_ROWS: usize = 10;
pub const AUDIT_MAX_ROWS: usize = 50;
/// Longest hold `watchman keep-online` accepts.
pub const KEEP_ONLINE_MAX: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a person asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Zombies,
    Watchman(WatchmanCommand),
    Access(AccessCommand),
    Health,
    Digest,
    Approvals,
    Audit { rows: usize },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessCommand {
    /// Departed, pending and unmapped users (only those waiting for a decision).
    List { pending_only: bool },
    /// Keep an IAM user's access, with an optional reason.
    Keep {
        user: String,
        reason: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchmanCommand {
    Status,
    KeepOnline {
        duration: Duration,
        reason: Option<String>,
    },
}

/// One line of the help: the words, what they do, an example.
pub struct CommandHelp {
    pub usage: &'static str,
    pub does: &'static str,
    pub example: &'static str,
}

/// Every command, in the order the help lists them.
pub const HELP: &[CommandHelp] = &[
    CommandHelp {
        usage: "help",
        does: "this list",
        example: "help",
    },
    CommandHelp {
        usage: "zombies",
        does: "idle EBS volumes, old snapshots and Elastic IPs, with their monthly cost",
        example: "zombies",
    },
    CommandHelp {
        usage: "watchman [status]",
        does: "tonight's staging shutdown: decision and reasons",
        example: "watchman status",
    },
    CommandHelp {
        usage: "watchman keep-online <duration> [reason]",
        does: "keep staging up for a while",
        example: "watchman keep-online 2h release testing",
    },
    CommandHelp {
        usage: "access [pending]",
        does: "people who left and still have AWS access",
        example: "access pending",
    },
    CommandHelp {
        usage: "access keep <iam-user> [reason]",
        does: "keep someone's AWS access and say why",
        example: "access keep alice contractor until March",
    },
    CommandHelp {
        usage: "health",
        does: "current health-check status",
        example: "health",
    },
    CommandHelp {
        usage: "digest",
        does: "the daily digest, now",
        example: "digest",
    },
    CommandHelp {
        usage: "approvals",
        does: "open proposals, each with its buttons",
        example: "approvals",
    },
    CommandHelp {
        usage: "audit [n]",
        does: "the newest audit-log rows (default 10, at most 50)",
        example: "audit 20",
    },
];

const WORDS: &[&str] = &[
    "help",
    "zombies",
    "watchman",
    "access",
    "health",
    "digest",
    "approvals",
    "audit",
];
const WATCHMAN_WORDS: &[&str] = &["status", "keep-online"];

/// Why a command line was not understood. The text is shown to the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    pub message: String,
    /// The closest known spelling, for "did you mean".
    pub suggestion: Option<String>,
}

fn error(message: impl Into<String>, suggestion: Option<String>) -> CommandError {
    CommandError {
        message: message.into(),
        suggestion,
    }
}

/// The known word closest to `word`, if it is close enough to be a typo.
pub fn closest(word: &str, known: &[&str]) -> Option<String> {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(word, k), *k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.to_owned())
}

/// Parses the text after `/opsmate`. Empty text asks for help.
pub fn parse(text: &str) -> Result<Command, CommandError> {
    let mut words = text.split_whitespace();
    let Some(first) = words.next() else {
        return Ok(Command::Help);
    };
    let first = first.to_lowercase();
    let rest: Vec<&str> = words.collect();
    let no_arguments = |cmd: Command| {
        if rest.is_empty() {
            Ok(cmd)
        } else {
            Err(error(format!("`{first}` takes no arguments"), None))
        }
    };
    match first.as_str() {
        "help" | "?" => Ok(Command::Help),
        "zombies" => no_arguments(Command::Zombies),
        "health" => no_arguments(Command::Health),
        "digest" => no_arguments(Command::Digest),
        "approvals" => no_arguments(Command::Approvals),
        "access" => parse_access(&rest),
        "audit" => match rest.as_slice() {
            [] => Ok(Command::Audit {
                rows: AUDIT_DEFAULT_ROWS,
            }),
            [n] => match n.parse::<usize>() {
                Ok(rows) if (1..=AUDIT_MAX_ROWS).contains(&rows) => Ok(Command::Audit { rows }),
                _ => Err(error(
                    format!("`audit` takes a number of rows from 1 to {AUDIT_MAX_ROWS}, not `{n}`"),
                    None,
                )),
            },
            _ => Err(error("`audit` takes at most one number", None)),
        },
        "watchman" => parse_watchman(&rest),
        other => Err(error(
            format!("unknown command `{other}`"),
            closest(other, WORDS),
        )),
    }
}

fn parse_access(rest: &[&str]) -> Result<Command, CommandError> {
    let list = |pending_only| Ok(Command::Access(AccessCommand::List { pending_only }));
    match rest {
        [] => list(false),
        [w] if w.eq_ignore_ascii_case("pending") => list(true),
        [w, user, reason @ ..] if w.eq_ignore_ascii_case("keep") => {
            let reason = reason.join(" ");
            Ok(Command::Access(AccessCommand::Keep {
                user: (*user).to_owned(),
                reason: (!reason.is_empty()).then_some(reason),
            }))
        }
        [w] if w.eq_ignore_ascii_case("keep") => Err(error(
            "`access keep` needs the IAM user, e.g. `access keep alice contractor until March`",
            None,
        )),
        [w, ..] => Err(error(
            format!("`access` takes `pending` or `keep <iam-user> [reason]`, not `{w}`"),
            closest(&w.to_lowercase(), &["pending", "keep"]).map(|s| format!("access {s}")),
        )),
    }
}

fn parse_watchman(rest: &[&str]) -> Result<Command, CommandError> {
    let Some(sub) = rest.first() else {
        return Ok(Command::Watchman(WatchmanCommand::Status));
    };
    let sub = sub.to_lowercase();
    match sub.as_str() {
        "status" if rest.len() == 1 => Ok(Command::Watchman(WatchmanCommand::Status)),
        "status" => Err(error("`watchman status` takes no arguments", None)),
        "keep-online" | "keeponline" | "keep_online" => {
            let Some(raw) = rest.get(1) else {
                return Err(error(
                    "`watchman keep-online` needs a duration, e.g. `2h` or `90m`",
                    None,
                ));
            };
            let duration = humantime::parse_duration(raw).map_err(|_| {
                error(
                    format!("`{raw}` is not a duration; use e.g. `2h`, `90m` or `1d`"),
                    None,
                )
            })?;
            if duration.is_zero() || duration > KEEP_ONLINE_MAX {
                return Err(error(
                    "the duration must be between 1 minute and 7 days",
                    None,
                ));
            }
            let reason = rest[2..].join(" ");
            Ok(Command::Watchman(WatchmanCommand::KeepOnline {
                duration,
                reason: (!reason.is_empty()).then_some(reason),
            }))
        }
        other => Err(error(
            format!("unknown `watchman` command `{other}`"),
            closest(other, WATCHMAN_WORDS).map(|s| format!("watchman {s}")),
        )),
    }
}

/// The help text, each command with an example, for a given command prefix
/// (`/opsmate ` on Slack).
pub fn help_text(prefix: &str) -> String {
    let mut out = String::from("OpsMate commands:\n");
    for h in HELP {
        out.push_str(&format!(
            "• `{prefix}{}`: {} (e.g. `{prefix}{}`)\n",
            h.usage, h.does, h.example
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_parses() {
        assert_eq!(parse(""), Ok(Command::Help));
        assert_eq!(parse("  help "), Ok(Command::Help));
        assert_eq!(parse("zombies"), Ok(Command::Zombies));
        assert_eq!(parse("HEALTH"), Ok(Command::Health));
        assert_eq!(parse("digest"), Ok(Command::Digest));
        assert_eq!(parse("approvals"), Ok(Command::Approvals));
        assert_eq!(
            parse("access"),
            Ok(Command::Access(AccessCommand::List {
                pending_only: false
            }))
        );
        assert_eq!(
            parse("access pending"),
            Ok(Command::Access(AccessCommand::List { pending_only: true }))
        );
        assert_eq!(
            parse("access keep alice on parental leave"),
            Ok(Command::Access(AccessCommand::Keep {
                user: "alice".into(),
                reason: Some("on parental leave".into())
            }))
        );
        assert_eq!(
            parse("access keep bob"),
            Ok(Command::Access(AccessCommand::Keep {
                user: "bob".into(),
                reason: None
            }))
        );
        assert!(
            parse("access keep")
                .unwrap_err()
                .message
                .contains("IAM user")
        );
        assert_eq!(parse("audit"), Ok(Command::Audit { rows: 10 }));
        assert_eq!(parse("audit 25"), Ok(Command::Audit { rows: 25 }));
        assert_eq!(
            parse("watchman"),
            Ok(Command::Watchman(WatchmanCommand::Status))
        );
        assert_eq!(
            parse("watchman status"),
            Ok(Command::Watchman(WatchmanCommand::Status))
        );
        assert_eq!(
            parse("watchman keep-online 2h release testing"),
            Ok(Command::Watchman(WatchmanCommand::KeepOnline {
                duration: Duration::from_secs(7200),
                reason: Some("release testing".into())
            }))
        );
        assert_eq!(
            parse("watchman keep-online 90m"),
            Ok(Command::Watchman(WatchmanCommand::KeepOnline {
                duration: Duration::from_secs(5400),
                reason: None
            }))
        );
    }

    #[test]
    fn typos_get_a_suggestion() {
        let e = parse("zombeis").unwrap_err();
        assert_eq!(e.suggestion.as_deref(), Some("zombies"));
        assert!(e.message.contains("zombeis"));
        assert_eq!(
            parse("aprovals").unwrap_err().suggestion.as_deref(),
            Some("approvals")
        );
        assert_eq!(
            parse("watchman stauts").unwrap_err().suggestion.as_deref(),
            Some("watchman status")
        );
        assert_eq!(
            parse("access pendng").unwrap_err().suggestion.as_deref(),
            Some("access pending")
        );
        assert_eq!(parse("reboot the world").unwrap_err().suggestion, None);
    }

    #[test]
    fn bad_arguments_are_explained() {
        assert!(parse("audit lots").unwrap_err().message.contains("number"));
        assert!(parse("audit 0").is_err());
        assert!(parse("audit 51").is_err());
        assert!(
            parse("zombies now")
                .unwrap_err()
                .message
                .contains("no arguments")
        );
        assert!(
            parse("watchman keep-online")
                .unwrap_err()
                .message
                .contains("duration")
        );
        assert!(
            parse("watchman keep-online soon")
                .unwrap_err()
                .message
                .contains("not a duration")
        );
        assert!(
            parse("watchman keep-online 30d")
                .unwrap_err()
                .message
                .contains("7 days")
        );
    }

    #[test]
    fn help_lists_every_command_with_an_example() {
        let text = help_text("/opsmate ");
        for word in WORDS {
            assert!(
                text.contains(&format!("/opsmate {word}")),
                "{word} missing from help"
            );
        }
        assert!(text.contains("e.g. `/opsmate watchman keep-online 2h release testing`"));
    }
}
