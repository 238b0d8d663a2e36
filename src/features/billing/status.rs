//! Where billing stands: `/opsmate billing`, Telegram `/billing`, `opsmate billing
//! status [--json]` and the digest's section all read this.

use super::config::{API_KEY_VAR, BillingConfig, SIGNING_SECRET_VAR};
use super::plans::{self, Cap, Configured};
use super::store::{self, Reports, Subscription, Usage};
use super::usage::period;
use crate::approvals::dry_run_notice;
use crate::chat::answers::local;
use crate::chat::message::{ChatMessage, Part};
use crate::config::Secrets;
use crate::store::Store;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The whole picture, as `--json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BillingStatus {
    /// Why destructive actions are dry runs now, if they are.
    pub lapsed: Option<String>,
    pub subscriptions: Vec<Subscription>,
    /// This month's executed actions, by kind.
    pub period: String,
    pub usage: Vec<Usage>,
    pub report_usage: bool,
    pub reports: Reports,
    /// The plan of the current subscription and its caps against the configuration.
    pub plan: Option<String>,
    pub caps: Vec<Cap>,
    /// The plan named by the subscription has no `[billing.plans.<name>]`.
    pub plan_unconfigured: bool,
    /// Secrets not set, with what each is for.
    pub missing: Vec<String>,
}

/// Reads it from the database and the configuration.
pub async fn read(
    settings: &BillingConfig,
    secrets: &Secrets,
    store: &Store,
    configured: Configured,
    jobs: Option<u32>,
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> anyhow::Result<BillingStatus> {
    let this = period(now, tz);
    let p = this.clone();
    let (subscriptions, usage, reports) = store
        .call(move |c| {
            Ok((
                store::subscriptions(c)?,
                store::usage(c, &p)?,
                store::reports(c)?,
            ))
        })
        .await?;
    let lapsed = super::lapse::reason(&subscriptions, now, tz);
    let current = subscriptions
        .iter()
        .find(|s| super::lapse::in_good_standing(s, now))
        .or(subscriptions.first());
    let plan = current.map(|s| s.plan.clone()).filter(|p| !p.is_empty());
    let plan_config = plan.as_ref().and_then(|p| settings.plans.get(p));
    let caps = plan_config.map_or_else(Vec::new, |pc| plans::caps(pc, configured, jobs));
    Ok(BillingStatus {
        lapsed,
        subscriptions,
        period: this,
        usage,
        report_usage: settings.report_usage,
        reports,
        plan_unconfigured: plan.is_some() && plan_config.is_none(),
        plan,
        caps,
        missing: missing(settings, secrets),
    })
}

/// The secrets billing needs that are not set, with what each is for.
pub fn missing(settings: &BillingConfig, secrets: &Secrets) -> Vec<String> {
    let mut out = Vec::new();
    if secrets.named(SIGNING_SECRET_VAR).is_none() {
        out.push(format!(
            "{SIGNING_SECRET_VAR} (without it POST /billing/lemonsqueezy is not served and no subscription change arrives)"
        ));
    }
    if settings.report_usage && secrets.named(API_KEY_VAR).is_none() {
        out.push(format!(
            "{API_KEY_VAR} (report_usage is on: usage reports wait until it is set)"
        ));
    }
    out
}

/// The lines people read, the notice first.
pub fn lines(s: &BillingStatus, tz: chrono_tz::Tz) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(r) = &s.lapsed {
        out.push(format!("⚠️ {}", dry_run_notice(r)));
        out.push("Destructive actions run as dry runs until the subscription is paid; proposals stay open and can still be decided.".into());
    }
    if s.subscriptions.is_empty() {
        out.push("No subscription known yet: Lemon Squeezy has sent no subscription event.".into());
    }
    for sub in &s.subscriptions {
        let plan = if sub.plan.is_empty() {
            "unknown plan"
        } else {
            &sub.plan
        };
        let mut l = format!(
            "Subscription {} ({plan}, customer {}): {} since {}",
            sub.id,
            sub.customer,
            sub.status,
            local(sub.status_since, tz)
        );
        if let Some(r) = sub.renews_at {
            l.push_str(&format!(", renews {}", local(r, tz)));
        }
        if let Some(e) = sub.ends_at {
            l.push_str(&format!(", ends {}", local(e, tz)));
        }
        out.push(l);
    }
    let total: i64 = s.usage.iter().map(|u| u.count).sum();
    let by_kind = s
        .usage
        .iter()
        .map(|u| format!("{} {}", u.count, u.kind))
        .collect::<Vec<_>>()
        .join(", ");
    out.push(if total == 0 {
        format!("Usage {}: no executed actions.", s.period)
    } else {
        format!("Usage {}: {total} executed action(s): {by_kind}.", s.period)
    });
    if s.report_usage {
        let r = &s.reports;
        let mut l = format!(
            "Usage reports to Lemon Squeezy: {} delivered, {} waiting, {} refused",
            r.delivered, r.queued, r.failed
        );
        if r.unreported > 0 {
            l.push_str(&format!(
                ", {} action(s) not reported yet (no subscription item known)",
                r.unreported
            ));
        }
        if let Some(e) = &r.last_error {
            l.push_str(&format!("; last error: {e}"));
        }
        out.push(l);
    } else {
        out.push("Usage is counted here only (report_usage = false).".into());
    }
    if let Some(plan) = &s.plan {
        if s.plan_unconfigured {
            out.push(format!(
                "Plan {plan}: no [billing.plans.{plan:?}] section, so no caps are known."
            ));
        } else {
            let caps = s
                .caps
                .iter()
                .map(plans::line)
                .collect::<Vec<_>>()
                .join("; ");
            out.push(format!("Plan {plan}: {caps}"));
        }
    }
    for m in &s.missing {
        out.push(format!("Not set: {m}"));
    }
    out
}

/// The chat answer.
pub fn message(s: &BillingStatus, tz: chrono_tz::Tz) -> ChatMessage {
    ChatMessage {
        title: match &s.lapsed {
            Some(_) => "Billing: lapsed, actions are dry runs".into(),
            None => "Billing".into(),
        },
        parts: vec![Part::Text(lines(s, tz).join("\n"))],
        footer: Some("Lemon Squeezy subscription; see `opsmate billing status`".into()),
    }
}
