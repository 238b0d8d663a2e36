//! `health`: every check's latest result and whether an alert is open.

use super::status::Status;
use super::{Observatory, store};
use crate::chat::answers::local;
use crate::chat::message::{ChatMessage, Part};
use crate::dispatch::Context;

fn mark(s: Status) -> &'static str {
    match s {
        Status::Ok => "🟢",
        Status::Warn => "🟠",
        Status::Critical | Status::Error => "🔴",
    }
}

/// The current status of every check (configured and built-in).
pub async fn health(ctx: &Context, o: &Observatory) -> anyhow::Result<ChatMessage> {
    let mut names: Vec<String> = o.settings.checks.iter().map(|c| c.name.clone()).collect();
    let states = ctx.store.call(|c| store::alert_states(c)).await?;
    for (name, _) in &states {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let tz = o.tz;
    let mut lines = Vec::new();
    let mut bad = 0;
    for name in &names {
        let n = name.clone();
        let latest = ctx
            .store
            .call(move |c| store::recent(c, Some(&n), 1))
            .await?
            .pop();
        let open = states
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, s)| s.open.map(|st| (st, s.open_since)));
        let line = match latest {
            None => format!("⚪ {name}: no result yet"),
            Some(s) => {
                if s.outcome.status.is_bad() {
                    bad += 1;
                }
                let alert = open
                    .map(|(st, since)| {
                        format!(
                            "; alert open ({st}) since {}",
                            since.map(|t| local(t, tz)).unwrap_or_default()
                        )
                    })
                    .unwrap_or_default();
                format!(
                    "{} {name}: {} at {}: {}{alert}",
                    mark(s.outcome.status),
                    s.outcome.status,
                    local(s.at, tz),
                    s.outcome.message
                )
            }
        };
        lines.push(line);
    }
    let title = match (names.len(), bad) {
        (0, _) => "🩺 Health: no checks".to_owned(),
        (n, 0) => format!("🩺 Health: all {n} checks ok"),
        (n, b) => format!("🩺 Health: {b} of {n} checks not ok"),
    };
    Ok(ChatMessage {
        title,
        parts: vec![Part::Text(if lines.is_empty() {
            "No checks are configured. Add [[observatory.checks]] (see the README).".into()
        } else {
            lines.join("\n")
        })],
        footer: None,
    })
}
