//! Running the log rules: each file polled about once a second, its new lines fed to
//! its rules, and each rule's state recorded as the check `log:<name>` through the
//! same path as any check result, so it alerts, opens an incident and recovers.
//!
//! A rule's check is bad when it fires, and good again once it has been quiet (no
//! firing) for its window plus its cooldown: by then it would have fired again if
//! the lines had kept coming.

use super::logwatch::{Firing, Follower, Rule, RuleWindows, Severity};
use crate::dispatch::Context;
use crate::features::observatory::Observatory;
use crate::features::observatory::alerts::Thresholds;
use crate::features::observatory::config::LogWatch;
use crate::features::observatory::status::{Outcome, Status};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// A log rule's check alerts on its first firing and recovers on its first quiet.
const THRESHOLDS: Thresholds = Thresholds {
    failure: 1,
    success: 1,
};

/// One followed file with its rules and when each last fired.
struct Watched {
    follower: Follower,
    windows: RuleWindows,
    /// Rule name → (check name, when it last fired, quiet after).
    firing: HashMap<String, (String, DateTime<Utc>, chrono::Duration)>,
    quiet_after: HashMap<String, chrono::Duration>,
}

/// Every followed file. Polled by one timer (and by tests).
pub struct LogWatchers(tokio::sync::Mutex<Vec<Watched>>);

impl LogWatchers {
    pub fn new(logs: &[LogWatch]) -> anyhow::Result<Self> {
        let mut watched = Vec::new();
        for log in logs {
            let mut rules = Vec::new();
            let mut quiet_after = HashMap::new();
            for r in &log.rules {
                rules.push(Rule {
                    name: r.name.clone(),
                    pattern: regex::Regex::new(&r.pattern)?,
                    severity: if r.status() == Status::Warn {
                        Severity::Warn
                    } else {
                        Severity::Critical
                    },
                    at_least: r.at_least,
                    within: r.within,
                    cooldown: r.cooldown,
                });
                quiet_after.insert(
                    r.name.clone(),
                    chrono::Duration::from_std(r.within + r.cooldown)?,
                );
            }
            watched.push(Watched {
                follower: Follower::new(&log.path),
                windows: RuleWindows::new(rules),
                firing: HashMap::new(),
                quiet_after,
            });
        }
        Ok(Self(tokio::sync::Mutex::new(watched)))
    }
}

impl Observatory {
    /// Reads what the log files gained since the last poll, and records each rule
    /// that fired or went quiet. Returns how many results it recorded.
    pub async fn poll_logs(&self, ctx: &Context) -> anyhow::Result<usize> {
        let now = ctx.clock.now();
        let mut results: Vec<(String, Outcome)> = Vec::new();
        {
            let mut all = self.logs.0.lock().await;
            for w in all.iter_mut() {
                let lines = match w.follower.poll() {
                    Ok(lines) => lines,
                    Err(e) => {
                        tracing::warn!(error = %e, "a log file could not be read");
                        Vec::new()
                    }
                };
                for f in w.windows.feed(crate::clock::to_millis(now), &lines) {
                    let check = format!("log:{}", f.rule);
                    let quiet = w.quiet_after.get(&f.rule).copied().unwrap_or_default();
                    results.push((check.clone(), firing_outcome(&f)));
                    w.firing.insert(f.rule.clone(), (check, now, quiet));
                }
                w.firing.retain(|rule, (check, at, quiet)| {
                    if now - *at < *quiet {
                        return true;
                    }
                    results.push((
                        check.clone(),
                        Outcome::new(
                            Status::Ok,
                            Some(0.0),
                            "matches",
                            format!(
                                "{rule} has been quiet for {}",
                                humantime::format_duration(quiet.to_std().unwrap_or_default())
                            ),
                        ),
                    ));
                    false
                });
            }
        }
        for (check, outcome) in &results {
            self.record(ctx, check, THRESHOLDS, outcome).await?;
        }
        Ok(results.len())
    }
}

fn firing_outcome(f: &Firing) -> Outcome {
    let status = match f.severity {
        Severity::Warn => Status::Warn,
        Severity::Critical => Status::Critical,
    };
    Outcome::new(
        status,
        Some(f64::from(f.count)),
        "matches",
        format!(
            "{} matching lines within {}; the last: {}",
            f.count,
            humantime::format_duration(f.within),
            f.last_line
        ),
    )
}
