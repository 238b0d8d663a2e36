//! The result of one check run: a status and what was measured.

use serde::{Deserialize, Serialize};

/// How a check came out, best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Working as expected.
    Ok,
    /// Working, but degraded (slow, a certificate expiring soon, a disk filling up).
    Warn,
    /// Not working as expected (wrong status, body, threshold crossed).
    Critical,
    /// The check could not get an answer at all (timeout, refused, unreadable).
    Error,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Ok, Status::Warn, Status::Critical, Status::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Critical => "critical",
            Status::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Counts towards an alert: anything but `ok`.
    pub fn is_bad(self) -> bool {
        self != Status::Ok
    }

    /// Counts as up for uptime: the thing answered (`ok` or `warn`).
    pub fn is_up(self) -> bool {
        matches!(self, Status::Ok | Status::Warn)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one run of a check found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub status: Status,
    /// The measurement (latency in ms, percent used, days left …), when there is one.
    pub value: Option<f64>,
    /// Its unit (`ms`, `%`, `messages` …); empty when there is no value.
    pub unit: String,
    /// One line for people: what was seen, and why it is not ok.
    pub message: String,
}

impl Outcome {
    pub fn new(status: Status, value: Option<f64>, unit: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            value,
            unit: unit.into(),
            message: message.into(),
        }
    }

    /// An `error` with no value: the check got no answer.
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Status::Error, None, "", message)
    }
}
