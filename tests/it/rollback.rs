//! Rollback Pilot end to end: a fake Argo CD reports web Degraded, OpsMate opens a
//! rollback pull request on the fake GitHub, and merges it on its own in staging
//! when all eight invariants hold, or when an approver clicks in production.

use crate::support::audit_rows;
use crate::support::fake_slack::message_ts;
use crate::support::rollback::{Pilot, REPO, VALUES, until, values, web};
use crate::support::slack::{all_text, button};
use opsmate::features::rollback::config::{Environment, RollbackConfig};
use opsmate::features::rollback::state::State;

const BRANCH_PREFIX: &str = "opsmate/rollback-web-";

fn short(sha: &str) -> &str {
    &sha[..7]
}

#[tokio::test]
async fn two_degraded_polls_do_nothing() {
    let p = Pilot::start(Environment::Staging, |_| {}).await;
    p.degrade(2).await;
    assert_eq!(p.state(), State::Suspect);
    assert_eq!(p.row().degraded_polls, 2);
    assert!(p.github.git.pulls(REPO).is_empty());
    assert!(
        p.github.git.calls().is_empty(),
        "GitHub was called: {:?}",
        p.github.git.calls()
    );
    assert!(
        p.posted().is_empty(),
        "something was posted: {:?}",
        p.posted()
    );
    // One healthy poll ends the streak.
    p.argo.set_health("web", "Healthy");
    p.poll().await;
    assert_eq!(p.state(), State::Healthy);
    assert_eq!(p.row().degraded_polls, 0);
    p.stop().await;
}

#[tokio::test]
async fn three_degraded_polls_open_a_pull_request_with_exactly_the_right_change() {
    let p = Pilot::start(Environment::Production, |_| {}).await;
    p.degrade(3).await;
    let pulls = p.github.git.pulls(REPO);
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    let pr = &pulls[0];
    assert_eq!(pr.title, format!("Rollback: web to {}", short(&p.good)));
    assert_eq!(pr.head, format!("{BRANCH_PREFIX}{}", short(&p.good)));
    assert_eq!(pr.base, "main");
    assert_eq!(pr.state, "open");
    let mut labels = pr.labels.clone();
    labels.sort();
    assert_eq!(labels, ["opsmate", "production", "rollback"]);
    // The file on the branch is the bad one with only the tag set back.
    let on_branch = p.github.git.file(REPO, &pr.head, VALUES).unwrap();
    assert_eq!(on_branch, values("1.4.1"));
    assert_eq!(
        p.github.git.file(REPO, &pr.head, "README.md").unwrap(),
        "gitops\n"
    );
    assert_eq!(
        p.github.git.file(REPO, "main", VALUES).unwrap(),
        values("1.4.2")
    );
    // The body carries the evidence and the invariants.
    for needle in [
        "Degraded since",
        "3 Degraded polls in a row",
        "1 of 3 replicas available",
        "healthy 100.00% of the 5 polls",
        "CI succeeded",
        "web 1.4.2: new cache layer",
        "❌ I1 the environment is staging: environment is production",
        "✅ I3 available replicas are fewer than desired: 1 of 3 replicas available",
        "✅ I6 CI on the pull request's head succeeded",
    ] {
        assert!(
            pr.body.contains(needle),
            "{needle:?} not in the body:\n{}",
            pr.body
        );
    }
    assert_eq!(p.state(), State::AwaitingApproval);
    let posts = p.slack.wait_calls("chat.postMessage", 1).await;
    let text = all_text(&posts[0].body);
    assert!(text.contains("Rollback Pilot: web (production)"), "{text}");
    button(&posts[0].body, "Merge rollback");
    button(&posts[0].body, "Close PR");
    // Every transition is audited, in order.
    let transitions: Vec<String> = p
        .ctx()
        .store
        .with_conn(|c| opsmate::audit::tail(c, 100))
        .unwrap()
        .into_iter()
        .filter(|r| r.event.starts_with("rollback."))
        .map(|r| r.event)
        .collect();
    assert_eq!(
        transitions,
        [
            "rollback.suspect",
            "rollback.degraded",
            "rollback.candidate_found",
            "rollback.pr_open",
            "rollback.awaiting_approval"
        ]
    );
    // /opsmate rollbacks says where it stands.
    p.slack.command("UALICE", "rollbacks", "list").await;
    let answer = p.slack.wait_calls("response_url:list", 1).await;
    let text = all_text(&answer[0].body);
    assert!(
        text.contains("web (production): awaiting_approval"),
        "{text}"
    );
    p.stop().await;
}

#[tokio::test]
async fn in_staging_with_all_eight_invariants_true_it_merges_and_reports_the_recovery() {
    let p = Pilot::start(Environment::Staging, |_| {}).await;
    p.degrade(3).await;
    p.settle().await;
    let pulls = p.github.git.pulls(REPO);
    assert_eq!(pulls.len(), 1);
    assert!(pulls[0].merged, "{pulls:#?}");
    assert_eq!(
        p.github.git.file(REPO, "main", VALUES).unwrap(),
        values("1.4.1")
    );
    let unattended = audit_rows(&p.slack.app, "approval.approved_unattended");
    assert_eq!(unattended.len(), 1);
    assert_eq!(unattended[0].actor, "rule:rollback-staging-invariants");
    let row = p.row();
    assert_eq!(row.state, State::Verifying);
    assert!(
        row.flow.invariants.iter().all(|i| i.ok),
        "{:#?}",
        row.flow.invariants
    );
    let merge = row.flow.merged_sha.clone().unwrap();
    assert_eq!(p.github.git.head(REPO, "main").unwrap(), merge);
    let text = p.episode_message();
    assert!(text.contains("Merged as"), "{text}");
    assert!(text.contains("staging rule"), "{text}");
    // Argo CD syncs the merge and web is Healthy: recovered, with the time.
    p.sync_merge(&merge);
    p.poll().await;
    assert_eq!(p.state(), State::Recovered);
    let ended = p.slack.wait_calls("chat.postMessage", 2).await;
    let ending = all_text(&ended[1].body);
    assert!(
        ending.contains("web recovered after its rollback"),
        "{ending}"
    );
    assert!(ending.contains("after it degraded"), "{ending}");
    let metrics = p.ctx().metrics.encode();
    assert!(
        metrics.contains("opsmate_rollback_merged_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("opsmate_rollback_degradations_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("opsmate_rollback_recovery_seconds_count 1"),
        "{metrics}"
    );
    p.stop().await;
}

/// Sets up web so that invariant `id` is false when OpsMate decides, and returns
/// the pilot after the poll that decided.
async fn with_invariant_false(id: u8) -> Pilot {
    let env = if id == 1 {
        Environment::Production
    } else {
        Environment::Staging
    };
    let p = Pilot::start(env, |_| {}).await;
    match id {
        2 => {
            // Degraded when polled, Progressing when read again just before the
            // decision (branch protection is the last thing read from GitHub).
            p.degrade(2).await;
            let held = p.github.git.hold("/protection", "GET");
            let (r, ctx) = (p.rollback(), p.ctx().clone());
            p.clock.advance(chrono::Duration::seconds(10));
            let poll = tokio::spawn(async move { r.poll_once(&ctx).await });
            held.reached().await;
            p.argo.set_health("web", "Progressing");
            held.release();
            poll.await.unwrap().unwrap();
            p.rollback().announce_once(p.ctx()).await.unwrap();
        }
        3 => {
            p.polls(5).await;
            p.deploy_bad();
            p.argo.set_pods("web", 3, 3);
            p.polls(3).await;
        }
        4 | 5 => {
            // CI is still running at the third poll, and meanwhile the operator
            // raises the bar and restarts OpsMate.
            p.github.git.set_default_ci(REPO, "pending", None);
            p.github.git.set_ci(&p.good, "success", Some("success"));
            if id == 5 {
                // web 1.4.1 was Degraded once in 100 polls: 99.00%.
                p.polls(98).await;
                p.argo.set_health("web", "Degraded");
                p.poll().await;
                p.argo.set_health("web", "Healthy");
                p.poll().await;
                p.deploy_bad();
                p.polls(3).await;
            } else {
                p.degrade(3).await;
            }
            assert_eq!(p.state(), State::PrOpen);
            let p = p
                .restart(|c| {
                    c.edit_section(|r: &mut RollbackConfig| {
                        if id == 4 {
                            r.degraded_checks = 5;
                        } else {
                            r.min_uptime_percent = 99.5;
                        }
                    })
                })
                .await;
            p.github
                .git
                .set_default_ci(REPO, "success", Some("success"));
            p.poll().await;
            return p;
        }
        6 => {
            p.github
                .git
                .set_default_ci(REPO, "failure", Some("failure"));
            p.github.git.set_ci(&p.good, "success", Some("success"));
            p.degrade(3).await;
        }
        7 => {
            p.github.git.branch_from(REPO, "feature/web-1.5", "main");
            p.github.git.commit(
                REPO,
                "feature/web-1.5",
                &[(VALUES, &values("1.5.0-rc1"))],
                "web 1.5.0-rc1",
            );
            p.github
                .git
                .open_pull_by(REPO, "feature/web-1.5", "main", "web 1.5.0-rc1");
            p.degrade(3).await;
        }
        8 => {
            p.github.git.protect(REPO, "main", &["ci/build"], 1);
            p.degrade(3).await;
        }
        _ => p.degrade(3).await,
    }
    p
}

#[tokio::test]
async fn each_invariant_made_false_blocks_the_merge_and_the_message_names_it() {
    for id in 1..=8u8 {
        let p = with_invariant_false(id).await;
        p.settle().await;
        let row = p.row();
        assert_eq!(row.state, State::AwaitingApproval, "I{id}: {row:#?}");
        let broken: Vec<u8> = row
            .flow
            .invariants
            .iter()
            .filter(|i| !i.ok)
            .map(|i| i.id)
            .collect();
        assert_eq!(broken, vec![id], "I{id}: {:#?}", row.flow.invariants);
        let rollback_pr: Vec<_> = p
            .github
            .git
            .pulls(REPO)
            .into_iter()
            .filter(|pr| pr.head.starts_with(BRANCH_PREFIX))
            .collect();
        assert_eq!(rollback_pr.len(), 1, "I{id}");
        assert!(!rollback_pr[0].merged, "I{id}: merged anyway");
        assert!(
            rollback_pr[0].body.contains(&format!("❌ I{id} ")),
            "I{id} not named in the body:\n{}",
            rollback_pr[0].body
        );
        let text = p.episode_message();
        assert!(
            text.contains(&format!("❌ I{id} ")),
            "I{id} not named in chat:\n{text}"
        );
        assert!(text.contains("Merge rollback"), "I{id}: no button:\n{text}");
        let metrics = p.ctx().metrics.encode();
        assert!(
            metrics.contains(&format!(
                "opsmate_rollback_invariant_violations_total{{invariant=\"I{id}\"}} 1"
            )),
            "I{id}: {metrics}"
        );
        p.stop().await;
    }
}

#[tokio::test]
async fn in_production_a_non_approver_is_refused_and_an_approvers_click_merges() {
    let p = Pilot::start(Environment::Production, |_| {}).await;
    p.degrade(3).await;
    let posts = p.slack.wait_calls("chat.postMessage", 1).await;
    let merge = button(&posts[0].body, "Merge rollback").to_owned();
    let status = p
        .slack
        .click_button("UMALLORY", &merge, &message_ts(1), "mallory")
        .await;
    assert_eq!(status, 200);
    let refused = p.slack.wait_calls("response_url:mallory", 1).await;
    assert!(
        all_text(&refused[0].body).contains("not allowed"),
        "{:#?}",
        refused[0].body
    );
    p.settle().await;
    assert!(!p.github.git.pulls(REPO)[0].merged);
    assert_eq!(p.state(), State::AwaitingApproval);

    let status = p
        .slack
        .click_button("UALICE", &merge, &message_ts(1), "alice")
        .await;
    assert_eq!(status, 200);
    p.settle().await;
    assert!(until(|| p.github.git.pulls(REPO)[0].merged).await);
    assert!(
        until(|| p.state() == State::Verifying).await,
        "{:?}",
        p.state()
    );
    assert_eq!(
        p.github.git.file(REPO, "main", VALUES).unwrap(),
        values("1.4.1")
    );
    let text = p.episode_message();
    assert!(text.contains("approved by <@UALICE>"), "{text}");
    assert!(
        !text.contains("Merge rollback"),
        "the button is still there:\n{text}"
    );
    let approved = audit_rows(&p.slack.app, "approval.approved");
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0].actor, "slack:UALICE");
    p.stop().await;
}

#[tokio::test]
async fn health_recovering_before_the_merge_closes_the_pull_request_and_merges_nothing() {
    let p = Pilot::start(Environment::Production, |_| {}).await;
    p.degrade(3).await;
    assert_eq!(p.state(), State::AwaitingApproval);
    p.argo.set_health("web", "Healthy");
    p.argo.set_pods("web", 3, 3);
    p.poll().await;
    p.settle().await;
    let pr = &p.github.git.pulls(REPO)[0];
    assert_eq!(pr.state, "closed");
    assert!(!pr.merged);
    assert_eq!(
        p.github.git.file(REPO, "main", VALUES).unwrap(),
        values("1.4.2")
    );
    assert!(
        !p.github
            .git
            .branches(REPO)
            .iter()
            .any(|b| b.starts_with(BRANCH_PREFIX)),
        "the rollback branch is left behind"
    );
    let row = p.row();
    assert_eq!(row.state, State::Aborted);
    assert!(row.flow.outcome.unwrap().contains("nothing was merged"));
    assert_eq!(audit_rows(&p.slack.app, "approval.withdrawn").len(), 1);
    let text = p.episode_message();
    assert!(text.contains("rollback aborted"), "{text}");
    assert!(!text.contains("Merge rollback"), "{text}");
    let posts = p.posted();
    assert!(
        posts
            .last()
            .unwrap()
            .contains("Rollback Pilot aborted for web"),
        "{posts:#?}"
    );
    // Healthy again: the next degradation is a new episode.
    p.poll().await;
    assert_eq!(p.state(), State::Healthy);
    p.stop().await;
}

#[tokio::test]
async fn kill_9_between_the_pull_request_and_the_merge_opens_no_second_one() {
    let p = Pilot::start(Environment::Staging, |_| {}).await;
    p.degrade(2).await;
    // The pull request is opened, then OpsMate dies while labelling it.
    let held = p.github.git.hold("/labels", "POST");
    let (r, ctx) = (p.rollback(), p.ctx().clone());
    p.clock.advance(chrono::Duration::seconds(10));
    let poll = tokio::spawn(async move { r.poll_once(&ctx).await });
    held.reached().await;
    assert_eq!(p.github.git.pulls(REPO).len(), 1);
    poll.abort();
    let _ = poll.await;
    held.release();
    assert_eq!(p.state(), State::CandidateFound);
    let p = p.crash_and_restart().await;
    p.poll().await;
    p.settle().await;
    let pulls = p.github.git.pulls(REPO);
    assert_eq!(pulls.len(), 1, "a second pull request: {pulls:#?}");
    assert!(pulls[0].merged);
    assert!(pulls[0].labels.contains(&"rollback".to_owned()));
    assert_eq!(p.state(), State::Verifying);
    assert_eq!(audit_rows(&p.slack.app, "rollback.pr_open").len(), 1);
    p.stop().await;
}

#[tokio::test]
async fn github_answering_5xx_aborts_and_alerts() {
    let p = Pilot::start(Environment::Staging, |_| {}).await;
    p.degrade(2).await;
    p.github.git.fail_with(Some(502));
    p.poll().await;
    let row = p.row();
    assert_eq!(row.state, State::Aborted, "{row:#?}");
    assert!(
        row.flow.outcome.as_deref().unwrap().contains("502"),
        "{row:#?}"
    );
    p.github.git.fail_with(None);
    assert!(p.github.git.pulls(REPO).is_empty());
    let posts = p.slack.wait_calls("chat.postMessage", 2).await;
    let alert = all_text(&posts[1].body);
    assert!(alert.contains("Rollback Pilot aborted for web"), "{alert}");
    assert!(alert.contains("502"), "{alert}");
    // Still degraded: no second attempt until it has been healthy again.
    p.poll().await;
    assert_eq!(p.state(), State::Aborted);
    assert!(p.github.git.pulls(REPO).is_empty());
    assert_eq!(audit_rows(&p.slack.app, "rollback.aborted").len(), 1);
    p.stop().await;
}

#[tokio::test]
async fn in_revert_mode_the_branch_gets_the_stable_files_back_in_one_commit() {
    let p = Pilot::start(Environment::Production, |c| {
        c.edit_section(|r: &mut RollbackConfig| {
            let mut app = web(Environment::Production);
            app.mode = opsmate::features::rollback::config::PinMode::Revert;
            app.path = None;
            app.yaml_key = None;
            r.apps = vec![app];
        })
    })
    .await;
    p.github.git.commit(
        REPO,
        "main",
        &[("README.md", "gitops, now with notes\n")],
        "docs",
    );
    p.degrade(3).await;
    let pr = &p.github.git.pulls(REPO)[0];
    assert_eq!(
        p.github.git.file(REPO, &pr.head, VALUES).unwrap(),
        values("1.4.1")
    );
    assert_eq!(
        p.github.git.file(REPO, &pr.head, "README.md").unwrap(),
        "gitops\n"
    );
    assert!(pr.body.contains("Undoing 2 commit(s)"), "{}", pr.body);
    p.stop().await;
}

#[tokio::test]
async fn each_poll_is_one_list_call_and_an_argo_outage_changes_nothing() {
    let p = Pilot::start(Environment::Staging, |_| {}).await;
    p.polls(3).await;
    assert_eq!(p.argo.calls(), vec!["/api/v1/applications"; 3]);
    p.deploy_bad();
    p.polls(2).await;
    assert_eq!(p.row().degraded_polls, 2);
    p.argo.clear_calls();
    p.argo.fail_with(Some(503));
    p.clock.advance(chrono::Duration::seconds(10));
    let err = p.rollback().poll_once(p.ctx()).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("Argo CD answered 503"),
        "{err:#}"
    );
    assert_eq!(p.argo.calls(), ["/api/v1/applications"]);
    // A poll that failed counts neither way.
    assert_eq!(p.state(), State::Suspect);
    assert_eq!(p.row().degraded_polls, 2);
    assert!(p.github.git.pulls(REPO).is_empty());
    p.argo.fail_with(None);
    p.poll().await;
    p.settle().await;
    assert_eq!(p.github.git.pulls(REPO).len(), 1);
    assert!(p.github.git.pulls(REPO)[0].merged);
    p.stop().await;
}

#[tokio::test]
async fn an_approving_review_meets_branch_protection_and_staging_merges() {
    let p = Pilot::start(Environment::Staging, |_| {}).await;
    p.github.git.protect(REPO, "main", &["ci/build"], 1);
    p.github.git.set_default_ci(REPO, "pending", None);
    p.github.git.set_ci(&p.good, "success", Some("success"));
    p.degrade(3).await;
    // CI on the rollback branch is still running: no decision yet.
    assert_eq!(p.state(), State::PrOpen);
    let number = p.github.git.pulls(REPO)[0].number;
    p.github.git.review(REPO, number, "bob", "APPROVED");
    p.github
        .git
        .set_default_ci(REPO, "success", Some("success"));
    p.poll().await;
    p.settle().await;
    let row = p.row();
    assert!(
        row.flow.invariants.iter().all(|i| i.ok),
        "{:#?}",
        row.flow.invariants
    );
    let i8 = &row.flow.invariants[7];
    assert!(
        i8.evidence.contains("1 of 1 required approving review"),
        "{i8:?}"
    );
    assert!(p.github.git.pulls(REPO)[0].merged);
    assert_eq!(row.state, State::Verifying);
    p.stop().await;
}

#[tokio::test]
async fn a_push_to_the_rollback_branch_after_the_decision_merges_nothing() {
    let p = Pilot::start(Environment::Production, |_| {}).await;
    p.degrade(3).await;
    let posts = p.slack.wait_calls("chat.postMessage", 1).await;
    let merge = button(&posts[0].body, "Merge rollback").to_owned();
    let branch = p.github.git.pulls(REPO)[0].head.clone();
    p.github.git.commit(
        REPO,
        &branch,
        &[("apps/web/extra.yaml", "debug: true\n")],
        "also turn on debug",
    );
    let status = p
        .slack
        .click_button("UALICE", &merge, &message_ts(1), "alice")
        .await;
    assert_eq!(status, 200);
    p.settle().await;
    assert!(
        until(|| p.state() == State::Aborted).await,
        "{:?}",
        p.state()
    );
    let pr = &p.github.git.pulls(REPO)[0];
    assert!(!pr.merged);
    assert_eq!(
        pr.state, "open",
        "someone's push is left for them to look at"
    );
    assert_eq!(
        p.github.git.file(REPO, "main", VALUES).unwrap(),
        values("1.4.2")
    );
    let outcome = p.row().flow.outcome.unwrap();
    assert!(outcome.contains("Head branch was modified"), "{outcome}");
    let posts = p.posted();
    assert!(
        posts
            .last()
            .unwrap()
            .contains("Rollback Pilot aborted for web"),
        "{posts:#?}"
    );
    p.stop().await;
}
