//! The REST API under `/api/v1/`: bearer tokens and their scopes, decisions through
//! the gate, cursor pagination of the audit log, and the per-token rate limit.

use crate::support::slack::{SlackHarness, all_text};
use crate::support::{TestApp, audit_rows, config_in, plain_app};
use opsmate::approvals::ProposalState;
use opsmate::domain::SlackUserId;
use opsmate::web::tokens::{self, Scope};
use serde_json::{Value, json};
use std::collections::HashSet;

/// Creates a token in the app's database, as `opsmate token create` does.
pub(crate) async fn token(app: &TestApp, name: &str, scope: Scope, owner: &str) -> String {
    let (name, owner) = (name.to_owned(), SlackUserId::parse(owner).unwrap());
    app.ctx
        .store
        .call(move |c| {
            Ok(
                tokens::create(c, &name, scope, &owner, "cli", chrono::Utc::now())
                    .map(|(_, secret)| secret)
                    .unwrap(),
            )
        })
        .await
        .unwrap()
}

pub(crate) async fn get(app: &TestApp, path: &str, secret: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(app.url(path))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn decide(app: &TestApp, id: &str, secret: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/approvals/{id}/decision")))
        .bearer_auth(secret)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decide_token_approves_as_its_owner_and_the_record_names_the_token() {
    let h = SlackHarness::start().await;
    let p = h.posted_proposal("us-east-1/vol-0api1").await;
    let secret = token(&h.app, "ci", Scope::Decide, "UALICE").await;

    let (status, listed) = get(&h.app, "/api/v1/approvals?state=pending", &secret).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["items"][0]["id"], p.id.as_str(), "{listed}");

    let (status, answer) = decide(
        &h.app,
        p.id.as_str(),
        &secret,
        json!({"verdict": "approve"}),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let updates = h.wait_calls("chat.update", 1).await;
    let text = all_text(&updates[0].body);
    assert!(text.contains("Approved and done"), "{text}");
    assert!(
        text.contains("<@UALICE>"),
        "the owner is named as the decider: {text}"
    );
    assert_eq!(h.action.executions(), 1);
    let now = h.app.ctx.gate.get(&p.id).await.unwrap().unwrap();
    assert_eq!(now.state, ProposalState::Succeeded);
    let approved = audit_rows(&h.app, "approval.approved");
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0].actor, "token:ci@slack:UALICE");

    // Deciding again is a conflict that names who decided, and runs nothing.
    let (status, again) = decide(
        &h.app,
        p.id.as_str(),
        &secret,
        json!({"verdict": "approve"}),
    )
    .await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["error"]["code"], "already_decided");
    assert_eq!(h.action.executions(), 1);
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_token_cannot_decide_and_a_token_of_a_non_approver_is_refused() {
    let h = SlackHarness::start().await;
    let p = h.posted_proposal("us-east-1/vol-0api2").await;
    let reader = token(&h.app, "dashboard", Scope::Read, "UALICE").await;
    let outsider = token(&h.app, "carol-ci", Scope::Decide, "UCAROL").await;

    let (status, one) = get(&h.app, &format!("/api/v1/approvals/{}", p.id), &reader).await;
    assert_eq!(status, 200);
    assert_eq!(one["target"], "us-east-1/vol-0api2");

    let (status, answer) = decide(
        &h.app,
        p.id.as_str(),
        &reader,
        json!({"verdict": "approve"}),
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["error"]["code"], "insufficient_scope");
    let refused = audit_rows(&h.app, "token.refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].actor, "token:dashboard@slack:UALICE");

    let (status, answer) = decide(
        &h.app,
        p.id.as_str(),
        &outsider,
        json!({"verdict": "reject"}),
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["error"]["code"], "not_an_approver");

    let (status, answer) = decide(
        &h.app,
        p.id.as_str(),
        &outsider,
        json!({"verdict": "maybe"}),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    let (status, _) = decide(&h.app, "not-an-id", &outsider, json!({"verdict": "reject"})).await;
    assert_eq!(status, 400);

    let now = h.app.ctx.gate.get(&p.id).await.unwrap().unwrap();
    assert_eq!(now.state, ProposalState::Pending, "nothing was decided");
    assert_eq!(h.action.executions(), 0);
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_with_a_token_rewrites_the_chat_message() {
    let h = SlackHarness::start().await;
    let p = h.posted_proposal("us-east-1/vol-0api3").await;
    let secret = token(&h.app, "bob-cli", Scope::Decide, "UBOB").await;
    let (status, answer) =
        decide(&h.app, p.id.as_str(), &secret, json!({"verdict": "reject"})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["proposal"]["state"], "rejected");
    let updates = h.wait_calls("chat.update", 1).await;
    let text = all_text(&updates[0].body);
    assert!(
        text.contains("Rejected") && text.contains("<@UBOB>"),
        "{text}"
    );
    assert_eq!(h.action.executions(), 0);
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_an_unknown_one_and_a_revoked_one_get_401() {
    let (_dir, app) = plain_app().await;
    let secret = token(&app, "ci", Scope::Read, "UALICE").await;
    let (status, _) = get(&app, "/api/v1/audit", &secret).await;
    assert_eq!(status, 200);

    let bare = reqwest::get(app.url("/api/v1/audit")).await.unwrap();
    assert_eq!(bare.status(), 401);
    assert_eq!(bare.headers()["www-authenticate"], "Bearer");
    let (status, body) = get(&app, "/api/v1/audit", "opsmate_forged").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");

    app.ctx
        .store
        .call(|c| {
            tokens::revoke(c, "ci", "cli", chrono::Utc::now()).unwrap();
            Ok(())
        })
        .await
        .unwrap();
    let (status, _) = get(&app, "/api/v1/audit", &secret).await;
    assert_eq!(status, 401, "a revoked token is refused at once");
    let events: Vec<String> = audit_rows(&app, "token.revoked")
        .into_iter()
        .map(|r| r.subject)
        .collect();
    assert_eq!(events, ["token:ci"]);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_pages_follow_the_cursor_to_the_end_with_no_gaps_and_no_repeats() {
    let (_dir, app) = plain_app().await;
    for i in 0..120 {
        let event = if i % 3 == 0 {
            "test.third"
        } else {
            "test.other"
        };
        app.ctx
            .audit
            .record("cli", event, format!("item-{i}"), json!({"i": i}))
            .await
            .unwrap();
    }
    let secret = token(&app, "reader", Scope::Read, "UALICE").await;
    let all = app
        .ctx
        .store
        .call(|c| opsmate::audit::tail(c, 10_000))
        .await
        .unwrap();

    let (mut seen, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/audit?limit=50&cursor={c}"),
            None => "/api/v1/audit?limit=50".into(),
        };
        let (status, page) = get(&app, &path, &secret).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["seq"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut expected: Vec<i64> = all.iter().map(|r| r.seq).collect();
    expected.reverse();
    assert_eq!(seen, expected, "every row once, newest first");
    assert_eq!(pages, all.len().div_ceil(50));
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());

    let (_, thirds) = get(&app, "/api/v1/audit?event=test.third&limit=500", &secret).await;
    assert_eq!(thirds["items"].as_array().unwrap().len(), 40);
    let (_, tests) = get(&app, "/api/v1/audit?event=test.&limit=500", &secret).await;
    assert_eq!(
        tests["items"].as_array().unwrap().len(),
        120,
        "a prefix ending in a dot"
    );
    let (_, one) = get(&app, "/api/v1/audit?subject=item-7", &secret).await;
    assert_eq!(one["items"][0]["details"]["i"], 7);
    let (_, future) = get(&app, "/api/v1/audit?since=2999-01-01T00:00:00Z", &secret).await;
    assert_eq!(future["items"], json!([]));

    for bad in [
        "/api/v1/audit?limit=0",
        "/api/v1/audit?limit=501",
        "/api/v1/audit?cursor=abc",
        "/api/v1/audit?since=yesterday",
        "/api/v1/audit?colour=red",
    ] {
        let (status, body) = get(&app, bad, &secret).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{bad}");
    }

    let (status, verified) = get(&app, "/api/v1/audit/verify", &secret).await;
    assert_eq!(status, 200);
    assert_eq!(verified["intact"], true, "{verified}");
    assert_eq!(verified["head"]["seq"], all.last().unwrap().seq);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_over_its_rate_limit_gets_429_with_retry_after_and_others_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.api.requests_per_minute = 3;
    let app = TestApp::start(config, Default::default(), Default::default()).await;
    let busy = token(&app, "busy", Scope::Read, "UALICE").await;
    let calm = token(&app, "calm", Scope::Read, "UBOB").await;
    for _ in 0..3 {
        assert_eq!(get(&app, "/api/v1/approvals", &busy).await.0, 200);
    }
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/approvals"))
        .bearer_auth(&busy)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=20).contains(&wait),
        "one request per 20 s comes back: {wait}"
    );
    assert_eq!(get(&app, "/api/v1/approvals", &calm).await.0, 200);
    app.finish().await;
}

#[test]
fn the_cli_prints_a_token_once_keeps_only_its_hash_and_revokes_it() {
    use crate::cli::opsmate;
    let dir = tempfile::tempdir().unwrap();
    let out = opsmate(dir.path())
        .args([
            "token", "create", "--name", "ci", "--scope", "decide", "--owner", "UALICE",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(
        secret.starts_with("opsmate_") && secret.len() > 40,
        "{secret}"
    );

    for file in ["opsmate.db", "opsmate.db-wal"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        let raw = String::from_utf8_lossy(&bytes);
        assert!(
            !raw.contains(&secret),
            "the secret itself is never stored ({file})"
        );
    }
    let store = opsmate::store::Store::open(
        &dir.path().join("opsmate.db"),
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    let found = store
        .with_conn(|c| tokens::authenticate(c, &secret))
        .unwrap();
    assert_eq!(
        found.map(|t| (t.name, t.scope)),
        Some(("ci".into(), Scope::Decide))
    );
    drop(store);

    let list = opsmate(dir.path())
        .args(["token", "list"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains("ci") && listed.contains("UALICE"),
        "{listed}"
    );
    assert!(!listed.contains(&secret));

    let taken = opsmate(dir.path())
        .args([
            "token", "create", "--name", "ci", "--scope", "read", "--owner", "UBOB",
        ])
        .output()
        .unwrap();
    assert_eq!(taken.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&taken.stderr).contains("already named \"ci\""));
    let bad_owner = opsmate(dir.path())
        .args([
            "token", "create", "--name", "x", "--scope", "read", "--owner", "alice",
        ])
        .output()
        .unwrap();
    assert_eq!(bad_owner.status.code(), Some(2), "a usage error, from clap");

    let revoke = opsmate(dir.path())
        .args(["token", "revoke", "ci"])
        .output()
        .unwrap();
    assert!(revoke.status.success());
    let again = opsmate(dir.path())
        .args(["token", "revoke", "ci"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("no live token is named \"ci\""));
}
