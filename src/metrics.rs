//! Prometheus metrics. Counters are bumped where things happen; gauges that mirror the
//! database (approvals by state, outbox depth) are refreshed when `/metrics` is scraped.

use crate::events::JobKind;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectionLabels {
    /// The door's audit event, e.g. `slack.request_rejected`.
    pub door: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub kind: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub job: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobNameLabels {
    pub job: String,
}

fn job_duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 4.0, 9))
}

/// Every metric OpsMate exports, cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub http_requests: Family<RouteLabels, Counter>,
    pub http_rejected_requests: Family<RejectionLabels, Counter>,
    pub approvals: Family<StateLabels, Gauge>,
    pub actions: Family<ActionLabels, Counter>,
    pub outbox_depth: Gauge,
    pub outbox_oldest_age_seconds: Gauge,
    pub outbox_deliveries: Family<StateLabels, Counter>,
    pub job_runs: Family<JobLabels, Counter>,
    pub job_duration_seconds: Family<JobNameLabels, Histogram, fn() -> Histogram>,
    /// Zombie Hunter's latest findings due for deletion, and their monthly cost.
    pub hunter_findings: Family<KindLabels, Gauge>,
    pub hunter_monthly_usd: Family<KindLabels, Gauge<f64, AtomicU64>>,
    pub rollback: RollbackMetrics,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InvariantLabels {
    /// `I1` to `I8`.
    pub invariant: String,
}

/// Rollback Pilot's counters.
#[derive(Clone)]
pub struct RollbackMetrics {
    pub degradations: Counter,
    pub merged: Counter,
    pub recovery_seconds: Histogram,
    pub invariant_violations: Family<InvariantLabels, Counter>,
}

impl RollbackMetrics {
    fn register(r: &mut Registry) -> Self {
        let m = Self {
            degradations: Counter::default(),
            merged: Counter::default(),
            // 10 s to about 3 h.
            recovery_seconds: Histogram::new(exponential_buckets(10.0, 2.0, 11)),
            invariant_violations: Family::default(),
        };
        r.register(
            "opsmate_rollback_degradations",
            "Argo CD applications that counted as degraded (degraded_checks Degraded polls in a row)",
            m.degradations.clone(),
        );
        r.register(
            "opsmate_rollback_merged",
            "Rollback pull requests merged",
            m.merged.clone(),
        );
        r.register(
            "opsmate_rollback_recovery_seconds",
            "From the first Degraded poll to Healthy on the merged rollback",
            m.recovery_seconds.clone(),
        );
        r.register(
            "opsmate_rollback_invariant_violations",
            "Rollback invariants found false when deciding whether to merge, by invariant",
            m.invariant_violations.clone(),
        );
        for i in 1..=8 {
            let _ = m.invariant_violations.get_or_create(&InvariantLabels {
                invariant: format!("I{i}"),
            });
        }
        m
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut r = Registry::default();
        let http_requests = Family::<RouteLabels, Counter>::default();
        r.register(
            "opsmate_http_requests",
            "HTTP requests by matched route and status",
            http_requests.clone(),
        );
        let http_rejected_requests = Family::<RejectionLabels, Counter>::default();
        r.register(
            "opsmate_http_rejected_requests",
            "Requests refused by a chat door (bad signature or secret, malformed, too large), by door and reason",
            http_rejected_requests.clone(),
        );
        let approvals = Family::<StateLabels, Gauge>::default();
        r.register("opsmate_approvals", "Proposals by state", approvals.clone());
        let actions = Family::<ActionLabels, Counter>::default();
        r.register(
            "opsmate_actions",
            "Approved actions by kind and outcome (succeeded, failed, skipped)",
            actions.clone(),
        );
        let outbox_depth = Gauge::default();
        r.register(
            "opsmate_outbox_depth",
            "Chat messages queued and not yet delivered",
            outbox_depth.clone(),
        );
        let outbox_oldest_age_seconds = Gauge::default();
        r.register(
            "opsmate_outbox_oldest_age_seconds",
            "Age of the oldest undelivered message",
            outbox_oldest_age_seconds.clone(),
        );
        let outbox_deliveries = Family::<StateLabels, Counter>::default();
        r.register(
            "opsmate_outbox_attempts",
            "Delivery attempts by result (sent, retry, failed)",
            outbox_deliveries.clone(),
        );
        let job_runs = Family::<JobLabels, Counter>::default();
        r.register(
            "opsmate_job_runs",
            "Scheduled job runs by outcome",
            job_runs.clone(),
        );
        let job_duration_seconds =
            Family::<JobNameLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                job_duration_histogram,
            );
        r.register(
            "opsmate_job_duration_seconds",
            "Scheduled job run time",
            job_duration_seconds.clone(),
        );
        let hunter_findings = Family::<KindLabels, Gauge>::default();
        r.register(
            "opsmate_hunter_findings",
            "Idle resources due for deletion at the latest Zombie Hunter scan, by kind",
            hunter_findings.clone(),
        );
        let hunter_monthly_usd = Family::<KindLabels, Gauge<f64, AtomicU64>>::default();
        r.register(
            "opsmate_hunter_monthly_usd",
            "Monthly cost of those idle resources in USD (snapshots: upper bound), by kind",
            hunter_monthly_usd.clone(),
        );
        let rollback = RollbackMetrics::register(&mut r);
        let metrics = Self {
            rollback,
            registry: Arc::new(r),
            http_requests,
            http_rejected_requests,
            approvals,
            actions,
            outbox_depth,
            outbox_oldest_age_seconds,
            outbox_deliveries,
            job_runs,
            job_duration_seconds,
            hunter_findings,
            hunter_monthly_usd,
        };
        metrics.touch_known_series();
        metrics
    }

    /// Creates every known label set at zero, so dashboards and alerts see a series
    /// from the first scrape rather than only after the first event.
    fn touch_known_series(&self) {
        for kind in crate::approvals::kinds::all().map(|s| s.kind) {
            for outcome in ["succeeded", "failed", "skipped"] {
                let _ = self.actions.get_or_create(&ActionLabels {
                    kind: kind.as_str().to_owned(),
                    outcome: outcome.to_owned(),
                });
            }
        }
        for state in ["sent", "retry", "failed"] {
            let _ = self.outbox_deliveries.get_or_create(&StateLabels {
                state: state.to_owned(),
            });
        }
    }

    /// Creates the series of every scheduled job at zero (see `touch_known_series`).
    pub fn touch_jobs(&self, jobs: impl IntoIterator<Item = JobKind>) {
        for job in jobs {
            for outcome in ["ok", "error"] {
                let _ = self.job_runs.get_or_create(&JobLabels {
                    job: job.as_str().to_owned(),
                    outcome: outcome.to_owned(),
                });
            }
            let _ = self.job_duration_seconds.get_or_create(&JobNameLabels {
                job: job.as_str().to_owned(),
            });
        }
    }

    /// Prometheus text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn action(&self, kind: &str, outcome: &str) {
        self.actions
            .get_or_create(&ActionLabels {
                kind: kind.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }
}
