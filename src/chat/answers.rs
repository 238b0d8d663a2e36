//! What OpsMate says, as neutral messages: answers to commands, proposals with their
//! buttons, decision outcomes, and refusals. Slack and Telegram render the same text.

use crate::approvals::kinds;
use crate::approvals::{DecisionError, Proposal, ProposalState, Refusal, Verdict};
use crate::audit;
use crate::chat::command::{Command, CommandBook, CommandError};
use crate::chat::message::{Button, ChatMessage, Part};
use crate::dispatch::Context;
use crate::domain::ActionKind;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// Most proposals listed by `approvals` in one answer.
pub const APPROVALS_LISTED: usize = 20;

/// Where a command was typed: the help and "did you mean" are written for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Slack,
    Telegram,
}

impl Surface {
    /// How a command is typed: `/opsmate zombies` on Slack, `/zombies` on Telegram.
    pub fn prefix(self) -> &'static str {
        match self {
            Surface::Slack => "/opsmate ",
            Surface::Telegram => "/",
        }
    }

    fn help_text(self, book: &CommandBook) -> String {
        match self {
            Surface::Slack => book.slack_help(self.prefix()),
            Surface::Telegram => book.telegram_help(),
        }
    }
}

/// Answers one of the core's commands typed on `surface` (a feature's command is
/// answered by the feature).
pub async fn answer(
    ctx: &Context,
    command: &Command,
    surface: Surface,
) -> anyhow::Result<Vec<ChatMessage>> {
    Ok(match command {
        Command::Help => vec![help(&ctx.commands, surface)],
        Command::Approvals => approvals(ctx).await?,
        Command::Audit { rows } => vec![audit_tail(ctx, *rows).await?],
        Command::Feature { .. } => Vec::new(),
    })
}

pub fn help(book: &CommandBook, surface: Surface) -> ChatMessage {
    ChatMessage::text("OpsMate help", surface.help_text(book))
}

/// For input that did not parse: the reason, "did you mean", and the help.
pub fn not_understood(error: &CommandError, book: &CommandBook, surface: Surface) -> ChatMessage {
    let mut text = format!("Sorry, I did not understand that: {}.", error.message);
    if let Some(s) = &error.suggestion {
        text.push_str(&format!("\nDid you mean `{}{s}`?", surface.prefix()));
    }
    ChatMessage {
        title: "Unknown command".into(),
        parts: vec![Part::Text(text), Part::Text(surface.help_text(book))],
        footer: None,
    }
}

async fn approvals(ctx: &Context) -> anyhow::Result<Vec<ChatMessage>> {
    let pending = ctx.gate.pending().await?;
    if pending.is_empty() {
        return Ok(vec![ChatMessage::text(
            "Open proposals",
            "No proposal is waiting for a decision.",
        )]);
    }
    let tz = ctx.config.timezone;
    let mut parts = Vec::new();
    for p in pending.iter().take(APPROVALS_LISTED) {
        parts.push(Part::Text(format!(
            "{}: {}\n{}\nExpires {}. Approval {}.",
            kind_label(p.kind),
            p.target,
            p.reason,
            local(p.expires_at, tz),
            p.id
        )));
        if ctx.gate.has_approvers(p) {
            parts.push(Part::Buttons(buttons(p)));
        } else {
            parts.push(Part::Text(nobody_can_approve(p.kind)));
        }
    }
    let footer = (pending.len() > APPROVALS_LISTED).then(|| {
        format!(
            "Showing the oldest {APPROVALS_LISTED} of {} open proposals.",
            pending.len()
        )
    });
    Ok(vec![ChatMessage {
        title: format!("Open proposals ({})", pending.len()),
        parts,
        footer,
    }])
}

async fn audit_tail(ctx: &Context, rows: usize) -> anyhow::Result<ChatMessage> {
    let records = ctx.store.call(move |c| audit::tail(c, rows)).await?;
    let lines: Vec<String> = records
        .iter()
        .map(|r| format!("#{} {} {} {} {}", r.seq, r.at, r.actor, r.event, r.subject))
        .collect();
    Ok(ChatMessage::text(
        format!("Audit log: newest {} rows", lines.len()),
        if lines.is_empty() {
            "The audit log is empty.".to_owned()
        } else {
            lines.join("\n")
        },
    ))
}

/// Human name of an action kind.
pub fn kind_label(kind: ActionKind) -> &'static str {
    kinds::label(kind)
}

/// The decision buttons of a proposal: the destructive one red, with a confirmation.
pub fn buttons(p: &Proposal) -> Vec<Button> {
    let (approve, reject, confirm, why) = kinds::spec(p.kind).map_or(
        ("Approve", "Reject", "Carry out this action?", false),
        |s| (s.approve, s.reject, s.confirm, s.approve_needs_reason),
    );
    vec![
        Button {
            label: approve.into(),
            approval: p.id.clone(),
            verdict: Verdict::Approve,
            // A dialog asking why comes instead of the confirmation.
            confirm: (!why).then(|| confirm.into()),
            asks_reason: why,
        },
        Button {
            label: reject.into(),
            approval: p.id.clone(),
            verdict: Verdict::Reject,
            confirm: None,
            asks_reason: true,
        },
    ]
}

/// Why nobody can approve a proposal of this kind, and which sections to fill in.
pub fn nobody_can_approve(kind: ActionKind) -> String {
    match kinds::spec(kind).and_then(|s| s.set_of) {
        Some(covered) => {
            let sections = covered
                .iter()
                .map(|k| format!("[approvals.{k}]"))
                .collect::<Vec<_>>();
            let sections = match sections.split_last() {
                Some((last, rest)) if !rest.is_empty() => {
                    format!("{} and {last}", rest.join(", "))
                }
                _ => sections.join(""),
            };
            format!(
                "Nobody is configured to approve every kind of action in this set, so nobody can approve it. Add approvers under {sections}."
            )
        }
        None => format!(
            "Nobody is configured to approve “{}” proposals, so nobody can approve this one. Add approvers under [approvals.{kind}].",
            kinds::label(kind)
        ),
    }
}

/// A new proposal, as posted to the channel.
pub fn proposal(p: &Proposal, approvers_configured: bool, tz: Tz) -> ChatMessage {
    let mut parts = vec![
        Part::Text(p.reason.clone()),
        Part::Fields(vec![
            ("Target".into(), p.target.clone()),
            ("Proposed by".into(), p.proposed_by.clone()),
            ("Expires".into(), local(p.expires_at, tz)),
            ("Approvals needed".into(), p.required_approvals.to_string()),
        ]),
    ];
    if approvers_configured {
        parts.push(Part::Buttons(buttons(p)));
    } else {
        parts.push(Part::Text(nobody_can_approve(p.kind)));
    }
    ChatMessage {
        title: format!("{}: {}", kind_label(p.kind), p.target),
        parts,
        footer: Some(format!("Approval {}", p.id)),
    }
}

/// The proposal's message once decided: no buttons; who decided, when, and what
/// really happened.
pub fn decided(p: &Proposal, tz: Tz) -> ChatMessage {
    let (mark, state) = match p.state {
        ProposalState::Succeeded => ("✅", "Approved and done"),
        ProposalState::Failed => ("⚠️", "Approved, but it failed"),
        ProposalState::Skipped => ("⏭️", "Approved, but skipped"),
        ProposalState::Rejected => ("❌", "Rejected"),
        ProposalState::Expired => ("⌛", "Expired"),
        ProposalState::Interrupted => ("⚠️", "Interrupted"),
        ProposalState::Pending | ProposalState::Approved | ProposalState::Executing => {
            ("⏳", "In progress")
        }
    };
    let mut fields = vec![("Target".into(), p.target.clone())];
    if let Some(by) = &p.decided_by {
        fields.push(("Decided by".into(), people(by)));
    }
    if let Some(note) = &p.decision_note {
        fields.push(("Reason".into(), note.clone()));
    }
    if let Some(at) = p.decided_at.or(p.finished_at) {
        fields.push(("At".into(), local(at, tz)));
    }
    let mut parts = vec![Part::Fields(fields)];
    if let Some(text) = outcome_text(p) {
        parts.push(Part::Text(text));
    }
    if p.state == ProposalState::Interrupted {
        parts.push(Part::Text(
            "OpsMate stopped while this ran. It will not be re-run; check the target by hand."
                .into(),
        ));
    }
    ChatMessage {
        title: format!("{mark} {state}: {} {}", kind_label(p.kind), p.target),
        parts,
        footer: Some(format!("Approval {}", p.id)),
    }
}

fn outcome_text(p: &Proposal) -> Option<String> {
    let outcome = p.outcome.as_ref()?;
    if let Some(why) = &outcome.skipped {
        return Some(format!("Skipped: {why}"));
    }
    // A report that lists what happened line by line says so in those lines.
    let summary = outcome.summary_lines();
    let lines = (!summary.is_empty()).then(|| summary.join("\n"));
    if let Some(err) = &outcome.error {
        return Some(match lines {
            Some(lines) => format!("Error: {err}\n{lines}"),
            None => format!("Error: {err}"),
        });
    }
    let dry = outcome.dry_run;
    // A dry run the switch forced starts its lines with the notice saying why.
    if dry && outcome.dry_run_reason.is_some() {
        return lines;
    }
    // An action's report is for the audit trail; chat shows only its summary lines.
    match (dry, lines) {
        (true, Some(lines)) => Some(format!("Dry run, nothing was changed:\n{lines}")),
        (true, None) => Some("Dry run, nothing was changed.".into()),
        (false, Some(lines)) => Some(format!("Result:\n{lines}")),
        (false, None) => None,
    }
}

/// A private answer to someone whose click did not decide anything.
pub fn refusal(error: &DecisionError, tz: Tz) -> ChatMessage {
    let text = match error {
        DecisionError::NotFound(id) => format!("There is no proposal {id}."),
        DecisionError::Refused { kind, refusal } => match refusal {
            Refusal::NotAnApprover => format!(
                "You are not allowed to approve “{}” proposals.",
                kind_label(*kind)
            ),
            Refusal::NoApproversConfigured => nobody_can_approve(*kind),
            Refusal::OwnProposal => {
                "You made this proposal, so someone else has to decide it.".into()
            }
            Refusal::NotATelegramApprover => {
                "You are not allowed to decide proposals from Telegram.".into()
            }
            Refusal::ReasonRequired => format!(
                "“{}” needs a reason, recorded with the decision. Press the button in Slack (a dialog asks why), type the reason after the command, or give one on the web console.",
                kind_label(*kind)
            ),
        },
        DecisionError::AlreadyDecided { state, by, at } => already_decided(*state, by, at, tz),
        DecisionError::Expired(at) => format!("This proposal expired at {}.", local(*at, tz)),
        DecisionError::AlreadyVoted => {
            "You already approved this; it needs another approver.".into()
        }
        DecisionError::Internal(_) => {
            "Something went wrong recording your decision; nothing was done. Please try again."
                .into()
        }
    };
    ChatMessage::text("Not done", text)
}

/// Why a click on a decided proposal changed nothing: who decided, when, and what
/// became of the proposal since. `by` holds comma-separated actor keys, `at` an
/// RFC 3339 time (empty when unknown).
fn already_decided(state: ProposalState, by: &str, at: &str, tz: Tz) -> String {
    let when = match DateTime::parse_from_rfc3339(at) {
        Ok(t) => format!(" at {}", local(t.with_timezone(&Utc), tz)),
        Err(_) if at.is_empty() => String::new(),
        Err(_) => format!(" at {at}"),
    };
    let approved = format!("approved by {}{when}", people(by));
    match state {
        ProposalState::Pending => {
            "This proposal has not been decided yet; please try again.".into()
        }
        ProposalState::Approved => {
            format!("This proposal was already {approved}, and it is queued to run.")
        }
        ProposalState::Executing => {
            format!("This proposal was already {approved}, and it is running now.")
        }
        ProposalState::Succeeded => {
            format!("This proposal was already {approved}, and it is done.")
        }
        ProposalState::Failed => format!("This proposal was {approved} but failed."),
        ProposalState::Skipped => {
            format!("This proposal was {approved} but skipped: it no longer qualified.")
        }
        ProposalState::Rejected => {
            format!(
                "This proposal was already rejected by {}{when}.",
                people(by)
            )
        }
        ProposalState::Expired => format!("This proposal expired{when} without a decision."),
        ProposalState::Interrupted => format!(
            "This proposal was {approved} but interrupted when OpsMate stopped; check the target by hand."
        ),
    }
}

/// Comma-separated actor keys as a list in words: `a`, `a and b`, `a, b and c`.
/// Slack keys (`slack:U…`) stay as they are; the Slack renderer turns them into mentions.
pub fn people(keys: &str) -> String {
    let names: Vec<&str> = keys
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .collect();
    match names.as_slice() {
        [] => "someone".into(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// A time in the configured zone, e.g. `2026-11-21 09:00 CET`.
pub fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn already(state: ProposalState, by: &str, at: &str) -> String {
        let error = DecisionError::AlreadyDecided {
            state,
            by: by.into(),
            at: at.into(),
        };
        match &refusal(&error, chrono_tz::Europe::Berlin).parts[..] {
            [Part::Text(text)] => text.clone(),
            other => panic!("one paragraph expected, got {other:?}"),
        }
    }

    #[test]
    fn a_late_click_says_who_decided_and_what_became_of_the_proposal() {
        let at = "2026-11-21T08:00:00+00:00";
        let when = "at 2026-11-21 09:00 CET";
        let cases = [
            (
                ProposalState::Approved,
                format!(
                    "This proposal was already approved by slack:UALICE {when}, and it is queued to run."
                ),
            ),
            (
                ProposalState::Executing,
                format!(
                    "This proposal was already approved by slack:UALICE {when}, and it is running now."
                ),
            ),
            (
                ProposalState::Succeeded,
                format!(
                    "This proposal was already approved by slack:UALICE {when}, and it is done."
                ),
            ),
            (
                ProposalState::Failed,
                format!("This proposal was approved by slack:UALICE {when} but failed."),
            ),
            (
                ProposalState::Skipped,
                format!(
                    "This proposal was approved by slack:UALICE {when} but skipped: it no longer qualified."
                ),
            ),
            (
                ProposalState::Rejected,
                format!("This proposal was already rejected by slack:UALICE {when}."),
            ),
            (
                ProposalState::Interrupted,
                format!(
                    "This proposal was approved by slack:UALICE {when} but interrupted when OpsMate stopped; check the target by hand."
                ),
            ),
            (
                ProposalState::Pending,
                "This proposal has not been decided yet; please try again.".to_owned(),
            ),
        ];
        for (state, expected) in cases {
            assert_eq!(already(state, "slack:UALICE", at), expected, "{state}");
        }
        assert_eq!(
            already(ProposalState::Expired, "nobody (expired)", at),
            format!("This proposal expired {when} without a decision.")
        );
    }

    #[test]
    fn several_deciders_are_named_in_words_and_a_missing_time_is_left_out() {
        assert_eq!(
            already(ProposalState::Succeeded, "slack:UALICE,slack:UBOB", ""),
            "This proposal was already approved by slack:UALICE and slack:UBOB, and it is done."
        );
        assert_eq!(
            people("telegram:1,telegram:2,telegram:3"),
            "telegram:1, telegram:2 and telegram:3"
        );
        assert_eq!(people(""), "someone");
        assert_eq!(
            already(ProposalState::Expired, "nobody (expired)", ""),
            "This proposal expired without a decision."
        );
    }
}
