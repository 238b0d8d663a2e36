//! Neutral chat content. Features and command handlers build a [`ChatMessage`]; the
//! platform adapters render it (Slack: Block Kit from `blocks/`; Telegram: HTML).
//! Text here is plain: adapters escape it for their markup.

use crate::approvals::Verdict;
use crate::domain::ApprovalId;

/// A message, before any platform markup.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatMessage {
    /// Short headline.
    pub title: String,
    /// The body, in order.
    pub parts: Vec<Part>,
    /// Small print under the message.
    pub footer: Option<String>,
}

/// One piece of a message body.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// A paragraph of plain text; a long one is split by the adapter.
    Text(String),
    /// Label/value pairs shown side by side.
    Fields(Vec<(String, String)>),
    /// Decision buttons for one proposal.
    Buttons(Vec<Button>),
    /// Buttons that ask a feature to do something that is not a decision on a
    /// proposal (acknowledge an incident, mute it, ask for a remediation).
    Presses(Vec<Press>),
}

/// A decision button. It carries only the approval id and the verdict; who clicked
/// and whether they may is decided by the gate.
#[derive(Debug, Clone, PartialEq)]
pub struct Button {
    pub label: String,
    pub approval: ApprovalId,
    pub verdict: Verdict,
    /// Destructive: red, with a confirmation dialog saying this text.
    pub confirm: Option<String>,
    /// Where a dialog can ask, the decider is asked why before anything is decided
    /// (every Reject, and an Approve whose kind needs a reason).
    pub asks_reason: bool,
}

/// A feature's button. `action` names the feature and its verb (`incidents.ack`),
/// `value` what it acts on; the feature checks who pressed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Press {
    pub label: String,
    pub action: String,
    pub value: String,
    /// Asks for confirmation with this text first.
    pub confirm: Option<String>,
}

impl Press {
    pub fn new(label: impl Into<String>, action: &str, value: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            action: action.to_owned(),
            value: value.into(),
            confirm: None,
        }
    }

    /// The feature whose action this is: the part of `action` before the first dot.
    pub fn feature_of(action: &str) -> &str {
        action.split_once('.').map_or(action, |(f, _)| f)
    }
}

impl ChatMessage {
    /// A title and one paragraph.
    pub fn text(title: impl Into<String>, paragraph: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            parts: vec![Part::Text(paragraph.into())],
            footer: None,
        }
    }

    /// Plain-text rendering: the notification fallback, and what tests read.
    pub fn plain(&self) -> String {
        let mut out = self.title.clone();
        for part in &self.parts {
            match part {
                Part::Text(t) => {
                    out.push('\n');
                    out.push_str(t);
                }
                Part::Fields(fields) => {
                    for (k, v) in fields {
                        out.push_str(&format!("\n{k}: {v}"));
                    }
                }
                Part::Buttons(buttons) => {
                    let labels: Vec<&str> = buttons.iter().map(|b| b.label.as_str()).collect();
                    out.push_str(&format!("\n[{}]", labels.join("] [")));
                }
                Part::Presses(presses) => {
                    let labels: Vec<&str> = presses.iter().map(|b| b.label.as_str()).collect();
                    out.push_str(&format!("\n[{}]", labels.join("] [")));
                }
            }
        }
        if let Some(f) = &self.footer {
            out.push('\n');
            out.push_str(f);
        }
        out
    }
}

/// The verb a button carries in its action id (`approve:<id>`, `reject:<id>`).
pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Approve => "approve",
        Verdict::Reject => "reject",
    }
}

/// The verb of an Approve that asks why first (`approve_why:<id>`).
pub const APPROVE_WITH_REASON: &str = "approve_why";

/// The verb a button carries in Slack: its verdict's, or [`APPROVE_WITH_REASON`].
pub fn button_word(b: &Button) -> &'static str {
    match (b.verdict, b.asks_reason) {
        (Verdict::Approve, true) => APPROVE_WITH_REASON,
        (v, _) => verdict_word(v),
    }
}

/// Parses a button's verb back: the verdict, and whether a dialog asks why first
/// (always for Reject).
pub fn parse_verdict_word(word: &str) -> Option<(Verdict, bool)> {
    match word {
        "approve" => Some((Verdict::Approve, false)),
        APPROVE_WITH_REASON => Some((Verdict::Approve, true)),
        "reject" => Some((Verdict::Reject, true)),
        _ => None,
    }
}
