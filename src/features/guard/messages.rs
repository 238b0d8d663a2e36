//! What Access Guard says: the revocation request with its buttons, the request
//! once decided, and the `access` listing.

use super::detect::Status;
use super::revoke::RevokeParams;
use super::scan::{Scan, UserReport};
use crate::approvals::{Proposal, ProposalState};
use crate::chat::answers::{self, local};
use crate::chat::message::{ChatMessage, Part};
use chrono_tz::Tz;

/// Most people listed per section of the `access` answer.
pub const LISTED: usize = 25;

fn or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// The user, email and absence of a request.
fn who(params: &RevokeParams, tz: Tz) -> Part {
    Part::Fields(vec![
        ("IAM user".into(), params.user.to_string()),
        (
            "Email".into(),
            params.email.clone().unwrap_or_else(|| "unknown".into()),
        ),
        ("Missing from".into(), or_none(&params.missing_from)),
        (
            "Since".into(),
            params
                .since
                .map(|t| local(t, tz))
                .unwrap_or_else(|| "unknown".into()),
        ),
    ])
}

/// Groups, policies, keys, password and MFA, one line each.
fn access_text(params: &RevokeParams, tz: Tz) -> String {
    let d = &params.details;
    let keys: Vec<String> = d
        .access_keys
        .iter()
        .map(|k| {
            format!(
                "{} ({}, last used {})",
                k.id,
                if k.active { "active" } else { "inactive" },
                k.last_used
                    .map(|t| local(t, tz))
                    .unwrap_or_else(|| "never".into())
            )
        })
        .collect();
    let mut policies = d.managed_policies.clone();
    policies.extend(d.inline_policies.iter().map(|p| format!("{p} (inline)")));
    format!(
        "Groups: {}\nPolicies: {}\nAccess keys: {}\nConsole password: {}\nMFA: {}",
        or_none(&d.groups),
        or_none(&policies),
        or_none(&keys),
        if d.console_password { "yes" } else { "no" },
        if d.mfa_devices.is_empty() {
            "none".to_owned()
        } else {
            d.mfa_devices.join(", ")
        }
    )
}

fn plan_text(params: &RevokeParams) -> String {
    let mut lines: Vec<String> = params
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let done = if params.done_before.contains(s) {
                " (done earlier, not repeated)"
            } else {
                ""
            };
            format!("{}. {}{done}", i + 1, s.describe())
        })
        .collect();
    lines.push(if params.delete_user {
        "Then the IAM user is deleted.".into()
    } else {
        "The IAM user itself is kept, for the trail. Its permissions boundary is never touched."
            .into()
    });
    format!("On approval:\n{}", lines.join("\n"))
}

/// The request posted to the security channel (and Telegram).
pub fn request(
    p: &Proposal,
    params: &RevokeParams,
    tz: Tz,
    can_approve: bool,
    keep_days: u32,
) -> ChatMessage {
    let title = match &params.resumes {
        Some(_) => format!(
            "🔐 Access Guard: finish revoking {}'s AWS access?",
            params.user
        ),
        None => format!(
            "🔐 Access Guard: {} has left. Revoke their AWS access?",
            params.user
        ),
    };
    let mut parts = vec![who(params, tz), Part::Text(access_text(params, tz))];
    if let Some(previous) = &params.resumes {
        parts.push(Part::Text(format!(
            "An earlier revocation stopped part-way ({previous}). Approving finishes what is left."
        )));
    }
    parts.push(Part::Text(plan_text(params)));
    if can_approve {
        parts.push(Part::Buttons(answers::buttons(p)));
    } else {
        parts.push(Part::Text(answers::nobody_can_approve(p.kind)));
    }
    ChatMessage {
        title,
        parts,
        footer: Some(format!(
            "Keep access records who kept and does not ask again for {keep_days} days; `access keep {} <reason>` (`/opsmate access keep` in Slack, `/access keep` in Telegram) also records why. Approval {}",
            params.user, p.id
        )),
    }
}

/// The request once decided: the outcome, who decided, and for Keep access until when.
pub fn decided(p: &Proposal, tz: Tz, kept: Option<&super::scan::Kept>) -> ChatMessage {
    let mut msg = answers::decided(p, tz);
    if p.state == ProposalState::Rejected {
        msg.title = format!(
            "❌ Access kept: {}",
            p.target.trim_start_matches("iam-user:")
        );
        if let Some(k) = kept {
            msg.parts.push(Part::Text(format!(
                "{}. Access Guard will not ask again before then.",
                kept_text(k, tz)
            )));
        }
    }
    msg
}

/// "Kept by X until T: reason".
fn kept_text(k: &super::scan::Kept, tz: Tz) -> String {
    format!(
        "Kept by {} until {}{}",
        k.by,
        local(k.until, tz),
        k.reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    )
}

fn line(u: &UserReport, tz: Tz) -> String {
    let email = u.email.as_deref().unwrap_or("no email");
    let since = u.since.map(|t| local(t, tz)).unwrap_or_default();
    match u.status {
        Status::Departed => {
            let state = match (&u.revoked_at, &u.revocation) {
                (Some(at), _) => format!("revoked {}", local(*at, tz)),
                (None, Some(r)) => format!("revocation {} ({})", r.state, r.approval),
                (None, None) => "not asked yet".into(),
            };
            format!(
                "{} ({email}): missing from {} since {since}; {state}",
                u.user,
                u.missing_from.join(", ")
            )
        }
        Status::MissingInGrace => format!(
            "{} ({email}): missing from {} since {since}; asked after {}",
            u.user,
            u.missing_from.join(", "),
            u.grace_ends.map(|t| local(t, tz)).unwrap_or_default()
        ),
        Status::Kept => match &u.kept {
            Some(k) => format!("{} ({email}): {}", u.user, kept_text(k, tz)),
            None => format!("{} ({email}): kept", u.user),
        },
        Status::Unmapped => format!(
            "{}: {}",
            u.user,
            u.note.as_deref().unwrap_or("nothing identifies them")
        ),
        Status::Present => format!("{} ({email})", u.user),
    }
}

fn section(
    scan: &Scan,
    status: Status,
    heading: &str,
    tz: Tz,
    only: impl Fn(&UserReport) -> bool,
) -> Option<Part> {
    let people: Vec<&UserReport> = scan
        .users
        .iter()
        .filter(|u| u.status == status && only(u))
        .collect();
    if people.is_empty() {
        return None;
    }
    let mut lines: Vec<String> = people
        .iter()
        .take(LISTED)
        .map(|u| format!("• {}", line(u, tz)))
        .collect();
    if people.len() > LISTED {
        lines.push(format!(
            "… and {} more (see `opsmate access scan`)",
            people.len() - LISTED
        ));
    }
    Some(Part::Text(format!(
        "{heading} ({}):\n{}",
        people.len(),
        lines.join("\n")
    )))
}

/// The answer to `access` (`pending_only`: only people with a request waiting).
pub fn listing(scan: &Scan, tz: Tz, pending_only: bool) -> ChatMessage {
    let pending = |u: &UserReport| {
        u.revocation
            .as_ref()
            .is_some_and(|r| r.state == ProposalState::Pending)
    };
    let mut parts: Vec<Part> = if pending_only {
        section(
            scan,
            Status::Departed,
            "Waiting for a decision",
            tz,
            pending,
        )
        .into_iter()
        .collect()
    } else {
        [
            section(scan, Status::Departed, "Departed", tz, |_| true),
            section(
                scan,
                Status::MissingInGrace,
                "Missing, in the grace period",
                tz,
                |_| true,
            ),
            section(scan, Status::Kept, "Kept", tz, |_| true),
            section(
                scan,
                Status::Unmapped,
                "Unmapped (never proposed)",
                tz,
                |_| true,
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    };
    if parts.is_empty() {
        parts.push(Part::Text(if pending_only {
            "No revocation is waiting for a decision.".into()
        } else {
            "Nobody with AWS access has left.".into()
        }));
    }
    parts.push(Part::Text(format!(
        "{} IAM users: {} present, {} departed, {} in grace, {} kept, {} unmapped.\n{}",
        scan.users.len(),
        scan.count(Status::Present),
        scan.count(Status::Departed),
        scan.count(Status::MissingInGrace),
        scan.count(Status::Kept),
        scan.count(Status::Unmapped),
        scan.notes.join("\n")
    )));
    ChatMessage {
        title: "🔐 Access Guard".into(),
        parts,
        footer: Some(format!("Scanned {}", local(scan.at, tz))),
    }
}
