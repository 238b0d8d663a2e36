//! What an episode's chat message and its pull request body say (pure). The chat
//! message is rewritten as the episode moves; every line says what really
//! happened: since when it is degraded, which revision it goes back to and why,
//! the eight invariants with their numbers, who decided the merge, and the outcome.

use super::Rollback;
use super::config::AppConfig;
use super::github::short;
use super::invariants::Invariant;
use super::poll::human;
use super::state::{AppRow, State};
use crate::approvals::{Proposal, ProposalState};
use crate::chat::answers::{self, local};
use crate::chat::message::{ChatMessage, Part};
use chrono_tz::Tz;

/// At most this many undone commits are listed.
const COMMITS_SHOWN: usize = 10;

/// The headline of a state.
fn headline(row: &AppRow) -> String {
    let state = if row.state.in_episode() {
        row.state
    } else {
        row.flow.ended.unwrap_or(row.state)
    };
    let pr = row
        .flow
        .pull
        .as_ref()
        .map(|p| format!("#{}", p.number))
        .unwrap_or_default();
    match state {
        State::Degraded => "degraded, looking for a stable revision".into(),
        State::CandidateFound => "degraded, opening a rollback pull request".into(),
        State::PrOpen => format!("rollback {pr} opened, waiting for CI"),
        State::AwaitingApproval => format!("rollback {pr} waits for a decision"),
        State::Merging => format!("merging rollback {pr}"),
        State::Merged | State::Verifying => {
            format!("rollback {pr} merged, waiting for Argo CD")
        }
        State::Recovered => "✅ recovered after the rollback".into(),
        State::Failed => "❌ still degraded after the rollback".into(),
        State::Aborted => "⚠️ rollback aborted".into(),
        State::Healthy | State::Suspect => "healthy".into(),
    }
}

/// The evidence both the chat message and the pull request show.
fn evidence(row: &AppRow, tz: Tz) -> Vec<String> {
    let f = &row.flow;
    let mut lines = Vec::new();
    if let Some(since) = f.degraded_since {
        let replicas = f
            .replicas
            .map(|r| format!("; {} of {} replicas available", r.available, r.desired))
            .unwrap_or_default();
        lines.push(format!(
            "Degraded since {} ({} Degraded polls in a row), running {}{replicas}.",
            local(since, tz),
            f.degraded_polls,
            short(&f.bad_revision)
        ));
    }
    if let Some(c) = &f.candidate {
        lines.push(format!(
            "Rolling back to {}, deployed {}: healthy {:.2}% of the {} polls it ran; {}.",
            short(&c.revision),
            local(c.deployed_at, tz),
            c.uptime_percent(),
            c.counted_polls,
            c.ci.text()
        ));
    }
    for p in &f.passed_over {
        lines.push(format!("Passed over {p}."));
    }
    if !f.undoing.is_empty() {
        let mut undo = vec![format!("Undoing {} commit(s):", f.undoing.len())];
        undo.extend(
            f.undoing
                .iter()
                .rev()
                .take(COMMITS_SHOWN)
                .map(|c| format!("• {} {} ({})", short(&c.sha), c.title, c.author)),
        );
        if f.undoing.len() > COMMITS_SHOWN {
            undo.push(format!("• … and {} more", f.undoing.len() - COMMITS_SHOWN));
        }
        lines.push(undo.join("\n"));
    }
    lines
}

fn invariant_lines(invariants: &[Invariant]) -> String {
    invariants
        .iter()
        .map(Invariant::line)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The episode's chat message. `proposal` is its merge proposal, when there is one.
pub fn render(
    r: &Rollback,
    cfg: &AppConfig,
    row: &AppRow,
    proposal: Option<&Proposal>,
    can_decide: bool,
) -> ChatMessage {
    let tz = r.tz;
    let f = &row.flow;
    let mut parts: Vec<Part> = evidence(row, tz).into_iter().map(Part::Text).collect();
    if let Some(p) = &f.pull {
        parts.push(Part::Text(format!(
            "Pull request #{}: {} (branch {}, labels opsmate, rollback, {}){}",
            p.number,
            p.url,
            p.branch,
            cfg.environment.as_str(),
            if f.closed { "; closed" } else { "" }
        )));
    }
    if !f.invariants.is_empty() {
        parts.push(Part::Text(format!(
            "Invariants ({}):\n{}",
            if super::invariants::all_hold(&f.invariants) {
                "all eight hold"
            } else {
                "not all hold, so a person decides"
            },
            invariant_lines(&f.invariants)
        )));
    }
    if let Some(line) = decision_line(row, proposal) {
        parts.push(Part::Text(line));
    }
    if let Some(outcome) = &f.outcome {
        parts.push(Part::Text(format!("Outcome: {outcome}.")));
    }
    if row.state == State::AwaitingApproval
        && let Some(p) = proposal.filter(|p| p.state == ProposalState::Pending)
    {
        if can_decide {
            parts.push(Part::Buttons(answers::buttons(p)));
        } else {
            parts.push(Part::Text(answers::nobody_can_approve(p.kind)));
        }
    }
    ChatMessage {
        title: format!(
            "🔁 Rollback Pilot: {} ({}): {}",
            row.app,
            cfg.environment.as_str(),
            headline(row)
        ),
        parts,
        footer: Some(format!(
            "Rollback Pilot · {} · episode {}",
            row.app, row.episode
        )),
    }
}

/// Who decided the merge and how it went.
fn decision_line(row: &AppRow, proposal: Option<&Proposal>) -> Option<String> {
    let p = proposal?;
    let by = p.decided_by.as_deref().unwrap_or("nobody");
    let rule = by == super::STAGING_RULE;
    Some(match p.state {
        ProposalState::Pending => format!(
            "Waiting for an approver under [approvals.rollback] (proposal {}, expires {}).",
            p.id,
            p.expires_at.format("%Y-%m-%d %H:%M UTC")
        ),
        ProposalState::Approved | ProposalState::Executing if rule => {
            "All eight invariants hold in staging: merging, decided by the staging rule.".into()
        }
        ProposalState::Approved | ProposalState::Executing => {
            format!("Merge approved by {by}: merging.")
        }
        ProposalState::Succeeded => {
            let sha = row.flow.merged_sha.as_deref().map(short).unwrap_or("?");
            let at = row
                .flow
                .merged_at
                .zip(row.flow.degraded_since)
                .map(|(m, d)| {
                    format!(
                        ", {} after it degraded",
                        human((m - d).to_std().unwrap_or_default())
                    )
                })
                .unwrap_or_default();
            if rule {
                format!("Merged as {sha} by the staging rule (all eight invariants held){at}.")
            } else {
                format!("Merged as {sha}, approved by {by}{at}.")
            }
        }
        ProposalState::Rejected if by.starts_with("rule:") => {
            format!("The merge proposal was withdrawn ({by}).")
        }
        ProposalState::Rejected => format!("Closed by {by}: not merged."),
        ProposalState::Expired => "Nobody decided before the proposal expired: not merged.".into(),
        ProposalState::Skipped => {
            "Approved, but not merged: it no longer qualified just before.".into()
        }
        ProposalState::Failed => "Approved, but the merge failed.".into(),
        ProposalState::Interrupted => "OpsMate restarted while merging.".into(),
    })
}

/// The pull request body: the same evidence, and the invariants once evaluated.
pub fn pull_body(r: &Rollback, cfg: &AppConfig, row: &AppRow, invariants: &[Invariant]) -> String {
    let mut out = vec![format!(
        "OpsMate Rollback Pilot opened this pull request because Argo CD reports **{}** ({}) as Degraded.",
        cfg.name,
        cfg.environment.as_str()
    )];
    out.push(String::new());
    out.extend(evidence(row, r.tz).into_iter().map(|l| format!("{l}\n")));
    out.push("## Invariants".into());
    if invariants.is_empty() {
        out.push("Evaluated once CI on this pull request has finished.".into());
    } else {
        out.extend(invariants.iter().map(|i| format!("- {}", i.line())));
        out.push(String::new());
        out.push(match (cfg.environment, super::invariants::all_hold(invariants)) {
            (super::config::Environment::Staging, true) => {
                "All eight hold: OpsMate merges it, recorded with its staging rule as the decider.".into()
            }
            _ => "Not merged on its own: a person decides in chat (**Merge rollback** or **Close PR**).".into(),
        });
    }
    out.join("\n")
}
