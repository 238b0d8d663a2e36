//! The console's templates: the core's (`templates/`) and every feature's page,
//! embedded at build time and compiled once. HTML is escaped by default; only the
//! server-drawn SVG charts are marked safe.

use crate::features::ALL;
use chrono::{DateTime, Utc};
use minijinja::{Environment, Value};
use std::sync::OnceLock;

const CORE: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("message.html", include_str!("templates/message.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("overview.html", include_str!("templates/overview.html")),
    ("approvals.html", include_str!("templates/approvals.html")),
    ("audit.html", include_str!("templates/audit.html")),
];

/// The name a feature page's template is known by.
pub fn page_template(path: &str) -> String {
    format!("page/{path}.html")
}

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in CORE {
            env.add_template(name, source)
                .expect("the console's templates compile (checked by tests)");
        }
        for page in ALL.iter().flat_map(|p| p.pages.iter()) {
            env.add_template_owned(page_template(page.path), page.template)
                .expect("the features' page templates compile (checked by tests)");
        }
        env.add_filter("when", when);
        env.add_filter("usd", |v: f64| format!("${v:.2}"));
        env.add_filter("pct", |v: Option<f64>| match v {
            Some(r) => format!("{:.3}%", r * 100.0),
            None => "no data".to_owned(),
        });
        env
    })
}

/// An RFC 3339 time as `2026-12-03 09:14 UTC`; anything else as it is.
fn when(v: Value) -> String {
    let Some(text) = v.as_str() else {
        return if v.is_none() || v.is_undefined() {
            "never".into()
        } else {
            v.to_string()
        };
    };
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => t
            .with_timezone(&Utc)
            .format("%Y-%m-%d %H:%M UTC")
            .to_string(),
        Err(_) => text.to_owned(),
    }
}

/// Renders `name` with `context`.
pub fn render(name: &str, context: serde_json::Value) -> anyhow::Result<String> {
    Ok(env()
        .get_template(name)?
        .render(Value::from_serialize(&context))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_the_frame_escapes_what_it_shows() {
        let html = render(
            "message.html",
            serde_json::json!({"title": "<script>x</script>", "text": "a & b", "nav": []}),
        )
        .unwrap();
        assert!(
            html.contains("&lt;script&gt;x&lt;&#x2f;script&gt;") || html.contains("&lt;script&gt;")
        );
        assert!(!html.contains("<script>x"));
        for page in ALL.iter().flat_map(|p| p.pages.iter()) {
            assert!(
                env().get_template(&page_template(page.path)).is_ok(),
                "{}",
                page.path
            );
        }
    }
}
