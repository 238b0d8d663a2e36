//! The approval gate against a real SQLite file.

use crate::support::actions::CountingAction;
use crate::support::{TestApp, config_in};
use chrono::{Duration, TimeZone, Utc};
use opsmate::app::AppOptions;
use opsmate::approvals::{
    ActionRegistry, Decided, DecisionError, Gate, NewProposal, ProposalState, Refusal, Verdict,
};
use opsmate::audit;
use opsmate::clock::{ManualClock, SharedClock};
use opsmate::config::{ApprovalsConfig, KindPolicy, Secrets};
use opsmate::domain::{ActionKind, Actor, SlackGroupId, SlackUserId, TelegramUserId};
use opsmate::executor::Executor;
use opsmate::metrics::Metrics;
use opsmate::store::Store;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;

fn slack(user: &str) -> Actor {
    Actor::Slack {
        user: SlackUserId::parse(user).unwrap(),
        groups: vec![],
    }
}

fn slack_in_ops(user: &str) -> Actor {
    Actor::Slack {
        user: SlackUserId::parse(user).unwrap(),
        groups: vec![SlackGroupId::parse("SOPS").unwrap()],
    }
}

fn approvals(required: u8) -> ApprovalsConfig {
    ApprovalsConfig {
        kinds: [(
            ActionKind::DELETE_VOLUME,
            KindPolicy {
                slack_users: vec![
                    SlackUserId::parse("UALICE").unwrap(),
                    SlackUserId::parse("UBOB").unwrap(),
                ],
                slack_groups: vec![SlackGroupId::parse("SOPS").unwrap()],
                telegram_users: vec![TelegramUserId(42)],
                required_approvals: Some(required),
                ttl: None,
            },
        )]
        .into(),
        ..ApprovalsConfig::default()
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    clock: ManualClock,
    action: Arc<CountingAction>,
    gate: Gate,
    executor: Executor,
}

fn fixture_with(config: ApprovalsConfig, dry_run: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &dir.path().join("gate.db"),
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap());
    let action = CountingAction::new();
    let mut registry = ActionRegistry::default();
    registry.register(ActionKind::DELETE_VOLUME, action.clone());
    registry.register(ActionKind::REVOKE_ACCESS, action.clone());
    let shared: SharedClock = Arc::new(clock.clone());
    let gate = Gate::new(
        store.clone(),
        shared,
        config,
        registry,
        Metrics::new(),
        dry_run,
    );
    let executor = Executor::new(gate.clone(), 8);
    Fixture {
        _dir: dir,
        store,
        clock,
        action,
        gate,
        executor,
    }
}

impl Fixture {
    async fn propose(&self, target: &str) -> opsmate::approvals::Proposal {
        self.gate
            .propose(volume(target))
            .await
            .unwrap()
            .proposal()
            .clone()
    }

    /// Approves as a listed Slack user; the decision must go through. A decision
    /// that approves is run to its end by the executor, and returned as it ended.
    async fn approve(&self, id: &opsmate::domain::ApprovalId, user: &str) -> Decided {
        match self
            .gate
            .decide(id, &slack(user), Verdict::Approve)
            .await
            .unwrap()
        {
            Decided::Approved(p) => {
                Decided::Approved(self.executor.run_to_end(&p.id).await.unwrap())
            }
            other => other,
        }
    }
}

fn fixture(required: u8) -> Fixture {
    fixture_with(approvals(required), false)
}

fn volume(target: &str) -> NewProposal {
    NewProposal {
        kind: ActionKind::DELETE_VOLUME,
        target: target.into(),
        params: json!({"region": "us-east-1"}),
        reason: "unattached for 9 days, $8.00/month".into(),
        proposed_by: "scheduler".into(),
    }
}

fn audit_events(store: &Store) -> Vec<(String, String, String)> {
    store
        .with_conn(|c| {
            Ok(audit::tail(c, 10_000)?
                .into_iter()
                .map(|r| (r.actor, r.event, r.subject))
                .collect())
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_concurrent_approvals_execute_once() {
    let f = fixture(1);
    let p = f.propose("us-east-1/vol-1").await;
    let mut tasks = Vec::new();
    for i in 0..100 {
        let gate = f.gate.clone();
        let id = p.id.clone();
        tasks.push(tokio::spawn(async move {
            gate.decide(&id, &slack_in_ops(&format!("U{i:04}")), Verdict::Approve)
                .await
        }));
    }
    let mut executed = 0;
    let mut already = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(Decided::Approved(p)) => {
                executed += 1;
                // Every approved proposal is handed over; the executor runs it once.
                for _ in 0..3 {
                    f.executor.submit(p.id.clone(), Default::default());
                }
                let p = f.executor.run_to_end(&p.id).await.unwrap();
                assert_eq!(p.state, ProposalState::Succeeded);
            }
            Err(DecisionError::AlreadyDecided { .. }) => already += 1,
            other => panic!("unexpected decision result: {other:?}"),
        }
    }
    assert_eq!(executed, 1);
    assert_eq!(already, 99);
    assert_eq!(f.action.executions(), 1);
    let events = audit_events(&f.store);
    assert_eq!(
        events.iter().filter(|e| e.1 == "approval.approved").count(),
        1
    );
    assert_eq!(
        events.iter().filter(|e| e.1 == "action.succeeded").count(),
        1
    );
    assert_eq!(
        events.iter().filter(|e| e.1 == "approval.refused").count(),
        99
    );
    let verified = f.store.with_conn(|c| audit::verify(c, &[])).unwrap();
    assert!(
        matches!(verified, audit::Verification::Intact { .. }),
        "{verified:?}"
    );
}

#[tokio::test]
async fn double_click_says_who_decided() {
    let f = fixture(1);
    let p = f.propose("us-east-1/vol-2").await;
    f.approve(&p.id, "UALICE").await;
    match f.gate.decide(&p.id, &slack("UBOB"), Verdict::Approve).await {
        Err(DecisionError::AlreadyDecided { state, by, .. }) => {
            assert_eq!(state, ProposalState::Succeeded);
            assert_eq!(by, "slack:UALICE");
        }
        other => panic!("expected AlreadyDecided, got {other:?}"),
    }
    assert_eq!(f.action.executions(), 1);
}

#[tokio::test]
async fn a_stranger_is_refused_and_audited() {
    let f = fixture(1);
    let p = f.propose("us-east-1/vol-3").await;
    let err = f
        .gate
        .decide(&p.id, &slack("UMALLORY"), Verdict::Approve)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        DecisionError::Refused {
            refusal: Refusal::NotAnApprover,
            ..
        }
    ));
    assert!(err.to_string().contains("not allowed"));
    let err = f
        .gate
        .decide(&p.id, &Actor::Telegram(TelegramUserId(7)), Verdict::Reject)
        .await
        .unwrap_err();
    assert!(matches!(err, DecisionError::Refused { .. }));
    assert_eq!(
        f.gate.get(&p.id).await.unwrap().unwrap().state,
        ProposalState::Pending
    );
    assert_eq!(f.action.executions(), 0);
    let events = audit_events(&f.store);
    assert!(events.contains(&(
        "slack:UMALLORY".into(),
        "approval.refused".into(),
        p.id.to_string()
    )));
    assert!(events.contains(&(
        "telegram:7".into(),
        "approval.refused".into(),
        p.id.to_string()
    )));
}

#[tokio::test]
async fn a_kind_without_approvers_lets_nobody_through() {
    let f = fixture(1);
    let p = f
        .gate
        .propose(NewProposal {
            kind: ActionKind::REVOKE_ACCESS,
            target: "iam/alice".into(),
            params: json!({}),
            reason: "left".into(),
            proposed_by: "scheduler".into(),
        })
        .await
        .unwrap()
        .proposal()
        .clone();
    assert!(!f.gate.has_approvers(&p));
    let err = f
        .gate
        .decide(&p.id, &slack("UALICE"), Verdict::Approve)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        DecisionError::Refused {
            refusal: Refusal::NoApproversConfigured,
            ..
        }
    ));
    assert_eq!(f.action.executions(), 0);
}

#[tokio::test]
async fn self_approval_is_refused_when_forbidden() {
    let f = fixture(1);
    let mut new = volume("us-east-1/vol-self");
    new.proposed_by = "slack:UALICE".into();
    let p = f.gate.propose(new).await.unwrap().proposal().clone();
    let err = f
        .gate
        .decide(&p.id, &slack("UALICE"), Verdict::Approve)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        DecisionError::Refused {
            refusal: Refusal::OwnProposal,
            ..
        }
    ));
    assert!(matches!(
        f.gate.decide(&p.id, &slack("UBOB"), Verdict::Approve).await,
        Ok(Decided::Approved(_))
    ));
}

#[tokio::test]
async fn two_approver_rule_needs_two_distinct_people() {
    let f = fixture(2);
    let p = f.propose("us-east-1/vol-4").await;
    match f.approve(&p.id, "UALICE").await {
        Decided::NeedsMoreApprovals { have, need, .. } => assert_eq!((have, need), (1, 2)),
        other => panic!("expected a vote, got {other:?}"),
    }
    assert!(matches!(
        f.gate
            .decide(&p.id, &slack("UALICE"), Verdict::Approve)
            .await,
        Err(DecisionError::AlreadyVoted)
    ));
    assert_eq!(f.action.executions(), 0);
    match f.approve(&p.id, "UBOB").await {
        Decided::Approved(p) => {
            assert_eq!(p.state, ProposalState::Succeeded);
            assert_eq!(p.decided_by.as_deref(), Some("slack:UALICE,slack:UBOB"));
        }
        other => panic!("expected execution, got {other:?}"),
    }
    assert_eq!(f.action.executions(), 1);
}

#[tokio::test]
async fn rejection_closes_the_proposal_without_acting() {
    let f = fixture(2);
    let p = f.propose("us-east-1/vol-5").await;
    assert!(matches!(
        f.gate.decide(&p.id, &slack("UBOB"), Verdict::Reject).await,
        Ok(Decided::Rejected(_))
    ));
    assert!(matches!(
        f.gate
            .decide(&p.id, &slack("UALICE"), Verdict::Approve)
            .await,
        Err(DecisionError::AlreadyDecided {
            state: ProposalState::Rejected,
            ..
        })
    ));
    assert_eq!(f.action.executions(), 0);
}

#[tokio::test]
async fn proposals_expire_after_their_ttl() {
    let f = fixture(1);
    let late = f.propose("us-east-1/vol-6").await;
    let swept = f.propose("us-east-1/vol-7").await;
    assert_eq!(late.expires_at - late.created_at, Duration::hours(24));

    f.clock.advance(Duration::hours(23));
    assert!(f.gate.expire_due().await.unwrap().is_empty());
    f.clock.advance(Duration::hours(1));

    assert!(matches!(
        f.gate
            .decide(&late.id, &slack("UALICE"), Verdict::Approve)
            .await,
        Err(DecisionError::Expired(_))
    ));
    let expired = f.gate.expire_due().await.unwrap();
    assert_eq!(
        expired.iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
        vec![swept.id.clone()]
    );
    for id in [&late.id, &swept.id] {
        assert_eq!(
            f.gate.get(id).await.unwrap().unwrap().state,
            ProposalState::Expired
        );
    }
    assert_eq!(f.action.executions(), 0);
    // An expired target can be proposed again.
    assert!(matches!(
        f.gate.propose(volume("us-east-1/vol-6")).await.unwrap(),
        opsmate::approvals::Proposed::Created(_)
    ));
}

#[tokio::test]
async fn per_kind_ttl_overrides_the_default() {
    let mut config = approvals(1);
    config
        .kinds
        .get_mut(&ActionKind::DELETE_VOLUME)
        .unwrap()
        .ttl = Some(std::time::Duration::from_secs(3600));
    let f = fixture_with(config, false);
    let p = f.propose("us-east-1/vol-ttl").await;
    assert_eq!(p.expires_at - p.created_at, Duration::hours(1));
}

#[tokio::test]
async fn only_one_open_proposal_per_target() {
    let f = fixture(1);
    let first = f.gate.propose(volume("us-east-1/vol-8")).await.unwrap();
    let second = f.gate.propose(volume("us-east-1/vol-8")).await.unwrap();
    assert!(matches!(first, opsmate::approvals::Proposed::Created(_)));
    match second {
        opsmate::approvals::Proposed::AlreadyOpen(p) => assert_eq!(p.id, first.proposal().id),
        other => panic!("expected the open proposal back, got {other:?}"),
    }
    assert_eq!(f.gate.pending().await.unwrap().len(), 1);
}

#[tokio::test]
async fn recheck_skips_a_target_that_no_longer_qualifies() {
    let f = fixture(1);
    let p = f.propose("us-east-1/vol-9").await;
    f.action.gone.store(true, Ordering::SeqCst);
    match f.approve(&p.id, "UALICE").await {
        Decided::Approved(p) => {
            assert_eq!(p.state, ProposalState::Skipped);
            assert_eq!(
                p.outcome.unwrap().skipped.as_deref(),
                Some("us-east-1/vol-9 is attached again")
            );
        }
        other => panic!("expected a skipped execution, got {other:?}"),
    }
    assert_eq!(f.action.rechecks.load(Ordering::SeqCst), 1);
    assert_eq!(f.action.executions(), 0);
    assert!(
        audit_events(&f.store)
            .iter()
            .any(|e| e.1 == "action.skipped")
    );
}

#[tokio::test]
async fn a_failed_action_is_reported_as_failed() {
    let f = fixture(1);
    let p = f.propose("us-east-1/vol-10").await;
    f.action.fail.store(true, Ordering::SeqCst);
    match f.approve(&p.id, "UALICE").await {
        Decided::Approved(p) => {
            assert_eq!(p.state, ProposalState::Failed);
            assert!(p.outcome.unwrap().error.unwrap().contains("VolumeInUse"));
        }
        other => panic!("expected failure, got {other:?}"),
    }
}

#[tokio::test]
async fn dry_run_reaches_the_action() {
    let f = fixture_with(approvals(1), true);
    let p = f.propose("us-east-1/vol-11").await;
    match f.approve(&p.id, "UALICE").await {
        Decided::Approved(p) => assert!(p.outcome.unwrap().dry_run),
        other => panic!("unexpected: {other:?}"),
    }
    assert_eq!(*f.action.dry_runs.lock().unwrap(), vec![true]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_turns_executing_into_interrupted_and_never_reruns() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.approvals = approvals(1);
    let action = CountingAction::new();
    let hold = Arc::new(tokio::sync::Notify::new());
    *action.hold.lock().unwrap() = Some(hold.clone());
    let options = || {
        let mut registry = ActionRegistry::default();
        registry.register(ActionKind::DELETE_VOLUME, action.clone());
        AppOptions {
            actions: registry,
            ..AppOptions::default()
        }
    };

    let app = TestApp::start(config.clone(), Secrets::default(), options()).await;
    let gate = app.ctx.gate.clone();
    let p = gate
        .propose(volume("us-east-1/vol-12"))
        .await
        .unwrap()
        .proposal()
        .clone();
    let decided = gate.decide(&p.id, &slack("UALICE"), Verdict::Approve).await;
    assert!(matches!(decided, Ok(Decided::Approved(_))), "{decided:?}");
    app.ctx.executor.submit(p.id.clone(), Default::default());
    let gate = app.ctx.gate.clone();
    let id = p.id.clone();
    assert!(
        crate::support::eventually(std::time::Duration::from_secs(5), || {
            let gate = gate.clone();
            let id = id.clone();
            async move { gate.get(&id).await.unwrap().unwrap().state == ProposalState::Executing }
        })
        .await
    );
    // The process "dies" mid-action.
    app.crash().await;

    *action.hold.lock().unwrap() = None;
    let app = TestApp::start(config, Secrets::default(), options()).await;
    let after = app.ctx.gate.get(&p.id).await.unwrap().unwrap();
    assert_eq!(after.state, ProposalState::Interrupted);
    assert!(matches!(
        app.ctx
            .gate
            .decide(&p.id, &slack("UBOB"), Verdict::Approve)
            .await,
        Err(DecisionError::AlreadyDecided {
            state: ProposalState::Interrupted,
            ..
        })
    ));
    assert_eq!(
        action.executions(),
        1,
        "the interrupted action is not re-run"
    );
    let events = audit_events(&app.ctx.store);
    assert!(
        events
            .iter()
            .any(|e| e.1 == "action.interrupted" && e.2 == p.id.as_str())
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_and_jobs_on_the_queue_reach_the_gate() {
    use opsmate::events::{DecisionRequest, Event, JobKind, JobRun};
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.approvals = approvals(1);
    config.approvals.set_policy(
        opsmate::domain::ActionKind::DELETE_SNAPSHOT,
        KindPolicy {
            slack_users: vec![SlackUserId::parse("UALICE").unwrap()],
            ttl: Some(std::time::Duration::from_millis(1)),
            ..KindPolicy::default()
        },
    );
    let action = CountingAction::new();
    let mut registry = ActionRegistry::default();
    registry.register(ActionKind::DELETE_VOLUME, action.clone());
    registry.register(ActionKind::DELETE_SNAPSHOT, action.clone());
    let app = TestApp::start(
        config,
        Secrets::default(),
        AppOptions {
            actions: registry,
            ..AppOptions::default()
        },
    )
    .await;
    let gate = app.ctx.gate.clone();

    let p = gate
        .propose(volume("us-east-1/vol-q"))
        .await
        .unwrap()
        .proposal()
        .clone();
    app.queue
        .send(Event::Decision(DecisionRequest {
            approval: p.id.clone(),
            decider: slack("UALICE"),
            verdict: Verdict::Approve,
            reply: None,
            message: None,
            note: None,
        }))
        .await
        .unwrap();

    let mut snap = volume("us-east-1/snap-q");
    snap.kind = ActionKind::DELETE_SNAPSHOT;
    let s = gate.propose(snap).await.unwrap().proposal().clone();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.queue
        .send(Event::Job(JobRun {
            job: JobKind::EXPIRE_APPROVALS,
            scheduled_for: Utc::now(),
            catch_up: false,
        }))
        .await
        .unwrap();

    let done = crate::support::eventually(std::time::Duration::from_secs(5), || {
        let gate = gate.clone();
        let (p, s) = (p.id.clone(), s.id.clone());
        async move {
            gate.get(&p).await.unwrap().unwrap().state == ProposalState::Succeeded
                && gate.get(&s).await.unwrap().unwrap().state == ProposalState::Expired
        }
    })
    .await;
    assert!(done, "the dispatcher did not handle both events");
    assert_eq!(action.executions(), 1);
    app.finish().await;
}

#[tokio::test]
async fn a_telegram_user_outside_the_telegram_approvers_is_refused_once_and_audited() {
    let f = fixture(1);
    let gate = f
        .gate
        .clone()
        .with_telegram_approvers(vec![TelegramUserId(42)]);
    let p = f.propose("us-east-1/vol-tg").await;
    let err = gate
        .decide(
            &p.id,
            &Actor::Telegram(TelegramUserId(43)),
            Verdict::Approve,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DecisionError::Refused {
                refusal: Refusal::NotATelegramApprover,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(matches!(
        gate.decide(
            &p.id,
            &Actor::Telegram(TelegramUserId(42)),
            Verdict::Approve
        )
        .await,
        Ok(Decided::Approved(_))
    ));
    let refused: Vec<_> = audit_events(&f.store)
        .into_iter()
        .filter(|e| e.1 == "approval.refused")
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].0, "telegram:43");
}
