//! The eight invariants that must all hold for a rollback to merge with nobody's
//! click (and only in staging). Each is evaluated from facts read just before, and
//! carries its numbers, so chat and the pull request show why it held or not.

use super::config::Environment;
use super::github::{Ci, ProtectionFacts};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invariant {
    /// 1 to 8.
    pub id: u8,
    pub ok: bool,
    /// What was measured, e.g. "1 of 3 replicas available".
    pub evidence: String,
}

impl Invariant {
    /// `✅ I3 available replicas are fewer than desired: 1 of 3 available`.
    pub fn line(&self) -> String {
        format!(
            "{} I{} {}: {}",
            if self.ok { "✅" } else { "❌" },
            self.id,
            name(self.id),
            self.evidence
        )
    }

    /// The label of its metric series, e.g. `I3`.
    pub fn label(&self) -> String {
        format!("I{}", self.id)
    }
}

/// What each invariant asks.
pub fn name(id: u8) -> &'static str {
    match id {
        1 => "the environment is staging",
        2 => "Argo CD health is Degraded now",
        3 => "available replicas are fewer than desired",
        4 => "degraded for enough consecutive polls",
        5 => "the candidate's uptime is high enough",
        6 => "CI on the pull request's head succeeded",
        7 => "no other open pull request touches the same file",
        8 => "branch protection is satisfied",
        _ => "unknown invariant",
    }
}

/// Everything the invariants are evaluated from.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub environment: Environment,
    /// Argo CD's health status, read again just now.
    pub health_now: &'a str,
    pub available: u32,
    pub desired: u32,
    pub degraded_polls: u32,
    pub degraded_checks: u32,
    pub uptime_percent: f64,
    pub uptime_polls: i64,
    pub min_uptime_percent: f64,
    pub ci: &'a Ci,
    /// Other open pull requests changing the same file: (number, branch).
    pub others: &'a [(u64, String)],
    pub protection: &'a ProtectionFacts,
}

/// I1 to I8, in order.
pub fn evaluate(f: &Facts<'_>) -> Vec<Invariant> {
    let inv = |id, ok, evidence: String| Invariant { id, ok, evidence };
    let p = f.protection;
    let reviews_met = p.approvals >= p.required_reviews;
    let state_ok =
        p.mergeable == Some(true) && matches!(p.mergeable_state.as_str(), "clean" | "has_hooks");
    vec![
        inv(
            1,
            f.environment == super::config::Environment::Staging,
            format!("environment is {}", f.environment.as_str()),
        ),
        inv(
            2,
            f.health_now == "Degraded",
            format!("health is {}", f.health_now),
        ),
        inv(
            3,
            f.available < f.desired,
            format!("{} of {} replicas available", f.available, f.desired),
        ),
        inv(
            4,
            f.degraded_polls >= f.degraded_checks,
            format!(
                "{} consecutive Degraded polls (at least {})",
                f.degraded_polls, f.degraded_checks
            ),
        ),
        inv(
            5,
            f.uptime_percent >= f.min_uptime_percent,
            format!(
                "{:.2}% healthy over {} polls (at least {}%)",
                f.uptime_percent, f.uptime_polls, f.min_uptime_percent
            ),
        ),
        inv(6, matches!(f.ci, Ci::Success { .. }), f.ci.text()),
        inv(
            7,
            f.others.is_empty(),
            if f.others.is_empty() {
                "no other open pull request changes it".into()
            } else {
                format!(
                    "also changed by {}",
                    f.others
                        .iter()
                        .map(|(n, b)| format!("#{n} ({b})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        ),
        inv(
            8,
            state_ok && reviews_met,
            format!(
                "mergeable: {}, state {}; {} of {} required approving review(s){}",
                match p.mergeable {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "not computed yet",
                },
                p.mergeable_state,
                p.approvals,
                p.required_reviews,
                if p.required_checks.is_empty() {
                    String::new()
                } else {
                    format!("; required checks {}", p.required_checks.join(", "))
                }
            ),
        ),
    ]
}

/// True when every invariant holds.
pub fn all_hold(invariants: &[Invariant]) -> bool {
    invariants.len() == 8 && invariants.iter().all(|i| i.ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn protection() -> ProtectionFacts {
        ProtectionFacts {
            mergeable: Some(true),
            mergeable_state: "clean".into(),
            required_reviews: 0,
            approvals: 0,
            required_checks: vec![],
            protected: false,
        }
    }

    fn facts<'a>(ci: &'a Ci, p: &'a ProtectionFacts) -> Facts<'a> {
        Facts {
            environment: Environment::Staging,
            health_now: "Degraded",
            available: 1,
            desired: 3,
            degraded_polls: 3,
            degraded_checks: 3,
            uptime_percent: 100.0,
            uptime_polls: 40,
            min_uptime_percent: 99.0,
            ci,
            others: &[],
            protection: p,
        }
    }

    #[test]
    fn all_eight_hold_for_a_degraded_staging_app_with_a_clean_pull_request() {
        let (ci, p) = (Ci::Success { passed: 2 }, protection());
        let got = evaluate(&facts(&ci, &p));
        assert!(all_hold(&got), "{got:#?}");
        assert_eq!(
            got[2].line(),
            "✅ I3 available replicas are fewer than desired: 1 of 3 replicas available"
        );
    }

    #[test]
    fn each_fact_made_false_breaks_its_own_invariant_only() {
        let (ci, p) = (Ci::Success { passed: 2 }, protection());
        let failing = Ci::Failure {
            failed: vec!["test".into()],
        };
        let mut unclean = protection();
        unclean.mergeable_state = "blocked".into();
        let others = [(7, "feature".to_owned())];
        for id in 1..=8u8 {
            let mut f = facts(&ci, &p);
            match id {
                1 => f.environment = Environment::Production,
                2 => f.health_now = "Healthy",
                3 => f.available = 3,
                4 => f.degraded_polls = 2,
                5 => f.uptime_percent = 98.9,
                6 => f.ci = &failing,
                7 => f.others = &others,
                _ => f.protection = &unclean,
            }
            let got = evaluate(&f);
            let broken: Vec<u8> = got.iter().filter(|i| !i.ok).map(|i| i.id).collect();
            assert_eq!(broken, vec![id]);
            assert!(!all_hold(&got));
        }
    }
}
