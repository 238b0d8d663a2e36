//! Rendering a neutral [`ChatMessage`] as Telegram HTML with an inline keyboard.
//! Every dynamic value is escaped; messages over Telegram's 4,096-character limit are
//! split at line boundaries, with the keyboard on the last part.

use crate::approvals::Verdict;
use crate::chat::message::{ChatMessage, Part};
use crate::chat::slack::render::split_text;
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

/// Telegram's limit on a message's text.
pub const MAX_MESSAGE: usize = 4096;
/// Telegram's limit on `callback_data`.
pub const MAX_CALLBACK_DATA: usize = 64;

/// Escapes text for Telegram's HTML parse mode.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `a:<id>` (approve) or `r:<id>` (reject): the verb and the short approval id.
pub fn callback_data(
    verdict: crate::approvals::Verdict,
    approval: &crate::domain::ApprovalId,
) -> String {
    let verb = match verdict {
        crate::approvals::Verdict::Approve => "a",
        crate::approvals::Verdict::Reject => "r",
    };
    format!("{verb}:{approval}")
}

/// Parses [`callback_data`] back.
pub fn parse_callback_data(
    data: &str,
) -> Option<(crate::approvals::Verdict, crate::domain::ApprovalId)> {
    let (verb, id) = data.split_once(':')?;
    let verdict = match verb {
        "a" => crate::approvals::Verdict::Approve,
        "r" => crate::approvals::Verdict::Reject,
        _ => return None,
    };
    Some((verdict, crate::domain::ApprovalId::parse(id).ok()?))
}

/// `p:<action>:<value>`: a feature button. `None` when it would not fit Telegram's
/// 64 bytes (the button is then left off, never cut).
pub fn press_data(action: &str, value: &str) -> Option<String> {
    let data = format!("p:{action}:{value}");
    (data.len() <= MAX_CALLBACK_DATA).then_some(data)
}

/// Parses [`press_data`] back into `(action, value)`.
pub fn parse_press_data(data: &str) -> Option<(String, String)> {
    let (action, value) = data.strip_prefix("p:")?.split_once(':')?;
    crate::chat::slack::ingest::is_press_action(action)
        .then(|| (action.to_owned(), value.to_owned()))
}

/// One Telegram message: HTML text and, on the last part, the keyboard.
#[derive(Debug, Clone, PartialEq)]
pub struct TelegramMessage {
    pub html: String,
    pub keyboard: Option<InlineKeyboardMarkup>,
}

/// Renders a message into one or more Telegram messages.
pub fn render(msg: &ChatMessage) -> Vec<TelegramMessage> {
    let mut lines = vec![format!("<b>{}</b>", escape(&msg.title))];
    let mut rows = Vec::new();
    for part in &msg.parts {
        match part {
            Part::Text(text) => lines.push(escape(text)),
            Part::Fields(fields) => {
                for (k, v) in fields {
                    lines.push(format!("<b>{}</b>: {}", escape(k), escape(v)));
                }
            }
            // Telegram has no dialog to ask why: an Approve that needs a reason is
            // given with the command instead (the message says how).
            Part::Buttons(buttons) => rows.push(
                buttons
                    .iter()
                    .filter(|b| !(b.verdict == Verdict::Approve && b.asks_reason))
                    .map(|b| {
                        InlineKeyboardButton::callback(
                            b.label.clone(),
                            callback_data(b.verdict, &b.approval),
                        )
                    })
                    .collect::<Vec<_>>(),
            ),
            Part::Presses(presses) => rows.push(
                presses
                    .iter()
                    .filter_map(|b| {
                        press_data(&b.action, &b.value)
                            .map(|data| InlineKeyboardButton::callback(b.label.clone(), data))
                    })
                    .collect::<Vec<_>>(),
            ),
        }
    }
    if let Some(footer) = &msg.footer {
        lines.push(format!("<i>{}</i>", escape(footer)));
    }
    // Split between lines; a single line longer than the limit is cut, and its tags
    // (only the title, fields and footer carry any) are short enough never to be.
    let pieces = split_text(&lines.join("\n"), MAX_MESSAGE);
    let last = pieces.len() - 1;
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, html)| TelegramMessage {
            html,
            keyboard: (i == last && !rows.is_empty())
                .then(|| InlineKeyboardMarkup::new(rows.clone())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approvals::Verdict;
    use crate::chat::message::Button;
    use crate::domain::ApprovalId;

    #[test]
    fn dynamic_values_are_escaped() {
        let msg = ChatMessage {
            title: "vol-<b>&_*[".into(),
            parts: vec![Part::Fields(vec![("Name".into(), "<db_main & co>".into())])],
            footer: None,
        };
        let out = render(&msg);
        assert_eq!(
            out[0].html,
            "<b>vol-&lt;b&gt;&amp;_*[</b>\n<b>Name</b>: &lt;db_main &amp; co&gt;"
        );
    }

    #[test]
    fn callback_data_is_short_and_round_trips() {
        let id = ApprovalId::generate();
        for v in [Verdict::Approve, Verdict::Reject] {
            let data = callback_data(v, &id);
            assert!(data.len() <= MAX_CALLBACK_DATA);
            assert_eq!(parse_callback_data(&data), Some((v, id.clone())));
        }
        assert_eq!(parse_callback_data("x:abcdefghij"), None);
        assert_eq!(parse_callback_data("a:not-an-id"), None);
    }

    #[test]
    fn a_ten_thousand_character_digest_is_split_at_lines_with_the_keyboard_last() {
        let body: String = (0..250)
            .map(|i| format!("line {i:04} {}\n", "x".repeat(30)))
            .collect();
        assert!(body.len() >= 10_000);
        let msg = ChatMessage {
            title: "Digest".into(),
            parts: vec![
                Part::Text(body),
                Part::Buttons(vec![Button {
                    label: "Approve".into(),
                    approval: ApprovalId::parse("abcdefghij").unwrap(),
                    verdict: Verdict::Approve,
                    confirm: None,
                    asks_reason: false,
                }]),
            ],
            footer: None,
        };
        let out = render(&msg);
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|m| m.html.chars().count() <= MAX_MESSAGE));
        // Cut between lines: every part after the first starts a new line.
        assert!(out[1..].iter().all(|m| m.html.starts_with("line ")));
        assert!(out[..2].iter().all(|m| m.keyboard.is_none()));
        assert!(out[2].keyboard.is_some());
        let joined: String = out
            .iter()
            .map(|m| m.html.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(joined.contains("line 0000") && joined.contains("line 0249"));
    }
}
