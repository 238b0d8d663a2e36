//! Other features taking part in what a check result announces. Incidents listens:
//! it opens an incident for an alert and posts that alert itself, with its buttons.
//! A listener is called inside the transaction that records the result, so a result,
//! its alert state and the listener's own rows are written together or not at all.

use super::alerts::Notice;
use super::status::Outcome;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// One recorded result that gives a notice.
pub struct Observed<'a> {
    pub check: &'a str,
    pub notice: &'a Notice,
    pub outcome: &'a Outcome,
    /// The line Observatory's grouped message would carry for it.
    pub text: &'a str,
    pub at: DateTime<Utc>,
}

/// What a listener did with a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// Observatory announces it as usual (in its grouped message).
    Announce,
    /// The listener announces it (or, for a check whose alert joined another
    /// incident, shows it there): Observatory queues no line for it.
    Taken,
}

/// A feature that takes part in recording results.
pub trait NoticeListener: Send + Sync {
    /// Called inside the recording transaction for every notice.
    fn observe(&self, tx: &rusqlite::Transaction<'_>, seen: &Observed<'_>)
    -> anyhow::Result<Heard>;

    /// Called once that transaction has committed (to send what it wrote).
    fn committed(&self);
}

/// The listeners, registered by their features when they start.
#[derive(Default)]
pub struct Listeners(std::sync::RwLock<Vec<Arc<dyn NoticeListener>>>);

impl Listeners {
    pub fn add(&self, listener: Arc<dyn NoticeListener>) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(listener);
    }

    pub fn all(&self) -> Vec<Arc<dyn NoticeListener>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
