//! `[billing]`: the hosted plan's subscription through Lemon Squeezy. The section
//! being present turns billing on; the webhook's signing secret is read from
//! `LEMONSQUEEZY_SIGNING_SECRET` and the API key (for usage reports) from
//! `LEMONSQUEEZY_API_KEY`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The variable holding the webhook's signing secret.
pub const SIGNING_SECRET_VAR: &str = "LEMONSQUEEZY_SIGNING_SECRET";
/// The variable holding the API key usage records are sent with.
pub const API_KEY_VAR: &str = "LEMONSQUEEZY_API_KEY";

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// Send each executed action to Lemon Squeezy as a usage record of the
    /// subscription item (usage-based pricing). Off: actions are only counted here.
    pub report_usage: bool,
    /// Lemon Squeezy's API (tests point it at a fake).
    pub api_url: String,
    /// The first wait before a usage report that did not arrive is sent again; it
    /// doubles up to five minutes.
    #[serde(with = "humantime_serde")]
    pub retry_backoff: Duration,
    /// What each plan (the subscription's variant name) allows.
    pub plans: BTreeMap<String, PlanConfig>,
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            report_usage: false,
            api_url: "https://api.lemonsqueezy.com".into(),
            retry_backoff: Duration::from_secs(1),
            plans: BTreeMap::new(),
        }
    }
}

/// `[billing.plans.<variant name>]`: caps of one plan; an absent cap is no cap.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PlanConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_regions: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_checks: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_jobs: Option<u32>,
}

impl crate::config::Section for BillingConfig {
    const NAME: &'static str = "billing";

    fn validate(&self) -> Result<(), (String, String)> {
        let url = self.api_url.trim();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err((
                "billing.api_url".into(),
                "set Lemon Squeezy's API URL, e.g. \"https://api.lemonsqueezy.com\"".into(),
            ));
        }
        if self.retry_backoff < Duration::from_millis(10)
            || self.retry_backoff > Duration::from_secs(300)
        {
            return Err((
                "billing.retry_backoff".into(),
                "must be between 10ms and 5m".into(),
            ));
        }
        if let Some(name) = self.plans.keys().find(|n| n.trim().is_empty()) {
            return Err((
                format!("billing.plans.{name:?}"),
                "name the plan by its Lemon Squeezy variant name".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Section;

    #[test]
    fn plans_are_read_by_variant_name_and_unknown_keys_are_refused() {
        let c: BillingConfig = toml::from_str(
            "report_usage = true\n[plans.Starter]\nmax_regions = 1\nmax_checks = 5\n",
        )
        .unwrap();
        assert!(c.report_usage);
        assert_eq!(c.plans["Starter"].max_regions, Some(1));
        assert_eq!(c.plans["Starter"].max_jobs, None);
        assert_eq!(c.validate(), Ok(()));
        let err = toml::from_str::<BillingConfig>("[plans.Starter]\nmax_region = 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_region"), "{err}");
    }

    #[test]
    fn the_api_url_must_be_a_url() {
        let c = BillingConfig {
            api_url: "lemonsqueezy".into(),
            ..BillingConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().0, "billing.api_url");
    }
}
