//! Rejected requests (forged or stale signatures, malformed or oversized bodies),
//! audited in aggregate.
//!
//! Every rejection is evidence, but one audit row per request lets any client fill
//! the disk (the log is permanent). So for each source, door and reason there is a
//! window: the first rejection is audited at once, with its detail; the rest are
//! counted, and when the window closes one more row says how many there were ("412
//! forged_signature requests from 10.0.0.7 in the last 1m"). A sustained flood from
//! one source thus writes two rows a window. Sources beyond [`MAX_SOURCES`] in one
//! window share the key `many sources`, so forged `X-Forwarded-For` headers cannot
//! multiply the rows either. Every rejection is counted in
//! `opsmate_http_rejected_requests{door, reason}`, and logged once a window.

use crate::audit::Audit;
use crate::clock::SharedClock;
use crate::metrics::{Metrics, RejectionLabels};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Distinct sources tracked in one window; later ones are counted together.
pub const MAX_SOURCES: usize = 100;
/// What the sources beyond [`MAX_SOURCES`] are audited as.
pub const MANY_SOURCES: &str = "many sources";

/// One rejected request.
pub struct Rejected<'a> {
    /// The audit event of the door (e.g. `slack.request_rejected`).
    pub event: &'static str,
    /// The caller's address.
    pub source: &'a str,
    /// The request's path.
    pub path: &'a str,
    /// A short code (`forged_signature`, `body_too_large`, …).
    pub reason: &'a str,
    /// A human-readable detail; only the first of a window is kept.
    pub detail: &'a str,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    event: &'static str,
    source: String,
    reason: String,
}

struct Window {
    opened: DateTime<Utc>,
    count: u64,
    path: String,
    /// The row written for the first rejection, when it could be written.
    first_row: Option<i64>,
}

/// The open windows. Cheap to clone.
#[derive(Clone)]
pub struct Rejections {
    inner: Arc<Inner>,
}

struct Inner {
    audit: Audit,
    metrics: Metrics,
    clock: SharedClock,
    window: Duration,
    open: Mutex<HashMap<Key, Window>>,
}

impl Rejections {
    pub fn new(audit: Audit, metrics: Metrics, clock: SharedClock, window: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                audit,
                metrics,
                clock,
                window,
                open: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Counts a rejection; audits it when it opens a window.
    pub async fn note(&self, r: Rejected<'_>) {
        let inner = &self.inner;
        inner
            .metrics
            .http_rejected_requests
            .get_or_create(&RejectionLabels {
                door: r.event.to_owned(),
                reason: r.reason.to_owned(),
            })
            .inc();
        let now = inner.clock.now();
        let key = {
            let mut open = inner.open.lock().unwrap_or_else(|e| e.into_inner());
            let mut key = Key {
                event: r.event,
                source: r.source.to_owned(),
                reason: r.reason.to_owned(),
            };
            if !open.contains_key(&key) && distinct_sources(&open) >= MAX_SOURCES {
                key.source = MANY_SOURCES.to_owned();
            }
            if let Some(w) = open.get_mut(&key) {
                w.count += 1;
                return;
            }
            open.insert(
                key.clone(),
                Window {
                    opened: now,
                    count: 1,
                    path: r.path.to_owned(),
                    first_row: None,
                },
            );
            key
        };
        tracing::warn!(source = %key.source, path = %r.path, reason = %r.reason,
            "rejected a request; more like it from this source are counted until the window closes");
        let detail: String = r.detail.chars().take(200).collect();
        let written = inner
            .audit
            .record(
                format!("http:{}", key.source),
                r.event,
                r.path,
                json!({"reason": r.reason, "detail": detail, "count": 1}),
            )
            .await;
        match written {
            Ok(seq) => {
                let mut open = inner.open.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(w) = open.get_mut(&key) {
                    w.first_row = Some(seq);
                }
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "could not audit a rejected request")
            }
        }
    }

    /// Closes the windows older than the window length (all of them with `all`),
    /// writing a row for each that counted more than its first rejection. Returns
    /// the rows written.
    pub async fn close_windows(&self, all: bool) -> usize {
        let inner = &self.inner;
        let now = inner.clock.now();
        let window = chrono::Duration::from_std(inner.window).unwrap_or(chrono::Duration::MAX);
        let closed: Vec<(Key, Window)> = {
            let mut open = inner.open.lock().unwrap_or_else(|e| e.into_inner());
            let due: Vec<Key> = open
                .iter()
                .filter(|(_, w)| all || now - w.opened >= window)
                .map(|(k, _)| k.clone())
                .collect();
            due.into_iter()
                .filter_map(|k| open.remove(&k).map(|w| (k, w)))
                .collect()
        };
        let mut written = 0;
        for (key, w) in closed.into_iter().filter(|(_, w)| w.count > 1) {
            let length = humantime::format_duration(inner.window);
            let text = format!(
                "{} {} requests from {} in the last {length}",
                w.count, key.reason, key.source
            );
            tracing::warn!(source = %key.source, reason = %key.reason, count = w.count, "{text}");
            let row = inner
                .audit
                .record(
                    format!("http:{}", key.source),
                    key.event,
                    w.path,
                    json!({
                        "reason": key.reason,
                        "count": w.count,
                        "since": w.opened.to_rfc3339_opts(SecondsFormat::Millis, true),
                        "first_row": w.first_row,
                        "summary": text,
                    }),
                )
                .await;
            match row {
                Ok(_) => written += 1,
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "could not audit rejected requests")
                }
            }
        }
        written
    }

    /// Closes due windows every second until `stop`, then closes every window, so a
    /// count is never lost to a shutdown.
    pub async fn run(self, stop: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.cancelled() => break,
            }
            self.close_windows(false).await;
        }
        self.close_windows(true).await;
    }
}

fn distinct_sources(open: &HashMap<Key, Window>) -> usize {
    let mut sources: Vec<&str> = open.keys().map(|k| k.source.as_str()).collect();
    sources.sort_unstable();
    sources.dedup();
    sources.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::Store;

    const FORGED: &str = "slack.request_rejected";

    fn rig(dir: &std::path::Path) -> (Rejections, Store, ManualClock) {
        let store = Store::open(&dir.join("t.db"), Duration::from_secs(5)).unwrap();
        let clock = ManualClock::new("2026-12-01T10:00:00Z".parse().unwrap());
        let shared: SharedClock = Arc::new(clock.clone());
        let audit = Audit::new(store.clone(), shared.clone());
        let r = Rejections::new(audit, Metrics::new(), shared, Duration::from_secs(60));
        (r, store, clock)
    }

    fn forged<'a>(source: &'a str) -> Rejected<'a> {
        Rejected {
            event: FORGED,
            source,
            path: "/slack/commands",
            reason: "forged_signature",
            detail: "signature does not match",
        }
    }

    async fn rows(store: &Store) -> Vec<crate::audit::AuditRecord> {
        store
            .call(|c| crate::audit::tail(c, 100_000))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_flood_from_one_source_writes_one_row_then_one_count() {
        let dir = tempfile::tempdir().unwrap();
        let (r, store, clock) = rig(dir.path());
        for _ in 0..10_000 {
            r.note(forged("10.0.0.7")).await;
        }
        assert_eq!(rows(&store).await.len(), 1);
        // Not due yet: nothing is written.
        clock.advance(chrono::Duration::seconds(59));
        assert_eq!(r.close_windows(false).await, 0);
        clock.advance(chrono::Duration::seconds(1));
        assert_eq!(r.close_windows(false).await, 1);
        let rows = rows(&store).await;
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].actor, "http:10.0.0.7");
        assert_eq!(rows[0].details["detail"], "signature does not match");
        assert_eq!(rows[1].details["count"], 10_000);
        assert_eq!(rows[1].details["first_row"], rows[0].seq);
        assert_eq!(
            rows[1].details["summary"],
            "10000 forged_signature requests from 10.0.0.7 in the last 1m"
        );
        // The next one opens a new window, audited at once.
        r.note(forged("10.0.0.7")).await;
        assert_eq!(super::tests::rows(&store).await.len(), 3);
    }

    #[tokio::test]
    async fn reasons_and_sources_have_windows_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let (r, store, _) = rig(dir.path());
        r.note(forged("10.0.0.7")).await;
        r.note(forged("10.0.0.8")).await;
        r.note(Rejected {
            reason: "stale_timestamp",
            ..forged("10.0.0.7")
        })
        .await;
        r.note(Rejected {
            event: "telegram.request_rejected",
            ..forged("10.0.0.7")
        })
        .await;
        assert_eq!(rows(&store).await.len(), 4);
        // A window with only its first rejection needs no second row.
        assert_eq!(r.close_windows(true).await, 0);
    }

    #[tokio::test]
    async fn forged_sources_beyond_the_cap_share_one_window() {
        let dir = tempfile::tempdir().unwrap();
        let (r, store, _) = rig(dir.path());
        for i in 0..5_000 {
            r.note(forged(&format!("10.1.{}.{}", i / 256, i % 256)))
                .await;
        }
        let first = rows(&store).await;
        assert_eq!(first.len(), MAX_SOURCES + 1);
        assert_eq!(first.last().unwrap().actor, "http:many sources");
        assert_eq!(r.close_windows(true).await, 1);
        let last = rows(&store).await.pop().unwrap();
        assert_eq!(last.details["count"], 5_000 - MAX_SOURCES as u64);
    }
}
