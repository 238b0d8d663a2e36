//! What Night Watchman says: the keep message, the stop notice (or approval request)
//! with its buttons, instance lines and the savings estimate.

use super::Watchman;
use super::check::{Check, InstanceAction};
use crate::approvals::Proposal;
use crate::chat::answers::{self, local};
use crate::chat::message::{ChatMessage, Part};
use chrono::{DateTime, Utc};

pub fn instance_lines(check: &Check) -> Vec<String> {
    check
        .instances
        .iter()
        .map(|i| {
            let name = i
                .name
                .as_deref()
                .map(|n| format!(" {n}"))
                .unwrap_or_default();
            match (&i.action, &i.why) {
                (InstanceAction::Skip, Some(why)) => {
                    format!(
                        "{} ({}) {}{name}: skipped, {why}",
                        i.id, i.region, i.instance_type
                    )
                }
                _ => format!("{} ({}) {}{name}", i.id, i.region, i.instance_type),
            }
        })
        .collect()
}

pub fn savings_text(check: &Check, w: &Watchman) -> String {
    match (check.estimated_savings_usd, check.hours_stopped, &w.start) {
        (Some(usd), Some(h), Some(start)) => {
            let at = start
                .next_after(check.checked_at)
                .map(|t| local(t, w.tz))
                .unwrap_or_default();
            let unknown = if check.unpriced_types.is_empty() {
                String::new()
            } else {
                format!(
                    " (not counting {}: not in the price table)",
                    check.unpriced_types.join(", ")
                )
            };
            format!(
                "Stopped until the morning start at {at} ({h:.1} h), this saves about ${usd:.2}{unknown}."
            )
        }
        _ => "Savings unknown: there is no morning start.".into(),
    }
}

/// The evening message when staging stays up.
pub fn keep_message(check: &Check) -> ChatMessage {
    let mut parts = vec![Part::Text(format!(
        "Reasons:\n• {}",
        check.reasons.join("\n• ")
    ))];
    if !check.instances.is_empty() {
        parts.push(Part::Text(format!(
            "Instances:\n{}",
            instance_lines(check).join("\n")
        )));
    }
    ChatMessage {
        title: "🌙 Night Watchman: staging stays up tonight".into(),
        parts,
        footer: None,
    }
}

/// The notice (or approval request) for a stop, with its buttons.
pub fn stop_message(
    p: &Proposal,
    check: &Check,
    w: &Watchman,
    deadline: Option<DateTime<Utc>>,
    can_approve: bool,
) -> ChatMessage {
    let n = check.to_stop().count();
    let title = match deadline {
        Some(at) => format!(
            "🌙 Night Watchman: stopping {n} staging instance(s) at {}",
            local(at, w.tz)
        ),
        None => format!("🌙 Night Watchman: stop {n} staging instance(s)?"),
    };
    let mut parts = vec![
        Part::Text(format!(
            "Nobody seems to be working:\n• {}",
            check.reasons.join("\n• ")
        )),
        Part::Text(instance_lines(check).join("\n")),
        Part::Text(savings_text(check, w)),
    ];
    if can_approve {
        parts.push(Part::Buttons(answers::buttons(p)));
    } else {
        parts.push(Part::Text(answers::nobody_can_approve(p.kind)));
    }
    let footer = match deadline {
        Some(_) => format!("Keep online cancels tonight's stop. Approval {}", p.id),
        None => format!("Nothing stops without an approval. Approval {}", p.id),
    };
    ChatMessage {
        title,
        parts,
        footer: Some(footer),
    }
}
