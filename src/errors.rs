//! Error policy.
//!
//! - Inside handlers and start-up code, errors are `anyhow::Error` with `.context(…)`
//!   saying what was being attempted. They are logged, never shown verbatim in chat.
//! - Where a caller branches on the kind of failure, a `thiserror` enum says so
//!   (for example [`crate::config::ConfigError`] maps to exit code 2, and
//!   [`crate::approvals::DecisionError`] becomes a private answer to the clicker).
//! - Text shown to people in chat is a [`UserMessage`]: short, actionable and free of
//!   internals (no SQL, no stack, no secrets).

use std::fmt;

/// A sentence meant for the person in chat, kept apart from internal error chains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMessage(pub String);

impl fmt::Display for UserMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Process exit codes the CLI promises.
pub mod exit_code {
    /// Success.
    pub const OK: i32 = 0;
    /// A check failed (e.g. `audit verify` found a broken row).
    pub const CHECK_FAILED: i32 = 1;
    /// The configuration is invalid.
    pub const BAD_CONFIG: i32 = 2;
}
