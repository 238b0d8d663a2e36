//! The audit log: append-only (SQLite triggers refuse UPDATE and DELETE) and
//! hash-chained (each row's SHA-256 covers its fields and the previous row's hash), so
//! an edit made behind the triggers' back is found by [`verify`].

mod chain;
pub mod events;
pub mod export;
pub mod heads;

pub use chain::{GENESIS_HASH, row_hash};
pub use heads::Head;

use crate::clock::SharedClock;
use crate::store::{self, Store};
use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;

/// The columns of a row, in stored order (the CSV header; verify's field names).
pub const COLUMNS: [&str; 8] = [
    "seq",
    "at",
    "actor",
    "event",
    "subject",
    "details",
    "prev_hash",
    "hash",
];

/// `SELECT <every column> FROM audit_log <rest>`, in [`COLUMNS`] order.
macro_rules! select_rows {
    ($rest:literal) => {
        concat!(
            "SELECT seq, at, actor, event, subject, details, prev_hash, hash FROM audit_log ",
            $rest
        )
    };
}

/// One row of the log, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub event: String,
    pub subject: String,
    pub details: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// Appends one row. Call it inside the transaction that makes the change it records
/// (see [`crate::store::immediate`]), so the change and its audit row land together.
pub fn append(
    conn: &Connection,
    at: DateTime<Utc>,
    actor: &str,
    event: &str,
    subject: &str,
    details: &Value,
) -> anyhow::Result<i64> {
    let last: Option<(i64, String)> = conn
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (seq, prev_hash) = match last {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let at = at.to_rfc3339_opts(SecondsFormat::Millis, true);
    let details = serde_json::to_string(details)?;
    let hash = row_hash(seq, &at, actor, event, subject, &details, &prev_hash);
    conn.execute(
        "INSERT INTO audit_log (seq, at, actor, event, subject, details, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![seq, at, actor, event, subject, details, prev_hash, hash],
    )
    .context("appending audit row")?;
    Ok(seq)
}

/// Async front door for code that records an event outside any other change.
#[derive(Clone)]
pub struct Audit {
    store: Store,
    clock: SharedClock,
}

impl Audit {
    pub fn new(store: Store, clock: SharedClock) -> Self {
        Self { store, clock }
    }

    pub async fn record(
        &self,
        actor: impl Into<String>,
        event: impl Into<String>,
        subject: impl Into<String>,
        details: Value,
    ) -> anyhow::Result<i64> {
        let (actor, event, subject) = (actor.into(), event.into(), subject.into());
        let at = self.clock.now();
        self.store
            .call(move |conn| {
                store::immediate(conn, |tx| {
                    append(tx, at, &actor, &event, &subject, &details)
                })
            })
            .await
    }
}

/// The newest `n` rows, oldest first.
pub fn tail(conn: &Connection, n: usize) -> anyhow::Result<Vec<AuditRecord>> {
    let mut rows = query(
        conn,
        select_rows!("ORDER BY seq DESC LIMIT ?1"),
        params![n as i64],
    )?;
    rows.reverse();
    Ok(rows)
}

/// Rows of one event in [start, end), oldest first (the digest's "what happened").
pub fn events_between(
    conn: &Connection,
    event: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<Vec<AuditRecord>> {
    query(
        conn,
        select_rows!("WHERE event = ?1 AND at >= ?2 AND at < ?3 ORDER BY seq"),
        params![
            event,
            start.to_rfc3339_opts(SecondsFormat::Millis, true),
            end.to_rfc3339_opts(SecondsFormat::Millis, true)
        ],
    )
}

/// What a page of the log is narrowed to; every field is optional.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Filter {
    /// An event name, or a prefix ending in `.` (`approval.` is every approval event).
    pub event: Option<String>,
    pub actor: Option<String>,
    pub subject: Option<String>,
    /// Bounds on `at` (RFC 3339): since is inclusive, until exclusive.
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// One page of rows matching `filter`, newest first, all older than `before` (from
/// the newest when `None`). The last row's `seq` is the next page's cursor.
pub fn page(
    conn: &Connection,
    filter: &Filter,
    before: Option<i64>,
    limit: usize,
) -> anyhow::Result<Vec<AuditRecord>> {
    // Only the conditions given are in the statement, so SQLite can pick the index
    // of the narrowest one (`audit_by_event`, `_by_actor`, `_by_subject`) instead of
    // walking the whole log for a rare value.
    let mut clauses: Vec<&str> = Vec::new();
    let mut values: Vec<rusqlite::types::Value> = Vec::new();
    let text = |v: &str| rusqlite::types::Value::Text(v.to_owned());
    if let Some(b) = before {
        clauses.push("seq < ?");
        values.push(rusqlite::types::Value::Integer(b));
    }
    match filter.event.as_deref() {
        Some(e) if e.ends_with('.') => {
            // A prefix as a range, which the event index answers.
            clauses.push("event >= ? AND event < ?");
            values.push(text(e));
            values.push(text(&format!("{}/", &e[..e.len() - 1])));
        }
        Some(e) => {
            clauses.push("event = ?");
            values.push(text(e));
        }
        None => {}
    }
    if let Some(a) = &filter.actor {
        clauses.push("actor = ?");
        values.push(text(a));
    }
    if let Some(subject) = &filter.subject {
        clauses.push("subject = ?");
        values.push(text(subject));
    }
    let stamp = |t: DateTime<Utc>| text(&t.to_rfc3339_opts(SecondsFormat::Millis, true));
    if let Some(t) = filter.since {
        clauses.push("at >= ?");
        values.push(stamp(t));
    }
    if let Some(t) = filter.until {
        clauses.push("at < ?");
        values.push(stamp(t));
    }
    let mut sql = select_rows!("").to_owned();
    if !clauses.is_empty() {
        sql.push_str("WHERE ");
        sql.push_str(&clauses.join(" AND "));
    }
    sql.push_str(" ORDER BY seq DESC LIMIT ?");
    values.push(rusqlite::types::Value::Integer(limit as i64));
    query(conn, &sql, rusqlite::params_from_iter(values))
}

/// Calls `each` for every row in order, without loading the whole log into memory.
pub fn for_each(
    conn: &Connection,
    mut each: impl FnMut(AuditRecord) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut stmt = conn.prepare(select_rows!("ORDER BY seq"))?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        each(from_row(row)?)?;
    }
    Ok(())
}

fn query(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> anyhow::Result<Vec<AuditRecord>> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(from_row(row)?);
    }
    Ok(out)
}

fn from_row(row: &rusqlite::Row<'_>) -> anyhow::Result<AuditRecord> {
    // Shown even when malformed (e.g. a blob); verify names such a row.
    let details = match row.get_ref(5)? {
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
        other => format!("{other:?}"),
    };
    Ok(AuditRecord {
        seq: row.get(0)?,
        at: row.get(1)?,
        actor: row.get(2)?,
        event: row.get(3)?,
        subject: row.get(4)?,
        // A row whose details are not JSON is still shown; verify flags it via its hash.
        details: serde_json::from_str(&details).unwrap_or(Value::String(details)),
        prev_hash: row.get(6)?,
        hash: row.get(7)?,
    })
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Every row links to the one before, and every known head is in the chain.
    Intact {
        rows: u64,
        head: Option<Head>,
        heads_checked: usize,
    },
    /// The first row that is wrong, and why.
    Broken { seq: i64, reason: String },
}

/// A head the chain must reach, and where it is known from (for the message).
struct Expected {
    head: Head,
    from: String,
}

/// Walks the chain from the first row and names the first row that does not match:
/// a row altered, missing or malformed, or a row whose hash is not the one in a
/// head that was posted (kept in `audit_heads`) or given (`given`, e.g. copied
/// from a digest). A head past the chain's end means its tail was cut off.
pub fn verify(conn: &Connection, given: &[Head]) -> anyhow::Result<Verification> {
    let mut expected: Vec<Expected> = heads::posted(conn)
        .context("reading the posted heads")?
        .into_iter()
        .map(|p| Expected {
            head: p.head,
            from: format!("posted {} ({})", p.posted_at, p.via),
        })
        .collect();
    expected.extend(given.iter().map(|h| Expected {
        head: h.clone(),
        from: "given on the command line".into(),
    }));
    let mut by_seq: std::collections::BTreeMap<i64, Vec<&Expected>> = Default::default();
    for e in &expected {
        by_seq.entry(e.head.seq).or_default().push(e);
    }
    let mut stmt = conn.prepare(select_rows!("ORDER BY seq"))?;
    let mut rows = stmt.query([])?;
    let mut expected_prev = GENESIS_HASH.to_owned();
    let mut expected_seq = 1i64;
    let mut count = 0u64;
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let mut fields: Vec<String> = Vec::with_capacity(7);
        for (i, name) in COLUMNS.into_iter().enumerate().skip(1) {
            match row.get_ref(i)? {
                ValueRef::Text(t) => fields.push(String::from_utf8_lossy(t).into_owned()),
                other => {
                    return Ok(Verification::Broken {
                        seq,
                        reason: format!(
                            "its {name} is {}, not text (row malformed)",
                            other.data_type().to_string().to_lowercase()
                        ),
                    });
                }
            }
        }
        let [at, actor, event, subject, details, prev_hash, hash]: [String; 7] = fields
            .try_into()
            .map_err(|_| anyhow::anyhow!("seven fields"))?;
        if seq != expected_seq {
            return Ok(Verification::Broken {
                seq,
                reason: format!("expected row {expected_seq}: a row is missing"),
            });
        }
        if prev_hash != expected_prev {
            return Ok(Verification::Broken {
                seq,
                reason: "prev_hash does not match the previous row's hash".into(),
            });
        }
        let recomputed = row_hash(seq, &at, &actor, &event, &subject, &details, &prev_hash);
        if recomputed != hash {
            return Ok(Verification::Broken {
                seq,
                reason: "hash does not match the row's contents (row altered)".into(),
            });
        }
        for e in by_seq.get(&seq).into_iter().flatten() {
            if e.head.hash != hash {
                return Ok(Verification::Broken {
                    seq,
                    reason: format!(
                        "its hash is not the one in head {} {}: the chain was rewritten at or before row {seq}",
                        e.head, e.from
                    ),
                });
            }
        }
        expected_prev = hash;
        expected_seq += 1;
        count += 1;
    }
    let last = expected_seq - 1;
    if let Some(e) = by_seq
        .range(last + 1..)
        .next_back()
        .and_then(|(_, es)| es.first())
    {
        let ends = if last == 0 {
            "the audit log is empty".to_owned()
        } else {
            format!("the chain ends at row {last}")
        };
        return Ok(Verification::Broken {
            seq: last + 1,
            reason: format!(
                "{ends}, but head {} {} names row {}: rows {} to {} are missing (the log was cut short or replaced)",
                e.head,
                e.from,
                e.head.seq,
                last + 1,
                e.head.seq
            ),
        });
    }
    Ok(Verification::Intact {
        rows: count,
        head: (last > 0).then_some(Head {
            seq: last,
            hash: expected_prev,
        }),
        heads_checked: expected.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conn() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::migrations::apply_all(&mut c).unwrap();
        c
    }

    #[test]
    fn rows_chain_and_verify() {
        let c = conn();
        let now = Utc::now();
        for i in 0..5 {
            append(
                &c,
                now,
                "system",
                "test.event",
                &format!("s{i}"),
                &json!({"i": i}),
            )
            .unwrap();
        }
        assert!(matches!(
            verify(&c, &[]).unwrap(),
            Verification::Intact { rows: 5, .. }
        ));
        let rows = tail(&c, 2).unwrap();
        assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![4, 5]);
        assert_eq!(rows[1].prev_hash, tail(&c, 5).unwrap()[3].hash);
    }

    #[test]
    fn update_and_delete_are_refused_by_the_database() {
        let c = conn();
        append(&c, Utc::now(), "system", "e", "s", &json!({})).unwrap();
        let upd = c.execute("UPDATE audit_log SET actor = 'mallory'", []);
        assert!(upd.unwrap_err().to_string().contains("append-only"));
        let del = c.execute("DELETE FROM audit_log", []);
        assert!(del.unwrap_err().to_string().contains("append-only"));
        let n: i64 = c
            .query_row(
                "SELECT count(*) FROM audit_log WHERE actor = 'system'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn verify_names_the_row_altered_behind_the_triggers() {
        let c = conn();
        for i in 0..4 {
            append(
                &c,
                Utc::now(),
                "system",
                "e",
                &format!("s{i}"),
                &json!({"n": i}),
            )
            .unwrap();
        }
        c.execute_batch(
            "DROP TRIGGER audit_log_no_update;
             UPDATE audit_log SET details = '{\"n\":9}' WHERE seq = 3;",
        )
        .unwrap();
        match verify(&c, &[]).unwrap() {
            Verification::Broken { seq, .. } => assert_eq!(seq, 3),
            other => panic!("expected a broken chain, got {other:?}"),
        }
    }

    #[test]
    fn verify_finds_a_deleted_row() {
        let c = conn();
        for i in 0..3 {
            append(&c, Utc::now(), "system", "e", &format!("s{i}"), &json!({})).unwrap();
        }
        c.execute_batch("DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 2;")
            .unwrap();
        assert!(matches!(
            verify(&c, &[]).unwrap(),
            Verification::Broken { seq: 3, .. }
        ));
    }

    fn chain_of(n: usize) -> Connection {
        let c = conn();
        for i in 0..n {
            append(
                &c,
                Utc::now(),
                "system",
                "e",
                &format!("s{i}"),
                &json!({"i": i}),
            )
            .unwrap();
        }
        c
    }

    fn post_head(c: &Connection) -> Head {
        let head = heads::current(c).unwrap().unwrap();
        heads::record_posted(c, &head, Utc::now(), "digest to slack:C0OPS").unwrap();
        head
    }

    fn broken(v: Verification) -> (i64, String) {
        match v {
            Verification::Broken { seq, reason } => (seq, reason),
            other => panic!("expected a broken chain, got {other:?}"),
        }
    }

    #[test]
    fn a_chain_that_reaches_its_posted_heads_is_intact() {
        let c = chain_of(10);
        let first = post_head(&c);
        append(&c, Utc::now(), "system", "e", "more", &json!({})).unwrap();
        let second = post_head(&c);
        match verify(&c, std::slice::from_ref(&first)).unwrap() {
            Verification::Intact {
                rows,
                head,
                heads_checked,
            } => {
                assert_eq!(rows, 11);
                assert_eq!(head, Some(second));
                assert_eq!(heads_checked, 3);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_trimmed_tail_is_named_against_the_posted_head() {
        let c = chain_of(600);
        let head = post_head(&c);
        c.execute_batch("DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq > 500;")
            .unwrap();
        let (seq, reason) = broken(verify(&c, &[]).unwrap());
        assert_eq!(seq, 501);
        assert!(reason.contains("the chain ends at row 500"), "{reason}");
        assert!(reason.contains(&head.to_string()), "{reason}");
        assert!(reason.contains("rows 501 to 600 are missing"), "{reason}");
        assert!(reason.contains("digest to slack:C0OPS"), "{reason}");
    }

    #[test]
    fn an_emptied_or_recreated_log_is_named() {
        let c = chain_of(50);
        post_head(&c);
        c.execute_batch("DROP TABLE audit_log; CREATE TABLE audit_log (seq INTEGER PRIMARY KEY, at TEXT, actor TEXT, event TEXT, subject TEXT, details TEXT, prev_hash TEXT, hash TEXT);")
            .unwrap();
        let (seq, reason) = broken(verify(&c, &[]).unwrap());
        assert_eq!(seq, 1);
        assert!(reason.starts_with("the audit log is empty"), "{reason}");
        assert!(reason.contains("rows 1 to 50 are missing"), "{reason}");
    }

    #[test]
    fn a_rewritten_chain_is_named_against_a_head_given_by_hand() {
        let c = chain_of(600);
        let head = heads::current(&c).unwrap().unwrap();
        // Row 500 edited and every later hash recomputed: the chain checks out on
        // its own, and no head was stored.
        c.execute_batch("DROP TRIGGER audit_log_no_update;")
            .unwrap();
        c.execute(
            "UPDATE audit_log SET details = '{\"i\":\"forged\"}' WHERE seq = 500",
            [],
        )
        .unwrap();
        let mut prev: String = c
            .query_row("SELECT hash FROM audit_log WHERE seq = 499", [], |r| {
                r.get(0)
            })
            .unwrap();
        for r in tail(&c, 101).unwrap() {
            let details = serde_json::to_string(&r.details).unwrap();
            let hash = row_hash(
                r.seq, &r.at, &r.actor, &r.event, &r.subject, &details, &prev,
            );
            c.execute(
                "UPDATE audit_log SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
                params![prev, hash, r.seq],
            )
            .unwrap();
            prev = hash;
        }
        assert!(matches!(
            verify(&c, &[]).unwrap(),
            Verification::Intact { .. }
        ));
        let (seq, reason) = broken(verify(&c, std::slice::from_ref(&head)).unwrap());
        assert_eq!(seq, 600);
        assert!(
            reason.contains("rewritten at or before row 600"),
            "{reason}"
        );
        assert!(reason.contains("given on the command line"), "{reason}");
    }

    #[test]
    fn a_blob_in_a_row_is_reported_by_its_id() {
        let c = chain_of(5);
        c.execute_batch("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET details = X'7B7D' WHERE seq = 3;")
            .unwrap();
        let (seq, reason) = broken(verify(&c, &[]).unwrap());
        assert_eq!(seq, 3);
        assert!(reason.contains("details is blob, not text"), "{reason}");
        // Still shown by tail and export.
        assert_eq!(tail(&c, 5).unwrap()[2].details, json!({}));
    }
}
