//! Billing: a hosted OpsMate's subscription through Lemon Squeezy.
//!
//! - [`webhook`] is the signed door's spec and the body's typed shape; [`apply`]
//!   turns a delivery into the subscription's new row;
//! - [`lapse`] decides from the rows whether the subscription has lapsed; while it
//!   has, the gate's dry-run switch is on and every action's report says why;
//! - [`usage`] counts every executed action once; [`report`] sends the counts to
//!   Lemon Squeezy's usage-records API, retried until they arrive;
//! - [`plans`] compares what is configured with what the plan allows;
//! - [`status`] is `/opsmate billing`, `opsmate billing status` and the digest's
//!   section; [`store`] holds the SQL; [`plug`] plugs it in.

pub mod apply;
pub mod cli;
pub mod config;
pub mod lapse;
pub mod plans;
pub mod plug;
pub mod report;
pub mod status;
pub mod store;
pub mod usage;
pub mod webhook;

pub use plug::PLUG;

use crate::approvals::DryRunSwitch;
use crate::audit;
use crate::dispatch::Context;
use crate::http::webhooks::Delivery;
use crate::store::Store;
use chrono::{DateTime, Utc};
use config::BillingConfig;
use serde_json::json;
use std::sync::OnceLock;
use tokio::sync::Notify;

/// Billing's settings and state, built once at start-up.
pub struct Billing {
    pub settings: BillingConfig,
    pub tz: chrono_tz::Tz,
    pub(crate) http: reqwest::Client,
    /// The gate's dry-run switch: on while the subscription has lapsed.
    pub(crate) switch: DryRunSwitch,
    /// Actions finished before this are not counted.
    pub(crate) counting_since: DateTime<Utc>,
    /// What the configuration runs, for the plan's caps.
    pub(crate) configured: plans::Configured,
    /// The whole configuration, to ask every feature for its jobs once all are built.
    pub(crate) config: crate::config::Config,
    /// Every running feature's scheduled jobs, known once all are built.
    pub(crate) jobs: OnceLock<u32>,
    /// Wakes the reporter (a report was queued).
    pub(crate) wake: Notify,
    /// One counting pass at a time.
    pub(crate) counting: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Billing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Billing")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Billing {
    /// Applies one verified delivery to its subscription's row, audited, then turns
    /// the dry-run switch to what the rows now say.
    pub async fn take(&self, ctx: &Context, delivery: &Delivery) -> anyhow::Result<()> {
        let hook = webhook::parse(&delivery.body).map_err(anyhow::Error::msg)?;
        let received_at = delivery.received_at;
        let now = ctx.clock.now();
        let changed = ctx
            .store
            .call(move |c| {
                crate::store::immediate(c, |tx| {
                    let id = hook.subscription_id().map_err(anyhow::Error::msg)?;
                    let old = store::subscription(tx, &id)?;
                    let Some(new) = apply::next(old.as_ref(), &hook, received_at)
                        .map_err(anyhow::Error::msg)?
                    else {
                        return Ok(None);
                    };
                    store::upsert(tx, &new)?;
                    if old.as_ref().is_some_and(|o| !apply::changed(o, &new)) {
                        return Ok(None);
                    }
                    audit::append(
                        tx,
                        now,
                        "lemonsqueezy",
                        audit::events::BILLING_SUBSCRIPTION_CHANGED,
                        &format!("subscription:{}", new.id),
                        &json!({
                            "event": hook.meta.event_name,
                            "before": old.as_ref().map(|o| o.status.clone()),
                            "status": new.status,
                            "customer": new.customer,
                            "plan": new.plan,
                            "renews_at": new.renews_at,
                            "ends_at": new.ends_at,
                            "test_mode": hook.meta.test_mode,
                        }),
                    )?;
                    Ok(Some(new))
                })
            })
            .await?;
        match &changed {
            Some(s) => {
                tracing::info!(subscription = %s.id, status = %s.status, event = %delivery.event, "subscription changed")
            }
            None => {
                tracing::debug!(event = %delivery.event, "subscription unchanged (a repeat or an older update)")
            }
        }
        self.sync_lapse(&ctx.store, now).await?;
        Ok(())
    }

    /// Turns the dry-run switch to what the stored subscriptions say at `now`; a
    /// change (kept in `billing_state`, so a restart audits none twice) is audited.
    /// Returns the reason while lapsed.
    pub async fn sync_lapse(
        &self,
        store: &Store,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<String>> {
        let tz = self.tz;
        let reason = store
            .call(move |c| {
                crate::store::immediate(c, |tx| {
                    let reason = lapse::reason(&store::subscriptions(tx)?, now, tz);
                    let was = store::state(tx, "lapse")?.filter(|s| !s.is_empty());
                    if was != reason {
                        store::set_state(tx, "lapse", reason.as_deref().unwrap_or_default())?;
                        let (event, details) = match &reason {
                            Some(r) => (
                                audit::events::BILLING_LAPSED,
                                json!({"reason": r, "effect": "destructive actions run as dry runs; pending proposals stay open"}),
                            ),
                            None => (
                                audit::events::BILLING_RESTORED,
                                json!({"was": was, "effect": "actions change cloud state again"}),
                            ),
                        };
                        audit::append(tx, now, "billing", event, "billing", &details)?;
                    }
                    Ok(reason)
                })
            })
            .await?;
        if self.switch.reason() != reason {
            match &reason {
                Some(r) => {
                    tracing::warn!(reason = %r, "the subscription has lapsed: destructive actions run as dry runs")
                }
                None => tracing::info!(
                    "the subscription is in good standing: actions change cloud state"
                ),
            }
            self.switch.set(reason.clone());
        }
        Ok(reason)
    }
}
