//! The REST API's feature resources (findings, access, health, incidents, watchman,
//! rollbacks) against real data, and every answer checked against the OpenAPI
//! document at `/api/v1/openapi.json`.

use crate::api::{decide, get, token};
use crate::support::TestApp;
use crate::support::slack::SlackHarness;
use opsmate::web::tokens::Scope;
use serde_json::{Value, json};

/// The document as the app serves it (no token needed).
async fn document(app: &TestApp) -> Value {
    let r = reqwest::get(app.url("/api/v1/openapi.json")).await.unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    doc
}

/// Checks `body` against the schema the document gives for `method path` answering
/// `status`, resolving its references within the document.
fn assert_matches(doc: &Value, method: &str, path: &str, status: u16, body: &Value) {
    let schema = &doc["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]
        ["schema"];
    assert!(schema.is_object(), "no schema for {method} {path} {status}");
    let mut root = schema.clone();
    root["components"] = doc["components"].clone();
    let validator = jsonschema::validator_for(&root).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status} does not match the document: {errors:#?}\n{body:#}"
    );
}

async fn read(app: &TestApp, doc: &Value, resource: &str) -> Value {
    let secret = token(app, &format!("reads-{resource}"), Scope::Read, "UALICE").await;
    let (status, body) = get(app, &format!("/api/v1/{resource}"), &secret).await;
    assert_eq!(status, 200, "{body}");
    assert_matches(doc, "get", &format!("/api/v1/{resource}"), 200, &body);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_of_a_feature_that_is_off_says_how_to_turn_it_on() {
    let (_dir, app) = crate::support::plain_app().await;
    let doc = document(&app).await;
    let secret = token(&app, "reader", Scope::Read, "UALICE").await;
    let (status, body) = get(&app, "/api/v1/findings", &secret).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "feature_off");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[hunter]"),
        "{body}"
    );
    assert_matches(&doc, "get", "/api/v1/findings", 404, &body);
    let (status, body) = get(&app, "/api/v1/nothing-here", &secret).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, body) = get(&app, "/api/v1/findings", "not-a-token").await;
    assert_eq!(status, 401, "{body}");
    assert_matches(&doc, "get", "/api/v1/findings", 401, &body);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_and_audit_answers_match_the_document() {
    let h = SlackHarness::start().await;
    let doc = document(&h.app).await;
    let p = h.posted_proposal("us-east-1/vol-0doc1").await;
    let secret = token(&h.app, "ci", Scope::Decide, "UBOB").await;

    let (status, body) = get(&h.app, "/api/v1/approvals", &secret).await;
    assert_eq!(status, 200);
    assert_matches(&doc, "get", "/api/v1/approvals", 200, &body);
    let (status, body) = get(&h.app, &format!("/api/v1/approvals/{}", p.id), &secret).await;
    assert_eq!(status, 200);
    assert_matches(&doc, "get", "/api/v1/approvals/{id}", 200, &body);

    let (status, body) = decide(
        &h.app,
        p.id.as_str(),
        &secret,
        json!({"verdict": "reject", "reason": "the nightly export reads it"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["proposal"]["decision_note"],
        "the nightly export reads it"
    );
    assert_matches(&doc, "post", "/api/v1/approvals/{id}/decision", 200, &body);
    let (status, body) = decide(&h.app, p.id.as_str(), &secret, json!({"verdict": "reject"})).await;
    assert_eq!(status, 409);
    assert_matches(&doc, "post", "/api/v1/approvals/{id}/decision", 409, &body);
    let long = "x".repeat(opsmate::approvals::MAX_NOTE_CHARS + 1);
    let other = h.posted_proposal("us-east-1/vol-0doc2").await;
    let (status, body) = decide(
        &h.app,
        other.id.as_str(),
        &secret,
        json!({"verdict": "reject", "reason": long}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        h.app.ctx.gate.get(&other.id).await.unwrap().unwrap().state,
        opsmate::approvals::ProposalState::Pending
    );

    let (status, body) = get(&h.app, "/api/v1/audit?limit=2", &secret).await;
    assert_eq!(status, 200);
    assert!(body["next_cursor"].is_string(), "{body}");
    assert_matches(&doc, "get", "/api/v1/audit", 200, &body);
    let (status, body) = get(&h.app, "/api/v1/audit/verify", &secret).await;
    assert_eq!((status, &body["intact"]), (200, &json!(true)));
    assert_matches(&doc, "get", "/api/v1/audit/verify", 200, &body);
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_list_what_moto_holds_with_its_cost() {
    use crate::support::hunter::{HunterHarness, REGION, volume};
    let h = HunterHarness::start(|_| {}).await;
    let ec2 = h.ec2(REGION).await;
    let idle = volume(&ec2, 50, aws_sdk_ec2::types::VolumeType::Gp2, &[]).await;
    h.hunt().await;
    let doc = document(&h.slack.app).await;
    let body = read(&h.slack.app, &doc, "findings").await;
    let found = body["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["resource_id"] == idle.as_str())
        .unwrap_or_else(|| panic!("{idle} is not listed: {body:#}"));
    assert_eq!(found["kind"], "volume");
    assert_eq!(found["region"], REGION);
    assert!(found["monthly_cost_usd"].as_f64().unwrap() > 0.0, "{found}");
    assert!(
        body["monthly_cost_usd"].as_f64().unwrap() >= found["monthly_cost_usd"].as_f64().unwrap()
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_lists_a_departed_person_with_their_grace_clock() {
    use crate::support::guard::GuardHarness;
    let h = GuardHarness::start(|_| {}).await;
    h.person("hank", "hank@corp.com", "hank-gh", "U0HANK").await;
    h.person("ivy", "ivy@corp.com", "ivy-gh", "U0IVY").await;
    h.slack.fake.set_deleted("U0HANK", true);
    h.scan().await;
    let doc = document(&h.slack.app).await;
    let body = read(&h.slack.app, &doc, "access").await;
    let people = body["people"].as_array().unwrap();
    let hank = people
        .iter()
        .find(|p| p["iam_user"] == "hank")
        .expect("hank");
    assert_eq!(hank["status"], "departed", "{body:#}");
    assert!(hank["grace_ends"].is_string(), "{hank}");
    let ivy = people.iter().find(|p| p["iam_user"] == "ivy").expect("ivy");
    assert_eq!(ivy["status"], "present", "{body:#}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_incidents_show_a_failing_check() {
    use crate::support::fake_service::Mode;
    let t = crate::support::incidents::start(|_, _| {}).await;
    t.h.service.set(Mode::Failing);
    t.alert("api").await;
    let app = &t.h.slack.app;
    let doc = document(app).await;
    let body = read(app, &doc, "incidents").await;
    assert_eq!(body["open"][0]["check"], "api", "{body:#}");
    assert_eq!(body["open"][0]["severity"], "critical", "{body:#}");
    let body = read(app, &doc, "health").await;
    let api = &body["checks"][0];
    assert_eq!(api["name"], "api", "{body:#}");
    assert_eq!(api["status"], "critical", "{body:#}");
    assert!(api["samples_24h"].as_u64().unwrap() >= 1, "{api}");
    t.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchman_shows_its_last_decision_and_its_reasons() {
    use crate::support::watchman::{WatchmanHarness, instance};
    let h = WatchmanHarness::start(|_| {}).await;
    let ec2 = h.ec2().await;
    instance(&ec2, &[("env", "staging"), ("Name", "web-1")]).await;
    h.github
        .pushed("acme/api", h.now() - chrono::Duration::hours(3));
    h.evening().await;
    let doc = document(&h.slack.app).await;
    let body = read(&h.slack.app, &doc, "watchman").await;
    assert_eq!(
        body["last_decision"]["event"], "watchman.checked",
        "{body:#}"
    );
    assert!(!body["history"].as_array().unwrap().is_empty());
    h.stop().await;
}

#[tokio::test]
async fn rollbacks_show_each_application_state() {
    use crate::support::rollback::Pilot;
    use opsmate::features::rollback::config::Environment;
    let p = Pilot::start(Environment::Staging, |_| {}).await;
    p.degrade(2).await;
    let doc = document(&p.slack.app).await;
    let body = read(&p.slack.app, &doc, "rollbacks").await;
    assert_eq!(body["apps"][0]["state"], "suspect", "{body:#}");
    assert_eq!(body["apps"][0]["degraded_polls"], 2, "{body:#}");
    p.stop().await;
}
