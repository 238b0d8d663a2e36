//! The revision to roll back to: the newest history entry before the degraded one
//! that was healthy for at least `min_uptime_percent` of the polls OpsMate saw it
//! deployed for (at least `min_uptime_polls` of them), and whose commit CI passed.
//! A revision OpsMate never saw has unknown uptime and is passed over.

use super::Rollback;
use super::argocd::Application;
use super::config::AppConfig;
use super::github::{Ci, short};
use super::poll::Step;
use super::state::{AppRow, Candidate, State, uptime};
use super::store;
use crate::dispatch::Context;
use serde_json::json;

/// At most this many earlier revisions are looked at (each costs two GitHub calls).
const LOOK_BACK: usize = 10;

impl Rollback {
    pub(crate) async fn find_candidate(
        &self,
        ctx: &Context,
        cfg: &AppConfig,
        row: &AppRow,
        app: &Application,
    ) -> anyhow::Result<Step> {
        self.count_argo(1);
        let replicas = self.argo.replicas(&cfg.name).await?;
        let bad = row.flow.bad_revision.clone();
        let mut history = app.status.history.clone();
        history.sort_by_key(|h| std::cmp::Reverse(h.id));
        // Entries deployed before the degraded revision's newest deployment.
        let current_id = history
            .iter()
            .find(|h| h.revision == bad)
            .map_or(i64::MAX, |h| h.id);
        let mut seen = std::collections::HashSet::new();
        let earlier: Vec<_> = history
            .into_iter()
            .filter(|h| h.id < current_id && h.revision != bad)
            .filter(|h| seen.insert(h.revision.clone()))
            .take(LOOK_BACK)
            .collect();
        let repo = self.repo(cfg);
        let mut passed_over = Vec::new();
        let mut found = None;
        for h in earlier {
            let (name, revision) = (cfg.name.clone(), h.revision.clone());
            let counts = ctx
                .store
                .call(move |c| store::uptime_of(c, &name, &revision))
                .await?;
            let Some((healthy, counted)) = counts.filter(|(_, n)| *n > 0) else {
                passed_over.push(format!(
                    "{}: unknown uptime (OpsMate never saw it deployed)",
                    short(&h.revision)
                ));
                continue;
            };
            let percent = uptime(healthy, counted);
            if counted < i64::from(self.settings.min_uptime_polls) {
                passed_over.push(format!(
                    "{}: seen for only {counted} poll(s) (at least {} needed)",
                    short(&h.revision),
                    self.settings.min_uptime_polls
                ));
                continue;
            }
            if percent < self.settings.min_uptime_percent {
                passed_over.push(format!(
                    "{}: healthy {percent:.2}% of {counted} polls",
                    short(&h.revision)
                ));
                continue;
            }
            let ci = repo.ci(&h.revision).await?;
            if !matches!(ci, Ci::Success { .. }) {
                passed_over.push(format!("{}: {}", short(&h.revision), ci.text()));
                continue;
            }
            found = Some(Candidate {
                revision: h.revision.clone(),
                deployed_at: h.deployed_at,
                healthy_polls: healthy,
                counted_polls: counted,
                ci,
            });
            break;
        }
        let now = ctx.clock.now();
        let mut next = row.clone();
        next.flow.replicas = Some(replicas);
        next.flow.passed_over = passed_over.clone();
        let Some(candidate) = found else {
            let why = if passed_over.is_empty() {
                "no earlier revision in Argo CD's history to roll back to".to_owned()
            } else {
                format!("no earlier revision qualifies ({})", passed_over.join("; "))
            };
            let mut step = self.aborted(&next, &why, json!({"passed_over": passed_over}), now);
            step.row.flow.replicas = Some(replicas);
            return Ok(step);
        };
        let details = json!({
            "candidate": candidate.revision,
            "uptime_percent": candidate.uptime_percent(),
            "polls": candidate.counted_polls,
            "ci": candidate.ci,
            "replicas": replicas,
            "passed_over": passed_over,
        });
        next.flow.candidate = Some(candidate);
        next.state = State::CandidateFound;
        next.since = now;
        Ok(Step::by_opsmate(next, details))
    }
}
