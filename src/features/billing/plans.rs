//! `[billing.plans.<variant name>]`: what a plan allows, against what the
//! configuration runs. A cap is shown, not enforced: `billing status`, the chat
//! command and the digest say loudly which cap is exceeded, and nothing is turned
//! off quietly (a region or check dropped without a word would hide exactly what
//! OpsMate is for).

use super::config::PlanConfig;
use crate::config::Config;
use serde::Serialize;

/// What the configuration runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Configured {
    pub regions: u32,
    pub checks: u32,
}

impl Configured {
    pub fn of(config: &Config) -> Self {
        let checks = config
            .section::<crate::features::observatory::config::ObservatoryConfig>()
            .ok()
            .flatten()
            .map_or(0, |o| o.checks.len());
        Self {
            regions: u32::try_from(config.aws.regions.len()).unwrap_or(u32::MAX),
            checks: u32::try_from(checks).unwrap_or(u32::MAX),
        }
    }
}

/// One cap: what is configured, what the plan allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cap {
    pub what: &'static str,
    pub configured: u32,
    pub allowed: Option<u32>,
    pub over: bool,
}

/// The caps of `plan`, for what is configured (`jobs` once known).
pub fn caps(plan: &PlanConfig, configured: Configured, jobs: Option<u32>) -> Vec<Cap> {
    let cap = |what, configured: u32, allowed: Option<u32>| Cap {
        what,
        configured,
        allowed,
        over: allowed.is_some_and(|a| configured > a),
    };
    let mut out = vec![
        cap("regions", configured.regions, plan.max_regions),
        cap("checks", configured.checks, plan.max_checks),
    ];
    if let Some(jobs) = jobs {
        out.push(cap("jobs", jobs, plan.max_jobs));
    }
    out
}

/// `regions 3 of 2 — OVER THE PLAN'S CAP`, `checks 4 (no cap)`.
pub fn line(c: &Cap) -> String {
    match c.allowed {
        None => format!("{} {} (no cap)", c.what, c.configured),
        Some(a) if c.over => format!(
            "⚠️ {} {} of {a}: OVER THE PLAN'S CAP (nothing is turned off; change the plan or the configuration)",
            c.what, c.configured
        ),
        Some(a) => format!("{} {} of {a}", c.what, c.configured),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_below_what_is_configured_is_over_and_said_loudly() {
        let plan = PlanConfig {
            max_regions: Some(1),
            max_checks: None,
            max_jobs: Some(10),
        };
        let caps = caps(
            &plan,
            Configured {
                regions: 2,
                checks: 4,
            },
            Some(3),
        );
        assert!(caps[0].over);
        assert!(line(&caps[0]).contains("OVER THE PLAN'S CAP"));
        assert_eq!(line(&caps[1]), "checks 4 (no cap)");
        assert_eq!(line(&caps[2]), "jobs 3 of 10");
    }
}
