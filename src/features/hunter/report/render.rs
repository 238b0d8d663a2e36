//! A report's pages as neutral chat messages, from the stored report and the current
//! state of its proposals. Pure, so the wording is unit-tested.

use super::store::StoredReport;
use super::{Summary, Tally};
use crate::approvals::{Proposal, ProposalState, Verdict};
use crate::chat::answers::local;
use crate::chat::message::{Button, ChatMessage, Part};
use crate::domain::ApprovalId;
use crate::features::hunter::actions::{Item, ItemResult, SetReport};
use crate::features::hunter::{Finding, ZombieKind};
use chrono::Utc;
use chrono_tz::Tz;
use std::collections::HashMap;

/// Lines per message: two Slack blocks each keeps a page within Slack's 50 blocks,
/// and the text within Telegram's 4,096 characters.
pub const ITEMS_PER_PAGE: usize = 15;

fn money(usd: f64) -> String {
    format!("${usd:.2}")
}

fn tally(t: &Tally) -> String {
    format!("{} · {}/mo", t.count, money(t.usd))
}

fn days(from: chrono::DateTime<Utc>, to: chrono::DateTime<Utc>) -> i64 {
    (to - from).num_days().max(0)
}

/// One resource as a line of text.
fn line(f: &Finding, now: chrono::DateTime<Utc>) -> String {
    let mut bits = vec![f.id.clone(), f.region_label()];
    match f.kind {
        ZombieKind::Volume => {
            bits.push(format!(
                "{} GiB {}",
                f.size_gib.unwrap_or_default(),
                f.detail
            ));
            bits.push(format!("idle {} d", days(f.first_seen, now)));
            if let Some(c) = f.created {
                bits.push(format!("created {} d ago", days(c, now)));
            }
        }
        ZombieKind::Snapshot => {
            bits.push(format!(
                "{} GiB, {}",
                f.size_gib.unwrap_or_default(),
                f.detail
            ));
            if let Some(c) = f.created {
                bits.push(format!("{} d old", days(c, now)));
            }
        }
        ZombieKind::ElasticIp => {
            bits.push(f.detail.clone());
            bits.push(format!("unassociated for {} d", days(f.first_seen, now)));
        }
    }
    if let Some(n) = &f.name {
        bits.push(format!("Name {n}"));
    }
    if let Some(o) = &f.owner {
        bits.push(format!("Owner {o}"));
    }
    let cost = if f.cost_is_upper_bound {
        format!("up to {}/mo", money(f.monthly_cost_usd))
    } else {
        format!("{}/mo", money(f.monthly_cost_usd))
    };
    bits.push(cost);
    bits.join(" · ")
}

/// What happened to a resource, from its report line.
fn result_text(item: &Item, decided_by: Option<&str>) -> String {
    let by = decided_by
        .map(|d| format!(", approved by {}", d.replace(',', ", ")))
        .unwrap_or_default();
    match item.result {
        ItemResult::Deleted => match &item.final_snapshot {
            Some(s) => format!("✅ Deleted{by}; final snapshot {s}"),
            None => format!("✅ Deleted{by}"),
        },
        ItemResult::AlreadyDeleted => format!("✅ Already gone when deleting{by}"),
        ItemResult::WouldDelete => {
            format!("🧪 Dry run: would delete{by}; nothing was changed")
        }
        ItemResult::Skipped => format!(
            "⏭️ Skipped{by}: {}",
            item.why.as_deref().unwrap_or("it changed")
        ),
        ItemResult::Failed => format!(
            "⚠️ Failed{by}: {}",
            item.error.as_deref().unwrap_or("unknown error")
        ),
    }
}

/// The report line of a proposal about one resource, when its outcome has one.
fn own_item(p: &Proposal) -> Option<Item> {
    p.outcome.as_ref()?.report_as::<Item>()
}

/// The report of a finished "Delete all".
fn set_report(bulk: &Proposal) -> Option<SetReport> {
    bulk.outcome.as_ref()?.report_as::<SetReport>()
}

/// The line of `target` in a set's report (sets that ran before lines kept their own
/// outcome).
fn set_item(bulk: &Proposal, target: &str) -> Option<Item> {
    set_report(bulk)?
        .items
        .into_iter()
        .find(|i| i.target == target)
}

/// The status of a decided proposal about one resource. Its own decision always
/// wins; only a line still pending (from before lines kept their own outcome) shows
/// what a set did to it.
fn status(p: &Proposal, target: &str, bulk: Option<&Proposal>) -> Option<String> {
    let by = p.decided_by.as_deref();
    match p.state {
        ProposalState::Pending => bulk.and_then(|b| {
            set_item(b, target).map(|item| result_text(&item, b.decided_by.as_deref()))
        }),
        ProposalState::Approved => Some("⏳ Approved; deleting soon…".into()),
        ProposalState::Executing => Some("⏳ Deleting…".into()),
        ProposalState::Succeeded | ProposalState::Skipped | ProposalState::Failed
            if own_item(p).is_some() =>
        {
            own_item(p).map(|item| result_text(&item, by))
        }
        ProposalState::Succeeded => Some("✅ Done".into()),
        ProposalState::Skipped => Some(format!(
            "⏭️ Skipped: {}",
            p.outcome
                .as_ref()
                .and_then(|o| o.skipped.as_deref())
                .unwrap_or("it changed since the scan")
        )),
        ProposalState::Failed => Some(format!(
            "⚠️ Failed: {}",
            p.outcome
                .as_ref()
                .and_then(|o| o.error.as_deref())
                .unwrap_or("unknown error")
        )),
        ProposalState::Rejected => Some(format!("❌ Kept by {}", by.unwrap_or("someone"))),
        ProposalState::Expired => Some("⌛ Expired: not decided in time".into()),
        ProposalState::Interrupted => Some("⚠️ Interrupted: check it by hand".into()),
    }
}

/// What the "Delete all" line says once it was decided.
fn bulk_status(b: &Proposal) -> String {
    let by = b
        .decided_by
        .as_deref()
        .map(|d| format!(" (approved by {})", d.replace(',', ", ")))
        .unwrap_or_default();
    match b.state {
        ProposalState::Approved | ProposalState::Executing => {
            format!("⏳ Delete all{by}: deleting the lines that were still open…")
        }
        ProposalState::Succeeded | ProposalState::Failed => {
            let items = set_report(b).map_or(0, |r| r.items.len());
            match (b.state, items) {
                (_, 0) => format!("Delete all{by}: nothing was left to delete."),
                (ProposalState::Failed, n) => {
                    format!("Delete all{by}: done for {n} line(s); some failed, see below.")
                }
                (_, n) => format!("Delete all{by}: done for {n} line(s), see below."),
            }
        }
        ProposalState::Rejected => format!(
            "Delete all: rejected by {}.",
            b.decided_by.as_deref().unwrap_or("someone")
        ),
        ProposalState::Expired => "Delete all: expired.".into(),
        ProposalState::Interrupted => {
            "⚠️ Delete all: interrupted; check the lines below by hand.".into()
        }
        ProposalState::Skipped => "Delete all: skipped.".into(),
        ProposalState::Pending => String::new(),
    }
}

fn summary_parts(s: &Summary, tz: Tz) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut text = format!(
        "Scanned {} region(s) at {}. Deleting everything found would save about {}/month.",
        s.regions_scanned,
        local(s.scanned_at, tz),
        money(s.found.usd)
    );
    if s.by_kind.contains_key(&ZombieKind::Snapshot) {
        text.push_str(" Snapshot savings are upper bounds: snapshots are incremental, so deleting one frees only the blocks no other snapshot uses.");
    }
    parts.push(Part::Text(text));
    if !s.by_kind.is_empty() {
        let mut fields: Vec<(String, String)> = s
            .by_kind
            .iter()
            .map(|(k, t)| (capitalize(k.label()), tally(t)))
            .collect();
        fields.extend(s.by_region.iter().map(|(r, t)| (r.clone(), tally(t))));
        parts.push(Part::Fields(fields));
    }
    let mut notes = Vec::new();
    if s.watching > 0 {
        notes.push(format!(
            "{} more unattached volume(s) are watched until they have been idle {} days.",
            s.watching, s.volume_min_idle_days
        ));
    }
    let k = &s.skipped;
    if k.total() > 0 {
        notes.push(format!(
            "Skipped {}: {} tagged {}, {} protected until a date, {} used by an AMI, {} managed by AWS Backup.",
            k.total(), k.excluded, s.exclude_tag, k.protected, k.used_by_ami, k.aws_backup
        ));
    }
    for (region, error) in &s.failed_regions {
        notes.push(format!(
            "⚠️ Could not scan {region}: {error}. Its resources are not in this report."
        ));
    }
    if s.listed < s.found.count {
        notes.push(format!(
            "Listing the {} most expensive of {}; `opsmate zombies` prints them all.",
            s.listed, s.found.count
        ));
    }
    if !notes.is_empty() {
        parts.push(Part::Text(notes.join("\n")));
    }
    parts
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn delete_button(approval: &ApprovalId, label: String, confirm: String) -> Part {
    Part::Buttons(vec![Button {
        label,
        approval: approval.clone(),
        verdict: Verdict::Approve,
        confirm: Some(confirm),
        asks_reason: false,
    }])
}

/// The report's pages. `can_approve` says whether anybody could approve a proposal.
pub fn pages(
    report: &StoredReport,
    states: &HashMap<ApprovalId, Proposal>,
    can_approve: &dyn Fn(&Proposal) -> bool,
    tz: Tz,
) -> Vec<ChatMessage> {
    let s = &report.summary;
    let now = s.scanned_at;
    let bulk = report.bulk.as_ref().and_then(|b| states.get(b));
    let mut first = summary_parts(s, tz);
    if let Some(b) = bulk {
        // The button covers only the lines still open, and goes once none is.
        let open: Vec<&Finding> = report
            .items
            .iter()
            .filter(|(id, _)| {
                states
                    .get(id)
                    .is_some_and(|p| p.state == ProposalState::Pending)
            })
            .map(|(_, f)| f)
            .collect();
        match b.state {
            ProposalState::Pending if open.is_empty() => {}
            ProposalState::Pending if can_approve(b) => {
                let usd: f64 = open.iter().map(|f| f.monthly_cost_usd).sum();
                first.push(delete_button(
                    &b.id,
                    format!("Delete all {} ({}/mo)", open.len(), money(usd)),
                    format!(
                        "Delete all {} open lines? Each is checked again just before deletion; volumes get a final snapshot if configured.",
                        open.len()
                    ),
                ));
            }
            ProposalState::Pending => {
                first.push(Part::Text(crate::chat::answers::nobody_can_approve(b.kind)));
            }
            _ => first.push(Part::Text(bulk_status(b))),
        }
    }
    let chunks: Vec<&[(ApprovalId, Finding)]> = report.items.chunks(ITEMS_PER_PAGE).collect();
    let page_count = chunks.len().max(1);
    let title = if s.found.count == 0 {
        "🧟 Zombie Hunter: no idle resources found".to_owned()
    } else {
        format!(
            "🧟 Zombie Hunter: {} idle resource(s), {}/month",
            s.found.count,
            money(s.found.usd)
        )
    };
    let mut out = Vec::new();
    for i in 0..page_count {
        let mut parts = if i == 0 {
            std::mem::take(&mut first)
        } else {
            Vec::new()
        };
        for (approval, f) in chunks.get(i).copied().unwrap_or_default() {
            let text = line(f, now);
            match states.get(approval) {
                Some(p) => match status(p, &f.resource().target(), bulk) {
                    Some(st) => parts.push(Part::Text(format!("{text}\n{st}"))),
                    None if can_approve(p) => {
                        parts.push(Part::Text(text));
                        parts.push(delete_button(
                            approval,
                            // Named, so a keyboard of several (Telegram's) says which.
                            format!("Delete {} ({}/mo)", f.id, money(f.monthly_cost_usd)),
                            confirm_text(f),
                        ));
                    }
                    None => parts.push(Part::Text(format!(
                        "{text}\nNobody is configured to approve this.",
                    ))),
                },
                None => parts.push(Part::Text(format!(
                    "{text}\n(proposal {approval} is missing)"
                ))),
            }
        }
        out.push(ChatMessage {
            title: if page_count > 1 {
                format!("{title} ({}/{page_count})", i + 1)
            } else {
                title.clone()
            },
            parts,
            footer: Some(format!("Report {}", report.id)),
        });
    }
    out
}

fn confirm_text(f: &Finding) -> String {
    match f.kind {
        ZombieKind::Volume => format!(
            "Delete volume {} in {}? A final snapshot is taken first if configured.",
            f.id, f.region
        ),
        ZombieKind::Snapshot => format!(
            "Delete snapshot {} in {}? This cannot be undone.",
            f.id, f.region
        ),
        ZombieKind::ElasticIp => format!(
            "Release {} ({}) in {}? The address may not come back.",
            f.id, f.detail, f.region
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome_of(v: serde_json::Value) -> crate::approvals::Outcome {
        serde_json::from_value(v).unwrap()
    }
    use crate::chat::slack::render::{MAX_BLOCKS, SlackRenderer};
    use crate::chat::telegram::html::{self, MAX_MESSAGE};
    use crate::domain::ActionKind;
    use crate::features::hunter::detect::Skipped;
    use serde_json::json;

    fn finding(i: usize) -> Finding {
        let at = "2026-11-01T09:00:00Z".parse().unwrap();
        Finding {
            id: format!("vol-{i:017x}"),
            kind: ZombieKind::Volume,
            region: "eu-central-1".into(),
            account: Some("111122223333".into()),
            monthly_cost_usd: 8.0,
            cost_is_upper_bound: false,
            first_seen: at,
            last_seen: at,
            created: Some(at),
            size_gib: Some(100),
            detail: "gp3".into(),
            name: Some(format!("a-rather-long-volume-name-for-build-cache-{i}")),
            owner: Some("platform-team@example.com".into()),
        }
    }

    fn proposal(id: &ApprovalId, kind: ActionKind) -> Proposal {
        let at = "2026-11-22T09:00:00Z".parse().unwrap();
        Proposal {
            id: id.clone(),
            kind,
            target: String::new(),
            params: json!({}),
            reason: String::new(),
            proposed_by: "zombie_hunter".into(),
            state: ProposalState::Pending,
            required_approvals: 1,
            created_at: at,
            expires_at: at,
            decided_by: None,
            decided_at: None,
            finished_at: None,
            outcome: None,
            posted: None,
            decision_note: None,
        }
    }

    fn report(n: usize) -> (StoredReport, HashMap<ApprovalId, Proposal>) {
        let items: Vec<(ApprovalId, Finding)> = (0..n)
            .map(|i| (ApprovalId::generate(), finding(i)))
            .collect();
        let bulk = ApprovalId::generate();
        let mut states: HashMap<ApprovalId, Proposal> = items
            .iter()
            .map(|(id, _)| (id.clone(), proposal(id, ActionKind::DELETE_VOLUME)))
            .collect();
        states.insert(bulk.clone(), proposal(&bulk, ActionKind::DELETE_ZOMBIES));
        let summary = Summary {
            scanned_at: "2026-11-22T09:00:00Z".parse().unwrap(),
            found: Tally {
                count: n,
                usd: 8.0 * n as f64,
            },
            listed: n,
            by_kind: [(
                ZombieKind::Volume,
                Tally {
                    count: n,
                    usd: 8.0 * n as f64,
                },
            )]
            .into(),
            by_region: [(
                "111122223333/eu-central-1".into(),
                Tally {
                    count: n,
                    usd: 8.0 * n as f64,
                },
            )]
            .into(),
            watching: 2,
            skipped: Skipped {
                excluded: 1,
                ..Skipped::default()
            },
            failed_regions: vec![("us-west-2".into(), "Unavailable: try later".into())],
            regions_scanned: 2,
            volume_min_idle_days: 7,
            exclude_tag: "opsmate:keep=true".into(),
        };
        (
            StoredReport {
                id: "r1".into(),
                created_at: summary.scanned_at,
                bulk: Some(bulk),
                summary,
                items,
            },
            states,
        )
    }

    #[test]
    fn a_large_report_is_split_into_pages_within_slack_and_telegram_limits() {
        let (r, states) = report(40);
        let pages = pages(&r, &states, &|_| true, Tz::UTC);
        assert_eq!(pages.len(), 3);
        let slack = SlackRenderer::new();
        let mut buttons = 0;
        for page in &pages {
            let rendered = slack.render(page).unwrap();
            assert_eq!(rendered.len(), 1, "one Slack message per page");
            assert!(rendered[0]["blocks"].as_array().unwrap().len() <= MAX_BLOCKS);
            let tg = html::render(page);
            assert_eq!(tg.len(), 1, "one Telegram message per page");
            assert!(tg[0].html.chars().count() <= MAX_MESSAGE);
            buttons += tg[0]
                .keyboard
                .as_ref()
                .map_or(0, |k| k.inline_keyboard.iter().map(Vec::len).sum());
        }
        assert_eq!(buttons, 41, "one per resource and Delete all");
        let first = pages[0].plain();
        assert!(first.contains("Delete all 40 ($320.00/mo)"), "{first}");
        assert!(
            first.contains("Could not scan us-west-2: Unavailable: try later"),
            "{first}"
        );
        assert!(
            first.contains("2 more unattached volume(s) are watched"),
            "{first}"
        );
        assert!(pages[2].title.ends_with("(3/3)"));
    }

    #[test]
    fn decided_lines_say_what_happened_and_lose_their_button() {
        let (r, mut states) = report(3);
        let (done, skipped, rejected) = (&r.items[0].0, &r.items[1].0, &r.items[2].0);
        let p = states.get_mut(done).unwrap();
        p.state = ProposalState::Succeeded;
        p.decided_by = Some("slack:UALICE".into());
        p.outcome = Some(outcome_of(
            json!({"dry_run": false, "report": {"target": "us-east-1/vol-0", "kind": "volume",
                    "result": "deleted", "final_snapshot": "snap-1"}}),
        ));
        let p = states.get_mut(skipped).unwrap();
        p.state = ProposalState::Skipped;
        p.outcome = Some(outcome_of(
            json!({"skipped": "vol-x was attached to i-1 since the scan"}),
        ));
        states.get_mut(rejected).unwrap().state = ProposalState::Expired;
        let text = pages(&r, &states, &|_| true, Tz::UTC)[0].plain();
        assert!(
            text.contains("✅ Deleted, approved by slack:UALICE; final snapshot snap-1"),
            "{text}"
        );
        assert!(
            text.contains("⏭️ Skipped: vol-x was attached to i-1 since the scan"),
            "{text}"
        );
        assert!(text.contains("⌛ Expired"), "{text}");
        assert!(
            !text.contains("[Delete ($8.00/mo)]"),
            "no per-line button is left: {text}"
        );
    }

    #[test]
    fn delete_all_counts_only_open_lines_and_goes_once_none_is() {
        let (r, mut states) = report(3);
        let text = pages(&r, &states, &|_| true, Tz::UTC)[0].plain();
        assert!(text.contains("Delete all 3 ($24.00/mo)"), "{text}");
        states.get_mut(&r.items[0].0).unwrap().state = ProposalState::Rejected;
        let text = pages(&r, &states, &|_| true, Tz::UTC)[0].plain();
        assert!(text.contains("Delete all 2 ($16.00/mo)"), "{text}");
        for (id, _) in &r.items {
            states.get_mut(id).unwrap().state = ProposalState::Rejected;
        }
        let text = pages(&r, &states, &|_| true, Tz::UTC)[0].plain();
        assert!(
            !text.contains("Delete all"),
            "no bulk button once every line is decided: {text}"
        );
    }

    #[test]
    fn a_lines_own_decision_wins_over_what_a_set_reported() {
        let (r, mut states) = report(2);
        let (own, open) = (r.items[0].0.clone(), r.items[1].0.clone());
        let p = states.get_mut(&own).unwrap();
        p.state = ProposalState::Succeeded;
        p.decided_by = Some("slack:UALICE".into());
        p.outcome = Some(outcome_of(
            json!({"dry_run": false, "report": {"target": "us-east-1/vol-0",
            "kind": "volume", "result": "deleted", "final_snapshot": "snap-own"}}),
        ));
        let bulk = states.get_mut(r.bulk.as_ref().unwrap()).unwrap();
        bulk.state = ProposalState::Succeeded;
        bulk.decided_by = Some("slack:UBOB".into());
        let (t0, t1) = (
            r.items[0].1.resource().target(),
            r.items[1].1.resource().target(),
        );
        bulk.outcome = Some(outcome_of(json!({"report": {"failed": 0, "items": [
            {"target": t0, "kind": "volume", "result": "already_deleted"},
            {"target": t1, "kind": "volume", "result": "deleted"}]}})));
        assert_eq!(states[&open].state, ProposalState::Pending);
        let text = pages(&r, &states, &|_| true, Tz::UTC)[0].plain();
        assert!(
            text.contains("✅ Deleted, approved by slack:UALICE; final snapshot snap-own"),
            "{text}"
        );
        assert!(!text.contains("Already gone"), "{text}");
        assert!(
            text.contains("✅ Deleted, approved by slack:UBOB"),
            "a line left pending shows the set's result: {text}"
        );
    }
}
