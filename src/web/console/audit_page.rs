//! `GET /audit`: the audit log, newest first, filtered by event, actor, target and
//! time and paged by cursor, with the chain's status; `GET /audit/export.jsonl` and
//! `.csv`: the rows the filter matches, streamed.
//!
//! Walking the chain reads every row, so the page shows the last walk's result
//! (walked again at most once a minute, on a connection of its own), and exports
//! read on their own connection too: neither holds up the bot's writes.

use super::pages::{frame, malformed, message, render};
use super::{ConsoleState, Viewer};
use crate::audit::{self, AuditRecord, Filter, Verification};
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Rows on one page.
const PER_PAGE: usize = 100;
/// How old the chain's last walk may be before a page view starts another.
const WALK_EVERY: Duration = Duration::from_secs(60);
/// Rows read per step of an export.
const EXPORT_CHUNK: usize = 1000;

/// The last walk of the chain, shared by the console's handlers.
#[derive(Clone, Default)]
pub struct ChainStatus(Arc<Mutex<ChainInner>>);

#[derive(Default)]
struct ChainInner {
    last: Option<(Instant, DateTime<Utc>, Verification)>,
    walking: bool,
}

impl ChainStatus {
    /// What the page says, starting a walk when the last one is stale.
    fn shown(&self, s: &ConsoleState) -> (String, &'static str) {
        let mut inner = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let stale = inner
            .last
            .as_ref()
            .is_none_or(|(at, _, _)| at.elapsed() > WALK_EVERY);
        if stale && !inner.walking {
            inner.walking = true;
            let (me, path, now) = (
                self.clone(),
                s.ctx.store.path().to_owned(),
                s.ctx.clock.now(),
            );
            tokio::task::spawn_blocking(move || {
                let walked = read_only(&path).and_then(|c| audit::verify(&c, &[]));
                let mut inner = me.0.lock().unwrap_or_else(|e| e.into_inner());
                inner.walking = false;
                match walked {
                    Ok(v) => inner.last = Some((Instant::now(), now, v)),
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "the audit chain could not be walked")
                    }
                }
            });
        }
        match &inner.last {
            None => ("The chain is being checked…".into(), "checking"),
            Some((_, at, Verification::Intact { rows, .. })) => (
                format!(
                    "Chain intact: {rows} rows checked at {}.",
                    at.format("%Y-%m-%d %H:%M:%S UTC")
                ),
                "intact",
            ),
            Some((_, at, Verification::Broken { seq, reason })) => (
                format!(
                    "Chain BROKEN at row {seq}: {reason} (checked {}). Run `opsmate audit verify`.",
                    at.format("%Y-%m-%d %H:%M:%S UTC")
                ),
                "broken",
            ),
        }
    }
}

fn read_only(path: &std::path::Path) -> anyhow::Result<rusqlite::Connection> {
    let c = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    c.busy_timeout(Duration::from_secs(5))?;
    Ok(c)
}

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    event: Option<String>,
    actor: Option<String>,
    subject: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<i64>,
}

impl AuditQuery {
    fn filter(&self) -> Result<Filter, String> {
        let text = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let time = |name: &str, v: &Option<String>| -> Result<Option<DateTime<Utc>>, String> {
            text(v)
                .map(|t| {
                    DateTime::parse_from_rfc3339(&t)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|_| {
                            format!("{name} {t:?} is not a time like 2026-12-01T00:00:00Z")
                        })
                })
                .transpose()
        };
        Ok(Filter {
            event: text(&self.event),
            actor: text(&self.actor),
            subject: text(&self.subject),
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
        })
    }

    /// The filter as a query string, for the next page and the exports.
    fn query_string(&self) -> String {
        let pairs: Vec<(&str, &str)> = [
            ("event", &self.event),
            ("actor", &self.actor),
            ("subject", &self.subject),
            ("since", &self.since),
            ("until", &self.until),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().filter(|v| !v.is_empty()).map(|v| (k, v)))
        .collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

type Q = Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>;

pub async fn page(State(s): State<ConsoleState>, viewer: Viewer, query: Q) -> Response {
    let Ok(Query(q)) = query else {
        return malformed(&s);
    };
    let filter = match q.filter() {
        Ok(f) => f,
        Err(e) => return message(&s, StatusCode::BAD_REQUEST, "Not understood", &e),
    };
    let before = q.cursor;
    let rows = {
        let filter = filter.clone();
        s.ctx
            .store
            .call(move |c| audit::page(c, &filter, before, PER_PAGE + 1))
            .await
    };
    let mut rows = match rows {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "the audit page could not be read");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let next = (rows.len() > PER_PAGE).then(|| {
        rows.truncate(PER_PAGE);
        rows.last().map(|r| r.seq)
    });
    let (chain, class) = s.chain.shown(&s);
    let mut m = frame(Some(&viewer), "Audit", "audit");
    m.insert("rows".into(), json!(rows));
    m.insert("next_cursor".into(), json!(next.flatten()));
    m.insert("chain".into(), json!({"text": chain, "class": class}));
    m.insert(
        "filter".into(),
        json!({"event": q.event, "actor": q.actor, "subject": q.subject, "since": q.since, "until": q.until}),
    );
    m.insert("query".into(), json!(q.query_string()));
    render("audit.html", m)
}

pub async fn export_jsonl(State(s): State<ConsoleState>, _viewer: Viewer, query: Q) -> Response {
    export(s, query, Format::Jsonl)
}

pub async fn export_csv(State(s): State<ConsoleState>, _viewer: Viewer, query: Q) -> Response {
    export(s, query, Format::Csv)
}

#[derive(Clone, Copy)]
enum Format {
    Jsonl,
    Csv,
}

fn encode(format: Format, rows: &[AuditRecord], header: bool) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    match format {
        Format::Jsonl => {
            for row in rows {
                serde_json::to_writer(&mut out, row)?;
                out.push(b'\n');
            }
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(&mut out);
            if header {
                w.write_record(audit::COLUMNS)?;
            }
            for r in rows {
                w.write_record(audit::export::csv_record(r.clone()))?;
            }
            w.flush()?;
        }
    }
    Ok(out)
}

/// Streams every row the filter matches, newest first, read in chunks on a
/// connection of its own.
fn export(s: ConsoleState, query: Q, format: Format) -> Response {
    let Ok(Query(q)) = query else {
        return malformed(&s);
    };
    let filter = match q.filter() {
        Ok(f) => f,
        Err(e) => return message(&s, StatusCode::BAD_REQUEST, "Not understood", &e),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let path = s.ctx.store.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let run = || -> anyhow::Result<()> {
            let c = read_only(&path)?;
            let mut before = None;
            let mut first = true;
            loop {
                let rows = audit::page(&c, &filter, before, EXPORT_CHUNK)?;
                let chunk = encode(format, &rows, first)?;
                first = false;
                if !chunk.is_empty() && tx.blocking_send(Bytes::from(chunk)).is_err() {
                    return Ok(()); // the download was abandoned
                }
                match rows.last() {
                    Some(last) if rows.len() == EXPORT_CHUNK => before = Some(last.seq),
                    _ => return Ok(()),
                }
            }
        };
        if let Err(e) = run() {
            tracing::warn!(error = %format!("{e:#}"), "an audit export stopped");
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    let (kind, name) = match format {
        Format::Jsonl => ("application/jsonl", "opsmate-audit.jsonl"),
        Format::Csv => ("text/csv; charset=utf-8", "opsmate-audit.csv"),
    };
    (
        [
            (header::CONTENT_TYPE, kind.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}
