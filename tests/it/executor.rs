//! The executor: approved actions run beside the queue, one per target, in steps that
//! wait without holding a worker and resume after a restart.

use crate::support::actions::{CountingAction, WaitingAction};
use crate::support::slack::{SlackHarness, all_text, policy};
use crate::support::{TestApp, config_in, eventually};
use opsmate::app::AppOptions;
use opsmate::approvals::{ActionRegistry, NewProposal, ProposalState, Verdict};
use opsmate::config::Secrets;
use opsmate::domain::{ActionKind, Actor, ApprovalId, SlackUserId};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn alice() -> Actor {
    Actor::Slack {
        user: SlackUserId::parse("UALICE").unwrap(),
        groups: vec![],
    }
}

fn proposal(kind: ActionKind, target: &str) -> NewProposal {
    NewProposal {
        kind,
        target: target.into(),
        params: json!({}),
        reason: "idle".into(),
        proposed_by: "scheduler".into(),
    }
}

/// A config on a fresh database in `dir` whose `delete_volume` and `delete_snapshot`
/// approvers are UALICE, UBOB and SOPS.
fn config_with_approvers(dir: &std::path::Path) -> opsmate::config::Config {
    let mut config = config_in(dir);
    config
        .approvals
        .set_policy(opsmate::domain::ActionKind::DELETE_VOLUME, policy());
    config
        .approvals
        .set_policy(opsmate::domain::ActionKind::DELETE_SNAPSHOT, policy());
    config
}

/// App options whose only handler is `action`, for `kinds`.
fn options_with(
    action: Arc<dyn opsmate::approvals::ActionHandler>,
    kinds: &[ActionKind],
) -> AppOptions {
    let mut registry = ActionRegistry::default();
    for kind in kinds {
        registry.register(*kind, action.clone());
    }
    AppOptions {
        actions: registry,
        ..AppOptions::default()
    }
}

/// Proposes `target` for deletion and approves it as UALICE (nothing runs yet).
async fn approved(app: &TestApp, target: &str) -> opsmate::approvals::Proposal {
    let p = app
        .ctx
        .gate
        .propose(proposal(ActionKind::DELETE_VOLUME, target))
        .await
        .unwrap()
        .proposal()
        .clone();
    app.ctx
        .gate
        .decide(&p.id, &alice(), Verdict::Approve)
        .await
        .unwrap();
    p
}

async fn state_of(app: &TestApp, id: &ApprovalId) -> ProposalState {
    app.ctx.gate.get(id).await.unwrap().unwrap().state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_action_does_not_hold_up_clicks_commands_or_other_actions() {
    let h = SlackHarness::start().await;
    let hold = Arc::new(tokio::sync::Notify::new());
    *h.action.hold.lock().unwrap() = Some(hold.clone());
    let slow = h.posted_proposal("us-east-1/vol-slow").await;
    h.click("UALICE", "approve", &slow, "slow").await;
    let gate = h.app.ctx.gate.clone();
    assert!(
        eventually(Duration::from_secs(5), || async {
            gate.get(&slow.id).await.unwrap().unwrap().state == ProposalState::Executing
        })
        .await,
        "the slow action is running"
    );

    // While it runs: a command is answered and another proposal is decided.
    h.command("UBOB", "help", "help").await;
    let help = h.wait_calls("response_url:help", 1).await;
    assert!(all_text(&help[0].body).contains("/opsmate"), "{help:?}");
    let other = h.posted_proposal("us-east-1/vol-other").await;
    h.reject_with_reason("UBOB", &other, "other", "not now")
        .await;
    let updates = h.wait_calls("chat.update", 1).await;
    assert!(all_text(&updates[0].body).contains("Rejected"));
    assert_eq!(state_of(&h.app, &slow.id).await, ProposalState::Executing);

    *h.action.hold.lock().unwrap() = None;
    hold.notify_waiters();
    h.app.settle().await;
    assert_eq!(state_of(&h.app, &slow.id).await, ProposalState::Succeeded);
    let updates = h.fake.calls_to("chat.update");
    assert!(
        updates
            .iter()
            .any(|u| all_text(&u.body).contains("Approved and done")),
        "the slow action's message shows its outcome: {updates:#?}"
    );
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_actions_on_one_target_run_one_after_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let action = CountingAction::new();
    let hold = Arc::new(tokio::sync::Notify::new());
    *action.hold.lock().unwrap() = Some(hold.clone());
    let app = TestApp::start(
        config_with_approvers(dir.path()),
        Secrets::default(),
        options_with(
            action.clone(),
            &[ActionKind::DELETE_VOLUME, ActionKind::DELETE_SNAPSHOT],
        ),
    )
    .await;
    let gate = &app.ctx.gate;
    let mut ids = Vec::new();
    for kind in [ActionKind::DELETE_VOLUME, ActionKind::DELETE_SNAPSHOT] {
        let p = gate
            .propose(proposal(kind, "us-east-1/shared"))
            .await
            .unwrap();
        let id = p.proposal().id.clone();
        gate.decide(&id, &alice(), Verdict::Approve).await.unwrap();
        app.ctx.executor.submit(id.clone(), Default::default());
        ids.push(id);
    }
    assert!(
        eventually(Duration::from_secs(5), || async {
            action.executions() == 1
        })
        .await,
        "the first one runs"
    );
    // The second waits for the target, still approved, never started.
    let states = [state_of(&app, &ids[0]).await, state_of(&app, &ids[1]).await];
    assert!(
        states.contains(&ProposalState::Executing) && states.contains(&ProposalState::Approved),
        "{states:?}"
    );
    assert_eq!(action.executions(), 1);
    *action.hold.lock().unwrap() = None;
    hold.notify_waiters();
    app.settle().await;
    assert_eq!(action.executions(), 2);
    for id in &ids {
        assert_eq!(state_of(&app, id).await, ProposalState::Succeeded);
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_action_resumes_after_a_restart_without_redoing_its_first_step() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_approvers(dir.path());
    let action = WaitingAction::new();
    let options = || options_with(action.clone(), &[ActionKind::DELETE_VOLUME]);
    let app = TestApp::start(config.clone(), Secrets::default(), options()).await;
    let p = approved(&app, "us-east-1/vol-wait").await;
    app.ctx.executor.submit(p.id.clone(), Default::default());
    assert!(
        eventually(Duration::from_secs(5), || async {
            action.passes.load(Ordering::SeqCst) >= 3
        })
        .await,
        "it keeps checking on its own timer"
    );
    assert_eq!(state_of(&app, &p.id).await, ProposalState::Executing);
    app.crash().await;

    let app = TestApp::start(config, Secrets::default(), options()).await;
    assert_eq!(
        state_of(&app, &p.id).await,
        ProposalState::Executing,
        "a resumable action is not marked interrupted"
    );
    action.ready.store(true, Ordering::SeqCst);
    let ended = app.ctx.executor.ended(&p.id).await.unwrap();
    assert_eq!(ended.state, ProposalState::Succeeded);
    assert_eq!(ended.outcome.unwrap().report.unwrap()["after"], "request-1");
    assert_eq!(
        action.requests(),
        1,
        "the first step ran once, before the restart"
    );
    let resumed = crate::support::audit_rows(&app, "action.resumed");
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].subject, p.id.as_str());
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_that_never_started_runs_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_approvers(dir.path());
    let action = CountingAction::new();
    let options = || options_with(action.clone(), &[ActionKind::DELETE_VOLUME]);
    let app = TestApp::start(config.clone(), Secrets::default(), options()).await;
    // Decided, then the process stops before the executor picks it up.
    let p = approved(&app, "us-east-1/vol-queued").await;
    app.crash().await;
    assert_eq!(action.executions(), 0);

    let app = TestApp::start(config, Secrets::default(), options()).await;
    let ended = app.ctx.executor.ended(&p.id).await.unwrap();
    assert_eq!(ended.state, ProposalState::Succeeded);
    assert_eq!(action.executions(), 1);
    assert_eq!(
        action.rechecks.load(Ordering::SeqCst),
        1,
        "re-checked before it ran"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_queued_at_shutdown_are_still_answered() {
    use opsmate::events::{CommandRequest, Event, ReplyTo};
    let h = SlackHarness::start().await;
    const N: usize = 200;
    // As the Slack door queues them once it has acknowledged each request.
    for i in 0..N {
        h.app
            .queue
            .send(Event::Command(CommandRequest {
                from: alice(),
                parsed: opsmate::chat::command::parse("help"),
                reply: ReplyTo::SlackResponseUrl {
                    url: h.fake.response_url(&format!("q{i}")),
                    channel: "C0OPS".into(),
                },
            }))
            .await
            .unwrap();
    }
    // Stop at once: everything queued is handled and answered first.
    let SlackHarness { app, fake, .. } = h;
    app.finish().await;
    let unanswered: Vec<usize> = (0..N)
        .filter(|i| fake.calls_to(&format!("response_url:q{i}")).len() != 1)
        .collect();
    assert!(unanswered.is_empty(), "not answered: {unanswered:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_left_approved_by_a_crash_is_announced_and_rechecked_not_run_blindly() {
    let fake = crate::support::fake_slack::FakeSlack::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_with_approvers(dir.path());
    config.slack.api_url = fake.api_url();
    config.slack.alert_channel = Some("C0ALERTS".into());
    let secrets = Secrets {
        slack_bot_token: Some(opsmate::config::Secret::new("xoxb-test-token")),
        ..Secrets::default()
    };
    let action = CountingAction::new();
    let options = || options_with(action.clone(), &[ActionKind::DELETE_VOLUME]);
    let app = TestApp::start(config.clone(), secrets.clone(), options()).await;
    let p = app
        .ctx
        .gate
        .propose(proposal(ActionKind::DELETE_VOLUME, "us-east-1/vol-between"))
        .await
        .unwrap()
        .proposal()
        .clone();
    app.crash().await;
    // A crash between the decision's transaction and the executor's: the row says
    // approved and nothing else happened.
    let db = rusqlite::Connection::open(&config.storage.path).unwrap();
    db.execute(
        "UPDATE proposals SET state = 'approved', decided_by = 'slack:UALICE', decided_at = 0 WHERE id = ?1",
        [p.id.as_str()],
    )
    .unwrap();
    drop(db);
    // Meanwhile the volume got attached: it no longer qualifies.
    action.gone.store(true, Ordering::SeqCst);

    let app = TestApp::start(config, secrets, options()).await;
    let ended = app.ctx.executor.ended(&p.id).await.unwrap();
    assert_eq!(ended.state, ProposalState::Skipped, "{ended:?}");
    assert_eq!(action.executions(), 0, "never run blindly");
    assert_eq!(action.rechecks.load(Ordering::SeqCst), 1);
    let requeued = crate::support::audit_rows(&app, "action.requeued");
    assert_eq!(requeued.len(), 1);
    assert_eq!(requeued[0].subject, p.id.as_str());
    let ok = eventually(Duration::from_secs(10), || async {
        fake.calls_to("chat.postMessage").iter().any(|c| {
            all_text(&c.body).contains("Resuming") && all_text(&c.body).contains(p.id.as_str())
        })
    })
    .await;
    assert!(ok, "the recovery was not announced: {:?}", fake.calls());
    app.finish().await;
}
