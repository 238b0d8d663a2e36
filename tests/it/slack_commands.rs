//! `/opsmate …` through the real router: every subcommand answers through the
//! `response_url` at the fake Slack.

use crate::support::slack::{SlackHarness, all_text};

async fn answer(h: &SlackHarness, text: &str) -> String {
    let name = format!("cmd{}", h.fake.calls().len());
    let r = h.command("UALICE", text, &name).await;
    assert_eq!(r.status(), 200, "{text}");
    assert!(
        r.text().await.unwrap().is_empty(),
        "the ack carries no work"
    );
    let calls = h.wait_calls(&format!("response_url:{name}"), 1).await;
    all_text(&calls[0].body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_subcommand_routes_and_answers() {
    let h = SlackHarness::start().await;
    let help = answer(&h, "help").await;
    for word in [
        "zombies",
        "watchman keep-online",
        "access",
        "health",
        "digest",
        "approvals",
        "audit",
    ] {
        assert!(
            help.contains(&format!("/opsmate {word}")),
            "help lacks {word}: {help}"
        );
    }
    assert!(answer(&h, "").await.contains("OpsMate help"));
    assert!(answer(&h, "zombies").await.contains("Zombie Hunter is off"));
    assert!(
        answer(&h, "watchman status")
            .await
            .contains("Night Watchman is off")
    );
    assert!(
        answer(&h, "watchman keep-online 2h release")
            .await
            .contains("Night Watchman is off")
    );
    assert!(
        answer(&h, "access pending")
            .await
            .contains("Access Guard is off")
    );
    assert!(answer(&h, "health").await.contains("Observatory is off"));
    assert!(answer(&h, "digest").await.contains("Observatory is off"));
    assert!(
        answer(&h, "approvals")
            .await
            .contains("No proposal is waiting")
    );
    for i in 0..4 {
        h.app
            .ctx
            .audit
            .record("system", "test.row", format!("r{i}"), serde_json::json!({}))
            .await
            .unwrap();
    }
    let audit = answer(&h, "audit 3").await;
    assert!(audit.contains("newest 3 rows"), "{audit}");
    assert!(
        audit.contains("test.row r3") && audit.contains("test.row r1"),
        "{audit}"
    );
    assert!(!audit.contains("test.row r0"), "only 3 rows: {audit}");

    let unknown = answer(&h, "zombeis").await;
    assert!(unknown.contains("unknown command `zombeis`"), "{unknown}");
    assert!(
        unknown.contains("Did you mean `/opsmate zombies`?"),
        "{unknown}"
    );
    assert!(
        unknown.contains("/opsmate approvals"),
        "help follows: {unknown}"
    );
    assert!(
        answer(&h, "watchman keep-online soon")
            .await
            .contains("not a duration")
    );
    h.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_lists_open_proposals_with_their_buttons() {
    let h = SlackHarness::start().await;
    let p = h.posted_proposal("us-east-1/vol-0aaa").await;
    h.command("UALICE", "approvals", "list").await;
    let calls = h.wait_calls("response_url:list", 1).await;
    let body = &calls[0].body;
    let text = all_text(body);
    assert!(text.contains("us-east-1/vol-0aaa"), "{text}");
    let buttons: Vec<&serde_json::Value> = body["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().unwrap())
        .collect();
    assert_eq!(buttons.len(), 2);
    assert_eq!(
        buttons[0]["value"],
        p.id.as_str(),
        "the value is only the approval id"
    );
    assert_eq!(buttons[0]["action_id"], format!("approve:{}", p.id));
    assert_eq!(buttons[0]["style"], "danger");
    assert!(
        buttons[0]["confirm"]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("Delete this volume")
    );
    assert_eq!(buttons[1]["action_id"], format!("reject:{}", p.id));
    h.app.finish().await;
}
