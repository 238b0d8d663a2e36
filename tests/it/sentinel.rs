//! Sentinel: signed GitHub deliveries, each rule passing and failing, the check run
//! and its annotations, waivers through the gate, and bypasses.

use crate::support::sentinel::{GOOD_BODY, REPO, SentinelHarness, sign};
use crate::support::slack::{all_text, button};
use opsmate::approvals::ProposalState;
use opsmate::audit::events;
use opsmate::features::sentinel::store;

/// An AWS access key id, assembled so that no scanner flags this file.
fn aws_key() -> String {
    format!("AKIA{}", "IOSFODNN7EXAMPLE")
}

fn audit_count(h: &SentinelHarness, event: &str) -> i64 {
    h.ctx()
        .store
        .with_conn(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM audit_log WHERE event = ?1",
                [event],
                |r| r.get(0),
            )?)
        })
        .unwrap()
}

/// Everything the fake Slack received at the `response_url` named `reply`.
fn answered(h: &SentinelHarness, reply: &str) -> String {
    h.slack
        .fake
        .calls()
        .iter()
        .filter(|c| c.method == format!("response_url:{reply}"))
        .map(|c| all_text(&c.body))
        .collect()
}

/// A pull request that passes every rule: OPS-7 is in progress, both sections,
/// the team label, a small change.
fn tidy(h: &SentinelHarness, branch: &str) -> (u64, String) {
    h.open(
        branch,
        "OPS-7: fix the Safari login",
        &[("src/lib.rs", "pub fn login() { safari(); }\n")],
        "carol",
        GOOD_BODY,
        &["team-api"],
    )
}

#[tokio::test]
async fn forged_and_unsigned_deliveries_are_refused_and_a_redelivery_is_handled_once() {
    let h = SentinelHarness::start(|_| {}).await;
    let (n, head) = tidy(&h, "fix-login");
    let body = serde_json::to_vec(&h.payload("opened", n)).unwrap();
    let forged = format!("sha256={}", "0".repeat(64));
    assert_eq!(
        h.send("pull_request", "d-1", &body, Some(&forged)).await,
        401
    );
    assert_eq!(h.send("pull_request", "d-1", &body, None).await, 401);
    assert_eq!(
        h.send("pull_request", "d-1", &body, Some("sha256=zz"))
            .await,
        401
    );
    // Signed, but the body is not a pull-request delivery.
    let junk = b"[1, 2, 3]".to_vec();
    assert_eq!(
        h.send("pull_request", "d-2", &junk, Some(&sign(&junk)))
            .await,
        400
    );
    // A ping is answered and not stored.
    let ping = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#.to_vec();
    assert_eq!(h.send("ping", "d-3", &ping, Some(&sign(&ping))).await, 200);
    h.slack.app.settle().await;
    assert!(
        h.github.checks.runs(REPO).is_empty(),
        "nothing refused was handled"
    );
    assert!(audit_count(&h, events::GITHUB_REQUEST_REJECTED) >= 1);

    assert_eq!(
        h.send("pull_request", "d-4", &body, Some(&sign(&body)))
            .await,
        202
    );
    let run = h.check_on(&head).await;
    // GitHub redelivers the same delivery (same id): answered, handled once.
    assert_eq!(
        h.send("pull_request", "d-4", &body, Some(&sign(&body)))
            .await,
        200
    );
    h.slack.app.settle().await;
    let runs = h.github.checks.runs(REPO);
    assert_eq!(runs.len(), 1, "one check run: {runs:?}");
    assert_eq!(runs[0].writes, 1, "written once");
    assert_eq!(run.name, "OpsMate Sentinel");
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    assert_eq!(run.title, "All 7 rules pass");
    assert!(
        run.summary.contains("OPS-7 (In Progress)"),
        "{}",
        run.summary
    );
    let asked = h.linear.calls();
    assert_eq!(asked.len(), 1, "one Linear query per evaluation");
    assert_eq!(asked[0].0.as_deref(), Some("lin_api_test"));
    assert!(
        h.slack.fake.calls_to("chat.postMessage").is_empty(),
        "a passing pull request is not announced"
    );
    h.slack.app.finish().await;
}

#[tokio::test]
async fn each_broken_rule_is_a_line_in_the_check_with_the_secret_annotated_and_posted_with_waive() {
    let h = SentinelHarness::start(|_| {}).await;
    let big: String = (0..60).map(|i| format!("line {i}\n")).collect();
    let secret_file = format!("import os\nKEY = \"{}\"\nprint(KEY)\n", aws_key());
    let (n, head) = h.open(
        "ops-9-cleanup",
        "Clean up OPS-9",
        &[
            ("app/settings.py", &secret_file),
            (
                "migrations/0002_add_email.sql",
                "ALTER TABLE users ADD email TEXT;\n",
            ),
            ("docs/big.txt", &big),
            ("infra/main.tf", "resource \"aws_s3_bucket\" \"b\" {}\n"),
        ],
        "carol",
        "",
        &[],
    );
    assert_eq!(h.deliver("pull_request", "opened", n).await.0, 202);
    let run = h.check_on(&head).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(run.title, "7 of 7 rules broken");
    for line in [
        "❌ **Linear issue**: OPS-9 is cancelled",
        "❌ **Description**: the description is empty",
        "❌ **Required labels**: missing label(s): team-api",
        "❌ **Size**:",
        "❌ **Protected paths**: infra/main.tf needs an approving review from alice or @acme/sre",
        "❌ **No secrets**: 1 secret(s) in the added lines: AWS access key id in app/settings.py:2",
        "❌ **Migrations reviewed**: migrations/0002_add_email.sql changes migrations and needs the db-reviewed label",
    ] {
        assert!(
            run.summary.contains(line),
            "{line:?} not in {}",
            run.summary
        );
    }
    assert!(
        !run.summary.contains(&aws_key()),
        "the secret is never repeated"
    );
    assert_eq!(run.annotations.len(), 1);
    let a = &run.annotations[0];
    assert_eq!(a["path"], "app/settings.py");
    assert_eq!(a["start_line"], 2);
    assert_eq!(a["annotation_level"], "failure");

    // The channel hears it: the pull request, its author, the rules and Waive.
    let posted = h.slack.wait_calls("chat.postMessage", 1).await;
    let text = all_text(&posted[0].body);
    assert!(
        text.contains("acme/api#1 breaks 7 Sentinel rule(s)"),
        "{text}"
    );
    assert!(text.contains("carol (<@UCAROL>)"), "{text}");
    assert!(text.contains("Migrations reviewed"), "{text}");
    assert!(button(&posted[0].body, "Waive").starts_with("approve_why:"));

    // Labels added on GitHub: the same head's check is rewritten, two rules mend.
    h.github.git.edit_pull(
        REPO,
        n,
        None,
        Some(GOOD_BODY),
        Some(&["team-api", "db-reviewed", "large-change"]),
    );
    assert_eq!(h.deliver("pull_request", "labeled", n).await.0, 202);
    let run = h.check_on(&head).await;
    assert_eq!(
        h.github.checks.runs(REPO).len(),
        1,
        "the same run is updated"
    );
    assert_eq!(run.title, "3 of 7 rules broken", "{}", run.summary);
    assert!(run.summary.contains("✅ **Migrations reviewed**"));
    assert!(
        run.summary.contains(
            "✅ **Size**: 66 changed lines, over the limit of 50, allowed by the large-change label"
        ),
        "{}",
        run.summary
    );

    // A new push that removes the secret and the infra change: a new check run.
    let fixed = h.github.git.commit(
        REPO,
        "ops-9-cleanup",
        &[
            ("app/settings.py", "import os\nKEY = os.environ[\"KEY\"]\n"),
            ("infra/main.tf", "resource \"aws_s3_bucket\" \"a\" {}\n"),
        ],
        "Read the key from the environment",
    );
    assert_eq!(h.deliver("pull_request", "synchronize", n).await.0, 202);
    let run = h.check_on(&fixed).await;
    assert_eq!(h.github.checks.runs(REPO).len(), 2);
    assert_eq!(
        run.title, "1 of 7 rules broken",
        "only OPS-9 is left: {}",
        run.summary
    );
    assert!(run.annotations.is_empty());
    h.slack.app.finish().await;
}

#[tokio::test]
async fn a_protected_path_passes_once_a_listed_person_or_a_team_member_approves() {
    let h = SentinelHarness::start(|_| {}).await;
    h.github.checks.set_team("acme/sre", &["dave"]);
    let (n, head) = h.open(
        "ops-7-infra",
        "OPS-7: bucket for logs",
        &[("infra/main.tf", "resource \"aws_s3_bucket\" \"logs\" {}\n")],
        "carol",
        GOOD_BODY,
        &["team-api"],
    );
    h.deliver("pull_request", "opened", n).await;
    let run = h.check_on(&head).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    // A review by someone neither listed nor in the team changes nothing.
    h.github.git.review(REPO, n, "erin", "APPROVED");
    h.deliver("pull_request_review", "submitted", n).await;
    assert_eq!(
        h.check_on(&head).await.conclusion.as_deref(),
        Some("failure")
    );
    // dave is in acme/sre.
    h.github.git.review(REPO, n, "dave", "APPROVED");
    h.deliver("pull_request_review", "submitted", n).await;
    let run = h.check_on(&head).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{}",
        run.summary
    );
    assert!(run.summary.contains("✅ **Protected paths**"));
    h.slack.app.finish().await;
}

/// A failing pull request by alice (an approver), announced with its Waive button.
async fn failing_by_alice(h: &SentinelHarness) -> (u64, String, String) {
    let (n, head) = h.open(
        "hotfix",
        "Hotfix the login",
        &[("src/lib.rs", "pub fn login() { hotfix(); }\n")],
        "alice",
        GOOD_BODY,
        &["team-api"],
    );
    h.deliver("pull_request", "opened", n).await;
    let run = h.check_on(&head).await;
    assert_eq!(run.title, "1 of 7 rules broken", "{}", run.summary);
    let posted = h.slack.wait_calls("chat.postMessage", 1).await;
    let waive = button(&posted[0].body, "Waive").to_owned();
    (n, head, waive)
}

#[tokio::test]
async fn waive_is_refused_to_a_non_approver_and_the_author_and_an_approver_turns_the_check_green() {
    let h = SentinelHarness::start(|_| {}).await;
    let (n, head, waive) = failing_by_alice(&h).await;
    let ts = h.slack.fake.calls_to("chat.postMessage")[0].body["ts"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| "1700000000.000001".into());

    // Mallory may not waive; alice may not waive her own pull request.
    assert_eq!(
        h.slack
            .click_button("UMALLORY", &waive, &ts, "mallory")
            .await,
        200
    );
    assert_eq!(
        h.slack.click_button("UALICE", &waive, &ts, "alice").await,
        200
    );
    h.slack.app.settle().await;
    assert!(
        h.slack.fake.calls_to("views.open").is_empty(),
        "no dialog for them"
    );
    let said = |who: &str| answered(&h, who);
    assert!(
        said("mallory").contains("not allowed"),
        "{}",
        said("mallory")
    );
    assert!(
        said("alice").contains("You made this proposal"),
        "{}",
        said("alice")
    );
    // Typed by alice, refused the same way.
    h.slack
        .command(
            "UALICE",
            &format!("sentinel waive {REPO}#{n} it is fine"),
            "alice-typed",
        )
        .await;
    h.slack.app.settle().await;
    assert_eq!(
        h.check_on(&head).await.conclusion.as_deref(),
        Some("failure")
    );

    // Bob presses Waive: a dialog asks why; submitted, the check turns green.
    let before = h.slack.fake.calls_to("views.open").len();
    assert_eq!(h.slack.click_button("UBOB", &waive, &ts, "bob").await, 200);
    let opened = h.slack.wait_calls("views.open", before + 1).await;
    let view = opened[before].body["view"].clone();
    assert_eq!(view["title"]["text"], "Waive");
    h.slack
        .submit_reason("UBOB", &view, "Outage hotfix; OPS-12 filed after")
        .await;
    h.slack.app.settle().await;
    let run = h.check_on(&head).await;
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    assert_eq!(
        run.title,
        "1 rule(s) waived by @bob (slack:UBOB): Outage hotfix; OPS-12 filed after"
    );
    assert_eq!(audit_count(&h, events::SENTINEL_WAIVED), 1);
    let row = h
        .ctx()
        .store
        .with_conn(|c| store::get(c, REPO, n))
        .unwrap()
        .unwrap();
    assert_eq!(row.waived_by.as_deref(), Some("slack:UBOB"));
    let id = opsmate::domain::ApprovalId::parse(row.proposal.as_deref().unwrap()).unwrap();
    let p = h.ctx().gate.get(&id).await.unwrap().unwrap();
    assert_eq!(p.state, ProposalState::Succeeded);
    let updated = h.slack.wait_calls("chat.update", 1).await;
    let last = all_text(&updated.last().unwrap().body);
    assert!(
        last.contains("Waived by slack:UBOB: Outage hotfix"),
        "{last}"
    );

    // Merged now: no bypass, the waiver stands.
    h.github.git.force_merge(REPO, n, "bob");
    h.deliver("pull_request", "closed", n).await;
    h.slack.app.settle().await;
    assert_eq!(audit_count(&h, events::SENTINEL_BYPASS), 0);
    h.slack.app.finish().await;
}

#[tokio::test]
async fn a_merge_while_failing_and_unwaived_is_a_bypass_posted_at_once_and_counted() {
    let h = SentinelHarness::start(|_| {}).await;
    let (n, _head, _) = failing_by_alice(&h).await;
    h.github.git.force_merge(REPO, n, "mallory");
    assert_eq!(h.deliver("pull_request", "closed", n).await.0, 202);
    let posted = h.slack.wait_calls("chat.postMessage", 2).await;
    let text = all_text(&posted[1].body);
    assert!(
        text.contains("Bypass: acme/api#1 was merged while its check was failing"),
        "{text}"
    );
    assert!(text.contains("mallory"), "{text}");
    assert!(text.contains("Linear issue"), "{text}");
    assert_eq!(audit_count(&h, events::SENTINEL_BYPASS), 1);
    // A redelivery of the close (a new id, as a manual redelivery has) is no second bypass.
    h.deliver("pull_request", "closed", n).await;
    h.slack.app.settle().await;
    assert_eq!(audit_count(&h, events::SENTINEL_BYPASS), 1);
    // The waive offer is withdrawn.
    let row = h
        .ctx()
        .store
        .with_conn(|c| store::get(c, REPO, n))
        .unwrap()
        .unwrap();
    assert_eq!(row.state, "merged");
    let id = opsmate::domain::ApprovalId::parse(row.proposal.as_deref().unwrap()).unwrap();
    assert_eq!(
        h.ctx().gate.get(&id).await.unwrap().unwrap().state,
        ProposalState::Rejected
    );

    // `/opsmate sentinel` lists the week's bypass; the digest counts it.
    h.slack.command("UBOB", "sentinel", "list").await;
    h.slack.app.settle().await;
    let listed = answered(&h, "list");
    assert!(
        listed.contains("Bypasses in the last 7 days (1)"),
        "{listed}"
    );
    assert!(listed.contains("acme/api#1 merged by mallory"), "{listed}");
    let now = chrono::Utc::now();
    let sentinel = h.ctx().features.named("sentinel").unwrap().clone();
    let digest = sentinel
        .digest(
            h.ctx(),
            now - chrono::Duration::days(1),
            now + chrono::Duration::minutes(1),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(digest.contains("Sentinel: 1 bypass(es)"), "{digest}");
    h.slack.app.finish().await;
}

#[tokio::test]
async fn a_failing_pull_request_is_listed_and_waived_by_a_typed_command_with_its_reason() {
    let h = SentinelHarness::start(|_| {}).await;
    let (n, head, _) = failing_by_alice(&h).await;
    h.slack.command("UBOB", "sentinel acme/api", "list").await;
    h.slack.app.settle().await;
    let listed = answered(&h, "list");
    assert!(listed.contains("Failing (1)"), "{listed}");
    assert!(
        listed.contains("acme/api#1 Hotfix the login by alice (<@UALICE>): Linear issue"),
        "{listed}"
    );
    h.slack
        .command(
            "UBOB",
            &format!("sentinel waive {REPO}#{n} release train, ticket follows"),
            "bob",
        )
        .await;
    let run = h.check_on(&head).await;
    assert_eq!(run.conclusion.as_deref(), Some("success"), "{}", run.title);
    assert!(
        run.title.ends_with("release train, ticket follows"),
        "{}",
        run.title
    );
    h.slack.app.finish().await;
}

#[tokio::test]
async fn sentinel_check_evaluates_one_pull_request_and_writes_nothing() {
    let h = SentinelHarness::start(|_| {}).await;
    let (good, _) = tidy(&h, "fix-login");
    let (bad, _) = h.open(
        "no-ticket",
        "Tweak the logger",
        &[("src/lib.rs", "pub fn login() { log(); }\n")],
        "carol",
        GOOD_BODY,
        &["team-api"],
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("opsmate.toml");
    std::fs::write(
        &config,
        format!(
            "[github]\napi_url = \"{}\"\n[linear]\napi_url = \"{}\"\n\n[sentinel]\n[sentinel.rules]\ntemplate_sections = [\"## Summary\", \"## Testing\"]\nrequired_labels = [\"team-api\"]\n[[sentinel.repos]]\nname = \"acme/api\"\n",
            h.github.url, h.linear.url
        ),
    )
    .unwrap();
    let check = |pull: String, json: bool| {
        let mut cmd = crate::cli::opsmate(dir.path());
        cmd.env("OPSMATE_CONFIG", &config)
            .env("GITHUB_TOKEN", "ghs_cli_token")
            .env("LINEAR_API_KEY", "lin_api_cli")
            .args(["sentinel", "check", &pull]);
        if json {
            cmd.arg("--json");
        }
        cmd
    };
    let out = crate::cli::output(check(format!("{REPO}#{good}"), false)).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("pass Linear issue: OPS-7 (In Progress)"),
        "{stdout}"
    );
    assert!(stdout.contains("Every rule passes."), "{stdout}");

    let out = crate::cli::output(check(format!("{REPO}#{bad}"), true)).await;
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["passed"], false);
    let failing: Vec<&str> = v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["passed"] == false)
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    assert_eq!(failing, vec!["linear_issue"]);

    let out = crate::cli::output(check("acme/other#1".into(), false)).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("acme/other is not in [[sentinel.repos]]")
    );
    assert!(
        h.github.checks.runs(REPO).is_empty(),
        "the CLI writes no check run"
    );
    h.slack.app.finish().await;
}
