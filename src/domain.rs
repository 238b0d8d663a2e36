//! Typed identifiers. Each has a `parse` that refuses malformed input, so a handler
//! never sees an id it would have to re-check.

use rand::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {what}: {value:?}")]
pub struct InvalidId {
    pub what: &'static str,
    pub value: String,
}

pub(crate) fn invalid(what: &'static str, value: &str) -> InvalidId {
    InvalidId {
        what,
        value: value.chars().take(80).collect(),
    }
}

/// Declares a validated string newtype: `parse`, `as_str`, `Display`, and serde
/// through `String`, so an invalid value is refused while deserializing config too.
macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident, $what:literal, $valid:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: &str) -> Result<Self, $crate::domain::InvalidId> {
                let valid: fn(&str) -> bool = $valid;
                if valid(value) {
                    Ok(Self(value.to_owned()))
                } else {
                    Err($crate::domain::invalid($what, value))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::domain::InvalidId;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl From<&$name> for String {
            fn from(id: &$name) -> Self {
                id.0.clone()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

pub(crate) use string_id;

const APPROVAL_ID_LEN: usize = 10;
const APPROVAL_ID_ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";

string_id!(
    /// Short id of a proposal: 10 lowercase letters or digits. Short enough to fit a
    /// Telegram `callback_data` (64 bytes) together with a verb.
    ApprovalId,
    "approval id",
    |v| v.len() == APPROVAL_ID_LEN && v.bytes().all(|b| APPROVAL_ID_ALPHABET.contains(&b))
);

impl ApprovalId {
    /// A fresh random id (about 50 bits of entropy).
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let id = (0..APPROVAL_ID_LEN)
            .map(|_| APPROVAL_ID_ALPHABET[rng.random_range(0..APPROVAL_ID_ALPHABET.len())] as char)
            .collect();
        Self(id)
    }
}

/// An action that changes cloud state, and therefore needs an approval. Each feature
/// declares its own kinds (as associated constants, in its folder) and lists them in
/// its plug with their words in chat; see [`crate::approvals::kinds`]. The name is
/// what the database, the audit log and `[approvals.<kind>]` use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "&'static str")]
pub struct ActionKind(&'static str);

impl ActionKind {
    /// A kind named `name` (lowercase, words joined by `_`).
    pub const fn new(name: &'static str) -> Self {
        Self(name)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl From<ActionKind> for &'static str {
    fn from(kind: ActionKind) -> Self {
        kind.0
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Slack ids are an uppercase prefix letter followed by uppercase letters and digits.
fn is_slack_id(value: &str, prefixes: &[char]) -> bool {
    (2..=32).contains(&value.len())
        && value.starts_with(prefixes)
        && value
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

string_id!(
    /// A Slack member id such as `U024BE7LH` (or `W…` on Enterprise Grid).
    SlackUserId,
    "Slack user id",
    |v| is_slack_id(v, &['U', 'W'])
);

string_id!(
    /// A Slack user-group id such as `S0614TZR7`.
    SlackGroupId,
    "Slack user-group id",
    |v| is_slack_id(v, &['S'])
);

/// A Telegram user id (a positive 64-bit integer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TelegramUserId(pub i64);

/// Who did something: a person on a chat platform, or OpsMate itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Actor {
    Slack {
        user: SlackUserId,
        /// User groups the member belongs to, as resolved by the Slack adapter.
        groups: Vec<SlackGroupId>,
    },
    Telegram(TelegramUserId),
    /// A REST API token, acting for its owner: the owner's Slack identity is what
    /// the gate's policies check, and the token's name is kept in the record.
    Token {
        name: String,
        owner: SlackUserId,
    },
    Scheduler,
    Cli,
    System,
}

impl Actor {
    /// Stable text used in the database and the audit log, e.g. `slack:U123`.
    pub fn key(&self) -> String {
        match self {
            Actor::Slack { user, .. } => format!("slack:{}", user.as_str()),
            Actor::Telegram(id) => format!("telegram:{}", id.0),
            Actor::Token { name, owner } => format!("token:{name}@slack:{}", owner.as_str()),
            Actor::Scheduler => "scheduler".into(),
            Actor::Cli => "cli".into(),
            Actor::System => "system".into(),
        }
    }
}

impl Actor {
    /// The person behind the actor: a token's owner, else the actor itself. Votes and
    /// the self-approval rule count people, so one person is one approver whichever
    /// way they decide.
    pub fn person_key(&self) -> String {
        match self {
            Actor::Token { owner, .. } => format!("slack:{}", owner.as_str()),
            other => other.key(),
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_approval_ids_parse_back() {
        for _ in 0..100 {
            let id = ApprovalId::generate();
            assert_eq!(ApprovalId::parse(id.as_str()), Ok(id));
        }
    }

    #[test]
    fn malformed_ids_are_refused() {
        assert!(ApprovalId::parse("short").is_err());
        assert!(ApprovalId::parse("ABCDEFGHIJ").is_err());
        assert!(ApprovalId::parse("abcdefghi'").is_err());
        assert!(SlackUserId::parse("C0123").is_err());
        assert!(SlackUserId::parse("U01 23").is_err());
        assert!(SlackGroupId::parse("U0123").is_err());
    }
}
