//! `GET /live`: Server-Sent Events that tell an open page something changed (a new
//! audit row: a decision, a finished action, a check that changed, a sign-in). The
//! page then fetches itself again and swaps its content, without a reload.
//!
//! Every change OpsMate makes writes an audit row, so the newest row's number is the
//! one thing to watch: one indexed read every half second per open page.

use super::{ConsoleState, Viewer};
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use std::convert::Infallible;
use std::time::Duration;

/// How often the newest audit row is read.
const EVERY: Duration = Duration::from_millis(500);

async fn newest(s: &ConsoleState) -> Option<i64> {
    s.ctx
        .store
        .call(|c| {
            Ok(
                c.query_row("SELECT COALESCE(MAX(seq), 0) FROM audit_log", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
        .ok()
}

pub async fn stream(
    State(s): State<ConsoleState>,
    _viewer: Viewer,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let start = newest(&s).await.unwrap_or(0);
    let events = stream::unfold((s, start), |(s, seen)| async move {
        loop {
            tokio::select! {
                _ = s.closing.cancelled() => return None,
                _ = tokio::time::sleep(EVERY) => {}
            }
            if let Some(now) = newest(&s).await
                && now > seen
            {
                let event = Event::default().event("change").data(now.to_string());
                return Some((Ok(event), (s, now)));
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}
