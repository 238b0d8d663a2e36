//! What chat says about a pull request: the broken rules with **Waive**, and how it
//! stands after (waived, passing, merged, closed), rewritten in place; and a bypass,
//! posted on its own so it is seen.

use super::Sentinel;
use super::github::short;
use super::rules::rule_name;
use super::store::{Bypass, PullRow};
use crate::approvals::{Proposal, ProposalState};
use crate::chat::answers;
use crate::chat::message::{ChatMessage, Part};

/// The tag of a pull request's message.
pub fn tag(row: &PullRow) -> String {
    format!("sentinel:{}:", row.key())
}

fn rule_lines(row: &PullRow) -> String {
    row.results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| format!("❌ {}: {}", rule_name(&r.rule), r.text))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The pull request's message as it stands; `proposal` is its waive proposal.
pub fn pull(
    s: &Sentinel,
    row: &PullRow,
    proposal: Option<&Proposal>,
    can_decide: bool,
) -> ChatMessage {
    let failing = row.failing().len();
    let title = match (row.state.as_str(), row.passed, &row.waived_by) {
        ("merged", false, None) => {
            format!("⚠️ {} was merged with {failing} broken rule(s)", row.key())
        }
        ("merged", _, _) => format!("✅ {} was merged", row.key()),
        ("closed", _, _) => format!("{} was closed", row.key()),
        (_, true, _) => format!("✅ {} now passes every Sentinel rule", row.key()),
        (_, false, Some(_)) => format!("✅ {}: {failing} rule(s) waived", row.key()),
        (_, false, None) => format!("🚫 {} breaks {failing} Sentinel rule(s)", row.key()),
    };
    let mut parts = vec![Part::Fields(vec![
        ("Pull request".into(), format!("{} {}", row.title, row.url)),
        ("Author".into(), s.person(&row.author)),
        ("Head".into(), short(&row.head_sha).to_owned()),
    ])];
    if !row.passed {
        parts.push(Part::Text(rule_lines(row)));
    }
    if let (Some(by), Some(note)) = (&row.waived_by, &row.waive_note) {
        parts.push(Part::Text(format!(
            "Waived by {}: {note}",
            answers::people(by)
        )));
    }
    let mut footer = None;
    match proposal {
        Some(p) if p.state == ProposalState::Pending && row.state == "open" && !row.passed => {
            if can_decide {
                parts.push(Part::Buttons(answers::buttons(p)));
                footer = Some(format!(
                    "A waiver needs a reason. Waive with the button, or type `/opsmate sentinel waive {} <reason>` (Telegram: `/sentinel waive {} <reason>`). The author cannot waive their own pull request.",
                    row.key(),
                    row.key()
                ));
            } else {
                parts.push(Part::Text(answers::nobody_can_approve(p.kind)));
            }
        }
        Some(p) if p.state == ProposalState::Rejected && row.waived_by.is_none() && !row.passed => {
            let by = p
                .decided_by
                .as_deref()
                .map(answers::people)
                .unwrap_or_default();
            let why = p
                .decision_note
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default();
            parts.push(Part::Text(format!("Not waived ({by}{why}).")));
        }
        Some(p) if p.state == ProposalState::Expired && row.waived_by.is_none() && !row.passed => {
            parts.push(Part::Text(format!(
                "The waiver offer expired. Type `/opsmate sentinel waive {} <reason>` to waive it.",
                row.key()
            )));
        }
        Some(p) if matches!(p.state, ProposalState::Failed | ProposalState::Skipped) => {
            let why = p
                .outcome
                .as_ref()
                .and_then(|o| o.skipped.clone().or_else(|| o.error.clone()))
                .unwrap_or_default();
            parts.push(Part::Text(format!("The waiver did not go through: {why}")));
        }
        _ => {}
    }
    ChatMessage {
        title,
        parts,
        footer,
    }
}

/// The message announcing a bypass.
pub fn bypass(s: &Sentinel, b: &Bypass) -> ChatMessage {
    let merged_by = b
        .merged_by
        .as_deref()
        .map(|m| s.person(m))
        .unwrap_or_else(|| "someone".into());
    ChatMessage {
        title: format!(
            "⚠️ Bypass: {}#{} was merged while its check was failing",
            b.repo, b.number
        ),
        parts: vec![
            Part::Fields(vec![
                ("Pull request".into(), format!("{} {}", b.title, b.url)),
                ("Author".into(), s.person(&b.author)),
                ("Merged by".into(), merged_by),
                ("Head".into(), short(&b.head_sha).to_owned()),
            ]),
            Part::Text(format!(
                "Broken and not waived: {}. It is counted in the daily digest.",
                b.failing
                    .iter()
                    .map(|r| rule_name(r).to_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        ],
        footer: None,
    }
}
