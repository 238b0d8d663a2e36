//! The scheduler: cron jobs in a time zone that feed the same queue as chat events.
//!
//! Each occurrence is claimed in SQLite before it is queued, so a restart never runs
//! it twice. At start-up, the most recent occurrence missed while the bot was down runs
//! once if it is younger than `scheduler.catch_up_window`.

pub mod cron_tz;
pub(crate) mod sql;

pub use cron_tz::{CronError, CronSchedule};

use crate::clock::SharedClock;
use crate::events::{Event, EventQueue, JobKind, JobRun};
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Longest sleep between two looks at the clock, so a wall-clock jump is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// A job and when it runs.
#[derive(Debug, Clone)]
pub struct ScheduledJob {
    pub kind: JobKind,
    pub schedule: CronSchedule,
    /// Overrides `scheduler.catch_up_window` for this job (e.g. a night-long window
    /// for the evening shutdown check).
    pub catch_up_window: Option<Duration>,
}

/// Computes due occurrences and claims them. The timing loop lives in [`Scheduler::run`];
/// everything else takes `now` explicitly, so it is tested without sleeping.
pub struct Scheduler {
    jobs: Vec<ScheduledJob>,
    store: Store,
    clock: SharedClock,
    catch_up_window: chrono::Duration,
    /// Per job, the occurrence the scheduler has dealt with up to.
    cursors: Vec<DateTime<Utc>>,
}

impl Scheduler {
    pub fn new(
        jobs: Vec<ScheduledJob>,
        store: Store,
        clock: SharedClock,
        catch_up_window: Duration,
    ) -> Self {
        let now = clock.now();
        let cursors = vec![now; jobs.len()];
        Self {
            jobs,
            store,
            clock,
            catch_up_window: chrono::Duration::from_std(catch_up_window)
                .unwrap_or(chrono::Duration::hours(6)),
            cursors,
        }
    }

    pub fn jobs(&self) -> &[ScheduledJob] {
        &self.jobs
    }

    /// At start-up: the latest occurrence missed while the bot was down, per job, if it
    /// is inside the catch-up window and was never claimed. Claims and returns them.
    /// A job with no recorded run at all (first start) catches nothing up.
    pub async fn catch_up(&mut self, now: DateTime<Utc>) -> anyhow::Result<Vec<JobRun>> {
        let mut due = Vec::new();
        for (i, job) in self.jobs.iter().enumerate() {
            let window = job
                .catch_up_window
                .and_then(|w| chrono::Duration::from_std(w).ok())
                .unwrap_or(self.catch_up_window);
            let window_start = now - window;
            let name = job.kind.as_str();
            let last = self.store.call(move |c| sql::last_claimed(c, name)).await?;
            // A job that never ran before (a fresh install) has missed nothing.
            let Some(last) = last else {
                self.cursors[i] = now;
                continue;
            };
            let after = last.max(window_start);
            if let Some(missed) = job.schedule.latest_between(after, now)
                && self.claim(job.kind, missed, now).await?
            {
                tracing::info!(job = name, occurrence = %missed, "catching up a run missed while stopped");
                due.push(JobRun {
                    job: job.kind,
                    scheduled_for: missed,
                    catch_up: true,
                });
            }
            self.cursors[i] = now;
        }
        Ok(due)
    }

    /// Occurrences due at `now` since the last tick, claimed. If several occurrences of
    /// one job passed (the host was suspended), only the latest runs.
    pub async fn tick(&mut self, now: DateTime<Utc>) -> anyhow::Result<Vec<JobRun>> {
        let mut due = Vec::new();
        for i in 0..self.jobs.len() {
            let job = self.jobs[i].clone();
            if let Some(occurrence) = job.schedule.latest_between(self.cursors[i], now) {
                self.cursors[i] = occurrence;
                if self.claim(job.kind, occurrence, now).await? {
                    due.push(JobRun {
                        job: job.kind,
                        scheduled_for: occurrence,
                        catch_up: false,
                    });
                }
            }
        }
        Ok(due)
    }

    /// When the next occurrence of any job is.
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        self.jobs
            .iter()
            .zip(&self.cursors)
            .filter_map(|(job, cursor)| job.schedule.next_after(*cursor))
            .min()
    }

    async fn claim(
        &self,
        kind: JobKind,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let name = kind.as_str();
        self.store.call(move |c| sql::claim(c, name, at, now)).await
    }

    /// Runs until shutdown, queuing each due occurrence as an [`Event::Job`].
    pub async fn run(mut self, queue: EventQueue, shutdown: CancellationToken) {
        let now = self.clock.now();
        match self
            .store
            .call(|c| sql::mark_unfinished_interrupted(c))
            .await
        {
            Ok(n) if n > 0 => tracing::warn!(
                runs = n,
                "job runs cut off by the last stop were marked interrupted"
            ),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "could not mark interrupted job runs")
            }
        }
        match self.catch_up(now).await {
            Ok(runs) => {
                for run in runs {
                    if queue.send(Event::Job(run)).await.is_err() {
                        return;
                    }
                }
            }
            Err(e) => tracing::error!(error = %format!("{e:#}"), "catch-up failed"),
        }
        log_schedule(&self.jobs, now);
        loop {
            let now = self.clock.now();
            let sleep_for = self
                .next_wake()
                .map(|at| (at - now).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(MAX_SLEEP)
                .min(MAX_SLEEP);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(sleep_for) => {}
            }
            match self.tick(self.clock.now()).await {
                Ok(runs) => {
                    for run in runs {
                        if queue.send(Event::Job(run)).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => tracing::error!(error = %format!("{e:#}"), "scheduler tick failed"),
            }
        }
        tracing::info!("scheduler stopped");
    }
}

/// One log line per job: its cron, time zone and next run after `now`.
fn log_schedule(jobs: &[ScheduledJob], now: DateTime<Utc>) {
    for job in jobs {
        tracing::info!(job = job.kind.as_str(), cron = job.schedule.expression(), tz = %job.schedule.timezone(),
            next = %next_run(job.schedule.next_after(now)), "job scheduled");
    }
}

/// A next run for the log: the instant in RFC 3339, or `none` when there is none.
fn next_run(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "none".to_owned(), |t| t.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Collects formatted log output.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_schedule_log_prints_the_next_run_plainly() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let jobs = [ScheduledJob {
            kind: JobKind::PRUNE_JOB_RUNS,
            schedule: CronSchedule::parse("0 9 * * *", chrono_tz::Tz::UTC).unwrap(),
            catch_up_window: None,
        }];
        let now = DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        tracing::subscriber::with_default(subscriber, || log_schedule(&jobs, now));
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(log.contains("next=2026-11-22T09:00:00+00:00"), "{log}");
        assert!(!log.contains("Some("), "{log}");
        assert_eq!(next_run(None), "none");
    }
}
