//! Observatory: health checks, alerts on real changes, and the daily digest.
//!
//! - [`status`] is what one check run found;
//! - [`probes`] run each kind of check (http, tcp, disk, memory, cpu, sqlite);
//! - [`alerts`] turns results into alerts, recoveries and reminders (pure);
//! - [`listen`] lets other features take part in what a result announces;
//! - [`runner`] runs the checks on their timers, records them and sends notices;
//! - [`rollups`] keeps hourly rollups per check, read for 7 and 30 days;
//! - [`slo`] is the digest's arithmetic (uptime, p95, incidents, the day) (pure);
//! - [`digest`] builds the daily digest and the SLO report; [`report`] the health answer;
//! - [`store`] holds its SQL; [`cli`] is `opsmate health` and `opsmate digest`.

pub mod alerts;
pub mod api;
pub mod cli;
pub mod config;
pub mod detect;
pub mod digest;
pub mod listen;
pub mod page;
pub mod plug;
pub mod probes;
pub mod report;
pub mod rollups;
pub mod runner;
pub mod slo;
pub mod status;
pub mod store;

pub use plug::PLUG;

use crate::config::Config;
use crate::dispatch::Context;
use crate::events::JobKind;
use crate::features::observatory::config::{MaintenanceWindow, ObservatoryConfig};
use crate::scheduler::CronSchedule;
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use status::{Outcome, Status};

/// Observatory's settings and probes, built once at start-up.
pub struct Observatory {
    pub settings: ObservatoryConfig,
    pub probes: probes::Probes,
    pub tz: Tz,
    pub digest_schedule: CronSchedule,
    /// Scheduled jobs and their schedules, for the self-check of their last runs.
    pub jobs: Vec<(JobKind, CronSchedule)>,
    /// Jobs due before this (the process start) are not expected to have run.
    pub started: DateTime<Utc>,
    /// Features that take part in recording results (Incidents).
    pub listeners: listen::Listeners,
    /// Each check's recent readings, for its anomaly detector.
    pub histories: detect::history::Histories,
    /// The followed log files and their rules.
    pub logs: detect::logs::LogWatchers,
    default_tz: Tz,
}

impl std::fmt::Debug for Observatory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observatory")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A job is late once its occurrence is this old without a successful run.
const JOB_GRACE: Duration = Duration::minutes(15);

impl Observatory {
    pub fn new(
        config: &Config,
        store: crate::store::Store,
        jobs: Vec<(JobKind, CronSchedule)>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Self> {
        let settings = config.section::<ObservatoryConfig>()?.unwrap_or_default();
        Ok(Self {
            tz: settings.timezone.unwrap_or(config.timezone),
            digest_schedule: settings.digest_schedule(config.timezone)?,
            probes: probes::Probes::new(store)?,
            logs: detect::logs::LogWatchers::new(&settings.logs)?,
            settings,
            jobs,
            started: now,
            listeners: listen::Listeners::default(),
            histories: detect::history::Histories::default(),
            default_tz: config.timezone,
        })
    }

    /// Whether a maintenance window covering `check` is open at `now`.
    pub fn in_maintenance(&self, check: &str, now: DateTime<Utc>) -> bool {
        self.settings
            .maintenance
            .iter()
            .filter(|w| w.checks.is_empty() || w.checks.iter().any(|c| c == check))
            .any(|w| window_open(w, w.timezone.unwrap_or(self.default_tz), now))
    }

    /// Results of the built-in checks now: the outbox, and each scheduled job's last
    /// successful run.
    pub async fn self_outcomes(&self, ctx: &Context) -> anyhow::Result<Vec<(String, Outcome)>> {
        let mut out = Vec::new();
        let (depth, age) = ctx.outbox.depth().await?;
        let sc = &self.settings.self_checks;
        let status = if age as u64 >= sc.outbox_age_critical.as_secs() && depth > 0 {
            Status::Critical
        } else if depth as u64 >= sc.outbox_depth_warn {
            Status::Warn
        } else {
            Status::Ok
        };
        out.push((
            "outbox".to_owned(),
            Outcome::new(
                status,
                Some(depth as f64),
                "messages",
                format!("{depth} unsent, the oldest {age} s old"),
            ),
        ));
        let now = ctx.clock.now();
        for (job, schedule) in &self.jobs {
            let name = job.as_str();
            let due = schedule
                .latest_between(now - Duration::days(8), now - JOB_GRACE)
                .filter(|due| *due > self.started);
            let last_ok: Option<i64> = ctx
                .store
                .call(move |c| {
                    Ok(c.query_row(
                        "SELECT MAX(scheduled_for) FROM job_runs WHERE job = ?1 AND outcome = 'ok'",
                        [name],
                        |r| r.get(0),
                    )?)
                })
                .await?;
            let last_ok = last_ok.map(crate::clock::from_millis);
            let last = last_ok
                .map(|t| format!("last ok run {}", crate::chat::answers::local(t, self.tz)))
                .unwrap_or_else(|| "no ok run recorded".into());
            let outcome = match due {
                Some(due) if last_ok.is_none_or(|t| t < due) => Outcome::new(
                    Status::Critical,
                    None,
                    "",
                    format!(
                        "the run due {} did not succeed; {last}",
                        crate::chat::answers::local(due, self.tz)
                    ),
                ),
                _ => Outcome::new(Status::Ok, None, "", last),
            };
            out.push((format!("job:{name}"), outcome));
        }
        Ok(out)
    }
}

/// Whether the window that started on some recent day is open at `now`.
fn window_open(w: &MaintenanceWindow, tz: Tz, now: DateTime<Utc>) -> bool {
    let (Some((h, m)), Some(days)) = (w.start_time(), w.days()) else {
        return false;
    };
    let Ok(length) = Duration::from_std(w.duration) else {
        return false;
    };
    let today = now.with_timezone(&tz).date_naive();
    let back = length.num_days() + 1;
    (0..=back).any(|d| {
        let day = today - Duration::days(d);
        if !days.is_empty() && !days.contains(&day.weekday()) {
            return false;
        }
        let Some(naive) = day.and_hms_opt(h, m, 0) else {
            return false;
        };
        let Some(start) = tz.from_local_datetime(&naive).earliest() else {
            return false;
        };
        let start = start.with_timezone(&Utc);
        start <= now && now < start + length
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start: &str, hours: u64, days: &[&str]) -> MaintenanceWindow {
        MaintenanceWindow {
            start: start.into(),
            duration: std::time::Duration::from_secs(hours * 3600),
            timezone: None,
            weekdays: days.iter().map(|d| (*d).to_owned()).collect(),
            checks: Vec::new(),
        }
    }

    #[test]
    fn windows_open_on_their_days_in_their_zone_and_may_cross_midnight() {
        let berlin = chrono_tz::Europe::Berlin;
        let w = window("23:00", 3, &["sat"]);
        // Saturday 2026-11-21 23:30 Berlin = 22:30 UTC: open.
        assert!(window_open(
            &w,
            berlin,
            "2026-11-21T22:30:00Z".parse().unwrap()
        ));
        // Sunday 01:30 Berlin, still inside the Saturday window.
        assert!(window_open(
            &w,
            berlin,
            "2026-11-22T00:30:00Z".parse().unwrap()
        ));
        // Sunday 02:30 Berlin: over.
        assert!(!window_open(
            &w,
            berlin,
            "2026-11-22T01:30:00Z".parse().unwrap()
        ));
        // Friday 23:30: not its day.
        assert!(!window_open(
            &w,
            berlin,
            "2026-11-20T22:30:00Z".parse().unwrap()
        ));
        let daily = window("02:00", 1, &[]);
        assert!(window_open(
            &daily,
            Tz::UTC,
            "2026-11-18T02:59:00Z".parse().unwrap()
        ));
        assert!(!window_open(
            &daily,
            Tz::UTC,
            "2026-11-18T03:00:00Z".parse().unwrap()
        ));
    }
}
