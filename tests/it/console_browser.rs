//! The web console in a real browser (headless Chromium over WebDriver): Sign in
//! with Slack through the fake Slack, approving a deletion that moto then shows
//! done, a form without its CSRF token refused, a reader offered no buttons, a live
//! update without a reload, and a screenshot of each page under
//! `target/console-screenshots/`.

use crate::support::browser::Browser;
use crate::support::hunter::{HunterHarness, REGION, volume, volume_exists as exists};
use crate::support::slack::SlackHarness;
use aws_sdk_ec2::types::VolumeType;
use fantoccini::Locator;
use opsmate::approvals::ProposalState;

fn approve_button(target: &str) -> String {
    format!("//tr[contains(., '{target}')]//button[@value='approve']")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_browser_an_approval_deletes_the_volume_and_the_page_updates_itself() {
    let h = HunterHarness::start(|_| {}).await;
    let ec2 = h.ec2(REGION).await;
    let vol = volume(&ec2, 50, VolumeType::Gp2, &[("Name", "old-data")]).await;
    h.scheduled_report().await;
    let app = &h.slack.app;
    h.slack.fake.sign_in_as("UALICE", "Alice");
    let b = Browser::start().await;

    // Sign in: the console sends the browser to Slack and back.
    b.client.goto(&app.url("/approvals")).await.unwrap();
    let text = b.wait_for_text(&vol).await;
    assert!(text.contains("Pending"), "{text}");
    let who = b
        .client
        .find(Locator::Id("viewer"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(who, "UALICE name");
    b.screenshot("approvals").await;

    // A form stripped of its CSRF token is refused, and nothing is decided.
    let stripped = b
        .client
        .execute(
            "const b = document.evaluate(arguments[0], document, null, 9, null).singleNodeValue;
             const f = b.form; f.querySelector('input[name=csrf]').remove();
             const v = document.createElement('input'); v.type = 'hidden'; v.name = 'verdict'; v.value = 'approve';
             f.appendChild(v); f.submit(); return true;",
            vec![serde_json::json!(approve_button(&vol))],
        )
        .await
        .unwrap();
    assert_eq!(stripped, serde_json::json!(true));
    b.wait_for_text("CSRF token is missing").await;
    h.slack.app.settle().await;
    assert!(exists(&ec2, &vol).await, "nothing was deleted");
    let pending = app.ctx.gate.pending().await.unwrap();
    let p = pending
        .iter()
        .find(|p| p.target.ends_with(&vol))
        .expect("still pending")
        .clone();

    // Approve for real.
    b.client.goto(&app.url("/approvals")).await.unwrap();
    b.wait_for_text(&vol).await;
    b.client
        .find(Locator::XPath(&approve_button(&vol)))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for_text(&format!("Approved {}", p.id)).await;
    h.slack.wait_calls("chat.update", 1).await;
    assert!(!exists(&ec2, &vol).await, "the volume is gone in moto");
    let done = app.ctx.gate.get(&p.id).await.unwrap().unwrap();
    assert_eq!(done.state, ProposalState::Succeeded);
    assert_eq!(done.decided_by.as_deref(), Some("slack:UALICE"));

    // While the page stays open, a new finding's proposal appears without a reload.
    let before = b.live_updates().await;
    let second = volume(&ec2, 20, VolumeType::Gp3, &[]).await;
    h.scheduled_report().await;
    b.wait_for_text(&second).await;
    assert!(
        b.live_updates().await > before,
        "the page swapped its content itself"
    );
    b.screenshot("approvals-live").await;

    for (path, name) in [
        ("/", "overview"),
        ("/audit", "audit"),
        ("/zombies", "zombies"),
        ("/watchman", "watchman"),
        ("/access", "access"),
        ("/health", "health"),
    ] {
        b.client.goto(&app.url(path)).await.unwrap();
        b.client.find(Locator::Id("main")).await.unwrap();
        let shot = b.screenshot(name).await;
        assert!(std::fs::metadata(&shot).unwrap().len() > 1000, "{name}");
    }
    b.client.goto(&app.url("/zombies")).await.unwrap();
    b.wait_for_text(&second).await;
    b.stop().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_browser_a_reader_sees_no_decision_buttons() {
    let h = SlackHarness::with_web_users(&["UREADER"]).await;
    h.posted_proposal("us-east-1/vol-0read1").await;
    h.fake.sign_in_as("UREADER", "Reader");
    let b = Browser::start().await;
    b.client.goto(&h.app.url("/approvals")).await.unwrap();
    let text = b.wait_for_text("us-east-1/vol-0read1").await;
    assert!(
        text.contains("slack:UALICE"),
        "who may decide is shown: {text}"
    );
    let buttons = b
        .client
        .find_all(Locator::Css("button[value=approve]"))
        .await
        .unwrap();
    assert!(buttons.is_empty(), "a reader is offered no Approve button");
    b.screenshot("approvals-reader").await;
    b.stop().await;
    h.app.finish().await;
}
