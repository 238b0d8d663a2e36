//! The reason dialog: **Reject** (and each kind's equivalent, such as Access Guard's
//! **Keep access**) opens a Slack modal asking why, instead of deciding at once. The
//! submission is decided through the gate with the reason as the decision's note.
//!
//! The modal carries what the click knew (the proposal, the message it was on, its
//! `response_url`) in `private_metadata`, so the submission is handled like the click
//! it stands for. Slack signs the submission as it signs the click.

use super::render::escape_mrkdwn;
use crate::approvals::{MAX_NOTE_CHARS, PostedAt, Proposal, Verdict, kinds};
use crate::domain::ApprovalId;
use crate::events::ReplyTo;
use minijinja::Environment;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::OnceLock;

/// The modal's `callback_id`, by which its submission is recognised.
pub const CALLBACK_ID: &str = "opsmate_reason";
/// The input's block and action ids.
pub const BLOCK_ID: &str = "reason";
pub const ACTION_ID: &str = "reason";

const TEMPLATE: &str = include_str!("../../../blocks/reason_modal.json");
/// Slack's limit on a modal's title and submit label.
const MAX_TITLE: usize = 24;

/// What the click knew, carried through the dialog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Carried {
    pub approval: ApprovalId,
    /// What the button decides (Reject, unless an Approve that needs a reason).
    #[serde(default = "reject")]
    pub verdict: Verdict,
    /// The message the button was on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<PostedAt>,
    /// Where to answer the clicker privately.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<ReplyTo>,
}

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.add_filter("mrkdwn", |s: String| escape_mrkdwn(&s));
        env.add_template("reason_modal.json", TEMPLATE)
            .expect("blocks/reason_modal.json is a valid template (checked by tests)");
        env
    })
}

/// The dialog's title: the button's label without its emoji ("Keep access").
fn title(p: &Proposal, verdict: Verdict) -> String {
    let (label, fallback) = match verdict {
        Verdict::Reject => (kinds::spec(p.kind).map_or("Reject", |s| s.reject), "Reject"),
        Verdict::Approve => (
            kinds::spec(p.kind).map_or("Approve", |s| s.approve),
            "Approve",
        ),
    };
    let words = label.trim_start_matches(|c: char| !c.is_alphanumeric());
    let words = if words.is_empty() { fallback } else { words };
    words.chars().take(MAX_TITLE).collect()
}

/// The `views.open` view for deciding `p` with a reason.
pub fn dialog(p: &Proposal, carried: &Carried) -> anyhow::Result<Value> {
    let summary = format!(
        "*{}* `{}`\n{}",
        kinds::spec(p.kind).map_or(p.kind.as_str(), |s| s.label),
        p.target,
        p.reason
    );
    let rendered = env()
        .get_template("reason_modal.json")?
        .render(minijinja::context! {
            callback_id => CALLBACK_ID,
            metadata => serde_json::to_string(carried)?,
            title => title(p, carried.verdict),
            summary => summary.chars().take(2900).collect::<String>(),
            block_id => BLOCK_ID,
            action_id => ACTION_ID,
            max_length => MAX_NOTE_CHARS,
        })?;
    Ok(serde_json::from_str(&rendered)?)
}

fn reject() -> Verdict {
    Verdict::Reject
}

/// Reads what the dialog carried back.
pub fn carried(metadata: &str) -> Result<Carried, serde_json::Error> {
    serde_json::from_str(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approvals::ProposalState;
    use crate::domain::ActionKind;
    use chrono::Utc;

    fn proposal(kind: ActionKind) -> Proposal {
        Proposal {
            id: ApprovalId::generate(),
            kind,
            target: "iam-user:carol".into(),
            params: Value::Null,
            reason: "carol <left> the company".into(),
            proposed_by: "scheduler".into(),
            state: ProposalState::Pending,
            required_approvals: 1,
            created_at: Utc::now(),
            expires_at: Utc::now(),
            decided_by: None,
            decided_at: None,
            finished_at: None,
            outcome: None,
            posted: None,
            decision_note: None,
        }
    }

    #[test]
    fn the_dialog_is_a_slack_modal_that_carries_the_click() {
        let p = proposal(ActionKind::REVOKE_ACCESS);
        let carried = Carried {
            approval: p.id.clone(),
            verdict: Verdict::Reject,
            message: None,
            reply: Some(ReplyTo::SlackResponseUrl {
                url: "https://hooks.slack.com/x".into(),
                channel: "C1".into(),
            }),
        };
        let view = dialog(&p, &carried).unwrap();
        let typed: slack_morphism::prelude::SlackView =
            serde_json::from_value(view.clone()).unwrap();
        assert!(matches!(
            typed,
            slack_morphism::prelude::SlackView::Modal(_)
        ));
        assert_eq!(view["title"]["text"], "Keep access");
        assert_eq!(view["callback_id"], CALLBACK_ID);
        assert!(
            view["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap()
                .contains("&lt;left&gt;")
        );
        let back = super::carried(view["private_metadata"].as_str().unwrap()).unwrap();
        assert_eq!(back, carried);
    }
}
