//! What a subscription webhook does to its row: the subscription events carry the
//! whole subscription; the payment events carry an invoice and only move the status
//! (failed: past due; paid: active). An older subscription object arriving after a
//! newer one is not applied over it.

use super::store::Subscription;
use super::webhook::Hook;
use chrono::{DateTime, Utc};

/// Every status Lemon Squeezy gives a subscription.
pub const STATUSES: &[&str] = &[
    "on_trial",
    "active",
    "paused",
    "past_due",
    "unpaid",
    "cancelled",
    "expired",
];

/// The row after `hook`, or `None` when the hook is older than what is stored.
/// An `Err` says in words why the hook cannot be applied.
pub fn next(
    old: Option<&Subscription>,
    hook: &Hook,
    received_at: DateTime<Utc>,
) -> Result<Option<Subscription>, String> {
    let a = &hook.data.attributes;
    let event = hook.meta.event_name.as_str();
    let id = hook.subscription_id()?;
    let customer = a
        .customer_id
        .clone()
        .or_else(|| old.map(|o| o.customer.clone()))
        .ok_or_else(|| format!("{event} for subscription {id} names no customer_id"))?;
    let at = a.updated_at.unwrap_or(received_at);
    let mut new = match (hook.data.kind.as_str(), old) {
        ("subscriptions", Some(o))
            if o.source_updated_at
                .is_some_and(|s| a.updated_at.is_some_and(|u| u < s)) =>
        {
            return Ok(None);
        }
        ("subscriptions", _) => {
            let status = match &a.status {
                Some(s) => s.clone(),
                None => implied(event, old)
                    .ok_or_else(|| format!("{event} for subscription {id} has no status"))?,
            };
            Subscription {
                id: id.clone(),
                customer,
                status,
                plan: a
                    .variant_name
                    .clone()
                    .or_else(|| old.map(|o| o.plan.clone()))
                    .unwrap_or_default(),
                renews_at: a.renews_at,
                ends_at: a.ends_at,
                item_id: a
                    .first_subscription_item
                    .as_ref()
                    .map(|i| i.id.clone())
                    .or_else(|| old.and_then(|o| o.item_id.clone())),
                status_since: at,
                source_updated_at: a
                    .updated_at
                    .or_else(|| old.and_then(|o| o.source_updated_at)),
                last_event: event.to_owned(),
                updated_at: received_at,
            }
        }
        (_, old) => {
            let status = match (event, old.map(|o| o.status.as_str())) {
                // Worse than past due already: a failed retry does not improve it.
                ("subscription_payment_failed", Some(s @ ("unpaid" | "expired"))) => s.to_owned(),
                ("subscription_payment_failed", _) => "past_due".to_owned(),
                ("subscription_payment_success", _) => "active".to_owned(),
                (other, _) => return Err(format!("{other} does not carry a subscription invoice")),
            };
            Subscription {
                id: id.clone(),
                customer,
                status,
                plan: old.map(|o| o.plan.clone()).unwrap_or_default(),
                renews_at: old.and_then(|o| o.renews_at),
                ends_at: old.and_then(|o| o.ends_at),
                item_id: old.and_then(|o| o.item_id.clone()),
                status_since: at,
                source_updated_at: old.and_then(|o| o.source_updated_at),
                last_event: event.to_owned(),
                updated_at: received_at,
            }
        }
    };
    if !STATUSES.contains(&new.status.as_str()) {
        return Err(format!(
            "subscription {id} has the unknown status {:?}",
            new.status
        ));
    }
    // The status keeps its first moment while it stays the same.
    if let Some(o) = old
        && o.status == new.status
    {
        new.status_since = o.status_since;
    }
    Ok(Some(new))
}

/// The status an event means when its body does not say.
fn implied(event: &str, old: Option<&Subscription>) -> Option<String> {
    match event {
        "subscription_created" | "subscription_resumed" => Some("active".into()),
        "subscription_cancelled" => Some("cancelled".into()),
        "subscription_expired" => Some("expired".into()),
        _ => old.map(|o| o.status.clone()),
    }
}

/// True when `a` and `b` differ in what the table shows.
pub fn changed(a: &Subscription, b: &Subscription) -> bool {
    (
        &a.customer,
        &a.status,
        &a.plan,
        a.renews_at,
        a.ends_at,
        &a.item_id,
    ) != (
        &b.customer,
        &b.status,
        &b.plan,
        b.renews_at,
        b.ends_at,
        &b.item_id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::billing::webhook::parse;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, h, 0, 0).unwrap()
    }

    fn sub_hook(event: &str, status: &str, updated: &str) -> Hook {
        parse(
            serde_json::json!({
                "meta": {"event_name": event},
                "data": {"type": "subscriptions", "id": "1", "attributes": {
                    "customer_id": 7, "status": status, "variant_name": "Team",
                    "renews_at": "2026-12-21T00:00:00Z", "ends_at": null,
                    "updated_at": updated, "first_subscription_item": {"id": 99}
                }}
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap()
    }

    fn invoice(event: &str) -> Hook {
        parse(
            serde_json::json!({
                "meta": {"event_name": event},
                "data": {"type": "subscription-invoices", "id": "500", "attributes": {
                    "customer_id": 7, "subscription_id": 1, "status": "pending"
                }}
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn payments_move_the_status_and_keep_the_rest() {
        let created = next(
            None,
            &sub_hook("subscription_created", "active", "2026-11-21T01:00:00Z"),
            at(1),
        )
        .unwrap()
        .unwrap();
        assert_eq!(created.plan, "Team");
        assert_eq!(created.item_id.as_deref(), Some("99"));
        let failed = next(
            Some(&created),
            &invoice("subscription_payment_failed"),
            at(2),
        )
        .unwrap()
        .unwrap();
        assert_eq!(failed.status, "past_due");
        assert_eq!(failed.plan, "Team");
        assert_eq!(failed.status_since, at(2));
        let again = next(
            Some(&failed),
            &invoice("subscription_payment_failed"),
            at(3),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            again.status_since,
            at(2),
            "still past due since the first failure"
        );
        let paid = next(
            Some(&again),
            &invoice("subscription_payment_success"),
            at(4),
        )
        .unwrap()
        .unwrap();
        assert_eq!(paid.status, "active");
    }

    #[test]
    fn an_older_subscription_object_is_not_applied_and_unknown_statuses_are_refused() {
        let new = next(
            None,
            &sub_hook("subscription_updated", "active", "2026-11-21T05:00:00Z"),
            at(5),
        )
        .unwrap()
        .unwrap();
        let late = sub_hook("subscription_updated", "past_due", "2026-11-21T04:00:00Z");
        assert_eq!(next(Some(&new), &late, at(6)), Ok(None));
        let odd = sub_hook("subscription_updated", "frozen", "2026-11-21T07:00:00Z");
        assert!(next(Some(&new), &odd, at(7)).is_err());
    }
}
