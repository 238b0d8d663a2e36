//! "Is anyone still working?" Each signal answers with its evidence, or says it could
//! not be read, in which case staging stays up (fail safe).

pub mod github;
pub mod holds;
pub mod linear;

use serde::{Deserialize, Serialize};

/// What one signal found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reading", content = "evidence", rename_all = "snake_case")]
pub enum Reading {
    /// Nobody seems to be working, by this signal; the text says what was checked.
    Quiet(String),
    /// Someone is working; the text is the evidence.
    Busy(String),
    /// The signal could not be read; the text says why.
    Unreadable(String),
}

/// One named signal and its reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signal {
    pub name: String,
    pub reading: Reading,
}

impl Signal {
    pub fn new(name: &str, reading: Reading) -> Self {
        Self {
            name: name.to_owned(),
            reading,
        }
    }

    /// One line for a message: `GitHub: push to acme/api 8 min ago`.
    pub fn line(&self) -> String {
        match &self.reading {
            Reading::Quiet(e) => format!("{}: quiet ({e})", self.name),
            Reading::Busy(e) => format!("{}: {e}", self.name),
            Reading::Unreadable(e) => format!(
                "{}: could not be read ({e}), so staging stays up",
                self.name
            ),
        }
    }
}
