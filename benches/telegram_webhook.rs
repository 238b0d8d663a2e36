//! Telegram webhook throughput: `/help` updates with distinct `update_id`s at 50
//! concurrent connections for 10 s on loopback, driven by `wrk` (Debian package
//! `wrk`), against the release binary. Each update's secret is checked, its id
//! recorded in SQLite (dedupe), and the command queued; the answer goes through the
//! outbox to a local fake Bot API.
//!
//! `cargo bench --bench telegram_webhook` prints updates/s, p50, p99 and the RSS after.

mod common;

use axum::Router;
use axum::extract::Path;
use axum::routing::post;
use common::{rss_kib, serve_fake, start_opsmate, stop, wrk, wrk_bench_setup};
use serde_json::json;

const SECRET: &str = "bench-webhook-secret";
const CHAT: i64 = -100200300;

fn main() {
    let Some((dir, rt)) = wrk_bench_setup() else {
        return;
    };
    // A fake Bot API that accepts whatever OpsMate sends.
    let api = serve_fake(
        &rt,
        Router::new().route(
            "/{bot}/{method}",
            post(|Path((_bot, method)): Path<(String, String)>| async move {
                let result = if method.eq_ignore_ascii_case("sendMessage") {
                    json!({"message_id": 1, "date": 1700000000, "chat": {"id": CHAT, "type": "supergroup", "title": "ops"}, "text": "ok"})
                } else {
                    json!(true)
                };
                axum::Json(json!({"ok": true, "result": result}))
            }),
        ),
    );

    let (child, port) = start_opsmate(
        dir.path(),
        &[
            ("OPSMATE_TELEGRAM__API_URL", format!("http://{api}")),
            ("OPSMATE_TELEGRAM__MODE", "webhook".into()),
            ("OPSMATE_TELEGRAM__PUBLIC_URL", "http://127.0.0.1:1".into()),
            ("OPSMATE_TELEGRAM__ALLOWED_CHAT_IDS", format!("[{CHAT}]")),
            ("TELEGRAM_BOT_TOKEN", "123456:bench".into()),
            ("TELEGRAM_WEBHOOK_SECRET", SECRET.into()),
        ],
    );

    // Each wrk thread numbers its own updates from a distinct base.
    let script = dir.path().join("updates.lua");
    std::fs::write(
        &script,
        format!(
            r#"local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("base", threads * 100000000)
end
function init(args)
  n = 0
end
function request()
  n = n + 1
  local body = string.format('{{"update_id":%d,"message":{{"message_id":%d,"date":1700000000,"chat":{{"id":{CHAT},"type":"supergroup","title":"ops"}},"from":{{"id":42,"is_bot":false,"first_name":"Ops"}},"text":"/help","entities":[{{"type":"bot_command","offset":0,"length":5}}]}}}}', base + n, n)
  return wrk.format("POST", nil, {{["Content-Type"] = "application/json", ["X-Telegram-Bot-Api-Secret-Token"] = "{SECRET}"}}, body)
end
"#
        ),
    )
    .unwrap();
    let report = wrk(
        &script,
        50,
        &format!("http://127.0.0.1:{port}/telegram/webhook"),
    );
    let rss = rss_kib(child.id());
    stop(child);

    report.print_table(
        "Telegram webhook updates, 50 connections, 10 s",
        "non-2xx (503 = queue full, Telegram redelivers)",
    );
    println!(
        "| RSS right after the run | {:.1} MiB |",
        rss as f64 / 1024.0
    );
}
