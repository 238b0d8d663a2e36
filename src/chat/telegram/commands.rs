//! Telegram's `/commands`: `/name[@bot] args`, turned into the same platform-neutral
//! [`Command`] Slack uses. Which names exist comes from the running bot's
//! [`crate::chat::command::CommandBook`], so a feature's commands need no entry here.

use crate::chat::command::{self, Command, CommandError};

/// Parses a message's text. `None` for text that is not a command (ignored).
pub fn parse(text: &str) -> Option<Result<Command, CommandError>> {
    let text = text.trim();
    let body = text.strip_prefix('/')?;
    let mut words = body.split_whitespace();
    // "/audit@OpsMateBot 5" → "audit", "5".
    let head = words.next()?;
    let name = head.split('@').next().unwrap_or(head).to_lowercase();
    if name.is_empty() {
        return None;
    }
    let args: Vec<String> = words.map(str::to_owned).collect();
    Some(command::core_or_feature(name, args, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_map_to_the_shared_enum() {
        assert_eq!(parse("/help"), Some(Ok(Command::Help)));
        assert_eq!(parse("/approvals@OpsMateBot"), Some(Ok(Command::Approvals)));
        assert_eq!(parse("/audit 20"), Some(Ok(Command::Audit { rows: 20 })));
        assert_eq!(parse("/audit"), Some(Ok(Command::Audit { rows: 10 })));
        assert_eq!(
            parse("/keeponline 2h release testing"),
            Some(Ok(Command::Feature {
                word: "keeponline".into(),
                args: vec!["2h".into(), "release".into(), "testing".into()],
                telegram: true
            }))
        );
        assert_eq!(parse("hello there"), None);
        assert_eq!(parse("/"), None);
    }

    #[test]
    fn bad_core_arguments_explain_themselves() {
        assert!(parse("/audit lots").unwrap().is_err());
    }
}
