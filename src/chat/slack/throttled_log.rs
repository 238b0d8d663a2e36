//! Rate-limited logging for what can happen thousands of times a second (a full
//! event queue answering "busy"): the first occurrence per key in a minute is
//! logged; the rest are counted and summed up in the next line.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Sources remembered at most; beyond this the table is cleared (an attack from many
/// addresses then logs one line per address per minute, still bounded).
const MAX_SOURCES: usize = 10_000;

#[derive(Default)]
pub struct ThrottledLog {
    sources: Mutex<HashMap<String, (Instant, u64)>>,
}

impl ThrottledLog {
    /// Notes an occurrence; returns true if it was logged.
    pub fn note(&self, source: &str, path: &str, reason: &str) -> bool {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        if sources.len() >= MAX_SOURCES && !sources.contains_key(source) {
            sources.clear();
        }
        let now = Instant::now();
        match sources.get_mut(source) {
            Some((since, suppressed)) if now.duration_since(*since) < WINDOW => {
                *suppressed += 1;
                false
            }
            entry => {
                let suppressed = entry.map_or(0, |(_, n)| *n);
                sources.insert(source.to_owned(), (now, 0));
                tracing::warn!(%source, %path, %reason, suppressed_since_last = suppressed, "refused a Slack request");
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_source_per_window() {
        let log = ThrottledLog::default();
        assert!(log.note("10.0.0.1", "/slack/events", "forged_signature"));
        assert!(!log.note("10.0.0.1", "/slack/events", "forged_signature"));
        assert!(!log.note("10.0.0.1", "/slack/commands", "stale_timestamp"));
        assert!(log.note("10.0.0.2", "/slack/events", "forged_signature"));
    }
}
