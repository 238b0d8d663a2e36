//! Access Guard's detection end to end: moto's IAM users, the fake Slack directory
//! (users.list) and the fake GitHub organisation; departures, email matching, the
//! grace period, Keep access and unmapped users.

use crate::support::guard::{GuardHarness, of};
use crate::support::slack::{all_text, button};
use opsmate::approvals::ProposalState;
use opsmate::domain::ActionKind;
use opsmate::features::guard::detect::Status;

/// Revocation proposals made so far, newest last.
async fn requests(h: &GuardHarness) -> Vec<opsmate::approvals::Proposal> {
    let mut all: Vec<_> = h
        .ctx()
        .gate
        .latest_by_target(ActionKind::REVOKE_ACCESS)
        .await
        .unwrap()
        .into_values()
        .collect();
    all.sort_by_key(|p| p.created_at);
    all
}

/// The Slack messages posted by Access Guard so far.
fn posted(h: &GuardHarness) -> Vec<String> {
    h.slack
        .fake
        .calls_to("chat.postMessage")
        .iter()
        .map(|c| all_text(&c.body))
        .filter(|t| t.contains("Access Guard"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_deactivation_is_a_departure_and_the_request_shows_their_access() {
    let h = GuardHarness::start(|_| {}).await;
    h.person("alice", "alice@corp.com", "alice-gh", "U0ALICE")
        .await;
    h.person("bob", "bob@corp.com", "bob-gh", "U0BOB").await;
    h.give_access("alice").await;

    let scan = h.scan().await;
    assert_eq!(of(&scan, "alice").status, Status::Present);
    h.slack.fake.set_deleted("U0ALICE", true);
    let scan = h.scan().await;
    let alice = of(&scan, "alice");
    assert_eq!(alice.status, Status::MissingInGrace);
    assert_eq!(alice.missing_from, vec!["slack (deactivated)"]);
    assert_eq!(alice.since, Some(h.now()));
    assert_eq!(of(&scan, "bob").status, Status::Present);

    h.advance_days(7);
    let scan = h.scan().await;
    assert_eq!(of(&scan, "alice").status, Status::Departed);
    let posts = h.slack.wait_calls("chat.postMessage", 1).await;
    let body = &posts[0].body;
    assert_eq!(body["channel"], "C0OPS");
    let text = all_text(body);
    for want in [
        "alice has left",
        "alice@corp.com",
        "slack (deactivated)",
        "alice-developers",
        "alice-deploy",
        "inline-admin (inline)",
        "last used never",
        "Console password: yes",
        "alice-phone",
        "The IAM user itself is kept",
    ] {
        assert!(text.contains(want), "{want:?} missing from {text}");
    }
    // Approve is red with a confirmation; Keep access is plain.
    let approve = body["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().unwrap())
        .find(|e| e["text"]["text"] == "✅ Approve revocation")
        .expect("an approve button");
    assert_eq!(approve["style"], "danger");
    assert!(approve["confirm"]["text"]["text"].is_string());
    button(body, "❌ Keep access");
    let pending = requests(&h).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].target, "iam-user:alice");
    assert_eq!(pending[0].state, ProposalState::Pending);

    // The next day's scan does not ask again.
    h.advance_days(1);
    h.scan().await;
    assert_eq!(requests(&h).await.len(), 1);
    assert_eq!(posted(&h).len(), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absence_from_every_directory_is_a_departure_and_one_is_not() {
    let h = GuardHarness::start(|_| {}).await;
    // Carol is in neither directory; Dan left GitHub but is still in Slack.
    h.iam_user(
        "carol",
        &[("email", "carol@corp.com"), ("github", "carol-gh")],
    )
    .await;
    h.person("dan", "dan@corp.com", "dan-gh", "U0DAN").await;
    h.remove_github("dan-gh");
    let scan = h.scan().await;
    let carol = of(&scan, "carol");
    assert_eq!(carol.status, Status::MissingInGrace);
    assert_eq!(carol.missing_from, vec!["slack", "github"]);
    assert_eq!(
        of(&scan, "dan").status,
        Status::Present,
        "rule all: Slack still has him"
    );
    h.advance_days(7);
    let scan = h.scan().await;
    assert_eq!(of(&scan, "carol").status, Status::Departed);
    let targets: Vec<String> = requests(&h).await.into_iter().map(|p| p.target).collect();
    assert_eq!(targets, vec!["iam-user:carol"]);
    // GitHub was read page by page with the largest page size.
    assert!(h.github.calls().iter().all(|c| c == "/orgs/acme/members"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_rule_any_one_missing_directory_is_enough() {
    let h = GuardHarness::start(|c| {
        c.edit_section(
            |section: &mut opsmate::features::guard::config::GuardConfig| {
                section.rule = opsmate::features::guard::config::DepartureRule::Any
            },
        );
    })
    .await;
    h.person("dan", "dan@corp.com", "dan-gh", "U0DAN").await;
    h.remove_github("dan-gh");
    let scan = h.scan().await;
    assert_eq!(of(&scan, "dan").status, Status::MissingInGrace);
    assert_eq!(of(&scan, "dan").missing_from, vec!["github"]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gmail_variants_and_domain_aliases_match_the_same_person() {
    let h = GuardHarness::start(|c| {
        c.edit_section(
            |section: &mut opsmate::features::guard::config::GuardConfig| {
                section.domain_aliases = [("corp.io".to_owned(), "corp.com".to_owned())].into()
            },
        );
    })
    .await;
    // Plus tag and dots on the IAM side, googlemail on the Slack side.
    h.iam_user("jane", &[("email", "Jane.Doe+aws@gmail.com")])
        .await;
    h.slack
        .fake
        .add_member("U0JANE", "janedoe@googlemail.com", false);
    // The user name is the address; Slack has it with a plus tag.
    h.iam_user("j.o.e@gmail.com", &[]).await;
    h.slack
        .fake
        .add_member("U0JOE", "joe+slack@gmail.com", false);
    // corp.io stands for corp.com.
    h.iam_user("erin", &[("email", "erin@corp.io")]).await;
    h.slack.fake.add_member("U0ERIN", "ERIN@corp.com", false);
    // A different domain without an alias is someone else.
    h.iam_user("frank", &[("email", "frank@corp.io")]).await;
    h.slack.fake.add_member("U0FRANK", "frank@other.com", false);

    let scan = h.scan().await;
    assert_eq!(of(&scan, "jane").status, Status::Present);
    assert_eq!(
        of(&scan, "jane").email.as_deref(),
        Some("janedoe@gmail.com")
    );
    assert_eq!(of(&scan, "j.o.e@gmail.com").status, Status::Present);
    assert_eq!(of(&scan, "erin").status, Status::Present);
    assert_eq!(of(&scan, "erin").email.as_deref(), Some("erin@corp.com"));
    assert_eq!(of(&scan, "frank").status, Status::MissingInGrace);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grace_period_asks_on_day_seven_not_six_and_reappearing_resets_it() {
    let h = GuardHarness::start(|_| {}).await;
    h.person("gina", "gina@corp.com", "gina-gh", "U0GINA").await;
    h.scan().await;
    h.slack.fake.set_deleted("U0GINA", true);
    let first = h.now();
    h.scan().await;

    h.advance_days(6);
    let scan = h.scan().await;
    assert_eq!(of(&scan, "gina").status, Status::MissingInGrace);
    assert_eq!(
        of(&scan, "gina").since,
        Some(first),
        "the clock runs from the first absence"
    );
    assert!(requests(&h).await.is_empty(), "not proposed on day 6");

    h.advance_days(1);
    let scan = h.scan().await;
    assert_eq!(of(&scan, "gina").status, Status::Departed);
    assert_eq!(requests(&h).await.len(), 1, "proposed on day 7");

    // She comes back: the clock resets, and a new absence starts from zero.
    let h2 = GuardHarness::start(|_| {}).await;
    h2.person("gina", "gina@corp.com", "gina-gh", "U0GINA")
        .await;
    h2.slack.fake.set_deleted("U0GINA", true);
    h2.scan().await;
    h2.advance_days(5);
    h2.slack.fake.set_deleted("U0GINA", false);
    let scan = h2.scan().await;
    assert_eq!(of(&scan, "gina").status, Status::Present);
    assert_eq!(of(&scan, "gina").since, None);
    assert_eq!(
        crate::support::audit_rows(&h2.slack.app, "guard.returned").len(),
        1
    );
    h2.slack.fake.set_deleted("U0GINA", true);
    let again = h2.now();
    h2.scan().await;
    h2.advance_days(6);
    let scan = h2.scan().await;
    assert_eq!(of(&scan, "gina").status, Status::MissingInGrace);
    assert_eq!(of(&scan, "gina").since, Some(again));
    assert!(
        requests(&h2).await.is_empty(),
        "11 days gone in all, but only 6 in a row"
    );
    h.stop().await;
    h2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_access_records_who_and_does_not_ask_again_for_keep_days() {
    let h = GuardHarness::start(|c| {
        c.edit_section(
            |section: &mut opsmate::features::guard::config::GuardConfig| section.keep_days = 30,
        )
    })
    .await;
    h.person("hank", "hank@corp.com", "hank-gh", "U0HANK").await;
    h.slack.fake.set_deleted("U0HANK", true);
    h.scan().await;
    h.advance_days(7);
    h.scan().await;
    let posts = h.slack.wait_calls("chat.postMessage", 1).await;
    let keep = button(&posts[0].body, "❌ Keep access").to_owned();
    let ts = crate::support::delivered_copy(&h.slack.app, "guard:", "slack")
        .await
        .message_id;
    assert_eq!(h.slack.click_button("UBOB", &keep, &ts, "k").await, 200);
    // Keep access asks why in a dialog first.
    let opened = h.slack.wait_calls("views.open", 1).await;
    assert_eq!(opened[0].body["view"]["title"]["text"], "Keep access");
    h.slack
        .submit_reason(
            "UBOB",
            &opened[0].body["view"],
            "contractor, back in January",
        )
        .await;
    let updates = h.slack.wait_calls("chat.update", 1).await;
    let text = all_text(&updates[0].body);
    assert!(text.contains("Access kept: hank"), "{text}");
    assert!(text.contains("<@UBOB>"), "{text}");
    assert!(text.contains("will not ask again"), "{text}");
    assert!(text.contains("contractor, back in January"), "{text}");
    let kept = crate::support::audit_rows(&h.slack.app, "guard.kept");
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].actor, "slack:UBOB");
    assert_eq!(kept[0].details["reason"], "contractor, back in January");

    // Every daily scan for 30 days: kept, and nobody is asked.
    for _ in 0..29 {
        h.advance_days(1);
        let scan = h.scan().await;
        assert_eq!(of(&scan, "hank").status, Status::Kept);
    }
    assert_eq!(requests(&h).await.len(), 1);
    assert_eq!(requests(&h).await[0].state, ProposalState::Rejected);
    // Once the keep lapses, the question comes back.
    h.advance_days(2);
    let scan = h.scan().await;
    assert_eq!(of(&scan, "hank").status, Status::Departed);
    let all = requests(&h).await;
    assert_eq!(all.last().unwrap().state, ProposalState::Pending);
    assert_eq!(h.slack.wait_calls("chat.postMessage", 2).await.len(), 2);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_keep_by_command_records_the_reason_and_strangers_cannot() {
    let h = GuardHarness::start(|_| {}).await;
    h.person("ivy", "ivy@corp.com", "ivy-gh", "U0IVY").await;
    h.slack.fake.set_deleted("U0IVY", true);
    h.scan().await;
    h.advance_days(7);
    h.scan().await;
    h.slack.wait_calls("chat.postMessage", 1).await;

    let r = h
        .slack
        .command("UMALLORY", "access keep ivy she is coming back", "no")
        .await;
    assert_eq!(r.status(), 200);
    let answer = h.slack.wait_calls("response_url:no", 1).await;
    assert!(
        all_text(&answer[0].body).contains("not allowed"),
        "{:#}",
        answer[0].body
    );
    assert_eq!(requests(&h).await[0].state, ProposalState::Pending);

    h.slack
        .command(
            "UALICE",
            "access keep ivy on parental leave until May",
            "yes",
        )
        .await;
    let answer = h.slack.wait_calls("response_url:yes", 1).await;
    assert!(all_text(&answer[0].body).contains("ivy keeps their AWS access"));
    assert_eq!(requests(&h).await[0].state, ProposalState::Rejected);
    let kept = crate::support::audit_rows(&h.slack.app, "guard.kept");
    assert_eq!(kept.len(), 1, "one keep, recorded once");
    assert_eq!(kept[0].details["reason"], "on parental leave until May");
    let updates = h.slack.wait_calls("chat.update", 1).await;
    let text = all_text(&updates.last().unwrap().body);
    assert!(text.contains("on parental leave until May"), "{text}");
    let scan = h.scan().await;
    let ivy = of(&scan, "ivy");
    assert_eq!(ivy.status, Status::Kept);
    assert_eq!(ivy.kept.as_ref().unwrap().by, "slack:UALICE");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmapped_users_are_listed_and_never_proposed() {
    let h = GuardHarness::start(|_| {}).await;
    h.iam_user("ci-deployer", &[("team", "platform")]).await;
    h.iam_user("kim", &[("email", "kim@corp.com")]).await;
    h.scan().await;
    h.advance_days(30);
    let scan = h.scan().await;
    let ci = of(&scan, "ci-deployer");
    assert_eq!(ci.status, Status::Unmapped);
    assert!(
        ci.note.as_deref().unwrap().contains("no email"),
        "{:?}",
        ci.note
    );
    assert_eq!(ci.since, None);
    let targets: Vec<String> = requests(&h).await.into_iter().map(|p| p.target).collect();
    assert_eq!(
        targets,
        vec!["iam-user:kim"],
        "only the mapped user is proposed"
    );

    let r = h.slack.command("UALICE", "access", "list").await;
    assert_eq!(r.status(), 200);
    let answer = h.slack.wait_calls("response_url:list", 1).await;
    let text = all_text(&answer[0].body);
    assert!(text.contains("Unmapped (never proposed) (1)"), "{text}");
    assert!(text.contains("ci-deployer"), "{text}");
    assert!(text.contains("Departed (1)"), "{text}");
    assert!(text.contains("revocation pending"), "{text}");
    h.slack.command("UALICE", "access pending", "pending").await;
    let answer = h.slack.wait_calls("response_url:pending", 1).await;
    let text = all_text(&answer[0].body);
    assert!(text.contains("Waiting for a decision (1)"), "{text}");
    assert!(!text.contains("ci-deployer"), "{text}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_directory_moves_nobody() {
    let h = GuardHarness::start(|_| {}).await;
    h.iam_user("lee", &[("github", "lee-gh")]).await;
    h.github.fail_with(502);
    h.advance_days(10);
    let scan = h.scan().await;
    let lee = of(&scan, "lee");
    assert_eq!(lee.status, Status::Present);
    assert!(
        lee.note.as_deref().unwrap().contains("github"),
        "{:?}",
        lee.note
    );
    assert!(!scan.unreadable.is_empty());
    h.github.recover();
    let scan = h.scan().await;
    assert_eq!(of(&scan, "lee").status, Status::MissingInGrace);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_posts_at_most_max_requests_and_the_rest_follow() {
    let h = GuardHarness::start(|c| {
        c.edit_section(
            |section: &mut opsmate::features::guard::config::GuardConfig| {
                section.max_requests_per_scan = 2
            },
        )
    })
    .await;
    for name in ["ann", "ben", "cid"] {
        h.iam_user(name, &[("email", &format!("{name}@corp.com"))])
            .await;
    }
    h.scan().await;
    h.advance_days(7);
    let scan = h.scan().await;
    assert_eq!(requests(&h).await.len(), 2);
    assert!(
        scan.notes
            .iter()
            .any(|n| n.contains("3 departed users are due; 2 were asked")),
        "{:?}",
        scan.notes
    );
    h.advance_days(1);
    h.scan().await;
    assert_eq!(
        requests(&h).await.len(),
        3,
        "the third is asked at the next scan"
    );
    h.stop().await;
}
