//! Snapshots of what people read: the neutral messages OpsMate builds, rendered for
//! Slack (the `chat.postMessage` payloads, Block Kit JSON) and for Telegram (the HTML
//! and its inline keyboard). Inputs are fixed (ids, times, time zone), so a change of
//! wording or layout shows up as a snapshot diff to review (`cargo insta review`).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use opsmate::approvals::{DecisionError, PostedAt, Proposal, ProposalState, Refusal};
use opsmate::chat::answers::{self, Surface};
use opsmate::chat::command;
use opsmate::chat::message::ChatMessage;
use opsmate::chat::slack::render::SlackRenderer;
use opsmate::chat::telegram::html;
use opsmate::cloud::Aws;
use opsmate::config::AwsConfig;
use opsmate::domain::{ActionKind, ApprovalId};
use opsmate::features::guard::config::RevokeStep;
use opsmate::features::guard::details::{Details, KeyLine};
use opsmate::features::guard::messages as guard_messages;
use opsmate::features::guard::revoke::RevokeParams;
use opsmate::features::guard::scan::Kept;
use opsmate::features::hunter::detect::Skipped;
use opsmate::features::hunter::report::store::StoredReport;
use opsmate::features::hunter::report::{Summary, Tally, pages};
use opsmate::features::hunter::{Finding, ZombieKind};
use opsmate::features::watchman::Watchman;
use opsmate::features::watchman::check::{Check, InstanceAction, InstanceLine};
use opsmate::features::watchman::config::WatchmanConfig;
use opsmate::features::watchman::decide::{self, Verdict};
use opsmate::features::watchman::messages as watchman_messages;
use opsmate::features::watchman::run::DEADLINE_DECIDER;
use opsmate::features::watchman::signals::{Reading, Signal};
use opsmate::scheduler::CronSchedule;
use serde_json::{Value, json};
use std::collections::HashMap;
use teloxide::types::InlineKeyboardButtonKind;

/// Every time shown is in this zone (CET in November).
const TZ: Tz = chrono_tz::Europe::Berlin;

fn at(rfc3339: &str) -> DateTime<Utc> {
    rfc3339.parse().expect("a fixed RFC 3339 time")
}

fn approval(id: &str) -> ApprovalId {
    ApprovalId::parse(id).expect("a fixed approval id")
}

/// Every Slack payload the message becomes (one per page).
fn slack(msg: &ChatMessage) -> Vec<Value> {
    SlackRenderer::new()
        .render(msg)
        .expect("the message renders into Block Kit")
}

/// Every Telegram message the message becomes, as text: the HTML, then the keyboard
/// one row per line, each button as `[label] callback data`.
fn telegram(msg: &ChatMessage) -> String {
    let parts = html::render(msg);
    let count = parts.len();
    let mut out = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if count > 1 {
            out.push(format!("──── message {} of {count} ────", i + 1));
        }
        out.push(part.html.clone());
        if let Some(keyboard) = &part.keyboard {
            out.push("──── keyboard ────".to_owned());
            for row in &keyboard.inline_keyboard {
                let buttons: Vec<String> = row
                    .iter()
                    .map(|b| match &b.kind {
                        InlineKeyboardButtonKind::CallbackData(data) => {
                            format!("[{}] {data}", b.text)
                        }
                        other => format!("[{}] {other:?}", b.text),
                    })
                    .collect();
                out.push(buttons.join("  "));
            }
        }
    }
    out.join("\n")
}

/// Snapshots the message as Slack and as Telegram show it.
fn assert_rendered(name: &str, msg: &ChatMessage) {
    insta::assert_json_snapshot!(format!("{name}__slack"), slack(msg));
    insta::assert_snapshot!(format!("{name}__telegram"), telegram(msg));
}

// ---- proposals and their outcomes -------------------------------------------------

/// A pending proposal to delete one idle volume, as the gate stores it.
fn volume_proposal() -> Proposal {
    Proposal {
        id: approval("k7m2p9q4rs"),
        kind: ActionKind::DELETE_VOLUME,
        target: "eu-central-1/vol-0a1b2c3d4e5f60718".into(),
        params: json!({}),
        reason: "Unattached 100 GiB gp3 volume, $8.00/month".into(),
        proposed_by: "zombie_hunter".into(),
        state: ProposalState::Pending,
        required_approvals: 1,
        created_at: at("2026-11-20T08:00:00Z"),
        expires_at: at("2026-11-21T08:00:00Z"),
        decided_by: None,
        decided_at: None,
        finished_at: None,
        outcome: None,
        posted: Some(PostedAt {
            platform: opsmate::outbox::Platform::Slack,
            channel: "C0OPS".into(),
            message_id: "1763625600.000100".into(),
        }),
        decision_note: None,
    }
}

/// The volume proposal approved by Alice at 10:15 CET, then in `state`.
/// An outcome as the database holds it.
fn outcome_of(v: Value) -> opsmate::approvals::Outcome {
    serde_json::from_value(v).unwrap()
}

fn approved_volume(state: ProposalState, outcome: Option<Value>) -> Proposal {
    Proposal {
        state,
        decided_by: Some("slack:UALICE01".into()),
        decided_at: Some(at("2026-11-20T09:15:00Z")),
        finished_at: Some(at("2026-11-20T09:16:30Z")),
        outcome: outcome.map(outcome_of),
        ..volume_proposal()
    }
}

#[test]
fn a_pending_proposal_renders_with_approve_and_reject_buttons() {
    let msg = answers::proposal(&volume_proposal(), true, TZ);
    assert_rendered("proposal_pending", &msg);
}

#[test]
fn a_proposal_nobody_may_approve_says_so_instead_of_showing_buttons() {
    let msg = answers::proposal(&volume_proposal(), false, TZ);
    assert_rendered("proposal_without_approvers", &msg);
}

#[test]
fn an_approved_and_done_proposal_says_who_approved_and_what_happened() {
    let p = approved_volume(
        ProposalState::Succeeded,
        Some(json!({"dry_run": false, "report": {
            "target": "eu-central-1/vol-0a1b2c3d4e5f60718", "kind": "volume",
            "result": "deleted", "final_snapshot": "snap-0f1e2d3c4b5a69788",
            "summary": ["vol-0a1b2c3d4e5f60718: deleted; final snapshot snap-0f1e2d3c4b5a69788"]}})),
    );
    assert_rendered("proposal_succeeded", &answers::decided(&p, TZ));
}

#[test]
fn a_rejected_proposal_says_who_kept_it() {
    let p = Proposal {
        decided_by: Some("slack:UBOB0002".into()),
        finished_at: None,
        ..approved_volume(ProposalState::Rejected, None)
    };
    assert_rendered("proposal_rejected", &answers::decided(&p, TZ));
}

#[test]
fn an_expired_proposal_says_when_it_ran_out() {
    let p = Proposal {
        state: ProposalState::Expired,
        finished_at: Some(at("2026-11-21T08:00:00Z")),
        ..volume_proposal()
    };
    assert_rendered("proposal_expired", &answers::decided(&p, TZ));
}

#[test]
fn a_failed_proposal_shows_the_error() {
    let p = approved_volume(
        ProposalState::Failed,
        Some(
            json!({"error": "VolumeInUse: vol-0a1b2c3d4e5f60718 is attached to i-0123456789abcdef0"}),
        ),
    );
    assert_rendered("proposal_failed", &answers::decided(&p, TZ));
}

#[test]
fn a_skipped_proposal_says_why_it_no_longer_qualified() {
    let p = approved_volume(
        ProposalState::Skipped,
        Some(
            json!({"skipped": "vol-0a1b2c3d4e5f60718 was attached to i-0123456789abcdef0 since the scan"}),
        ),
    );
    assert_rendered("proposal_skipped", &answers::decided(&p, TZ));
}

#[test]
fn an_interrupted_proposal_says_so_and_who_approved_it() {
    let p = Proposal {
        finished_at: None,
        ..approved_volume(ProposalState::Interrupted, None)
    };
    assert_rendered("proposal_interrupted", &answers::decided(&p, TZ));
}

#[test]
fn a_dry_run_says_nothing_was_changed() {
    let p = approved_volume(
        ProposalState::Succeeded,
        Some(json!({"dry_run": true, "report": {
            "target": "eu-central-1/vol-0a1b2c3d4e5f60718", "kind": "volume",
            "result": "would_delete",
            "summary": ["vol-0a1b2c3d4e5f60718: would be deleted"]}})),
    );
    assert_rendered("proposal_dry_run", &answers::decided(&p, TZ));
}

// ---- private answers ----------------------------------------------------------------

#[test]
fn a_click_by_someone_who_may_not_approve_is_refused() {
    let error = DecisionError::Refused {
        kind: ActionKind::DELETE_VOLUME,
        refusal: Refusal::NotAnApprover,
    };
    assert_rendered("refusal_not_an_approver", &answers::refusal(&error, TZ));
}

#[test]
fn a_late_click_is_told_who_decided_first() {
    let error = DecisionError::AlreadyDecided {
        state: ProposalState::Succeeded,
        by: "slack:UALICE01,telegram:424242".into(),
        at: "2026-11-20T09:15:00+00:00".into(),
    };
    assert_rendered("refusal_already_decided", &answers::refusal(&error, TZ));
}

/// Every command the bot has with all its features on.
fn book() -> command::CommandBook {
    use opsmate::features::{guard, hunter, observatory, watchman};
    command::CommandBook::new(
        [
            hunter::plug::COMMANDS,
            watchman::plug::COMMANDS,
            guard::plug::COMMANDS,
            observatory::plug::COMMANDS,
        ]
        .into_iter()
        .flatten(),
    )
}

#[test]
fn the_help_on_slack_lists_the_slash_commands() {
    let msg = answers::help(&book(), Surface::Slack);
    insta::assert_json_snapshot!("help__slack", slack(&msg));
}

#[test]
fn the_help_on_telegram_lists_the_bot_commands() {
    let msg = answers::help(&book(), Surface::Telegram);
    insta::assert_snapshot!("help__telegram", telegram(&msg));
}

#[test]
fn a_misspelt_command_is_answered_with_a_suggestion_and_the_help() {
    let book = book();
    let error = book.unknown("zombeis", false);
    let slack_msg = answers::not_understood(&error, &book, Surface::Slack);
    insta::assert_json_snapshot!("not_understood__slack", slack(&slack_msg));
    let telegram_msg = answers::not_understood(&error, &book, Surface::Telegram);
    insta::assert_snapshot!("not_understood__telegram", telegram(&telegram_msg));
}

// ---- Zombie Hunter ----------------------------------------------------------------

const REPORT_BULK: &str = "b8u2zk3n4p";

fn finding(kind: ZombieKind, id: &str, usd: f64) -> Finding {
    let (size, detail, upper) = match kind {
        ZombieKind::Volume => (Some(100), "gp3", false),
        ZombieKind::Snapshot => (Some(500), "standard", true),
        ZombieKind::ElasticIp => (None, "203.0.113.7", false),
    };
    Finding {
        id: id.into(),
        kind,
        region: "eu-central-1".into(),
        account: None,
        monthly_cost_usd: usd,
        cost_is_upper_bound: upper,
        first_seen: at("2026-11-06T07:00:00Z"),
        last_seen: at("2026-11-20T07:00:00Z"),
        created: (kind != ZombieKind::ElasticIp).then(|| at("2026-08-12T10:30:00Z")),
        size_gib: size,
        detail: detail.into(),
        name: (kind == ZombieKind::Volume).then(|| "build-cache".to_owned()),
        owner: (kind == ZombieKind::Volume).then(|| "platform-team@example.com".to_owned()),
    }
}

/// A report of four listed lines and its "Delete all", every proposal pending.
fn hunter_report() -> (StoredReport, HashMap<ApprovalId, Proposal>) {
    let items = vec![
        (
            approval("v2aaaaaaaa"),
            finding(ZombieKind::Volume, "vol-0a1b2c3d4e5f60718", 8.0),
        ),
        (
            approval("v2bbbbbbbb"),
            finding(ZombieKind::Volume, "vol-0b2c3d4e5f6071829", 8.0),
        ),
        (
            approval("s2cccccccc"),
            finding(ZombieKind::Snapshot, "snap-0c3d4e5f607182930", 25.0),
        ),
        (
            approval("e2dddddddd"),
            finding(ZombieKind::ElasticIp, "eipalloc-0d4e5f6071829304", 3.6),
        ),
    ];
    let pending = |id: &ApprovalId, kind: ActionKind, target: String| Proposal {
        id: id.clone(),
        kind,
        target,
        proposed_by: "zombie_hunter".into(),
        posted: None,
        decision_note: None,
        ..volume_proposal()
    };
    let mut states: HashMap<ApprovalId, Proposal> = items
        .iter()
        .map(|(id, f)| {
            let p = pending(id, f.kind.action(), f.resource().target());
            (id.clone(), p)
        })
        .collect();
    let bulk = approval(REPORT_BULK);
    states.insert(
        bulk.clone(),
        pending(
            &bulk,
            ActionKind::DELETE_ZOMBIES,
            "report:r7n3w5x8yz".into(),
        ),
    );
    let tally = |count, usd| Tally { count, usd };
    let summary = Summary {
        scanned_at: at("2026-11-20T07:00:00Z"),
        found: tally(4, 44.6),
        listed: 4,
        by_kind: [
            (ZombieKind::Volume, tally(2, 16.0)),
            (ZombieKind::Snapshot, tally(1, 25.0)),
            (ZombieKind::ElasticIp, tally(1, 3.6)),
        ]
        .into(),
        by_region: [("eu-central-1".to_owned(), tally(4, 44.6))].into(),
        watching: 1,
        skipped: Skipped {
            excluded: 2,
            used_by_ami: 1,
            ..Skipped::default()
        },
        failed_regions: Vec::new(),
        regions_scanned: 2,
        volume_min_idle_days: 7,
        exclude_tag: "opsmate:keep=true".into(),
    };
    let report = StoredReport {
        id: "r7n3w5x8yz".into(),
        created_at: summary.scanned_at,
        bulk: Some(bulk),
        summary,
        items,
    };
    (report, states)
}

#[test]
fn a_zombie_report_lists_each_resource_with_its_delete_button_and_delete_all() {
    let (report, states) = hunter_report();
    let pages = pages(&report, &states, &|_| true, TZ);
    assert_eq!(pages.len(), 1);
    assert_rendered("hunter_report_pending", &pages[0]);
}

#[test]
fn a_zombie_report_after_some_decisions_shows_each_outcome_and_offers_the_rest() {
    let (report, mut states) = hunter_report();
    let deleted = states.get_mut(&approval("v2aaaaaaaa")).unwrap();
    deleted.state = ProposalState::Succeeded;
    deleted.decided_by = Some("slack:UALICE01".into());
    deleted.outcome = Some(outcome_of(json!({"dry_run": false, "report": {
        "target": "eu-central-1/vol-0a1b2c3d4e5f60718", "kind": "volume",
        "result": "deleted", "final_snapshot": "snap-0f1e2d3c4b5a69788"}})));
    let kept = states.get_mut(&approval("v2bbbbbbbb")).unwrap();
    kept.state = ProposalState::Rejected;
    kept.decided_by = Some("slack:UBOB0002".into());
    let pages = pages(&report, &states, &|_| true, TZ);
    assert_eq!(pages.len(), 1);
    assert_rendered("hunter_report_partly_decided", &pages[0]);
}

#[test]
fn a_zombie_report_after_delete_all_says_what_the_set_did() {
    let (report, mut states) = hunter_report();
    for (id, f) in &report.items {
        let p = states.get_mut(id).unwrap();
        p.state = ProposalState::Succeeded;
        p.decided_by = Some("slack:UALICE01".into());
        p.outcome = Some(outcome_of(json!({"dry_run": false, "report": {
            "target": f.resource().target(), "kind": f.kind, "result": "deleted"}})));
    }
    let bulk = states.get_mut(&approval(REPORT_BULK)).unwrap();
    bulk.state = ProposalState::Succeeded;
    bulk.decided_by = Some("slack:UALICE01".into());
    bulk.outcome = Some(outcome_of(
        json!({"dry_run": false, "report": {"failed": 0, "items": report
        .items
        .iter()
        .map(|(_, f)| json!({"target": f.resource().target(), "kind": f.kind, "result": "deleted"}))
        .collect::<Vec<_>>()}}),
    ));
    let pages = pages(&report, &states, &|_| true, TZ);
    assert_rendered("hunter_report_all_deleted", &pages[0]);
}

// ---- Night Watchman ---------------------------------------------------------------

async fn watchman() -> Watchman {
    let aws_config = AwsConfig::default();
    let aws = Aws::with_static_credentials(&aws_config, "testing", "testing").await;
    Watchman {
        settings: WatchmanConfig::default(),
        regions: aws_config.regions.clone(),
        aws,
        github: None,
        http: reqwest::Client::new(),
        linear_url: "http://127.0.0.1:9/graphql".into(),
        linear_key: None,
        tz: TZ,
        start: Some(CronSchedule::parse("0 8 * * 1-5", TZ).expect("a valid schedule")),
    }
}

fn evening_check(signals: Vec<Signal>) -> Check {
    let instances = vec![
        InstanceLine {
            id: opsmate::cloud::ids::InstanceId::parse("i-0123456789abcdef0").unwrap(),
            region: "eu-central-1".into(),
            instance_type: "t3.medium".into(),
            name: Some("staging-api".into()),
            action: InstanceAction::Stop,
            why: None,
            hourly_usd: Some(0.048),
        },
        InstanceLine {
            id: opsmate::cloud::ids::InstanceId::parse("i-0fedcba9876543210").unwrap(),
            region: "eu-central-1".into(),
            instance_type: "m5.large".into(),
            name: Some("staging-worker".into()),
            action: InstanceAction::Stop,
            why: None,
            hourly_usd: Some(0.115),
        },
        InstanceLine {
            id: opsmate::cloud::ids::InstanceId::parse("i-0aaaabbbbccccdddd").unwrap(),
            region: "eu-central-1".into(),
            instance_type: "t3.small".into(),
            name: None,
            action: InstanceAction::Skip,
            why: Some("tagged opsmate:keep=true".into()),
            hourly_usd: Some(0.024),
        },
    ];
    let decision = decide::decide(&signals, 2, &[]);
    Check {
        // Thursday 20:00 CET; the morning start is Friday 08:00 CET, 12 hours later.
        checked_at: at("2026-11-19T19:00:00Z"),
        decision: decision.decision,
        reasons: decision.reasons,
        instances,
        signals,
        hours_stopped: Some(12.0),
        estimated_savings_usd: Some(1.96),
        unpriced_types: Vec::new(),
    }
}

fn quiet_signals() -> Vec<Signal> {
    vec![
        Signal::new(
            "GitHub",
            Reading::Quiet("last push to acme/api 184 min ago".into()),
        ),
        Signal::new(
            "Linear",
            Reading::Quiet("no open urgent issues in OPS".into()),
        ),
    ]
}

fn stop_proposal(check: &Check) -> Proposal {
    Proposal {
        id: approval("w4tch3n7gt"),
        kind: ActionKind::STOP_INSTANCES,
        target: "night:2026-11-19".into(),
        reason: format!(
            "Stop 2 staging instance(s) for the night: {}",
            check.reasons.join("; ")
        ),
        proposed_by: "night_watchman".into(),
        created_at: at("2026-11-19T19:00:00Z"),
        expires_at: at("2026-11-20T07:00:00Z"),
        posted: None,
        decision_note: None,
        ..volume_proposal()
    }
}

#[tokio::test]
async fn a_night_watchman_notice_names_the_deadline_and_offers_keep_online() {
    let w = watchman().await;
    let check = evening_check(quiet_signals());
    assert_eq!(check.decision, Verdict::Stop);
    let p = stop_proposal(&check);
    let deadline = Some(at("2026-11-19T19:30:00Z"));
    let msg = watchman_messages::stop_message(&p, &check, &w, deadline, true);
    assert_rendered("watchman_stop_notice", &msg);
}

#[tokio::test]
async fn a_night_watchman_approval_request_waits_for_a_decision() {
    let w = watchman().await;
    let check = evening_check(quiet_signals());
    let p = stop_proposal(&check);
    let msg = watchman_messages::stop_message(&p, &check, &w, None, true);
    assert_rendered("watchman_stop_request", &msg);
}

#[test]
fn a_night_watchman_keep_message_gives_the_reasons() {
    let signals = vec![
        Signal::new("GitHub", Reading::Busy("push to acme/api 8 min ago".into())),
        Signal::new("Linear", Reading::Unreadable("Linear answered 500".into())),
    ];
    let check = evening_check(signals);
    assert_eq!(check.decision, Verdict::Keep);
    assert_rendered("watchman_keep", &watchman_messages::keep_message(&check));
}

#[test]
fn a_night_watchman_stop_once_done_lists_each_instance() {
    let check = evening_check(quiet_signals());
    let p = Proposal {
        state: ProposalState::Succeeded,
        decided_by: Some(DEADLINE_DECIDER.into()),
        decided_at: Some(at("2026-11-19T19:30:00Z")),
        finished_at: Some(at("2026-11-19T19:31:10Z")),
        outcome: Some(outcome_of(json!({"dry_run": false, "report": {
            "summary": [
                "i-0123456789abcdef0 (eu-central-1) stopped",
                "i-0fedcba9876543210 (eu-central-1) stopped"
            ],
            "instances": [],
            "failed": 0,
            "estimated_savings_usd": 1.96
        }}))),
        ..stop_proposal(&check)
    };
    assert_rendered("watchman_stop_done", &answers::decided(&p, TZ));
}

// ---- Access Guard -----------------------------------------------------------------

fn revoke_params() -> RevokeParams {
    RevokeParams {
        user: opsmate::cloud::ids::IamUserName::parse("carol").unwrap(),
        email: Some("carol@example.com".into()),
        github_login: Some("carol-dev".into()),
        missing_from: vec!["slack (deactivated)".into(), "github".into()],
        since: Some(at("2026-11-12T09:00:00Z")),
        steps: RevokeStep::ALL.to_vec(),
        delete_user: false,
        details: Details {
            groups: vec!["developers".into(), "staging-admins".into()],
            managed_policies: vec!["ReadOnlyAccess".into()],
            inline_policies: vec!["s3-deploy-bucket".into()],
            access_keys: vec![
                KeyLine {
                    id: "AKIAIOSFODNN7EXAMPLE".into(),
                    active: true,
                    last_used: Some(at("2026-11-10T16:42:00Z")),
                },
                KeyLine {
                    id: "AKIAI44QH8DHBEXAMPLE".into(),
                    active: false,
                    last_used: None,
                },
            ],
            console_password: true,
            mfa_devices: vec!["arn:aws:iam::111122223333:mfa/carol".into()],
        },
        done_before: Vec::new(),
        resumes: None,
    }
}

fn revoke_proposal(params: &RevokeParams) -> Proposal {
    Proposal {
        id: approval("g5ard8xy2z"),
        kind: ActionKind::REVOKE_ACCESS,
        target: "iam-user:carol".into(),
        params: serde_json::to_value(params).unwrap(),
        reason: "carol (carol@example.com) has left: missing from slack (deactivated), github since 2026-11-12 10:00 CET. Revoke their AWS access?".into(),
        proposed_by: "access_guard".into(),
        created_at: at("2026-11-19T09:00:00Z"),
        expires_at: at("2026-11-26T09:00:00Z"),
        posted: None,
        decision_note: None,
        ..volume_proposal()
    }
}

#[test]
fn an_access_guard_request_lists_what_the_user_has_and_the_plan() {
    let params = revoke_params();
    let p = revoke_proposal(&params);
    let msg = guard_messages::request(&p, &params, TZ, true, 30);
    assert_rendered("guard_request", &msg);
}

#[test]
fn an_access_guard_request_that_resumes_says_what_was_done_before() {
    let mut params = revoke_params();
    params.done_before = vec![RevokeStep::AccessKeys, RevokeStep::LoginProfile];
    params.resumes = Some("approval m3n4p5q6r7, interrupted".into());
    let p = revoke_proposal(&params);
    let msg = guard_messages::request(&p, &params, TZ, true, 30);
    assert_rendered("guard_request_resuming", &msg);
}

#[test]
fn an_access_guard_request_kept_says_by_whom_and_until_when() {
    let params = revoke_params();
    let p = Proposal {
        state: ProposalState::Rejected,
        decided_by: Some("slack:UDAVE004".into()),
        decided_at: Some(at("2026-11-19T10:05:00Z")),
        ..revoke_proposal(&params)
    };
    let kept = Kept {
        by: "slack:UDAVE004".into(),
        until: at("2026-12-19T10:05:00Z"),
        reason: Some("contractor, back in January".into()),
    };
    let msg = guard_messages::decided(&p, TZ, Some(&kept));
    assert_rendered("guard_kept", &msg);
}
