//! Rendering a neutral [`ChatMessage`] into Slack Block Kit, from the templates in
//! `blocks/`, within Slack's size limits.

use crate::chat::message::{ChatMessage, Part, button_word};
use minijinja::Environment;
use serde::Serialize;
use serde_json::{Value, json};

/// Slack's limits (https://api.slack.com/reference/block-kit/blocks).
pub const MAX_BLOCKS: usize = 50;
pub const MAX_SECTION_TEXT: usize = 3000;
pub const MAX_FIELDS_PER_SECTION: usize = 10;
pub const MAX_FIELD_TEXT: usize = 2000;
pub const MAX_BUTTONS_PER_ACTIONS: usize = 25;
pub const MAX_HEADER_TEXT: usize = 150;
pub const MAX_FALLBACK_TEXT: usize = 3000;

const MESSAGE_TEMPLATE: &str = include_str!("../../../blocks/message.json");

/// Escapes text for mrkdwn: `&`, `<` and `>` (the only characters Slack requires
/// escaped), then turns `slack:U…` actor ids into mentions.
pub fn escape_mrkdwn(text: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    link_mentions(&escaped)
}

/// `slack:U123ABC` → `<@U123ABC>`. Applied after escaping, so the `<` it adds is real.
fn link_mentions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("slack:") {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + "slack:".len()..];
        let id_len = after
            .bytes()
            .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            .count();
        let id = &after[..id_len];
        if id_len >= 2 && (id.starts_with('U') || id.starts_with('W')) {
            out.push_str(&format!("<@{id}>"));
        } else {
            out.push_str("slack:");
            out.push_str(id);
        }
        rest = &after[id_len..];
    }
    out.push_str(rest);
    out
}

/// Splits text into pieces of at most `max` characters, at line breaks where possible.
pub fn split_text(text: &str, max: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for line in text.split('\n') {
        let mut line = line;
        loop {
            let room = max - current.chars().count().min(max);
            let needed = line.chars().count() + usize::from(!current.is_empty());
            if needed <= room {
                if !current.is_empty() {
                    current.push('\n');
                }
                current.push_str(line);
                break;
            }
            if !current.is_empty() {
                pieces.push(std::mem::take(&mut current));
                continue;
            }
            // A single line longer than the limit: cut it at a character boundary.
            let cut = line.char_indices().nth(max).map_or(line.len(), |(i, _)| i);
            pieces.push(line[..cut].to_owned());
            line = &line[cut..];
            if line.is_empty() {
                break;
            }
        }
    }
    if !current.is_empty() || pieces.is_empty() {
        pieces.push(current);
    }
    pieces
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut t: String = text.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

#[derive(Serialize)]
struct FieldView {
    label: String,
    value: String,
}

#[derive(Serialize)]
struct ButtonView {
    action_id: String,
    value: String,
    label: String,
    confirm: Option<String>,
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum BlockView {
    Text { text: String },
    Fields { fields: Vec<FieldView> },
    Buttons { buttons: Vec<ButtonView> },
}

/// Fills the templates. Built once; cheap to share.
pub struct SlackRenderer {
    env: Environment<'static>,
}

impl Default for SlackRenderer {
    fn default() -> Self {
        Self::new()
    }
}

impl SlackRenderer {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.add_filter("mrkdwn", |s: String| escape_mrkdwn(&s));
        env.add_template("message.json", MESSAGE_TEMPLATE)
            .expect("blocks/message.json is a valid template (checked by tests)");
        Self { env }
    }

    /// Renders a message into one or more `chat.postMessage` payloads
    /// (`{"text": …, "blocks": […]}`), each within Slack's limits.
    pub fn render(&self, msg: &ChatMessage) -> anyhow::Result<Vec<Value>> {
        let body = body_blocks(msg);
        let per_page = MAX_BLOCKS - 2; // header and footer
        let chunks: Vec<&[BlockView]> = if body.is_empty() {
            vec![&[]]
        } else {
            body.chunks(per_page).collect()
        };
        let pages = chunks.len();
        let fallback = truncate(&msg.plain(), MAX_FALLBACK_TEXT);
        let template = self.env.get_template("message.json")?;
        chunks
            .into_iter()
            .enumerate()
            .map(|(i, blocks)| {
                let title = if pages > 1 {
                    format!("{} ({}/{pages})", msg.title, i + 1)
                } else {
                    msg.title.clone()
                };
                let rendered = template.render(minijinja::context! {
                    title => truncate(&title, MAX_HEADER_TEXT),
                    blocks => blocks,
                    footer => msg.footer.as_deref().map(|f| truncate(f, MAX_SECTION_TEXT)),
                })?;
                let blocks: Value = serde_json::from_str(&rendered)?;
                Ok(json!({"text": fallback, "blocks": blocks}))
            })
            .collect()
    }
}

fn body_blocks(msg: &ChatMessage) -> Vec<BlockView> {
    let mut out = Vec::new();
    for part in &msg.parts {
        match part {
            Part::Text(text) => {
                for piece in split_text(&escape_mrkdwn(text), MAX_SECTION_TEXT) {
                    if !piece.trim().is_empty() {
                        out.push(BlockView::Text { text: piece });
                    }
                }
            }
            Part::Fields(fields) => {
                for chunk in fields.chunks(MAX_FIELDS_PER_SECTION) {
                    out.push(BlockView::Fields {
                        fields: chunk
                            .iter()
                            .map(|(label, value)| FieldView {
                                label: truncate(label, 100),
                                value: truncate(value, MAX_FIELD_TEXT - 110),
                            })
                            .collect(),
                    });
                }
            }
            Part::Buttons(buttons) => {
                for chunk in buttons.chunks(MAX_BUTTONS_PER_ACTIONS) {
                    out.push(BlockView::Buttons {
                        buttons: chunk
                            .iter()
                            .map(|b| ButtonView {
                                action_id: format!("{}:{}", button_word(b), b.approval),
                                value: b.approval.to_string(),
                                label: truncate(&b.label, 75),
                                confirm: b.confirm.as_deref().map(|c| truncate(c, 280)),
                            })
                            .collect(),
                    });
                }
            }
            Part::Presses(presses) => {
                for chunk in presses.chunks(MAX_BUTTONS_PER_ACTIONS) {
                    out.push(BlockView::Buttons {
                        buttons: chunk
                            .iter()
                            .map(|b| ButtonView {
                                action_id: format!(
                                    "{}:{}:{}",
                                    crate::chat::slack::ingest::PRESS_PREFIX,
                                    b.action,
                                    b.value
                                ),
                                value: b.value.clone(),
                                label: truncate(&b.label, 75),
                                confirm: b.confirm.as_deref().map(|c| truncate(c, 280)),
                            })
                            .collect(),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrkdwn_is_escaped_and_mentions_linked() {
        assert_eq!(escape_mrkdwn("<b> & co"), "&lt;b&gt; &amp; co");
        assert_eq!(
            escape_mrkdwn("by slack:UALICE1 and slack:W2"),
            "by <@UALICE1> and <@W2>"
        );
        assert_eq!(escape_mrkdwn("slack:C123 stays"), "slack:C123 stays");
        assert_eq!(escape_mrkdwn("<@UFAKE>"), "&lt;@UFAKE&gt;");
    }

    #[test]
    fn text_splits_at_line_breaks_within_the_limit() {
        let text = (0..100)
            .map(|i| format!("line {i:03} {}", "x".repeat(40)))
            .collect::<Vec<_>>()
            .join("\n");
        let pieces = split_text(&text, 500);
        assert!(pieces.iter().all(|p| p.chars().count() <= 500));
        assert_eq!(pieces.join("\n"), text);
        let long = "é".repeat(7000);
        let pieces = split_text(&long, 3000);
        assert_eq!(
            pieces.iter().map(|p| p.chars().count()).collect::<Vec<_>>(),
            vec![3000, 3000, 1000]
        );
        assert_eq!(split_text("", 10), vec![""]);
    }
}
