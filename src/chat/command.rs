//! Platform-neutral chat commands, and the parser for Slack's `/opsmate <text>`.
//!
//! Slack and Telegram both turn what a person typed into a [`Command`]; the
//! dispatcher answers a `Command` the same way whichever door it came through. The
//! parser is pure, so every spelling is unit-tested without a network.

use crate::events::JobKind;

/// Default and largest row counts for `audit [n]`.
pub const AUDIT_DEFAULT_ROWS: usize = 10;
pub const AUDIT_MAX_ROWS: usize = 50;

/// What a person asked for. The core answers `Help`, `Approvals` and `Audit`; any
/// other word belongs to a feature, which parses its own arguments
/// ([`CommandBook`] knows which words exist).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Command {
    Help,
    Approvals,
    Audit {
        rows: usize,
    },
    /// A feature's command: its word (as typed after `/opsmate`, or the Telegram
    /// command name when `telegram`), and the words after it.
    Feature {
        word: String,
        args: Vec<String>,
        telegram: bool,
    },
}

/// One line of the help: the words, what they do, an example.
pub struct CommandHelp {
    pub usage: &'static str,
    pub does: &'static str,
    pub example: &'static str,
}

/// A Telegram `/command` and the `/opsmate` words it stands for.
pub struct TelegramAlias {
    /// Without the slash: `keeponline`.
    pub name: &'static str,
    /// The words it stands for, before its own arguments: `watchman keep-online`.
    pub stands_for: &'static str,
    pub description: &'static str,
}

/// Everything one command word brings: the word, its help lines and its Telegram
/// commands. Features declare theirs; the core declares `help`, `approvals` and
/// `audit`.
pub struct CommandSpec {
    pub word: &'static str,
    pub help: &'static [CommandHelp],
    pub telegram: &'static [TelegramAlias],
    /// The job the command runs now, if any (`zombies` runs the scheduled hunt): it
    /// never runs beside that job.
    pub runs_job: Option<JobKind>,
    /// Checks the words after the command word, so a mistake is explained whether the
    /// feature is on or off.
    pub check: fn(&str, &[String]) -> Result<(), CommandError>,
}

const CORE_FIRST: &[CommandSpec] = &[CommandSpec {
    word: "help",
    help: &[CommandHelp {
        usage: "help",
        does: "this list",
        example: "help",
    }],
    runs_job: None,
    check: no_arguments,
    telegram: &[TelegramAlias {
        name: "help",
        stands_for: "help",
        description: "every command with an example",
    }],
}];

const CORE_LAST: &[CommandSpec] = &[
    CommandSpec {
        word: "approvals",
        help: &[CommandHelp {
            usage: "approvals",
            does: "open proposals, each with its buttons",
            example: "approvals",
        }],
        runs_job: None,
        check: no_arguments,
        telegram: &[TelegramAlias {
            name: "approvals",
            stands_for: "approvals",
            description: "open proposals, each with its buttons",
        }],
    },
    CommandSpec {
        word: "audit",
        help: &[CommandHelp {
            usage: "audit [n]",
            does: "the newest audit-log rows (default 10, at most 50)",
            example: "audit 20",
        }],
        runs_job: None,
        check: |_, _| Ok(()),
        telegram: &[TelegramAlias {
            name: "audit",
            stands_for: "audit",
            description: "the newest audit-log rows, e.g. /audit 20",
        }],
    },
];

/// Every command word the running bot knows, core and features', in help order.
pub struct CommandBook {
    specs: Vec<&'static CommandSpec>,
}

impl CommandBook {
    /// The core's commands around the features' (in their registration order).
    pub fn new(features: impl IntoIterator<Item = &'static CommandSpec>) -> Self {
        let mut specs: Vec<&'static CommandSpec> = CORE_FIRST.iter().collect();
        specs.extend(features);
        specs.extend(CORE_LAST.iter());
        Self { specs }
    }

    /// Every `/opsmate` word.
    pub fn words(&self) -> Vec<&'static str> {
        self.specs.iter().map(|s| s.word).collect()
    }

    /// Every Telegram command name.
    pub fn telegram_names(&self) -> Vec<&'static str> {
        self.specs
            .iter()
            .flat_map(|s| s.telegram.iter().map(|t| t.name))
            .collect()
    }

    /// The `/opsmate` words a Telegram command stands for, followed by its arguments.
    pub fn expand_telegram(&self, name: &str, args: &[String]) -> Option<Vec<String>> {
        let alias = self
            .specs
            .iter()
            .flat_map(|s| s.telegram.iter())
            .find(|t| t.name == name)?;
        let mut words: Vec<String> = alias
            .stands_for
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        words.extend(args.iter().cloned());
        Some(words)
    }

    /// Why a word no command has was not understood: named as it was typed, with the
    /// closest known spelling.
    pub fn unknown(&self, word: &str, telegram: bool) -> CommandError {
        if telegram {
            error(
                format!("unknown command `/{word}`"),
                closest(word, &self.telegram_names()),
            )
        } else {
            error(
                format!("unknown command `{word}`"),
                closest(word, &self.words()),
            )
        }
    }

    /// What is wrong with a command's arguments (`words` starts with its word), if
    /// anything.
    pub fn check(&self, words: &[String]) -> Option<CommandError> {
        let (word, args) = words.split_first()?;
        let spec = self.specs.iter().find(|s| s.word == word)?;
        (spec.check)(word, args).err()
    }

    /// The job a typed command runs now, if any.
    pub fn runs_job(&self, word: &str, args: &[String], telegram: bool) -> Option<JobKind> {
        let first = if telegram {
            self.expand_telegram(word, args)?.into_iter().next()?
        } else {
            word.to_owned()
        };
        self.specs.iter().find(|s| s.word == first)?.runs_job
    }

    /// The help text for Slack, each command with an example, after `prefix`.
    pub fn slack_help(&self, prefix: &str) -> String {
        let mut out = String::from("OpsMate commands:\n");
        for h in self.specs.iter().flat_map(|s| s.help.iter()) {
            out.push_str(&format!(
                "• `{prefix}{}`: {} (e.g. `{prefix}{}`)\n",
                h.usage, h.does, h.example
            ));
        }
        out
    }

    /// The help text for Telegram: each `/command` with what it does.
    pub fn telegram_help(&self) -> String {
        let mut out = String::from("OpsMate commands:\n\n");
        for t in self.specs.iter().flat_map(|s| s.telegram.iter()) {
            out.push_str(&format!("/{} — {}\n", t.name, t.description));
        }
        out
    }
}

/// Why a command line was not understood. The text is shown to the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{message}")]
pub struct CommandError {
    pub message: String,
    /// The closest known spelling, for "did you mean".
    pub suggestion: Option<String>,
}

/// A [`CommandError`] with an optional suggestion.
pub fn error(message: impl Into<String>, suggestion: Option<String>) -> CommandError {
    CommandError {
        message: message.into(),
        suggestion,
    }
}

/// Ok when a command got no arguments.
pub fn no_arguments(word: &str, args: &[String]) -> Result<(), CommandError> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(error(format!("`{word}` takes no arguments"), None))
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

/// Parses the text after `/opsmate`. Empty text asks for help. A word the core does
/// not know is handed on as a feature's command, checked when it is answered.
pub fn parse(text: &str) -> Result<Command, CommandError> {
    let mut words = text.split_whitespace();
    let Some(first) = words.next() else {
        return Ok(Command::Help);
    };
    let first = first.to_lowercase();
    let rest: Vec<String> = words.map(str::to_owned).collect();
    core_or_feature(first, rest, false)
}

/// The core's commands, or a feature's word with its arguments.
pub fn core_or_feature(
    word: String,
    args: Vec<String>,
    telegram: bool,
) -> Result<Command, CommandError> {
    match word.as_str() {
        "help" | "?" => Ok(Command::Help),
        "approvals" => no_arguments(&word, &args).map(|()| Command::Approvals),
        "audit" => match args.as_slice() {
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
        _ => Ok(Command::Feature {
            word,
            args,
            telegram,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(word: &str, args: &[&str]) -> Command {
        Command::Feature {
            word: word.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            telegram: false,
        }
    }

    #[test]
    fn core_commands_parse_and_other_words_go_to_features() {
        assert_eq!(parse(""), Ok(Command::Help));
        assert_eq!(parse("  help "), Ok(Command::Help));
        assert_eq!(parse("approvals"), Ok(Command::Approvals));
        assert_eq!(parse("audit"), Ok(Command::Audit { rows: 10 }));
        assert_eq!(parse("audit 25"), Ok(Command::Audit { rows: 25 }));
        assert_eq!(parse("zombies"), Ok(feature("zombies", &[])));
        assert_eq!(parse("HEALTH"), Ok(feature("health", &[])));
        assert_eq!(
            parse("access keep alice on parental leave"),
            Ok(feature(
                "access",
                &["keep", "alice", "on", "parental", "leave"]
            ))
        );
    }

    #[test]
    fn bad_arguments_are_explained() {
        assert!(parse("audit lots").unwrap_err().message.contains("number"));
        assert!(parse("audit 0").is_err());
        assert!(parse("audit 51").is_err());
        assert!(
            parse("approvals now")
                .unwrap_err()
                .message
                .contains("no arguments")
        );
    }

    const SPEC: CommandSpec = CommandSpec {
        word: "watchman",
        help: &[CommandHelp {
            usage: "watchman keep-online <duration> [reason]",
            does: "keep staging up for a while",
            example: "watchman keep-online 2h release testing",
        }],
        telegram: &[TelegramAlias {
            name: "keeponline",
            stands_for: "watchman keep-online",
            description: "keep staging up",
        }],
        runs_job: None,
        check: |_, _| Ok(()),
    };

    #[test]
    fn the_book_lists_core_and_feature_commands_in_help_order() {
        let book = CommandBook::new([&SPEC]);
        assert_eq!(book.words(), vec!["help", "watchman", "approvals", "audit"]);
        let text = book.slack_help("/opsmate ");
        for word in book.words() {
            assert!(text.contains(&format!("/opsmate {word}")), "{word} missing");
        }
        assert!(text.contains("e.g. `/opsmate watchman keep-online 2h release testing`"));
        let tg = book.telegram_help();
        assert!(tg.contains("/keeponline — keep staging up"), "{tg}");
        assert!(tg.find("/help").unwrap() < tg.find("/audit").unwrap());
        assert_eq!(
            book.expand_telegram("keeponline", &["2h".into()]),
            Some(vec!["watchman".into(), "keep-online".into(), "2h".into()])
        );
        assert_eq!(book.expand_telegram("reboot", &[]), None);
    }
}
