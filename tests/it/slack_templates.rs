//! Every template renders into Block Kit that slack-morphism accepts, within Slack's
//! size limits.

use opsmate::approvals::Verdict;
use opsmate::chat::message::{Button, ChatMessage, Part};
use opsmate::chat::slack::render::{MAX_BLOCKS, MAX_SECTION_TEXT, SlackRenderer};
use opsmate::domain::ApprovalId;
use slack_morphism::prelude::SlackBlock;

fn sample() -> ChatMessage {
    let id = ApprovalId::parse("abcdefghij").unwrap();
    ChatMessage {
        title: "Delete EBS volume: us-east-1/vol-<b>&_*[".into(),
        parts: vec![
            Part::Text(
                "Unattached for 9 days & costs $8.00/month. <!channel> *bold* by slack:UALICE"
                    .into(),
            ),
            Part::Fields(vec![
                ("Target".into(), "us-east-1/vol-0abc".into()),
                ("Tags".into(), "Name=<db> & Owner=ops".into()),
            ]),
            Part::Buttons(vec![
                Button {
                    label: "Delete volume".into(),
                    approval: id.clone(),
                    verdict: Verdict::Approve,
                    confirm: Some("Delete <this> volume?".into()),
                    asks_reason: false,
                },
                Button {
                    label: "Keep".into(),
                    approval: id,
                    verdict: Verdict::Reject,
                    confirm: None,
                    asks_reason: true,
                },
            ]),
        ],
        footer: Some("Approval abcdefghij".into()),
    }
}

fn blocks_of(payload: &serde_json::Value) -> Vec<SlackBlock> {
    serde_json::from_value(payload["blocks"].clone())
        .expect("blocks deserialize into slack-morphism's Block Kit types")
}

#[test]
fn the_message_template_renders_valid_block_kit() {
    let pages = SlackRenderer::new().render(&sample()).unwrap();
    assert_eq!(pages.len(), 1);
    let blocks = blocks_of(&pages[0]);
    assert_eq!(blocks.len(), 5, "header, text, fields, actions, context");
    let json = pages[0].to_string();
    // Values are escaped for mrkdwn, and actor ids become mentions.
    assert!(json.contains("&lt;!channel&gt;"), "{json}");
    assert!(json.contains("Name=&lt;db&gt; &amp; Owner=ops"), "{json}");
    assert!(json.contains("<@UALICE>"), "{json}");
    assert!(json.contains("Delete &lt;this&gt; volume?"), "{json}");
    // The header is plain text: shown as typed, not escaped.
    assert_eq!(
        pages[0]["blocks"][0]["text"]["text"],
        "Delete EBS volume: us-east-1/vol-<b>&_*["
    );
}

#[test]
fn plain_messages_render_too() {
    let pages = SlackRenderer::new()
        .render(&ChatMessage::text("Hi", "there"))
        .unwrap();
    assert_eq!(blocks_of(&pages[0]).len(), 2);
    let empty = SlackRenderer::new()
        .render(&ChatMessage {
            title: "Only a title".into(),
            ..ChatMessage::default()
        })
        .unwrap();
    assert_eq!(blocks_of(&empty[0]).len(), 1);
}

#[test]
fn long_messages_stay_within_slacks_limits() {
    let id = ApprovalId::parse("abcdefghij").unwrap();
    let mut parts = vec![Part::Text("line of text\n".repeat(2000))];
    for i in 0..60 {
        parts.push(Part::Text(format!("Proposal {i}: delete vol-{i:04}")));
        parts.push(Part::Buttons(vec![Button {
            label: "Delete".into(),
            approval: id.clone(),
            verdict: Verdict::Approve,
            confirm: None,
            asks_reason: false,
        }]));
        parts.push(Part::Fields(
            (0..13)
                .map(|f| (format!("k{f}"), "v".repeat(3000)))
                .collect(),
        ));
    }
    let msg = ChatMessage {
        title: "T".repeat(400),
        parts,
        footer: Some("f".repeat(5000)),
    };
    let pages = SlackRenderer::new().render(&msg).unwrap();
    assert!(pages.len() > 1, "paginated");
    for page in &pages {
        let blocks = page["blocks"].as_array().unwrap();
        assert!(blocks.len() <= MAX_BLOCKS, "{} blocks", blocks.len());
        blocks_of(page);
        for b in blocks {
            if let Some(t) = b["text"]["text"].as_str() {
                assert!(
                    t.chars().count() <= MAX_SECTION_TEXT,
                    "section text of {} chars",
                    t.chars().count()
                );
            }
            if let Some(fields) = b["fields"].as_array() {
                assert!(fields.len() <= 10);
                assert!(
                    fields
                        .iter()
                        .all(|f| f["text"].as_str().unwrap().chars().count() <= 2000)
                );
            }
            if b["type"] == "header" {
                assert!(b["text"]["text"].as_str().unwrap().chars().count() <= 150);
            }
        }
    }
}
