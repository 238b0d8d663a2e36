//! Telegram's `/commands`, parsed with teloxide's derive and mapped to the same
//! platform-neutral [`Command`] Slack uses.

use crate::chat::command::{self, Command, CommandError, WatchmanCommand};
use teloxide::utils::command::BotCommands;

#[derive(BotCommands, Clone, Debug, PartialEq, Eq)]
#[command(rename_rule = "lowercase", description = "OpsMate commands:")]
pub enum TelegramCommand {
    #[command(description = "every command with an example")]
    Help,
    #[command(description = "idle EBS volumes, old snapshots and Elastic IPs")]
    Zombies,
    #[command(description = "tonight's staging shutdown: decision and reasons")]
    Watchman,
    #[command(description = "keep staging up, e.g. /keeponline 2h release testing")]
    Keeponline(String),
    #[command(description = "people who left and still have AWS access; /access keep alice reason")]
    Access(String),
    #[command(description = "current health-check status")]
    Health,
    #[command(description = "the daily digest, now")]
    Digest,
    #[command(description = "open proposals, each with its buttons")]
    Approvals,
    #[command(description = "the newest audit-log rows, e.g. /audit 20")]
    Audit(String),
}

/// Parses a message's text. `Ok(None)` for text that is not a command (ignored).
pub fn parse(text: &str) -> Option<Result<Command, CommandError>> {
    let text = text.trim();
    if !text.starts_with('/') {
        return None;
    }
    // "/audit@OpsMateBot 5" → "/audit 5": teloxide wants the bot's name to strip it.
    let (head, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let head = head.split('@').next().unwrap_or(head);
    let normalized = format!("{head} {rest}");
    Some(match TelegramCommand::parse(normalized.trim_end(), "") {
        Ok(cmd) => to_command(cmd),
        Err(_) => {
            let word = head.trim_start_matches('/').to_lowercase();
            let known: Vec<String> = TelegramCommand::bot_commands()
                .into_iter()
                .map(|c| c.command.trim_start_matches('/').to_owned())
                .collect();
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            Err(CommandError {
                message: format!("unknown command `/{word}`"),
                suggestion: command::closest(&word, &known),
            })
        }
    })
}

fn to_command(cmd: TelegramCommand) -> Result<Command, CommandError> {
    match cmd {
        TelegramCommand::Help => Ok(Command::Help),
        TelegramCommand::Zombies => Ok(Command::Zombies),
        TelegramCommand::Watchman => Ok(Command::Watchman(WatchmanCommand::Status)),
        TelegramCommand::Keeponline(args) => {
            command::parse(&format!("watchman keep-online {args}"))
        }
        TelegramCommand::Access(args) => command::parse(&format!("access {args}")),
        TelegramCommand::Health => Ok(Command::Health),
        TelegramCommand::Digest => Ok(Command::Digest),
        TelegramCommand::Approvals => Ok(Command::Approvals),
        TelegramCommand::Audit(args) => command::parse(&format!("audit {args}")),
    }
}

/// The help text for Telegram, from the same list Slack uses.
pub fn help_text() -> String {
    TelegramCommand::descriptions().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::command::AccessCommand;
    use std::time::Duration;

    #[test]
    fn commands_map_to_the_shared_enum() {
        assert_eq!(parse("/help"), Some(Ok(Command::Help)));
        assert_eq!(parse("/zombies"), Some(Ok(Command::Zombies)));
        assert_eq!(
            parse("/watchman"),
            Some(Ok(Command::Watchman(WatchmanCommand::Status)))
        );
        assert_eq!(
            parse("/keeponline 2h release testing"),
            Some(Ok(Command::Watchman(WatchmanCommand::KeepOnline {
                duration: Duration::from_secs(7200),
                reason: Some("release testing".into())
            })))
        );
        assert_eq!(
            parse("/access"),
            Some(Ok(Command::Access(AccessCommand::List {
                pending_only: false
            })))
        );
        assert_eq!(
            parse("/access keep alice back in May"),
            Some(Ok(Command::Access(AccessCommand::Keep {
                user: "alice".into(),
                reason: Some("back in May".into())
            })))
        );
        assert_eq!(parse("/approvals@OpsMateBot"), Some(Ok(Command::Approvals)));
        assert_eq!(parse("/audit 20"), Some(Ok(Command::Audit { rows: 20 })));
        assert_eq!(parse("/audit"), Some(Ok(Command::Audit { rows: 10 })));
        assert_eq!(parse("hello there"), None);
    }

    #[test]
    fn bad_commands_explain_themselves() {
        let e = parse("/zombeis").unwrap().unwrap_err();
        assert_eq!(e.suggestion.as_deref(), Some("zombies"));
        assert!(
            parse("/keeponline soon")
                .unwrap()
                .unwrap_err()
                .message
                .contains("not a duration")
        );
        assert!(parse("/audit lots").unwrap().is_err());
    }
}
