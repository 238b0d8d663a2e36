//! What an incident's message says (pure). It is rewritten as the incident changes,
//! and every line says what really happened: who acked and when, who muted it,
//! which remediation ran on whose approval and how it ended, how long it lasted.

use super::config::Plan;
use super::escalate::queue::Sent;
use super::store::{Incident, Member};
use crate::approvals::ProposalState;
use crate::chat::answers::local;
use crate::chat::message::{ChatMessage, Part, Press};
use crate::features::observatory::runner::human;
use crate::features::observatory::status::Status;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// The buttons' actions.
pub const ACK: &str = "incidents.ack";
pub const MUTE: &str = "incidents.mute";
pub const FIX: &str = "incidents.fix";

/// A remediation asked for on this incident, as the gate recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fix {
    pub remediation: String,
    pub state: ProposalState,
    /// Who approved it (people's keys, or the rule).
    pub decided_by: Option<String>,
    /// What happened, from its outcome.
    pub lines: Vec<String>,
}

/// Everything the message shows.
pub struct View<'a> {
    pub incident: &'a Incident,
    pub members: &'a [Member],
    pub fixes: &'a [Fix],
    /// Pages, webhook calls and mail about it.
    pub sent: &'a [Sent],
    pub offered: &'a [Plan<'a>],
    pub mute_for: std::time::Duration,
    pub tz: Tz,
    pub now: DateTime<Utc>,
}

fn mark(s: Status) -> &'static str {
    match s {
        Status::Ok => "✅",
        Status::Warn => "🟠",
        Status::Critical | Status::Error => "🔴",
    }
}

pub fn render(v: &View<'_>) -> ChatMessage {
    let i = v.incident;
    let title = match i.resolved_at {
        Some(at) => format!(
            "✅ Incident #{}: {} recovered after {}",
            i.id,
            i.check,
            human(at - i.opened_at)
        ),
        None => format!(
            "{} Incident #{}: {} is {}",
            mark(i.severity),
            i.id,
            i.check,
            i.severity
        ),
    };
    let mut parts = vec![Part::Text(match (&i.resolved_at, &i.resolved_note) {
        (Some(_), Some(note)) => format!("Was {}: {}\nNow: {note}", i.severity, i.summary),
        _ => i.summary.clone(),
    })];
    let mut fields = vec![("Opened".to_owned(), local(i.opened_at, v.tz))];
    fields.push((
        "Owner".to_owned(),
        match (&i.acked_by, i.acked_at) {
            (Some(by), Some(at)) => format!("{by}, acked {}", local(at, v.tz)),
            (Some(by), None) => by.clone(),
            _ if i.is_open() => "nobody yet: Ack to own it".to_owned(),
            _ => "nobody acked it".to_owned(),
        },
    ));
    if let (Some(by), Some(until)) = (&i.muted_by, i.muted_until)
        && (i.is_open() || until > i.resolved_at.unwrap_or(v.now))
    {
        let verb = if until > v.now {
            "muted until"
        } else {
            "was muted until"
        };
        fields.push((
            "Muted".to_owned(),
            format!("by {by}, {verb} {}", local(until, v.tz)),
        ));
    }
    if let Some(at) = i.resolved_at {
        fields.push(("Recovered".to_owned(), local(at, v.tz)));
    }
    parts.push(Part::Fields(fields));
    if !v.members.is_empty() {
        let mut lines = vec![format!("Failing while {} is down:", i.check)];
        lines.extend(v.members.iter().map(|m| match m.recovered_at {
            Some(at) => format!(
                "• {} recovered {} (was {})",
                m.check,
                local(at, v.tz),
                m.status
            ),
            None if i.is_open() => format!("• {} is {}: {}", m.check, m.status, m.summary),
            None => format!(
                "• {} was still {} when {} recovered: {}",
                m.check, m.status, i.check, m.summary
            ),
        }));
        parts.push(Part::Text(lines.join("\n")));
    }
    if !v.sent.is_empty() {
        parts.push(Part::Text(escalation_lines(v.sent, v.tz).join("\n")));
    }
    if !v.fixes.is_empty() {
        let lines: Vec<String> = v.fixes.iter().map(fix_line).collect();
        parts.push(Part::Text(lines.join("\n")));
    }
    if i.is_open() {
        let mut presses = Vec::new();
        if i.acked_by.is_none() {
            presses.push(Press::new("👋 Ack", ACK, i.id.to_string()));
        }
        presses.push(Press::new(
            format!("🔕 Mute {}", humantime::format_duration(v.mute_for)),
            MUTE,
            i.id.to_string(),
        ));
        for plan in v.offered {
            let mut p = Press::new(plan.label.clone(), FIX, format!("{}:{}", i.id, plan.name));
            p.confirm = Some(if plan.is_runbook {
                format!(
                    "Run the {} steps of {} for {} now?",
                    plan.steps.len(),
                    plan.name,
                    i.check
                )
            } else {
                format!("Run {} for {} now?", plan.name, i.check)
            });
            presses.push(p);
        }
        parts.push(Part::Presses(presses));
    }
    ChatMessage {
        title,
        parts,
        footer: Some(format!("Incident #{} · {}", i.id, i.check)),
    }
}

fn fix_line(f: &Fix) -> String {
    let by = f
        .decided_by
        .as_deref()
        .map(|b| format!(", approved by {b}"))
        .unwrap_or_default();
    let state = match f.state {
        ProposalState::Pending => "waiting for an approver",
        ProposalState::Approved | ProposalState::Executing => "running",
        ProposalState::Succeeded => "done",
        ProposalState::Failed => "failed",
        ProposalState::Skipped => "skipped",
        ProposalState::Rejected => "rejected",
        ProposalState::Expired => "expired unapproved",
        ProposalState::Interrupted => "interrupted",
    };
    let mut line = format!("🔧 {}{by}: {state}", f.remediation);
    for l in &f.lines {
        line.push_str("\n    ");
        line.push_str(l);
    }
    line
}

/// One line per delivery: where it went, why, and whether it arrived.
fn escalation_lines(sent: &[Sent], tz: Tz) -> Vec<String> {
    sent.iter()
        .map(|s| {
            let what = match s.event.as_str() {
                "trigger" => format!(
                    "📟 Escalated (level {}) to {}",
                    s.level,
                    target_words(&s.target)
                ),
                "acknowledge" => format!("📟 Ack passed on to {}", target_words(&s.target)),
                _ => format!("📟 Resolved at {}", target_words(&s.target)),
            };
            let state = match (s.state.as_str(), &s.last_error) {
                ("delivered", _) => "delivered".to_owned(),
                ("failed", Some(e)) => format!("❌ refused: {e}"),
                ("failed", None) => "❌ refused".to_owned(),
                (_, Some(e)) => format!("⏳ not delivered yet, retrying ({e})"),
                _ => "⏳ sending".to_owned(),
            };
            format!("{what}, {}: {state}", local(s.created_at, tz))
        })
        .collect()
}

fn target_words(target: &str) -> String {
    match target {
        "pagerduty" => "PagerDuty".to_owned(),
        "email" => "email".to_owned(),
        other => other.replace("webhook:", "webhook "),
    }
}
