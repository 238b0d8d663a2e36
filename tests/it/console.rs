//! The web console over HTTP: Sign in with Slack through the fake Slack's OpenID
//! Connect endpoints, who may look and who may decide, CSRF, the pages, the audit
//! export and the live event stream.

use crate::support::audit_rows;
use crate::support::slack::SlackHarness;
use crate::support::web_user::{WebUser, csrf};
use opsmate::approvals::ProposalState;

async fn signed_in(h: &SlackHarness, user: &str) -> WebUser {
    h.fake.sign_in_as(user, &format!("{user} name"));
    let mut web = WebUser::new(&h.app);
    let page = web.sign_in().await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&format!("{user} name")), "{}", page.body);
    web
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_with_slack_opens_the_console_and_a_stranger_is_refused() {
    let h = SlackHarness::start().await;
    // A page asks for sign-in first.
    let mut web = WebUser::new(&h.app);
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(h.app.url("/approvals"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?next=%2Fapprovals");

    h.fake.sign_in_as("UALICE", "Alice");
    let page = web.sign_in().await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("UALICE name"), "{}", page.body);
    assert!(page.body.contains("Pending approvals"), "{}", page.body);
    let cookie = web
        .cookies
        .get("opsmate_session")
        .expect("a session cookie");
    assert!(
        !cookie.contains("UALICE"),
        "the cookie holds no identity in clear"
    );
    let signed = audit_rows(&h.app, "web.signed_in");
    assert_eq!(signed.len(), 1);
    assert_eq!(signed[0].actor, "slack:UALICE");
    // The token exchange used the app's client secret and the same redirect.
    let token = h.fake.calls_to("openid.connect.token");
    assert_eq!(
        token[0].body["client_id"],
        crate::support::fake_slack::CLIENT_ID
    );
    assert!(
        token[0].body["redirect_uri"]
            .as_str()
            .unwrap()
            .ends_with("/auth/slack/callback")
    );

    // Someone who is neither an approver nor listed is refused, and it is audited.
    h.fake.sign_in_as("UMALLORY", "Mallory");
    let mut stranger = WebUser::new(&h.app);
    let page = stranger.sign_in().await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(!stranger.cookies.contains_key("opsmate_session"));
    assert_eq!(audit_rows(&h.app, "web.signin_refused").len(), 1);
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_cookie_or_state_signs_nobody_in_and_logout_ends_the_session() {
    let h = SlackHarness::start().await;
    let mut web = signed_in(&h, "UBOB").await;
    let real = web.cookies["opsmate_session"].clone();

    // A cookie whose signature does not match is no session.
    let mut forged = WebUser::new(&h.app);
    forged
        .cookies
        .insert("opsmate_session".into(), format!("x{real}"));
    assert_eq!(
        forged.get_once("/audit").await,
        (303, Some("/login?next=%2Faudit".to_owned()))
    );

    // A callback whose state is not the one handed out is refused.
    let mut other = WebUser::new(&h.app);
    let page = other
        .get("/auth/slack/callback?code=code-UBOB-0&state=guessed")
        .await;
    assert_eq!(page.status, 400, "{}", page.body);

    // Logout needs the CSRF token, then ends the session for good.
    let home = web.get("/").await;
    let (status, _, _) = web.post("/logout", &[]).await;
    assert_eq!(status, 403);
    let (status, to, _) = web.post("/logout", &[("csrf", &csrf(&home.body))]).await;
    assert_eq!((status, to.as_deref()), (303, Some("/signed-out")));
    let mut replay = WebUser::new(&h.app);
    replay.cookies.insert("opsmate_session".into(), real);
    assert_eq!(
        replay.get_once("/").await,
        (303, Some("/login?next=%2F".to_owned())),
        "the old cookie still works"
    );
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_on_the_web_goes_through_the_gate_and_a_post_without_csrf_is_refused() {
    let h = SlackHarness::start().await;
    let p = h.posted_proposal("us-east-1/vol-0web1").await;
    let mut web = signed_in(&h, "UALICE").await;
    let page = web.get("/approvals").await;
    assert!(page.body.contains("us-east-1/vol-0web1"), "{}", page.body);
    assert!(
        page.body.contains("Delete volume"),
        "the kind's own button: {}",
        page.body
    );
    assert!(page.body.contains(&format!("/approvals/{}/decision", p.id)));
    let token = csrf(&page.body);
    let path = format!("/approvals/{}/decision", p.id);

    let (status, _, body) = web.post(&path, &[("verdict", "approve")]).await;
    assert_eq!(status, 403, "{body}");
    let (status, _, _) = web
        .post(&path, &[("verdict", "approve"), ("csrf", "0000")])
        .await;
    assert_eq!(status, 403);
    assert_eq!(audit_rows(&h.app, "web.csrf_refused").len(), 2);
    h.app.settle().await;
    assert_eq!(
        h.app.ctx.gate.get(&p.id).await.unwrap().unwrap().state,
        ProposalState::Pending
    );

    let (status, to, _) = web
        .post(
            &path,
            &[
                ("verdict", "approve"),
                ("csrf", &token),
                ("reason", "cleanup day"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(to.unwrap(), format!("/approvals?approved={}", p.id));
    h.app.settle().await;
    assert_eq!(h.action.executions(), 1);
    let done = h.app.ctx.gate.get(&p.id).await.unwrap().unwrap();
    assert_eq!(done.state, ProposalState::Succeeded);
    assert_eq!(done.decided_by.as_deref(), Some("slack:UALICE"));
    assert_eq!(done.decision_note.as_deref(), Some("cleanup day"));
    // The channel's message says who approved.
    let updates = h.wait_calls("chat.update", 1).await;
    assert!(crate::support::slack::all_text(&updates[0].body).contains("<@UALICE>"));
    let page = web.get("/approvals").await;
    assert!(page.body.contains("succeeded"), "{}", page.body);
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_may_look_but_not_approve() {
    let h = SlackHarness::with_web_users(&["UREADER", "UALICE"]).await;
    let p = h.posted_proposal("us-east-1/vol-0web2").await;
    let mut web = signed_in(&h, "UREADER").await;
    let page = web.get("/approvals").await;
    assert!(page.body.contains("us-east-1/vol-0web2"), "{}", page.body);
    assert!(
        !page.body.contains(&format!("/approvals/{}/decision", p.id)),
        "a reader is offered no decision form"
    );
    assert!(
        page.body.contains("slack:UALICE"),
        "who may decide is shown: {}",
        page.body
    );
    let token = csrf(&page.body);
    let (status, _, body) = web
        .post(
            &format!("/approvals/{}/decision", p.id),
            &[("verdict", "approve"), ("csrf", &token)],
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        h.app.ctx.gate.get(&p.id).await.unwrap().unwrap().state,
        ProposalState::Pending
    );
    assert_eq!(audit_rows(&h.app, "approval.refused").len(), 1);
    // UBOB approves in Slack but is not on web.allowed_users: not let in.
    h.fake.sign_in_as("UBOB", "Bob");
    let page = WebUser::new(&h.app).sign_in().await;
    assert_eq!(page.status, 403);
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_page_filters_and_exports_what_it_shows() {
    let h = SlackHarness::start().await;
    h.posted_proposal("us-east-1/vol-0web3").await;
    let mut web = signed_in(&h, "UALICE").await;
    let page = web.get("/audit?event=web.").await;
    assert!(page.body.contains("web.signed_in"), "{}", page.body);
    assert!(!page.body.contains("approval.proposed"), "{}", page.body);
    let page = web.get("/audit").await;
    assert!(page.body.contains("approval.proposed"), "{}", page.body);
    let page = web.get("/audit?since=yesterday").await;
    assert_eq!(page.status, 400);

    let csv = web.get("/audit/export.csv?event=web.").await.body;
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "seq,at,actor,event,subject,details,prev_hash,hash"
    );
    assert!(lines.all(|l| l.contains("web.")), "{csv}");
    let jsonl = web.get("/audit/export.jsonl").await.body;
    let rows: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(rows.iter().any(|r| r["event"] == "approval.proposed"));
    assert!(
        rows.windows(2)
            .all(|w| w[0]["seq"].as_i64() > w[1]["seq"].as_i64()),
        "newest first"
    );
    // The chain's status appears once walked (in the background).
    let web = tokio::sync::Mutex::new(web);
    let intact = crate::support::eventually(std::time::Duration::from_secs(10), || async {
        web.lock()
            .await
            .get("/audit")
            .await
            .body
            .contains("Chain intact")
    })
    .await;
    assert!(intact, "the chain's status is shown");
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_stream_says_when_something_changed() {
    let h = SlackHarness::start().await;
    let web = signed_in(&h, "UALICE").await;
    let cookie = format!("opsmate_session={}", web.cookies["opsmate_session"]);
    let unsigned = reqwest::get(h.app.url("/live")).await.unwrap();
    assert_eq!(unsigned.status(), 401);
    let mut stream = reqwest::Client::new()
        .get(h.app.url("/live"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    h.posted_proposal("us-east-1/vol-0web4").await;
    let mut seen = String::new();
    let got = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(chunk) = stream.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("event: change") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(got, Ok(true), "{seen}");
    drop(stream);
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_slack_sign_in_the_console_is_off_and_local_admin_only_looks() {
    let (_dir, app) = crate::support::plain_app().await;
    let page = WebUser::new(&app).get("/").await;
    assert_eq!(page.status, 404);
    assert!(page.body.contains("SLACK_CLIENT_ID"), "{}", page.body);
    app.finish().await;

    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::support::config_in(dir.path());
    config.web.local_admin = true;
    let app = crate::support::TestApp::start(
        config,
        opsmate::config::Secrets::default(),
        opsmate::app::AppOptions::default(),
    )
    .await;
    let mut web = WebUser::new(&app);
    let page = web.get("/approvals").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("local admin (read-only)"),
        "{}",
        page.body
    );
    let (status, _, _) = web
        .post(
            "/approvals/abcdefghij/decision",
            &[("verdict", "approve"), ("csrf", &csrf(&page.body))],
        )
        .await;
    assert_eq!(status, 403);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_page_draws_each_check_with_its_charts() {
    use crate::support::fake_service::Mode;
    let t = crate::support::incidents::start(|_, _| {}).await;
    t.h.service.set(Mode::Failing);
    t.alert("api").await;
    let app = &t.h.slack.app;
    t.h.slack.fake.sign_in_as("UALICE", "Alice");
    let mut web = WebUser::new(app);
    web.sign_in().await;
    let page = web.get("/health").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(r#"id="check-api""#), "{}", page.body);
    assert!(page.body.contains("critical"), "{}", page.body);
    assert_eq!(
        page.body.matches("<svg").count(),
        2,
        "a latency chart and a 30-day bar"
    );
    assert_eq!(
        page.body.matches(r#"height="24"><title>"#).count(),
        30,
        "one bar a day"
    );
    // The overview shows the open incident and the check.
    let home = web.get("/").await;
    assert!(home.body.contains("Open incidents: 1"), "{}", home.body);
    assert!(home.body.contains("api"), "{}", home.body);
    // A page of a feature that is off says how to turn it on.
    let off = web.get("/zombies").await;
    assert!(off.body.contains("Zombie Hunter is off"), "{}", off.body);
    t.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_zombie_hunter_page_lists_what_moto_holds() {
    use crate::support::hunter::{HunterHarness, REGION, volume};
    let h = HunterHarness::start(|_| {}).await;
    let ec2 = h.ec2(REGION).await;
    let idle = volume(&ec2, 50, aws_sdk_ec2::types::VolumeType::Gp2, &[]).await;
    h.hunt().await;
    h.slack.fake.sign_in_as("UALICE", "Alice");
    let mut web = WebUser::new(&h.slack.app);
    web.sign_in().await;
    let page = web.get("/zombies").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&idle), "{}", page.body);
    assert!(
        page.body.contains("$5.00"),
        "50 GiB of gp2 at $0.10: {}",
        page.body
    );
    h.stop().await;
}
