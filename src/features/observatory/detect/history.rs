//! Each check's recent readings, in memory: loaded from the stored samples the first
//! time the check is judged (so a restart keeps "the usual"), then kept as results
//! arrive and trimmed to the window. A check at 10 s with a 1 h window keeps 360.

use super::anomaly::{self, Reading};
use crate::features::observatory::config::CheckConfig;
use crate::features::observatory::status::{Outcome, Status};
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

#[derive(Default)]
pub struct Histories(Mutex<HashMap<String, VecDeque<Reading>>>);

/// What a reading is called in the evidence.
fn what(check: &CheckConfig) -> &'static str {
    use crate::features::observatory::config::CheckKind;
    match check.kind {
        CheckKind::Http | CheckKind::Tcp | CheckKind::Sqlite => "latency",
        CheckKind::Disk => "disk",
        CheckKind::Memory => "memory",
        CheckKind::Cpu => "cpu",
    }
}

impl Histories {
    /// The result with the anomaly detector applied: an `ok` reading far from the
    /// usual becomes `warn` with its evidence. Every reading joins the history.
    pub async fn apply(
        &self,
        store: &Store,
        check: &CheckConfig,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Outcome> {
        let (Some(config), Some(value)) = (&check.anomaly, outcome.value) else {
            return Ok(outcome);
        };
        let Some(settings) = config.settings() else {
            return Ok(outcome);
        };
        if !self.has(&check.name) {
            let loaded = load(store, &check.name, now, settings.window).await?;
            self.lock().entry(check.name.clone()).or_insert(loaded);
        }
        let latest = Reading {
            at_ms: crate::clock::to_millis(now),
            value,
        };
        let found = {
            let mut all = self.lock();
            let history = all.entry(check.name.clone()).or_default();
            let oldest = latest.at_ms - settings.window.as_millis() as i64;
            while history.front().is_some_and(|r| r.at_ms < oldest) {
                history.pop_front();
            }
            let found = anomaly::judge(&settings, history.make_contiguous(), latest);
            history.push_back(latest);
            found
        };
        Ok(match found {
            Some(a) if outcome.status == Status::Ok => Outcome {
                status: Status::Warn,
                message: format!(
                    "{} ({} over {}): {}",
                    a.evidence(what(check), &outcome.unit),
                    config.method,
                    humantime::format_duration(config.window),
                    outcome.message
                ),
                ..outcome
            },
            _ => outcome,
        })
    }

    fn has(&self, check: &str) -> bool {
        self.lock().contains_key(check)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Reading>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The check's stored readings within the window before `now`, oldest first.
async fn load(
    store: &Store,
    check: &str,
    now: DateTime<Utc>,
    window: std::time::Duration,
) -> anyhow::Result<VecDeque<Reading>> {
    let since = crate::clock::to_millis(now) - window.as_millis() as i64;
    let check = check.to_owned();
    store
        .call(move |c| {
            let mut stmt = c.prepare(
                "SELECT at, value FROM health_samples
                 WHERE check_name = ?1 AND at >= ?2 AND value IS NOT NULL ORDER BY at",
            )?;
            let rows = stmt.query_map(rusqlite::params![check, since], |r| {
                Ok(Reading {
                    at_ms: r.get(0)?,
                    value: r.get(1)?,
                })
            })?;
            Ok(rows.collect::<Result<VecDeque<_>, _>>()?)
        })
        .await
}
