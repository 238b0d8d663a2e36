//! Escalation: an incident nobody acked (or muted) within a level's `after` goes to
//! that level's targets: PagerDuty, signed webhooks, email.
//!
//! Everything goes through the deliveries queue ([`queue`]), written in the same
//! transaction as the change it reports, and sent in order per target until it
//! arrives: a pager outage delays a page, it never loses one. An ack is passed on
//! (PagerDuty `acknowledge`, webhook `incident.acked`), and a recovery resolves
//! every place the incident went.

pub mod email;
pub mod pagerduty;
pub mod queue;
pub mod smtp;
pub mod webhook;

use super::Incidents;
use super::config::EscalationLevel;
use super::open::incident_subject;
use super::store::{self, Incident};
use crate::audit;
use crate::dispatch::Context;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde_json::{Value, json};
use std::time::Duration;

/// How long one delivery may take.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest wait between two attempts of one delivery.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// How one delivery attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Not now (no answer, 5xx, 429, a secret not set yet): tried again later.
    Retry(String),
    /// Never (the target refused it for good): kept as failed, audited, shown.
    Failed(String),
}

/// The first 200 characters of a response, for an error line.
pub fn short(text: &str) -> String {
    text.chars().take(200).collect()
}

pub const PAGERDUTY: &str = "pagerduty";
pub const EMAIL: &str = "email";

fn webhook_target(name: &str) -> String {
    format!("webhook:{name}")
}

/// The words for a level's targets: "PagerDuty, webhook ops, email oncall@example.com".
pub fn describe(level: &EscalationLevel) -> String {
    let mut out = Vec::new();
    if level.pagerduty {
        out.push("PagerDuty".to_owned());
    }
    out.extend(level.webhooks.iter().map(|w| format!("webhook {w}")));
    if !level.email.is_empty() {
        out.push(format!("email {}", level.email.join(", ")));
    }
    out.join(", ")
}

/// The mail a level sends.
fn mail(i: &Incident, level: i64, to: &[String], tz: chrono_tz::Tz) -> Value {
    json!({
        "to": to,
        "subject": format!("[OpsMate] Incident #{}: {} is {} (escalation level {level})", i.id, i.check, i.severity),
        "text": format!(
            "{} is {} since {} and nobody has acked it.\n\n{}\n\nAck it in Slack or Telegram to stop the escalation.\n\nOpsMate incident #{}",
            i.check, i.severity, crate::chat::answers::local(i.opened_at, tz), i.summary, i.id
        ),
    })
}

/// Queues a level's deliveries, inside the transaction that records the level.
fn queue_level(
    c: &Connection,
    i: &Incident,
    n: i64,
    level: &EscalationLevel,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if level.pagerduty {
        queue::enqueue(
            c,
            i.id,
            PAGERDUTY,
            "trigger",
            n,
            &pagerduty::trigger(i, n),
            now,
        )?;
    }
    for w in &level.webhooks {
        let body = webhook::event("incident.escalated", i, n);
        queue::enqueue(c, i.id, &webhook_target(w), "trigger", n, &body, now)?;
    }
    if !level.email.is_empty() {
        queue::enqueue(
            c,
            i.id,
            EMAIL,
            "trigger",
            n,
            &mail(i, n, &level.email, tz),
            now,
        )?;
    }
    Ok(())
}

/// Follows an ack to where the incident went: PagerDuty acknowledges its alert,
/// webhooks hear `incident.acked`. Called in the ack's transaction.
pub fn on_acked(c: &Connection, incident: i64, now: DateTime<Utc>) -> anyhow::Result<()> {
    follow_up(c, incident, "acknowledge", "incident.acked", None, now)
}

/// Follows a recovery to everywhere the incident went. Called in the transaction
/// that resolves it.
pub fn on_resolved(
    c: &Connection,
    incident: i64,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    follow_up(c, incident, "resolve", "incident.resolved", Some(tz), now)
}

fn follow_up(
    c: &Connection,
    incident: i64,
    action: &str,
    hook_event: &str,
    mail_tz: Option<chrono_tz::Tz>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let Some(i) = store::get(c, incident)? else {
        return Ok(());
    };
    let level = queue::level_of(c, incident)?;
    let mut done = std::collections::HashSet::new();
    let mut mailed: Vec<String> = Vec::new();
    for (target, payload) in queue::triggers(c, incident)? {
        if target == EMAIL {
            for to in payload["to"].as_array().into_iter().flatten() {
                if let Some(to) = to.as_str()
                    && !mailed.iter().any(|m| m == to)
                {
                    mailed.push(to.to_owned());
                }
            }
            continue;
        }
        if !done.insert(target.clone()) {
            continue;
        }
        let body = if target == PAGERDUTY {
            pagerduty::follow_up(incident, action)
        } else {
            webhook::event(hook_event, &i, level)
        };
        queue::enqueue(c, incident, &target, action, level, &body, now)?;
    }
    if let (Some(tz), false) = (mail_tz, mailed.is_empty()) {
        let body = json!({
            "to": mailed,
            "subject": format!("[OpsMate] Resolved: incident #{} ({} recovered)", i.id, i.check),
            "text": format!(
                "{} recovered at {} after {}.\n\n{}\n\nOpsMate incident #{}",
                i.check,
                crate::chat::answers::local(now, tz),
                crate::features::observatory::runner::human(now - i.opened_at),
                i.resolved_note.clone().unwrap_or_default(),
                i.id
            ),
        });
        queue::enqueue(c, incident, EMAIL, action, level, &body, now)?;
    }
    Ok(())
}

impl Incidents {
    /// Raises every open, unacked, unmuted incident to the levels it is old enough
    /// for. Returns how many levels were reached.
    pub async fn escalate_once(&self, ctx: &Context) -> anyhow::Result<usize> {
        if self.settings.escalation.is_empty() {
            return Ok(0);
        }
        let now = ctx.clock.now();
        let mut reached = 0;
        for i in ctx.store.call(|c| store::open_all(c)).await? {
            if i.acked_by.is_some() || i.is_muted(now) {
                continue;
            }
            let age = (now - i.opened_at).to_std().unwrap_or_default();
            for (n, level) in self.settings.escalation.iter().enumerate() {
                let n = n as i64 + 1;
                if n <= i.escalated_level || age < level.after {
                    continue;
                }
                let (level, incident, tz) = (level.clone(), i.clone(), self.tz);
                let raised = ctx
                    .store
                    .call(move |c| {
                        crate::store::immediate(c, |tx| {
                            let from = queue::level_of(tx, incident.id)?;
                            if from >= n || !queue::raise_level(tx, incident.id, from, n)? {
                                return Ok(false);
                            }
                            queue_level(tx, &incident, n, &level, tz, now)?;
                            audit::append(
                                tx,
                                now,
                                "incidents",
                                audit::events::INCIDENT_ESCALATED,
                                &incident_subject(incident.id),
                                &json!({"level": n, "after": humantime::format_duration(level.after).to_string(),
                                        "targets": describe(&level), "check": incident.check}),
                            )?;
                            Ok(true)
                        })
                    })
                    .await?;
                if raised {
                    reached += 1;
                }
            }
        }
        Ok(reached)
    }

    /// Sends every due delivery once. Returns how many arrived.
    pub async fn deliver_once(&self, ctx: &Context) -> anyhow::Result<usize> {
        let now = ctx.clock.now();
        let due = ctx.store.call(move |c| queue::due_heads(c, now)).await?;
        let mut arrived = 0;
        for d in due {
            let attempt = self.attempt(ctx, &d).await;
            let (id, now) = (d.id, ctx.clock.now());
            match &attempt {
                Attempt::Delivered => {
                    arrived += 1;
                    let incident = d.incident;
                    ctx.store
                        .call(move |c| {
                            queue::delivered(c, id, now)?;
                            store::bump(c, incident)
                        })
                        .await?;
                }
                Attempt::Retry(why) => {
                    let wait = backoff(d.attempts);
                    tracing::warn!(target = %d.target, incident = d.incident, error = %why, "escalation not delivered; trying again in {}", humantime::format_duration(wait));
                    let (why, next) = (why.clone(), now + chrono::Duration::from_std(wait)?);
                    ctx.store
                        .call(move |c| queue::retry(c, id, &why, next))
                        .await?;
                }
                Attempt::Failed(why) => {
                    tracing::error!(target = %d.target, incident = d.incident, error = %why, "escalation refused for good");
                    let (why, target, incident) = (why.clone(), d.target.clone(), d.incident);
                    ctx.store
                        .call(move |c| {
                            crate::store::immediate(c, |tx| {
                                queue::failed(tx, id, &why)?;
                                store::bump(tx, incident)?;
                                audit::append(
                                    tx,
                                    now,
                                    "incidents",
                                    audit::events::INCIDENT_DELIVERY_FAILED,
                                    &incident_subject(incident),
                                    &json!({"target": target, "error": why}),
                                )?;
                                Ok(())
                            })
                        })
                        .await?;
                }
            }
        }
        Ok(arrived)
    }

    async fn attempt(&self, ctx: &Context, d: &queue::Delivery) -> Attempt {
        let s = &self.settings;
        if d.target == PAGERDUTY {
            let Some(pd) = &s.pagerduty else {
                return Attempt::Retry("[incidents.pagerduty] is not configured".into());
            };
            let Some(key) = ctx.secrets.named(&pd.routing_key_env) else {
                return Attempt::Retry(format!("{} is not set", pd.routing_key_env));
            };
            return pagerduty::send(&self.http, &pd.events_url, key.expose(), &d.payload).await;
        }
        if d.target == EMAIL {
            let Some(e) = &s.email else {
                return Attempt::Retry("[incidents.email] is not configured".into());
            };
            return email::send(e, &ctx.secrets, &d.payload).await;
        }
        let name = d.target.strip_prefix("webhook:").unwrap_or_default();
        let Some(w) = s.webhook(name) else {
            return Attempt::Retry(format!("no webhook named {name} is configured"));
        };
        let Some(secret) = ctx.secrets.named(&w.secret_env) else {
            return Attempt::Retry(format!("{} is not set", w.secret_env));
        };
        webhook::send(&self.http, &w.url, secret.expose(), d.id, &d.payload).await
    }
}

/// 1 s, 2 s, 4 s … up to five minutes.
fn backoff(attempts: i64) -> Duration {
    let secs = 1u64 << attempts.clamp(0, 16);
    Duration::from_secs(secs).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
